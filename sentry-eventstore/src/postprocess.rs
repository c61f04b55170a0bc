//! Post-processing: what happens to a saved event once it can be queried.
//!
//! The forwarder reads the `events` stream in its own consumer group, but
//! only acts on an event after the Snuba consumer has written it to the
//! event store: that consumer announces each written batch on
//! `snuba-commit-log` (one record per partition, keyed
//! `events:{partition}:{group}`, holding the next offset), and the
//! forwarder holds every insert of `events` until the commit log has gone
//! past it (other messages, issue replacements, need no waiting and get no
//! post-processing). So whatever a hook's receiver does with the event (search it,
//! open its issue) finds it.
//!
//! For each event it then sends the project's service hooks that subscribe
//! to `event.created` (`http://` or `https://`, the server's certificate
//! checked against the system's authorities): a POST of JSON, signed with
//! the hook's secret
//! (`X-ServiceHook-Signature`: HMAC-SHA256 of the body, hex). A hook that
//! fails is tried three times, then logged and counted; it never stops the
//! stream.
//!
//! Offsets are committed after a batch is done, so a crash sends the hooks
//! of the uncommitted batch again (at least once). Events seen twice
//! (redelivered, or announced again by the ingest consumer) are recognized
//! by a mark in the shared [`Cache`] (`postprocess:{project}:{event}`, kept
//! a day) set after their hooks went out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use sentry_snuba::eventstream::{InsertEvent, InsertIds, Message};
use sentry_stream::{Broker, CommitOffset, Consumer, Histogram, Record, topics};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::cache::Cache;
use crate::consumer::ConsumerError;
use crate::models::ServiceHook;
use crate::store::Store;

/// The consumer group of the post-process forwarder.
pub const POST_PROCESS_GROUP: &str = "post-process-forwarder";

/// The hook event sent for every stored event.
pub const EVENT_CREATED: &str = "event.created";

/// Settings of the forwarder.
#[derive(Clone, Debug)]
pub struct PostProcessConfig {
    /// Its consumer group on `events`.
    pub group: String,
    /// The Snuba consumer's group, whose commit-log records it waits for.
    pub snuba_group: String,
    /// Records per batch.
    pub batch_size: usize,
    /// How long a poll waits for the first record.
    pub poll_timeout: Duration,
    /// How long one hook request may take.
    pub hook_timeout: Duration,
    /// How long an event is remembered as post-processed.
    pub dedup_ttl: Duration,
    /// The public URL of the web UI, for the issue links in hook payloads.
    pub base_url: String,
    /// A PEM file of certificate authorities that `https://` hooks may
    /// also present, besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for PostProcessConfig {
    fn default() -> Self {
        PostProcessConfig {
            group: POST_PROCESS_GROUP.into(),
            snuba_group: sentry_snuba::consumer::SNUBA_CONSUMER_GROUP.into(),
            batch_size: 500,
            poll_timeout: Duration::from_millis(200),
            hook_timeout: Duration::from_secs(5),
            dedup_ttl: Duration::from_secs(24 * 3600),
            base_url: "http://127.0.0.1:9000".into(),
            ca_file: None,
        }
    }
}

/// Counters of the forwarder, readable while it runs.
#[derive(Debug, Default)]
pub struct PostProcessStats {
    /// Seconds from reading an event to its hooks being done (waiting for
    /// the commit log included).
    pub event_seconds: Histogram,
    /// Records read from `events`.
    pub records: AtomicU64,
    /// Events post-processed.
    pub processed: AtomicU64,
    /// Events skipped because they were post-processed before.
    pub duplicates: AtomicU64,
    /// Hook requests answered with a 2xx status.
    pub hooks_sent: AtomicU64,
    /// Hook requests that failed three times.
    pub hooks_failed: AtomicU64,
}

/// How far the Snuba consumer has written, per partition of `events`.
#[derive(Debug, Default)]
struct Watermarks {
    next: HashMap<u32, u64>,
}

