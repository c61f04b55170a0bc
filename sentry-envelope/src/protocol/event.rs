//! The event payload: errors, messages and transactions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{EventId, Level, Other, StringOrNumber, Tags, Timestamp, Values};

/// An event: an error, a message, or (with `type: "transaction"`) a transaction.
///
/// ```
/// use sentry_envelope::protocol::Event;
///
/// let event: Event = serde_json::from_str(r#"{
///     "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
///     "level": "error",
///     "exception": {"values": [{"type": "ValueError", "value": "bad"}]},
///     "tags": [["browser", "Firefox"]],
///     "my_new_field": 1
/// }"#)?;
/// assert_eq!(event.exception.as_ref().unwrap().values[0].ty.as_deref(), Some("ValueError"));
/// assert_eq!(event.tags.as_ref().unwrap().get("browser").as_deref(), Some("Firefox"));
/// assert_eq!(event.other["my_new_field"], 1);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The id (the envelope header's id wins over this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// `"error"` (default), `"transaction"`, `"csp"`, `"feedback"`, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// Severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// When a transaction started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Timestamp>,
    /// When the server received it (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<Timestamp>,
    /// The platform of the SDK (`python`, `node`, `native`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The logger name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    /// The host that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The release (`my-app@1.2.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The distribution of the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dist: Option<String>,
    /// The environment (`production`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The transaction name (route or function) the event happened in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<String>,
    /// How the transaction name was made (`{"source": "route"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_info: Option<Map<String, Value>>,
    /// Where it happened, as the SDK or an old server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<String>,
    /// A plain message, or a log entry object in old SDKs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// A log message with its parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logentry: Option<LogEntry>,
    /// Custom grouping (`["{{ default }}", "extra"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The exceptions, innermost last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<Values<Exception>>,
    /// A stack trace without an exception (`attach_stacktrace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
    /// Threads and their stacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<Values<Thread>>,
    /// What happened before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breadcrumbs: Option<Values<Breadcrumb>>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The HTTP request being handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// Contexts: `os`, `runtime`, `device`, `browser`, `app`, `trace`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Contexts>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Arbitrary extra data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Loaded modules and their versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Map<String, Value>>,
    /// The SDK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<ClientSdkInfo>,
    /// Debug images for symbolication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_meta: Option<DebugMeta>,
    /// The spans of a transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans: Option<Vec<Span>>,
    /// Measurements of a transaction (`lcp`, `fcp`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements: Option<Map<String, Value>>,
    /// Anything else, kept as sent (including `_meta`).
    #[serde(flatten)]
    pub other: Other,
}

impl Event {
    /// Whether this is a transaction.
    pub fn is_transaction(&self) -> bool {
        self.ty.as_deref() == Some("transaction")
    }

    /// The message text, whichever field holds it (`logentry.formatted`,
    /// `logentry.message`, or `message`).
    pub fn message_text(&self) -> Option<&str> {
        fn from_entry(e: &LogEntry) -> Option<&str> {
            e.formatted.as_deref().or(e.message.as_deref())
        }
        self.logentry
            .as_ref()
            .and_then(from_entry)
            .or_else(|| match &self.message {
                Some(Message::Plain(s)) => Some(s.as_str()),
                Some(Message::Entry(e)) => from_entry(e),
                None => None,
            })
    }
}

/// The `message` field: a string, or a log entry object (old SDKs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    /// A plain message.
    Plain(String),
    /// A log entry.
    Entry(LogEntry),
}

/// A log message, optionally with a format string and parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The format string (`"user %s failed"`) or the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The message with parameters filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// The parameters (a list or an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// A custom fingerprint. Entries that are numbers or booleans are read as
/// their text, as Sentry does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Fingerprint(pub Vec<String>);

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Vec::<Value>::deserialize(deserializer)?;
        let mut out = Vec::with_capacity(values.len());
        for value in values {
            match value {
                Value::String(s) => out.push(s),
                Value::Number(n) => out.push(n.to_string()),
                Value::Bool(b) => out.push(b.to_string()),
                Value::Null => {}
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "invalid fingerprint entry {other}"
                    )));
                }
            }
        }
        Ok(Fingerprint(out))
    }
}

