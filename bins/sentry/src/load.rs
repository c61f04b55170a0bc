//! `sentry load`: sends error events to a running server over many
//! keep-alive connections and measures how fast they are accepted and then
//! processed (visible in the issues API).
//!
//! The events are built from one template per issue; each request gets a
//! fresh `event_id` written over a fixed-width placeholder, so building a
//! request costs one copy of the template. Requests answered 503 or 429 are
//! retried after a pause: the server is pushing back, and every event must
//! still be delivered.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use sentry_envelope::Dsn;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// Arguments of `sentry load`.
#[derive(clap::Args, Debug)]
pub(crate) struct LoadArgs {
    /// The DSN to send events to.
    #[arg(long, required_unless_present = "bootstrap")]
    dsn: Option<String>,
    /// A server's `bootstrap.json`: gives the DSN, token, URL and organization.
    #[arg(long)]
    bootstrap: Option<PathBuf>,
    /// An API token, to read the issues back (bearer).
    #[arg(long)]
    token: Option<String>,
    /// The server's URL for the web API (default: from the bootstrap file, else the DSN).
    #[arg(long)]
    url: Option<String>,
    /// The organization slug.
    #[arg(long)]
    org: Option<String>,
    /// How many events to send.
    #[arg(short = 'n', long = "events", default_value_t = 100_000)]
    events: usize,
    /// Concurrent keep-alive HTTP/1.1 connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Distinct issues the events group into.
    #[arg(short = 'k', long, default_value_t = 100)]
    issues: usize,
    /// Target size of each event's JSON in bytes (padded in `extra`).
    #[arg(long, default_value_t = 5120)]
    size: usize,
    /// The server's process id, to sample its memory (VmRSS, VmHWM) and thread CPU.
    #[arg(long)]
    pid: Option<u32>,
    /// Seconds to wait for all events to be processed.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Threads of the load generator's own runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Where to send and how to read back.
struct Target {
    host: String,
    port: u16,
    envelope_path: String,
    auth: String,
    api_host: String,
    api_port: u16,
    api_prefix: String,
    token: Option<String>,
    org: String,
}

pub(crate) fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.connections == 0 || args.issues == 0 {
        bail!("--events, --connections and --issues must be at least 1");
    }
    let mut builder = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    builder.enable_all().build()?.block_on(load(args))
}

fn target(args: &LoadArgs) -> anyhow::Result<Target> {
    let boot: Value = match &args.bootstrap {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let bytes = sentry_envelope::read_capped(file, 1 << 20)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?
        }
        None => Value::Null,
    };
    let field = |name: &str| boot[name].as_str().map(str::to_owned);
    let dsn_text = args
        .dsn
        .clone()
        .or_else(|| field("dsn"))
        .context("no DSN: give --dsn or --bootstrap")?;
    let dsn: Dsn = dsn_text.parse().context("parsing the DSN")?;
    if dsn.scheme().as_str() != "http" {
        bail!("only http:// DSNs are supported");
    }
    let url = args
        .url
        .clone()
        .or_else(|| field("url"))
        .unwrap_or_else(|| dsn.base_url());
    let (api_host, api_port, api_prefix) = split_url(&url)?;
    Ok(Target {
        host: dsn.host().to_owned(),
        port: dsn.effective_port(),
        envelope_path: format!("{}/api/{}/envelope/", dsn.path(), dsn.project_id()),
        auth: format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client=sentry-load/1.0",
            dsn.public_key()
        ),
        api_host,
        api_port,
        api_prefix,
        token: args.token.clone().or_else(|| field("token")),
        org: args
            .org
            .clone()
            .or_else(|| field("org"))
            .unwrap_or_else(|| "sentry".to_owned()),
    })
}