impl Watermarks {
    /// Reads commit-log records of `group`.
    fn update(&mut self, records: &[Record], group: &str) {
        for record in records {
            let Some(partition) = record
                .key
                .as_deref()
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| commit_log_partition(k, group))
            else {
                continue;
            };
            let Ok(value) = serde_json::from_slice::<Value>(&record.payload) else {
                continue;
            };
            if let Some(offset) = value.get("offset").and_then(Value::as_u64) {
                let slot = self.next.entry(partition).or_insert(0);
                *slot = (*slot).max(offset);
            }
        }
    }

    /// Whether the record is in the event store.
    fn covers(&self, record: &Record) -> bool {
        self.next
            .get(&record.partition)
            .is_some_and(|next| record.offset < *next)
    }
}

/// The partition of `events` a commit-log key names for `group`.
fn commit_log_partition(key: &str, group: &str) -> Option<u32> {
    let rest = key.strip_prefix(topics::EVENTS)?.strip_prefix(':')?;
    let (partition, key_group) = rest.split_once(':')?;
    (key_group == group).then(|| partition.parse().ok())?
}

/// Runs the forwarder until `shutdown` turns true; see the [module
/// docs](self).
pub async fn run_post_process_forwarder(
    broker: Arc<dyn Broker>,
    store: Arc<dyn Store>,
    cache: Arc<dyn Cache>,
    config: PostProcessConfig,
    stats: Arc<PostProcessStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConsumerError> {
    // A group of its own that never commits: the whole commit log is read
    // from its start at every start.
    let log_group = format!(
        "{}-commit-log-{}",
        config.group,
        uuid::Uuid::new_v4().simple()
    );
    let mut log = broker
        .consumer(&log_group, &[topics::SNUBA_COMMIT_LOG])
        .await?;
    let mut events = broker.consumer(&config.group, &[topics::EVENTS]).await?;
    let mut marks = Watermarks::default();
    let sender = HookSender::new(config.hook_timeout, config.ca_file.as_deref());
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let records = tokio::select! {
            r = events.poll(config.batch_size, config.poll_timeout) => r?,
            _ = shutdown.changed() => continue,
        };
        catch_up(
            log.as_mut(),
            &mut marks,
            &config.snuba_group,
            Duration::ZERO,
        )
        .await?;
        if records.is_empty() {
            continue;
        }
        stats
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let polled = std::time::Instant::now();
        // Only inserts are post-processed, and only they wait for the
        // Snuba consumer (replacements are committed without a commit-log
        // record). Their ids are read first: the event itself only for a
        // project with hooks.
        let inserts: Vec<(&Record, InsertIds)> = records
            .iter()
            .filter_map(|r| Some((r, Message::decode_insert_ids(&r.payload).ok()??)))
            .collect();
        // Wait until the Snuba consumer has written every insert.
        while !inserts.iter().all(|(r, _)| marks.covers(r)) {
            if *shutdown.borrow() {
                // Uncommitted: read again after the restart.
                return Ok(());
            }
            let timeout = Duration::from_millis(200);
            tokio::select! {
                r = catch_up(log.as_mut(), &mut marks, &config.snuba_group, timeout) => r?,
                _ = shutdown.changed() => {}
            }
        }
        let mut hooks = HashMap::new();
        for insert in &inserts {
            process(
                insert,
                store.as_ref(),
                cache.as_ref(),
                &sender,
                &config,
                &stats,
                &mut hooks,
            )
            .await?;
            stats.event_seconds.observe(polled.elapsed().as_secs_f64());
        }
        events.commit(&CommitOffset::after_all(&records)).await?;
    }
}

/// Reads what the commit log has (waiting up to `timeout` for the first
/// record) into `marks`.
async fn catch_up(
    log: &mut dyn Consumer,
    marks: &mut Watermarks,
    group: &str,
    timeout: Duration,
) -> Result<(), ConsumerError> {
    let mut timeout = timeout;
    loop {
        let records = log.poll(1000, timeout).await?;
        if records.is_empty() {
            return Ok(());
        }
        marks.update(&records, group);
        timeout = Duration::ZERO;
    }
}