/// One exception of a chain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    /// The type (`ValueError`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The module of the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The thread it was raised on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<StringOrNumber>,
    /// How it was caught.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Mechanism>,
    /// Where it was raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
    /// The stack before symbolication or source mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_stacktrace: Option<Stacktrace>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// How an exception was caught.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mechanism {
    /// The integration that caught it (`excepthook`, `onunhandledrejection`, `chained`, ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// Whether user code handled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled: Option<bool>,
    /// Whether the exception was made up by the SDK (a signal, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<bool>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A link to documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_link: Option<String>,
    /// The attribute that links it to its parent (`__cause__`, `__context__`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether it is an exception group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_exception_group: Option<bool>,
    /// Its id in the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_id: Option<u64>,
    /// The id of the exception it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    /// Extra data of the mechanism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// OS-level details (signal, errno, mach exception).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// A stack trace, outermost frame first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stacktrace {
    /// The frames, the most recent call last.
    #[serde(default)]
    pub frames: Vec<Frame>,
    /// CPU registers of the crashing thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registers: Option<Map<String, Value>>,
    /// The language, when mixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Whether this is a snapshot rather than a crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// One frame of a stack trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// The function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The mangled or original function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_function: Option<String>,
    /// The symbol name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The module (Python module, Java package and class, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The package (native library) it lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The file, relative to the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The absolute path or URL of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs_path: Option<String>,
    /// The line number (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineno: Option<u64>,
    /// The column number (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colno: Option<u64>,
    /// The platform, when it differs from the event's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Source lines before the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_context: Option<Vec<Option<String>>>,
    /// The source line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_line: Option<String>,
    /// Source lines after the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_context: Option<Vec<Option<String>>>,
    /// Whether the frame is the application's own code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
    /// Local variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vars: Option<Map<String, Value>>,
    /// The instruction address (native), as a hex string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction_addr: Option<Value>,
    /// The start address of the symbol (native).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_addr: Option<Value>,
    /// The load address of the image (native).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_addr: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// A thread at the time of the event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// The thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<StringOrNumber>,
    /// The thread name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it crashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crashed: Option<bool>,
    /// Whether it was the current thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
    /// Whether it is the main thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main: Option<bool>,
    /// Its stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Something that happened before the event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Breadcrumb {
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// The kind (`default`, `http`, `navigation`, `query`, ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// The category (`console`, `ui.click`, `httplib`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// A message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Data of the breadcrumb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// The user the event happened to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<StringOrNumber>,
    /// The e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The IP address, or `{{auto}}` for the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the user is (set by the server from the IP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Map<String, Value>>,
    /// More data about the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// The HTTP request being handled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The URL, without the query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The body (parsed or raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The query string (a string, an object or a list of pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string: Option<Value>,
    /// The URL fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
    /// Cookies (a string, an object or a list of pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Value>,
    /// Headers (an object or a list of pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    /// Server environment (`REMOTE_ADDR`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Contexts by name. The key is usually the context type (`os`, `runtime`,
/// `device`, `browser`, `app`, `gpu`, `trace`, `response`, `culture`, ...);
/// a context names its type in `type` when the key differs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Contexts(pub Map<String, Value>);

impl Contexts {
    /// A context read into a typed struct, if present and of that shape.
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).and_then(|v| T::deserialize(v).ok())
    }

    /// The trace context of a transaction or of an error inside one.
    pub fn trace(&self) -> Option<TraceContext> {
        self.get_as("trace")
    }

    /// The type of a context: its `type` field, or else its key.
    pub fn context_type<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        let context = self.0.get(key)?;
        Some(context.get("type").and_then(Value::as_str).unwrap_or(key))
    }
}

/// The `trace` context.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceContext {
    /// The trace (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The span (16 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The parent span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// The operation (`http.server`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The status (`ok`, `internal_error`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What started it (`auto.http.flask`, `manual`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Data of the root span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// The SDK that sent the event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientSdkInfo {
    /// The SDK name (`sentry.python`, `sentry.javascript.node`, `sentry.rust`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Enabled integrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrations: Option<Vec<Value>>,
    /// Installed packages (`{"name", "version"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Debug information for symbolication.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DebugMeta {
    /// The system SDK (Apple, Android).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_info: Option<Map<String, Value>>,
    /// Loaded images (`macho`, `elf`, `pe`, `sourcemap`, `proguard`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// A span of a transaction, or a standalone span.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The span id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The parent span id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// The trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The operation (`db.query`, `http.client`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// A description (the query, the URL, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Tags of the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Map<String, Value>>,
    /// Data of the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}