/// `http://host[:port][/prefix]` into its parts.
fn split_url(url: &str) -> anyhow::Result<(String, u16, String)> {
    let rest = url
        .trim_end_matches('/')
        .strip_prefix("http://")
        .with_context(|| format!("only http:// URLs are supported: {url}"))?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, String::new()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_owned(),
            p.parse().with_context(|| format!("port in {url}"))?,
        ),
        _ => (authority.to_owned(), 80),
    };
    Ok((host.trim_matches(['[', ']']).to_owned(), port, prefix))
}

/// One envelope per issue, with the offsets of its event-id placeholders.
struct Template {
    bytes: Vec<u8>,
    id_offsets: Vec<usize>,
}

const ID_MARK: &[u8; 32] = b"EVENTIDEVENTIDEVENTIDEVENTIDEVEN";

fn event_json(issue: usize, pad: usize, now: &str) -> Value {
    let mark = std::str::from_utf8(ID_MARK).unwrap_or_default();
    // Library frames, the same for every issue (not in-app), then in-app
    // frames that differ per issue, innermost last.
    let mut frames = Vec::new();
    for j in 0..3 {
        frames.push(json!({
            "function": format!("dispatch_{j}"),
            "module": "framework.core",
            "filename": format!("framework/core_{j}.py"),
            "abs_path": format!("/usr/lib/python3/site-packages/framework/core_{j}.py"),
            "lineno": 100 + j,
            "in_app": false,
        }));
    }
    for j in 0..7 {
        frames.push(json!({
            "function": format!("handle_step_{j}_of_issue_{issue}"),
            "module": format!("app.load.issue{issue}"),
            "filename": format!("app/load/issue{issue}.py"),
            "abs_path": format!("/srv/app/load/issue{issue}.py"),
            "lineno": 10 + j * 7,
            "context_line": format!("    result = step_{j}(payload)"),
            "pre_context": ["def handler(payload):", "    check(payload)"],
            "post_context": ["    return result"],
            "vars": {"payload": "{...}", "attempt": j},
            "in_app": true,
        }));
    }
    json!({
        "event_id": mark,
        "timestamp": now,
        "platform": "python",
        "level": "error",
        "logger": "load",
        "server_name": "load-host-1",
        "release": "load@1.0.0",
        "environment": "production",
        "transaction": format!("/api/issue/{issue}/"),
        "exception": {"values": [{
            "type": format!("LoadError{issue}"),
            "value": format!("load test failure number {issue}"),
            "module": "app.load",
            "mechanism": {"type": "generic", "handled": false},
            "stacktrace": {"frames": frames},
        }]},
        "breadcrumbs": {"values": (0..5).map(|b| json!({
            "timestamp": now,
            "type": "http",
            "category": "httplib",
            "level": "info",
            "data": {"url": format!("http://upstream/{b}"), "method": "GET", "status_code": 200},
        })).collect::<Vec<_>>()},
        "tags": {"region": "eu", "shard": format!("s{}", issue % 7), "load": "yes"},
        "user": {"id": "42", "email": "load@example.com", "ip_address": "10.0.0.1"},
        "contexts": {
            "os": {"name": "Linux", "version": "6.1"},
            "runtime": {"name": "CPython", "version": "3.12.1"},
            "device": {"arch": "x86_64"},
        },
        "sdk": {"name": "sentry.python", "version": "2.0.0"},
        "extra": {"padding": filler(issue, pad)},
    })
}

/// `len` bytes of text that compresses about as well as real event data
/// (words and ids, not one repeated byte): a payload of `"xxx..."` would
/// make compression look free.
fn filler(seed: usize, len: usize) -> String {
    const WORDS: [&str; 16] = [
        "request", "user", "timeout", "session", "cache", "order", "payment", "retry", "upstream",
        "worker", "queue", "token", "handler", "commit", "shard", "lookup",
    ];
    let mut state = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = String::with_capacity(len + 32);
    while out.len() < len {
        let r = next();
        out.push_str(WORDS[(r % 16) as usize]);
        out.push_str(&format!("={:08x} ", (r >> 32) as u32));
    }
    out.truncate(len);
    out
}