/// Post-processes one event: its hooks, unless it was done before.
async fn process(
    (record, ids): &(&Record, InsertIds),
    store: &dyn Store,
    cache: &dyn Cache,
    sender: &HookSender,
    config: &PostProcessConfig,
    stats: &PostProcessStats,
    hooks: &mut HashMap<u64, ProjectHooks>,
) -> Result<(), ConsumerError> {
    let mark = format!("postprocess:{}:{}", ids.project_id, ids.event_id);
    match cache.get(&mark).await {
        Ok(Some(_)) => {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "post-process marks unavailable; the event may be processed twice");
        }
    }
    let project = match hooks.get(&ids.project_id) {
        Some(h) => h,
        None => {
            let found = project_hooks(store, ids.project_id).await?;
            hooks.entry(ids.project_id).or_insert(found)
        }
    };
    let wanted: Vec<&ServiceHook> = project
        .hooks
        .iter()
        .filter(|h| h.status == "active" && h.events.iter().any(|e| e == EVENT_CREATED))
        .collect();
    if !wanted.is_empty() {
        let issues = format!(
            "{}/organizations/{}/issues/",
            config.base_url.trim_end_matches('/'),
            project.organization
        );
        match Message::decode(&record.payload) {
            Ok(Message::Insert(event, _)) => {
                let body = Bytes::from(hook_payload(&event, &issues).to_string());
                for hook in wanted {
                    if sender.send_with_retries(hook, body.clone()).await {
                        stats.hooks_sent.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.hooks_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // Ids without an event: not a message the ingest consumer wrote.
            _ => tracing::warn!(
                project = ids.project_id,
                event = %ids.event_id,
                "insert message without a readable event: no hooks sent"
            ),
        }
    }
    if let Err(error) = cache.set(&mark, b"1", config.dedup_ttl).await {
        tracing::warn!(%error, "post-process mark not set");
    }
    stats.processed.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// A project's hooks and its organization's slug.
struct ProjectHooks {
    hooks: Vec<ServiceHook>,
    organization: String,
}

/// Reads a project's hooks (none for a deleted project).
async fn project_hooks(store: &dyn Store, project_id: u64) -> Result<ProjectHooks, ConsumerError> {
    let id = i64::try_from(project_id).unwrap_or(i64::MAX);
    let hooks = store.service_hooks(id).await?;
    let mut organization = String::new();
    if !hooks.is_empty() {
        if let Some(project) = store.project_by_id(id).await? {
            organization = store
                .organizations()
                .await?
                .into_iter()
                .find(|o| o.id == project.organization_id)
                .map(|o| o.slug)
                .unwrap_or_default();
        }
    }
    Ok(ProjectHooks {
        hooks,
        organization,
    })
}

/// The body of an `event.created` request: the stored event and its issue,
/// linked under `issues_url` (`https://sentry.example.com/organizations/{org}/issues/`).
pub fn hook_payload(event: &InsertEvent, issues_url: &str) -> Value {
    let issue_url = format!("{issues_url}{}/", event.group_id);
    let mut data = event.data.clone();
    if let Some(object) = data.as_object_mut() {
        object.insert("issue_id".into(), json!(event.group_id.to_string()));
        object.insert("url".into(), json!(issue_url));
    }
    json!({
        "action": EVENT_CREATED,
        "event": data,
        "group": {
            "id": event.group_id.to_string(),
            "project": event.project_id.to_string(),
            "title": event.message,
            "url": issue_url,
        },
    })
}

/// The hex HMAC-SHA256 of `body` under `secret`: the value of
/// `X-ServiceHook-Signature`.
pub fn hook_signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sends hook requests over HTTP/1.1, in the clear for `http://` URLs and
/// over TLS (rustls) for `https://` ones. Servers are verified against the
/// system's certificate authorities (`SSL_CERT_FILE` or `SSL_CERT_DIR`
/// replace them, for a private CA).
struct HookSender {
    timeout: Duration,
    tls: Result<tokio_rustls::TlsConnector, String>,
    /// Hooks that just failed three times, and until when they are not
    /// tried: one receiver that does not answer must not hold up the hooks
    /// of every project.
    resting: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

/// How long a hook that failed three times is not tried.
const REST: Duration = Duration::from_secs(60);

/// The most of a receiver's answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl HookSender {
    fn new(timeout: Duration, ca_file: Option<&std::path::Path>) -> Self {
        let tls = tls_connector(ca_file);
        if let Err(error) = &tls {
            tracing::warn!(%error, "https service hooks cannot be sent");
        }
        HookSender {
            timeout,
            tls,
            resting: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Sends up to three times, a second apart; `true` once answered 2xx.
    async fn send_with_retries(&self, hook: &ServiceHook, body: Bytes) -> bool {
        let now = std::time::Instant::now();
        {
            let mut resting = self
                .resting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match resting.get(&hook.guid) {
                Some(until) if *until > now => {
                    tracing::debug!(hook = %hook.guid, "service hook resting after failures; not sent");
                    return false;
                }
                Some(_) => {
                    resting.remove(&hook.guid);
                }
                None => {}
            }
        }
        let url = redact_hook_url(&hook.url);
        for attempt in 1..=3 {
            match tokio::time::timeout(self.timeout, self.send(hook, body.clone())).await {
                Ok(Ok(())) => return true,
                Ok(Err(error)) => {
                    tracing::warn!(hook = %hook.guid, %url, attempt, %error, "service hook failed");
                }
                Err(_) => {
                    tracing::warn!(hook = %hook.guid, %url, attempt, "service hook timed out");
                }
            }
            if attempt < 3 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tracing::warn!(hook = %hook.guid, %url, "service hook failed three times; resting it for {} s", REST.as_secs());
        self.resting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(hook.guid.clone(), std::time::Instant::now() + REST);
        false
    }

    async fn send(&self, hook: &ServiceHook, body: Bytes) -> Result<(), String> {
        let uri: hyper::Uri = hook.url.parse().map_err(|e| format!("bad url: {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err("not an http or https url".into()),
        };
        let host = uri.host().ok_or("no host")?.to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = Request::post(path)
            // Never the URL's user info.
            .header(
                "host",
                match uri.port_u16() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.clone(),
                },
            )
            .header("content-type", "application/json")
            .header("user-agent", "sentry-rs/service-hook")
            .header("x-servicehook-timestamp", timestamp.to_string())
            .header("x-servicehook-guid", &hook.guid)
            .header(
                "x-servicehook-signature",
                hook_signature(&hook.secret, &body),
            )
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        // IPv6 literals come bracketed in URLs, not in socket addresses.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let stream = TcpStream::connect((bare, port))
            .await
            .map_err(|e| e.to_string())?;
        let status = if https {
            let connector = self.tls.as_ref().map_err(Clone::clone)?;
            let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
                .map_err(|e| format!("bad host name: {e}"))?;
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(stream, request).await?
        } else {
            exchange(stream, request).await?
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

/// One request and its answer's status on a fresh connection.
async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<hyper::StatusCode, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read (a bounded part of) the answer so the connection ends cleanly.
    let _ = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await;
    Ok(status)
}

/// A hook's URL for logs: scheme, host and port only (receivers often put
/// a token in the path or query).
fn redact_hook_url(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(uri) => format!(
            "{}://{}{}/...",
            uri.scheme_str().unwrap_or("?"),
            uri.host().unwrap_or("?"),
            uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(unparsable url)".to_owned(),
    }
}

/// A TLS client trusting the system's certificate authorities, and those
/// of `ca_file`.
fn tls_connector(ca_file: Option<&std::path::Path>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (mut added, _) = roots.add_parsable_certificates(found.certs);
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        added += roots.add_parsable_certificates(certs).0;
    }
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "no certificate authorities found (install ca-certificates or set SSL_CERT_FILE){}",
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {}", errors.join("; "))
            }
        ));
    }
    // ring, not aws-lc-rs (whose C build is much heavier): rustls marks
    // ring's provider deprecated for its lack of post-quantum key exchange,
    // which hook requests do not need.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_log_keys_name_partition_and_group() {
        assert_eq!(
            commit_log_partition("events:3:snuba-consumers", "snuba-consumers"),
            Some(3)
        );
        assert_eq!(
            commit_log_partition("events:3:other", "snuba-consumers"),
            None
        );
        assert_eq!(
            commit_log_partition("transactions:3:snuba-consumers", "snuba-consumers"),
            None
        );
        assert_eq!(
            commit_log_partition("events:x:snuba-consumers", "snuba-consumers"),
            None
        );
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            hook_signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
