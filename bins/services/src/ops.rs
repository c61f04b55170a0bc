//! What every service shows an operator: `/metrics` in Prometheus' text
//! format, `/health/live` and `/health/ready`.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sentry_stream::{Broker, Histogram, HistogramSnapshot};
use serde_json::json;

/// A dependency check: `Err` says what is wrong.
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A metric's kind, as Prometheus' `# TYPE` line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (restarts at 0 with the process).
    Counter,
    /// Any value.
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count`).
    Histogram,
}

/// Label pairs and a value: one line of a metric family.
pub type Samples = Vec<(Vec<(&'static str, String)>, f64)>;

struct Metric {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Arc<dyn Fn() -> Samples + Send + Sync>,
}

/// The metrics and checks of one service; cheap to share.
#[derive(Clone)]
pub struct Ops {
    inner: Arc<Inner>,
}

/// A consumer group's lag on a topic, read at each scrape.
type LagSource = (Arc<dyn Broker>, String, String);

/// A histogram's name, help and current counts.
type HistogramSource = (
    &'static str,
    &'static str,
    Arc<dyn Fn() -> HistogramSnapshot + Send + Sync>,
);

struct Inner {
    service: &'static str,
    /// Set once the service serves (listens, or consumes): not ready before.
    started: std::sync::atomic::AtomicBool,
    metrics: Mutex<Vec<Metric>>,
    histograms: Mutex<Vec<HistogramSource>>,
    lags: Mutex<Vec<LagSource>>,
    checks: Mutex<Vec<(&'static str, Check)>>,
}

impl Ops {
    /// Nothing registered yet, for `service`.
    pub fn new(service: &'static str) -> Self {
        Ops {
            inner: Arc::new(Inner {
                service,
                started: std::sync::atomic::AtomicBool::new(false),
                metrics: Mutex::new(Vec::new()),
                histograms: Mutex::new(Vec::new()),
                lags: Mutex::new(Vec::new()),
                checks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Adds a metric whose value `value` reads at each scrape.
    pub fn metric(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &[(&'static str, &str)],
        value: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        let labels: Vec<(&'static str, String)> =
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        self.family(name, help, kind, move || vec![(labels.clone(), value())]);
    }

    /// Adds a metric whose label sets are only known at each scrape
    /// (outcomes by reason, say).
    pub fn family(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        samples: impl Fn() -> Samples + Send + Sync + 'static,
    ) {
        lock(&self.inner.metrics).push(Metric {
            name,
            help,
            kind,
            samples: Arc::new(samples),
        });
    }

    /// Adds a counter read from an atomic of a stats struct.
    pub fn counter<S: Send + Sync + 'static>(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        stats: &Arc<S>,
        field: fn(&S) -> &AtomicU64,
    ) {
        let stats = stats.clone();
        self.metric(name, help, Kind::Counter, labels, move || {
            field(&stats).load(Ordering::Relaxed) as f64
        });
    }

    /// Adds a histogram read from a stats struct (batch sizes, latencies).
    pub fn histogram<S: Send + Sync + 'static>(
        &self,
        name: &'static str,
        help: &'static str,
        stats: &Arc<S>,
        field: fn(&S) -> &Histogram,
    ) {
        let stats = stats.clone();
        lock(&self.inner.histograms).push((name, help, Arc::new(move || field(&stats).snapshot())));
    }

    /// Reports `group`'s lag on `topic` as `sentry_consumer_lag`.
    pub fn lag(&self, broker: Arc<dyn Broker>, group: &str, topic: &str) {
        lock(&self.inner.lags).push((broker, group.to_owned(), topic.to_owned()));
    }

    /// Adds a readiness check.
    pub fn check(&self, name: &'static str, check: Check) {
        lock(&self.inner.checks).push((name, check));
    }

    /// The text `/metrics` answers.
    pub async fn render(&self) -> String {
        let mut out = String::new();
        let service = self.inner.service;
        let metrics: Vec<_> = lock(&self.inner.metrics)
            .iter()
            .map(|m| (m.name, m.help, m.kind, m.samples.clone()))
            .collect();
        let mut described = std::collections::HashSet::new();
        for (name, help, kind, samples) in metrics {
            if described.insert(name) {
                describe(&mut out, name, help, kind);
            }
            for (labels, value) in samples() {
                sample(&mut out, name, service, &labels, value);
            }
        }
        let histograms: Vec<_> = lock(&self.inner.histograms).clone();
        for (name, help, snapshot) in histograms {
            describe(&mut out, name, help, Kind::Histogram);
            let snapshot = snapshot();
            let bucket = format!("{name}_bucket");
            for (bound, n) in snapshot.bounds.iter().zip(&snapshot.cumulative) {
                let le = [("le", bound.to_string())];
                sample(&mut out, &bucket, service, &le, *n as f64);
            }
            let le = [("le", "+Inf".to_owned())];
            sample(&mut out, &bucket, service, &le, snapshot.count as f64);
            sample(&mut out, &format!("{name}_sum"), service, &[], snapshot.sum);
            let count = snapshot.count as f64;
            sample(&mut out, &format!("{name}_count"), service, &[], count);
        }
        let lags: Vec<_> = lock(&self.inner.lags).clone();
        if !lags.is_empty() {
            describe(
                &mut out,
                "sentry_consumer_lag",
                "Records produced but not yet committed by the consumer group.",
                Kind::Gauge,
            );
        }
        for (broker, group, topic) in lags {
            let labels = [("group", group.clone()), ("topic", topic.clone())];
            match tokio::time::timeout(Duration::from_secs(5), broker.lag(&group, &topic)).await {
                Ok(Ok(lag)) => sample(
                    &mut out,
                    "sentry_consumer_lag",
                    service,
                    &labels,
                    lag as f64,
                ),
                Ok(Err(e)) => {
                    tracing::warn!(%group, %topic, error = %e, "reading consumer lag failed")
                }
                Err(_) => tracing::warn!(%group, %topic, "reading consumer lag timed out"),
            }
        }
        if let Some((rss, cpu)) = process_usage() {
            describe(
                &mut out,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Kind::Gauge,
            );
            sample(&mut out, "process_resident_memory_bytes", service, &[], rss);
            describe(
                &mut out,
                "process_cpu_seconds_total",
                "User and system CPU time in seconds.",
                Kind::Counter,
            );
            sample(&mut out, "process_cpu_seconds_total", service, &[], cpu);
        }
        out
    }

    /// Says the service now does its work (listens, consumes): until then
    /// it is not ready, whatever the checks say.
    pub fn started(&self) {
        self.inner.started.store(true, Ordering::Relaxed);
    }

    /// Runs every check; the failures, by check name.
    pub async fn failures(&self) -> Vec<(&'static str, String)> {
        let checks: Vec<_> = lock(&self.inner.checks).clone();
        let mut failed = Vec::new();
        if !self.inner.started.load(Ordering::Relaxed) {
            failed.push(("started", "still starting".to_owned()));
        }
        for (name, check) in checks {
            match tokio::time::timeout(Duration::from_secs(5), check()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push((name, e)),
                Err(_) => failed.push((name, "no answer within 5 s".to_owned())),
            }
        }
        failed
    }

    /// The admin HTTP service: `/metrics`, `/health/live`, `/health/ready`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .with_state(self.clone())
    }

    /// Serves [`router`](Self::router) on `addr` until `shutdown` turns true.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("binding {addr} for /metrics and health: {e}"))?;
        tracing::info!(addr = %listener.local_addr()?, "metrics and health checks listening");
        let app = self.router();
        Ok(tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "the admin server failed");
            }
        }))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn describe(out: &mut String, name: &str, help: &str, kind: Kind) {
    let kind = match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, service: &str, labels: &[(&str, String)], value: f64) {
    let _ = write!(out, "{name}{{service=\"{}\"", escape(service));
    for (key, value) in labels {
        let _ = write!(out, ",{key}=\"{}\"", escape(value));
    }
    let _ = writeln!(out, "}} {value}");
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Resident bytes and CPU seconds of this process, from `/proc/self`.
fn process_usage() -> Option<(f64, f64)> {
    let read = |path: &str| crate::config::read_small(std::path::Path::new(path), 64 << 10).ok();
    let statm = read("/proc/self/statm")?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = read("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports in pages of 4 KiB and clock ticks of 1/100 s on the
    // platforms this runs on.
    Some((pages * 4096.0, (utime + stime) / 100.0))
}

async fn metrics(State(ops): State<Ops>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.render().await,
    )
        .into_response()
}

async fn live() -> Response {
    axum::Json(json!({"is_healthy": true})).into_response()
}

async fn ready(State(ops): State<Ops>) -> Response {
    let failed = ops.failures().await;
    let status = if failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let failures: serde_json::Map<String, serde_json::Value> = failed
        .into_iter()
        .map(|(name, error)| (name.to_owned(), error.into()))
        .collect();
    (
        status,
        axum::Json(json!({"is_healthy": failures.is_empty(), "failures": failures})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_the_text_format() {
        let ops = Ops::new("relay");
        let stats = Arc::new(AtomicU64::new(7));
        ops.counter(
            "sentry_events_total",
            "Events.",
            &[("outcome", "accepted")],
            &stats,
            |s| s,
        );
        ops.metric("sentry_batch", "B.", Kind::Gauge, &[("q", "a\"b")], || 1.5);
        let hist = Arc::new(Histogram::new(&[0.1, 1.0]));
        hist.observe(0.05);
        hist.observe(0.5);
        hist.observe(3.0);
        ops.histogram("sentry_wait_seconds", "Waits.", &hist, |h| h);
        let text = ops.render().await;
        assert!(
            text.contains(
                "# TYPE sentry_wait_seconds histogram\n\
                 sentry_wait_seconds_bucket{service=\"relay\",le=\"0.1\"} 1\n\
                 sentry_wait_seconds_bucket{service=\"relay\",le=\"1\"} 2\n\
                 sentry_wait_seconds_bucket{service=\"relay\",le=\"+Inf\"} 3\n\
                 sentry_wait_seconds_sum{service=\"relay\"} 3.55\n\
                 sentry_wait_seconds_count{service=\"relay\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE sentry_events_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("sentry_events_total{service=\"relay\",outcome=\"accepted\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains("sentry_batch{service=\"relay\",q=\"a\\\"b\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("process_resident_memory_bytes{service=\"relay\"} "),
            "{text}"
        );
    }

    #[tokio::test]
    async fn readiness_lists_what_failed() {
        let ops = Ops::new("web");
        ops.check("metadata", Arc::new(|| Box::pin(async { Ok(()) })));
        assert_eq!(
            ops.failures().await,
            vec![("started", "still starting".to_owned())]
        );
        ops.started();
        assert!(ops.failures().await.is_empty());
        ops.check(
            "stream",
            Arc::new(|| Box::pin(async { Err("connection refused".to_owned()) })),
        );
        assert_eq!(
            ops.failures().await,
            vec![("stream", "connection refused".to_owned())]
        );
    }
}