fn build_template(issue: usize, size: usize, now: &str) -> anyhow::Result<Template> {
    let bare = serde_json::to_vec(&event_json(issue, 0, now))?.len();
    let event = serde_json::to_vec(&event_json(issue, size.saturating_sub(bare), now))?;
    let mark = std::str::from_utf8(ID_MARK).unwrap_or_default();
    let mut bytes = serde_json::to_vec(&json!({
        "event_id": mark,
        "sent_at": now,
        "sdk": {"name": "sentry.load", "version": "1.0.0"},
    }))?;
    bytes.push(b'\n');
    bytes.extend(serde_json::to_vec(
        &json!({"type": "event", "length": event.len(), "content_type": "application/json"}),
    )?);
    bytes.push(b'\n');
    bytes.extend(&event);
    bytes.push(b'\n');
    let id_offsets = bytes
        .windows(ID_MARK.len())
        .enumerate()
        .filter(|(_, w)| *w == ID_MARK)
        .map(|(i, _)| i)
        .collect();
    Ok(Template { bytes, id_offsets })
}

fn body_for(t: &Template) -> Bytes {
    let mut b = t.bytes.clone();
    let id = uuid::Uuid::new_v4().simple().to_string();
    for &o in &t.id_offsets {
        b[o..o + 32].copy_from_slice(id.as_bytes());
    }
    Bytes::from(b)
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(host: &str, port: u16) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Totals shared by the workers.
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    retries: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    /// Nanoseconds after the start of the last 200.
    last_ok_ns: AtomicU64,
}

struct Worker {
    target: Arc<Target>,
    templates: Arc<Vec<Template>>,
    next: Arc<AtomicUsize>,
    total: usize,
    counters: Arc<Counters>,
    error_bodies: Arc<Mutex<Vec<String>>>,
    start: Instant,
}

impl Worker {
    async fn run(self) -> Vec<u64> {
        let mut latencies = Vec::with_capacity(self.total / 8 + 16);
        let mut sender: Option<Sender> = None;
        let host = format!("{}:{}", self.target.host, self.target.port);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.total {
                break;
            }
            let body = body_for(&self.templates[i % self.templates.len()]);
            let mut failures = 0u32;
            loop {
                let s = match &mut sender {
                    Some(s) if !s.is_closed() => s,
                    _ => match connect(&self.target.host, self.target.port).await {
                        Ok(s) => sender.insert(s),
                        Err(e) => {
                            failures += 1;
                            if failures > 50 {
                                self.error(format!("giving up on an event: {e:#}")).await;
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                if s.ready().await.is_err() {
                    sender = None;
                    self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let req = hyper::Request::post(&self.target.envelope_path)
                    .header("host", &host)
                    .header("content-type", "application/x-sentry-envelope")
                    .header("x-sentry-auth", &self.target.auth)
                    .body(Full::new(body.clone()));
                let req = match req {
                    Ok(r) => r,
                    Err(e) => {
                        self.error(format!("building a request: {e}")).await;
                        break;
                    }
                };
                let t0 = Instant::now();
                let resp = match s.send_request(req).await {
                    Ok(r) => r,
                    Err(e) => {
                        // The connection broke; resend on a new one (the
                        // server dedups by event_id if it did accept it).
                        sender = None;
                        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        failures += 1;
                        if failures > 50 {
                            self.error(format!("giving up on an event: {e}")).await;
                            break;
                        }
                        continue;
                    }
                };
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok());
                let body_bytes = resp.into_body().collect().await.map(|b| b.to_bytes());
                let elapsed = t0.elapsed().as_nanos() as u64;
                match (status, body_bytes) {
                    (200, Ok(_)) => {
                        latencies.push(elapsed);
                        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                        let at = self.start.elapsed().as_nanos() as u64;
                        self.counters.last_ok_ns.fetch_max(at, Ordering::Relaxed);
                        break;
                    }
                    (503 | 429, _) => {
                        self.counters.retries.fetch_add(1, Ordering::Relaxed);
                        let pause = retry_after
                            .map(|s| Duration::from_secs_f64(s.clamp(0.001, 1.0)))
                            .unwrap_or(Duration::from_millis(20));
                        tokio::time::sleep(pause).await;
                    }
                    (_, Err(e)) => {
                        sender = None;
                        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        failures += 1;
                        if failures > 50 {
                            self.error(format!("giving up on an event: {e}")).await;
                            break;
                        }
                    }
                    (status, Ok(b)) => {
                        let text = String::from_utf8_lossy(&b[..b.len().min(500)]).into_owned();
                        self.error(format!("HTTP {status}: {text}")).await;
                        break;
                    }
                }
            }
        }
        latencies
    }

    async fn error(&self, message: String) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut bodies = self.error_bodies.lock().await;
        if bodies.len() < 5 {
            eprintln!("error: {message}");
            bodies.push(message);
        }
    }
}

/// `GET` an API path; returns status, the `Link` header and the body.
async fn api_get(t: &Target, path: &str) -> anyhow::Result<(u16, String, Bytes)> {
    let mut s = connect(&t.api_host, t.api_port).await?;
    let mut req = hyper::Request::get(path)
        .header("host", format!("{}:{}", t.api_host, t.api_port))
        .header("connection", "close");
    if let Some(token) = &t.token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let resp = s.send_request(req.body(Full::new(Bytes::new()))?).await?;
    let status = resp.status().as_u16();
    let link = resp
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, link, body))
}

/// The total event count over all issues, and how many issues have a
/// `LoadError` title.
async fn issue_totals(t: &Target) -> anyhow::Result<(u64, usize)> {
    let mut path = format!(
        "{}/api/0/organizations/{}/issues/?query=&limit=100",
        t.api_prefix, t.org
    );
    let (mut total, mut load_issues) = (0u64, 0usize);
    for _ in 0..100_000 {
        let (status, link, body) = api_get(t, &path).await?;
        if status != 200 {
            bail!(
                "GET {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        let issues: Value = serde_json::from_slice(&body).context("issue list")?;
        for issue in issues.as_array().map(Vec::as_slice).unwrap_or_default() {
            total += match &issue["count"] {
                Value::String(s) => s.parse().unwrap_or(0),
                v => v.as_u64().unwrap_or(0),
            };
            if issue["title"]
                .as_str()
                .is_some_and(|s| s.starts_with("LoadError"))
                || issue["metadata"]["type"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("LoadError"))
            {
                load_issues += 1;
            }
        }
        let next = link
            .split(',')
            .find(|l| l.contains("rel=\"next\"") && l.contains("results=\"true\""));
        let Some(next) = next else {
            return Ok((total, load_issues));
        };
        let url = next
            .trim()
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap_or_default();
        path = match url.strip_prefix("http://") {
            Some(rest) => rest
                .find('/')
                .map(|i| rest[i..].to_owned())
                .unwrap_or_default(),
            None => url.to_owned(),
        };
    }
    bail!("too many pages of issues")
}

/// Memory and CPU of the server process, from `/proc`.
#[derive(Default)]
struct ProcSample {
    rss_kib: u64,
    hwm_kib: u64,
}

fn read_status(pid: u32) -> Option<ProcSample> {
    let file = std::fs::File::open(format!("/proc/{pid}/status")).ok()?;
    let text = sentry_envelope::read_capped(file, 1 << 20).ok()?;
    let text = String::from_utf8_lossy(&text);
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

/// CPU ticks per thread name of a process (summed over threads of one name).
fn thread_ticks(pid: u32) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(file) = std::fs::File::open(entry.path().join("stat")) else {
            continue;
        };
        let Ok(stat) = sentry_envelope::read_capped(file, 1 << 16) else {
            continue;
        };
        let stat = String::from_utf8_lossy(&stat);
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        // After the name: state is field 3; utime and stime are fields 14, 15.
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: u64 = rest
            .get(11..13)
            .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0);
        *out.entry(name).or_insert(0) += ticks;
    }
    out
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1e6
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let target = Arc::new(target(&args)?);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let templates = (0..args.issues)
        .map(|i| build_template(i, args.size, &now))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let envelope_bytes = templates.iter().map(|t| t.bytes.len()).sum::<usize>() / templates.len();
    let templates = Arc::new(templates);

    let (baseline, _) = issue_totals(&target)
        .await
        .context("reading the issue counts before sending")?;

    // Memory sampler: VmRSS every 100 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = args.pid.map(|pid| {
        let (stop, peak) = (stop.clone(), peak_rss.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(s) = read_status(pid) {
                    peak.fetch_max(s.rss_kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    });
    let ticks_before = args.pid.map(thread_ticks).unwrap_or_default();

    let counters = Arc::new(Counters::default());
    let error_bodies = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(
                Worker {
                    target: target.clone(),
                    templates: templates.clone(),
                    next: next.clone(),
                    total: args.events,
                    counters: counters.clone(),
                    error_bodies: error_bodies.clone(),
                    start,
                }
                .run(),
            )
        })
        .collect();

    // Poll the issues while sending and afterwards.
    let want = Arc::new(AtomicU64::new(u64::MAX));
    let poll_target = target.clone();
    let poll_want = want.clone();
    let timeout = Duration::from_secs(args.timeout);
    let poller = tokio::spawn(async move {
        let mut last = (0u64, 0usize);
        let mut deadline: Option<Instant> = None;
        loop {
            match issue_totals(&poll_target).await {
                Ok(t) => last = t,
                Err(e) => eprintln!("warning: polling issues: {e:#}"),
            }
            let want = poll_want.load(Ordering::Relaxed);
            if want != u64::MAX {
                if last.0 >= want {
                    return (last, Some(start.elapsed()));
                }
                let d = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                if Instant::now() >= d {
                    return (last, None);
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });

    let mut latencies = Vec::with_capacity(args.events);
    for w in workers {
        latencies.extend(w.await?);
    }
    let send_elapsed = start.elapsed();
    let accepted = counters.accepted.load(Ordering::Relaxed);
    let accept_elapsed = Duration::from_nanos(counters.last_ok_ns.load(Ordering::Relaxed));
    want.store(baseline + accepted, Ordering::Relaxed);
    let processed_at_send_end = issue_totals(&target)
        .await
        .map(|t| t.0.saturating_sub(baseline))
        .unwrap_or(0);
    let ((total, load_issues), processed_elapsed) = poller.await?;
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.join();
    }
    let processed = total.saturating_sub(baseline);
    let proc_end = args.pid.and_then(read_status).unwrap_or_default();
    let peak_rss_kib = peak_rss.load(Ordering::Relaxed).max(proc_end.rss_kib);

    // Server CPU by thread name over the run.
    let wall = start.elapsed().as_secs_f64();
    let tick_hz = 100.0; // USER_HZ on Linux
    let mut threads: Vec<(String, f64)> = args
        .pid
        .map(thread_ticks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, t)| {
            let before = ticks_before.get(&name).copied().unwrap_or(0);
            (name, t.saturating_sub(before) as f64 / tick_hz)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    let server_cpu: f64 = threads.iter().map(|t| t.1).sum();
    let self_cpu = thread_ticks(std::process::id()).values().sum::<u64>() as f64 / tick_hz;

    latencies.sort_unstable();
    let rate = |n: u64, d: Duration| {
        if d.is_zero() {
            0.0
        } else {
            n as f64 / d.as_secs_f64()
        }
    };
    let accepted_per_sec = rate(accepted, accept_elapsed);
    let processed_per_sec = processed_elapsed.map(|d| rate(processed, d));
    let mib = |kib: u64| kib as f64 / 1024.0;
    let result = json!({
        "events": args.events,
        "connections": args.connections,
        "issues_wanted": args.issues,
        "event_bytes": args.size,
        "envelope_bytes": envelope_bytes,
        "accepted": accepted,
        "accept_seconds": accept_elapsed.as_secs_f64(),
        "send_seconds": send_elapsed.as_secs_f64(),
        "accepted_per_sec": accepted_per_sec,
        "processed_at_send_end": processed_at_send_end,
        "processed": processed,
        "processed_all": processed_elapsed.is_some() && processed >= accepted,
        "processed_seconds": processed_elapsed.map(|d| d.as_secs_f64()),
        "processed_per_sec": processed_per_sec,
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p90": percentile(&latencies, 0.90),
            "p99": percentile(&latencies, 0.99),
            "max": percentile(&latencies, 1.0),
        },
        "retries_503": counters.retries.load(Ordering::Relaxed),
        "reconnects": counters.reconnects.load(Ordering::Relaxed),
        "errors": counters.errors.load(Ordering::Relaxed),
        "peak_rss_mib": args.pid.map(|_| mib(peak_rss_kib)),
        "vm_hwm_mib": args.pid.map(|_| mib(proc_end.hwm_kib)),
        "issues": load_issues,
        "server_cpu_seconds": args.pid.map(|_| server_cpu),
        "server_threads_cpu_seconds": threads.iter().take(12).map(|(n, s)| json!([n, s])).collect::<Vec<_>>(),
        "loadgen_cpu_seconds": self_cpu,
        "wall_seconds": wall,
    });
    if args.json {
        println!("{result}");
        return Ok(());
    }
    let opt_mib = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
    let row = |k: &str, v: String| println!("  {k:<26} {v}");
    println!("sentry load results");
    row("events", format!("{} ({} accepted)", args.events, accepted));
    row("connections", args.connections.to_string());
    row(
        "event size",
        format!("{} B event JSON, {envelope_bytes} B envelope", args.size),
    );
    row(
        "accepted/s",
        format!(
            "{accepted_per_sec:.0}  ({:.2} s)",
            accept_elapsed.as_secs_f64()
        ),
    );
    row(
        "processed at end of send",
        format!("{processed_at_send_end} of {accepted}"),
    );
    row(
        "processed/s",
        match (processed_per_sec, processed_elapsed) {
            (Some(r), Some(d)) => format!(
                "{r:.0}  ({:.2} s, all {processed} visible)",
                d.as_secs_f64()
            ),
            _ => format!(
                "TIMED OUT after {}s: {processed} of {accepted} visible",
                args.timeout
            ),
        },
    );
    row(
        "latency ms p50/p90/p99/max",
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2}",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.90),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0)
        ),
    );
    row(
        "503/429 retries",
        counters.retries.load(Ordering::Relaxed).to_string(),
    );
    row(
        "reconnects",
        counters.reconnects.load(Ordering::Relaxed).to_string(),
    );
    row(
        "errors",
        counters.errors.load(Ordering::Relaxed).to_string(),
    );
    row(
        "peak RSS MiB (sampled/HWM)",
        format!(
            "{} / {}",
            opt_mib(args.pid.map(|_| mib(peak_rss_kib))),
            opt_mib(args.pid.map(|_| mib(proc_end.hwm_kib)))
        ),
    );
    row(
        "issues (LoadError*)",
        format!("{load_issues} (want {})", args.issues),
    );
    if args.pid.is_some() {
        row(
            "server CPU s",
            format!(
                "{server_cpu:.1} over {wall:.1} s wall ({:.0}% of a core); {:.0} µs/event",
                100.0 * server_cpu / wall,
                1e6 * server_cpu / accepted.max(1) as f64
            ),
        );
        for (name, s) in threads.iter().take(8) {
            row(&format!("  thread {name}"), format!("{s:.1} s"));
        }
    }
    row("load generator CPU s", format!("{self_cpu:.1}"));
    Ok(())
}
