//! Inbound filters: the project settings that drop events at the ingest
//! edge before they count against quotas, as Relay's filters do.
//!
//! [`FiltersConfig`] is the `filterSettings` part of a project config in
//! Relay's JSON shape; [`CompiledFilters`] is the same config with its
//! patterns compiled once, to run against many events. A dropped event is
//! reported with a [`FilterStatKey`], whose [`as_str`](FilterStatKey::as_str)
//! is the outcome reason Sentry shows under "filtered".
//!
//! The filters, in the order they run:
//!
//! | config key | drops | reason |
//! |---|---|---|
//! | `clientIps` | requests from listed addresses or CIDR ranges | `ip-address` |
//! | `releases` | events whose release matches a glob | `release-version` |
//! | `errorMessages` | events whose message or `Type: value` matches a glob | `error-message` |
//! | `localhost` | events from `127.0.0.1`, `::1` or a `localhost` URL | `localhost` |
//! | `browserExtensions` | errors raised by browser extensions | `browser-extensions` |
//! | `legacyBrowsers` | events from old browsers | `legacy-browsers` |
//! | `webCrawlers` | events from bots and crawlers | `web-crawlers` |
//! | `ignoreTransactions` | transactions whose name matches a glob | `filtered-transaction` |
//! | `healthCheck` | transactions of health-check endpoints | `filtered-transaction` |
//!
//! Globs are case-insensitive; `*` matches any run of characters (slashes
//! and line breaks too), `?` one character, `[a-z]` and `[!a-z]` a class,
//! `{a,b}` either alternative, and `\` escapes the next character. A
//! pattern that does not compile is ignored, as in Relay, and listed in
//! [`CompiledFilters::invalid_patterns`].
//!
//! ```
//! use sentry_envelope::protocol::Event;
//! use sentry_relay_core::filter::{CompiledFilters, FilterStatKey, FiltersConfig};
//!
//! let config: FiltersConfig = serde_json::from_str(r#"{
//!     "errorMessages": {"patterns": ["*ConnectionResetError*"]},
//!     "clientIps": {"blacklistedIps": ["10.0.0.0/8"]}
//! }"#)?;
//! let filters = CompiledFilters::new(&config);
//! let event: Event = serde_json::from_str(r#"{
//!     "exception": {"values": [{"type": "ConnectionResetError", "value": "peer gone"}]}
//! }"#)?;
//! assert_eq!(filters.should_filter(&event, None), Err(FilterStatKey::ErrorMessage));
//! assert_eq!(
//!     filters.should_filter(&Event::default(), Some("10.1.2.3".parse()?)),
//!     Err(FilterStatKey::IpAddress),
//! );
//! assert_eq!(FilterStatKey::IpAddress.as_str(), "ip-address");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use sentry_envelope::protocol::Event;

use crate::user_agent::{event_user_agent, parse_user_agent};

/// Which filter dropped an event. [`as_str`](Self::as_str) is the outcome
/// reason Relay records (and Sentry counts per filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FilterStatKey {
    /// The client's address is listed (`ip-address`).
    IpAddress,
    /// The release matches a listed glob (`release-version`).
    ReleaseVersion,
    /// The message or an exception matches a listed glob (`error-message`).
    ErrorMessage,
    /// Raised by a browser extension (`browser-extensions`).
    BrowserExtensions,
    /// Sent by an old browser (`legacy-browsers`).
    LegacyBrowsers,
    /// Sent from the local machine (`localhost`).
    Localhost,
    /// Sent by a crawler (`web-crawlers`).
    WebCrawlers,
    /// A transaction with an ignored name, a health check among them
    /// (`filtered-transaction`).
    FilteredTransactions,
}

impl FilterStatKey {
    /// The outcome reason Relay records for this filter.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterStatKey::IpAddress => "ip-address",
            FilterStatKey::ReleaseVersion => "release-version",
            FilterStatKey::ErrorMessage => "error-message",
            FilterStatKey::BrowserExtensions => "browser-extensions",
            FilterStatKey::LegacyBrowsers => "legacy-browsers",
            FilterStatKey::Localhost => "localhost",
            FilterStatKey::WebCrawlers => "web-crawlers",
            FilterStatKey::FilteredTransactions => "filtered-transaction",
        }
    }
}

impl fmt::Display for FilterStatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// --- config -------------------------------------------------------------------

/// A filter that is on or off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FilterConfig {
    /// Whether the filter runs.
    pub is_enabled: bool,
}

/// The `clientIps` filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClientIpsFilterConfig {
    /// Addresses (`203.0.113.7`, `2001:db8::1`) and CIDR ranges
    /// (`10.0.0.0/8`, `2001:db8::/32`) whose events are dropped. Entries
    /// that are neither are ignored.
    pub blacklisted_ips: Vec<String>,
}

/// The `errorMessages` filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorMessagesFilterConfig {
    /// Globs matched against the log message and each exception as
    /// `Type: value` (or the type or value alone when the other is
    /// missing).
    pub patterns: Vec<String>,
}

/// The `releases` filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReleasesFilterConfig {
    /// Globs matched against the event's release.
    pub releases: Vec<String>,
}

/// The `ignoreTransactions` filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IgnoreTransactionsFilterConfig {
    /// Whether the filter runs.
    pub is_enabled: bool,
    /// Globs matched against the transaction name of transactions.
    pub patterns: Vec<String>,
}

/// The `legacyBrowsers` filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LegacyBrowsersFilterConfig {
    /// Whether the filter runs.
    pub is_enabled: bool,
    /// Which browsers count as legacy (Sentry's "subfilters").
    #[serde(rename = "options")]
    pub browsers: BTreeSet<LegacyBrowser>,
}

/// The inbound filters of a project (a project config's `filterSettings`,
/// in Relay's JSON shape). Missing keys mean the filter is off; unknown
/// keys (`csp`, `generic`, ...) are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FiltersConfig {
    /// Errors caused by browser extensions.
    pub browser_extensions: FilterConfig,
    /// Events from listed client addresses.
    pub client_ips: ClientIpsFilterConfig,
    /// Events from web crawlers.
    pub web_crawlers: FilterConfig,
    /// Events by message.
    pub error_messages: ErrorMessagesFilterConfig,
    /// Events from old browsers.
    pub legacy_browsers: LegacyBrowsersFilterConfig,
    /// Events from the local machine.
    pub localhost: FilterConfig,
    /// Events by release.
    pub releases: ReleasesFilterConfig,
    /// Transactions by name.
    pub ignore_transactions: IgnoreTransactionsFilterConfig,
    /// Transactions of health-check endpoints ([`HEALTH_CHECK_GLOBS`]).
    /// Sentry sends these as `ignoreTransactions` patterns; this switch is
    /// the same with the list built in.
    pub health_check: FilterConfig,
}

/// A browser class of the legacy-browser filter, by Sentry's option name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LegacyBrowser {
    /// `default`: IE before 10, Safari before 6, Opera before 15, Android
    /// before 4, Opera Mini before 8. Alone decides when present.
    Default,
    /// `ie_pre_9`: Internet Explorer 8 and older.
    IePre9,
    /// `ie9`: Internet Explorer 9.
    Ie9,
    /// `ie10`: Internet Explorer 10.
    Ie10,
    /// `ie11`: Internet Explorer 11.
    Ie11,
    /// `opera_pre_15`: Opera 14 and older.
    OperaPre15,
    /// `opera_mini_pre_8`: Opera Mini 7 and older.
    OperaMiniPre8,
    /// `android_pre_4`: the Android browser of Android 3 and older.
    AndroidPre4,
    /// `safari_pre_6`: desktop Safari 5 and older.
    SafariPre6,
    /// `edge_pre_79`: Edge before Chromium (18 and older).
    EdgePre79,
    /// `ie`: Internet Explorer 11 and older.
    Ie,
    /// `safari`: desktop Safari 15 and older.
    Safari,
    /// `opera`: Opera 99 and older.
    Opera,
    /// `opera_mini`: Opera Mini 34 and older.
    OperaMini,
    /// `android`: the Android browser of Android 3 and older.
    Android,
    /// `firefox`: Firefox 110 and older.
    Firefox,
    /// `chrome`: Chrome 110 and older.
    Chrome,
    /// `edge`: Edge 110 and older.
    Edge,
    /// An option this version does not know; it filters nothing.
    Unknown(String),
}

/// A test on a browser's major version.
type VersionTest = fn(u32) -> bool;

impl LegacyBrowser {
    /// Sentry's name of the option.
    pub fn as_str(&self) -> &str {
        match self {
            LegacyBrowser::Default => "default",
            LegacyBrowser::IePre9 => "ie_pre_9",
            LegacyBrowser::Ie9 => "ie9",
            LegacyBrowser::Ie10 => "ie10",
            LegacyBrowser::Ie11 => "ie11",
            LegacyBrowser::OperaPre15 => "opera_pre_15",
            LegacyBrowser::OperaMiniPre8 => "opera_mini_pre_8",
            LegacyBrowser::AndroidPre4 => "android_pre_4",
            LegacyBrowser::SafariPre6 => "safari_pre_6",
            LegacyBrowser::EdgePre79 => "edge_pre_79",
            LegacyBrowser::Ie => "ie",
            LegacyBrowser::Safari => "safari",
            LegacyBrowser::Opera => "opera",
            LegacyBrowser::OperaMini => "opera_mini",
            LegacyBrowser::Android => "android",
            LegacyBrowser::Firefox => "firefox",
            LegacyBrowser::Chrome => "chrome",
            LegacyBrowser::Edge => "edge",
            LegacyBrowser::Unknown(name) => name,
        }
    }

    /// The option of this name; unknown names are kept as
    /// [`LegacyBrowser::Unknown`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "default" => LegacyBrowser::Default,
            "ie_pre_9" => LegacyBrowser::IePre9,
            "ie9" => LegacyBrowser::Ie9,
            "ie10" => LegacyBrowser::Ie10,
            "ie11" => LegacyBrowser::Ie11,
            "opera_pre_15" => LegacyBrowser::OperaPre15,
            "opera_mini_pre_8" => LegacyBrowser::OperaMiniPre8,
            "android_pre_4" => LegacyBrowser::AndroidPre4,
            "safari_pre_6" => LegacyBrowser::SafariPre6,
            "edge_pre_79" => LegacyBrowser::EdgePre79,
            "ie" => LegacyBrowser::Ie,
            "safari" => LegacyBrowser::Safari,
            "opera" => LegacyBrowser::Opera,
            "opera_mini" => LegacyBrowser::OperaMini,
            "android" => LegacyBrowser::Android,
            "firefox" => LegacyBrowser::Firefox,
            "chrome" => LegacyBrowser::Chrome,
            "edge" => LegacyBrowser::Edge,
            other => LegacyBrowser::Unknown(other.to_owned()),
        }
    }

    /// The browser family (as the user-agent parser names it) and the test
    /// on its major version, for every option but `default`.
    fn rule(&self) -> Option<(&'static str, VersionTest)> {
        Some(match self {
            LegacyBrowser::IePre9 => ("IE", |v| v <= 8),
            LegacyBrowser::Ie9 => ("IE", |v| v == 9),
            LegacyBrowser::Ie10 => ("IE", |v| v == 10),
            LegacyBrowser::Ie11 => ("IE", |v| v == 11),
            LegacyBrowser::Ie => ("IE", |v| v <= 11),
            LegacyBrowser::OperaPre15 => ("Opera", |v| v < 15),
            LegacyBrowser::Opera => ("Opera", |v| v <= 99),
            LegacyBrowser::OperaMiniPre8 => ("Opera Mini", |v| v < 8),
            LegacyBrowser::OperaMini => ("Opera Mini", |v| v <= 34),
            LegacyBrowser::AndroidPre4 | LegacyBrowser::Android => ("Android", |v| v < 4),
            LegacyBrowser::SafariPre6 => ("Safari", |v| v < 6),
            LegacyBrowser::Safari => ("Safari", |v| v <= 15),
            LegacyBrowser::EdgePre79 => ("Edge", |v| v < 79),
            LegacyBrowser::Edge => ("Edge", |v| v <= 110),
            LegacyBrowser::Firefox => ("Firefox", |v| v <= 110),
            LegacyBrowser::Chrome => ("Chrome", |v| v <= 110),
            LegacyBrowser::Default | LegacyBrowser::Unknown(_) => return None,
        })
    }
}

impl Serialize for LegacyBrowser {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LegacyBrowser {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<'de, str>::deserialize(deserializer)?;
        Ok(LegacyBrowser::from_name(&name))
    }
}

/// The transaction names Sentry treats as health checks (its
/// `HEALTH_CHECK_GLOBS`), for [`FiltersConfig::health_check`].
pub const HEALTH_CHECK_GLOBS: &[&str] = &[
    "*healthcheck*",
    "*heartbeat*",
    "*/health{/,}",
    "*/healthy{/,}",
    "*/healthz{/,}",
    "*/health_check{/,}",
    "*/_health{/,}",
    r"*/\[_health\]{/,}",
    "*/live{/,}",
    "*/livez{/,}",
    "*/ready{/,}",
    "*/readyz{/,}",
    "*/ping{/,}",
    "*/up{/,}",
];

// --- globs ----------------------------------------------------------------------

/// Compiled glob patterns.
#[derive(Clone, Debug, Default)]
struct Globs(Vec<Regex>);

impl Globs {
    /// Compiles the patterns; the ones that do not compile are pushed to
    /// `invalid`.
    fn new<'a>(patterns: impl IntoIterator<Item = &'a str>, invalid: &mut Vec<String>) -> Self {
        let mut regexes = Vec::new();
        for pattern in patterns {
            match glob_regex(pattern) {
                Some(regex) => regexes.push(regex),
                None => invalid.push(pattern.to_owned()),
            }
        }
        Globs(regexes)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any pattern matches; an empty text matches nothing.
    fn is_match(&self, text: &str) -> bool {
        !text.is_empty() && self.0.iter().any(|r| r.is_match(text))
    }
}

/// The regex of a glob, or `None` if the glob is malformed (an unclosed
/// class or brace, a trailing backslash) or too large.
fn glob_regex(glob: &str) -> Option<Regex> {
    let mut re = String::with_capacity(glob.len() * 2 + 8);
    re.push_str("^(?:");
    let mut chars = glob.chars().peekable();
    let mut braces = 0usize;
    let mut buf = [0u8; 4];
    let mut literal =
        |re: &mut String, c: char| re.push_str(&regex::escape(c.encode_utf8(&mut buf)));
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                while chars.next_if_eq(&'*').is_some() {}
                re.push_str(".*");
            }
            '?' => re.push('.'),
            '\\' => literal(&mut re, chars.next()?),
            '[' => {
                let mut class: Vec<char> = Vec::new();
                let negated = chars.next_if(|c| matches!(c, '!' | '^')).is_some();
                // A `]` right after the opening is a literal.
                if let Some(c) = chars.next_if_eq(&']') {
                    class.push(c);
                }
                loop {
                    match chars.next()? {
                        ']' => break,
                        '\\' => class.push(chars.next()?),
                        c => class.push(c),
                    }
                }
                re.push('[');
                if negated {
                    re.push('^');
                }
                let last = class.len().saturating_sub(1);
                for (i, c) in class.iter().enumerate() {
                    if *c == '-' && i != 0 && i != last {
                        re.push('-');
                    } else if c.is_ascii_punctuation() {
                        re.push('\\');
                        re.push(*c);
                    } else {
                        re.push(*c);
                    }
                }
                re.push(']');
            }
            '{' => {
                braces += 1;
                re.push_str("(?:");
            }
            '}' if braces > 0 => {
                braces -= 1;
                re.push(')');
            }
            ',' if braces > 0 => re.push('|'),
            c => literal(&mut re, c),
        }
    }
    if braces > 0 {
        return None;
    }
    re.push_str(")$");
    RegexBuilder::new(&re)
        .case_insensitive(true)
        .dot_matches_new_line(true)
        .size_limit(1 << 20)
        .build()
        .ok()
}

// --- IP ranges ------------------------------------------------------------------

/// An address or a CIDR range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network = canonical(addr.parse().ok()?);
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(IpRange { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u32::from(net).into(), u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// IPv4 addresses written as IPv6 (`::ffff:10.0.0.1`) are IPv4 addresses.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn same_prefix(a: u128, b: u128, bits: u32, prefix: u8) -> bool {
    let prefix = u32::from(prefix);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix.min(bits);
    (a >> shift) == (b >> shift)
}

// --- built-in lists -------------------------------------------------------------

/// Exception values that browser extensions and injected scripts cause.
static EXTENSION_VALUES: LazyLock<Regex> = LazyLock::new(|| {
    literal_set(&[
        "top.GLOBALS",
        "originalCreateNotification",
        "canvas.contentDocument",
        "MyApp_RemoveAllHighlights",
        "http://tt.epicplay.com",
        "Can't find variable: ZiteReader",
        "jigsaw is not defined",
        "ComboSearch is not defined",
        "http://loading.retry.widdit.com/",
        "atomicFindClose",
        "fb_xd_fragment",
        "bmi_SafeAddOnload",
        "EBCallBackMessageReceived",
        "_gCrWeb",
        "conduitPage",
        "null is not an object (evaluating 'elt.parentNode')",
        "plugin.setSuspendState is not a function",
        "Extension context invalidated",
        "webkit-masked-url:",
        "can't access dead object",
        "Cannot redefine property: solana",
        "Cannot redefine property: ethereum",
        "Cannot read properties of null (reading 'ethereum')",
        "Cannot set property ethereum",
        "Can't find variable: _AutofillCallbackHandler",
        "Could not establish connection. Receiving end does not exist.",
        "Non-Error promise rejection captured with value: Object Not Found Matching Id",
        "__firefox__",
        "__gCrWeb",
    ])
});

/// Where an extension's frames come from: extension URL schemes and
/// scripts that extensions and toolbars inject.
static EXTENSION_SOURCES: LazyLock<Regex> = LazyLock::new(|| {
    build_regex(
        r"(?i)^(?:chrome(?:-extension)?|moz-extension|safari(?:-web)?-extension|ms-browser-extension)://|webkit-masked-url|graph\.facebook\.com|connect\.facebook\.net|eatdifferent\.com\.woopra-ns\.com|static\.woopra\.com/js/woopra\.js|127\.0\.0\.1:4001/isrunning|webappstoolbarba\.texthelp\.com/|metrics\.itunes\.apple\.com\.edgesuite\.net/|kaspersky-labs\.com",
    )
});

/// Frames without a location of their own.
const ANONYMOUS_SOURCES: &[&str] = &["<anonymous>", "[native code]"];

/// User agents of crawlers, bots, uptime checkers and link previewers.
static WEB_CRAWLERS: LazyLock<Regex> = LazyLock::new(|| {
    build_regex(
        r"(?ix)
        Mediapartners-Google | AdsBot-Google | Googlebot | FeedFetcher-Google | Storebot-Google
        | Google-InspectionTool | BingBot | BingPreview | Baiduspider | Slurp | Sogou | facebook
        | meta-externalagent | ia_archiver | bots?[/\s);] | spider[/\s);] | Slack
        | Calypso\sAppCrawler | pingdom | lyticsbot | AWS\sSecurity\sScanner | HubSpot\sCrawler
        | Bytespider | Better\sUptime | Cloudflare-Healthchecks | GTmetrix | BrightEdgeOnCrawl
        | ELB-HealthChecker | naver\.me/spd | yandex\.com/bots | ahrefs | semrush | DotBot
        | MJ12bot | DataForSeoBot | GPTBot | ClaudeBot | anthropic-ai | PerplexityBot
        | CCBot | Amazonbot | Applebot | PetalBot | DuckDuckBot | Twitterbot | LinkedInBot
        | Discordbot | TelegramBot | WhatsApp | SkypeUriPreview | UptimeRobot | StatusCake
        | HeadlessChrome | PhantomJS | Lighthouse | kube-probe | GoogleHC",
    )
});

/// Crawlers that are let through anyway: Sentry's own uptime checks.
static ALLOWED_CRAWLERS: LazyLock<Regex> = LazyLock::new(|| build_regex(r"(?i)SentryUptimeBot"));

fn literal_set(values: &[&str]) -> Regex {
    let alternatives: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
    build_regex(&format!("(?i){}", alternatives.join("|")))
}

fn build_regex(pattern: &str) -> Regex {
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in filter pattern compiles")
}

// --- compiled filters -------------------------------------------------------------

/// A [`FiltersConfig`] with its globs and address ranges compiled, to
/// check many events. Building one never fails: patterns and addresses
/// that do not parse are skipped (and listed in
/// [`invalid_patterns`](Self::invalid_patterns)).
#[derive(Clone, Debug, Default)]
pub struct CompiledFilters {
    client_ips: Vec<IpRange>,
    releases: Globs,
    error_messages: Globs,
    localhost: bool,
    browser_extensions: bool,
    legacy_browsers: BTreeSet<LegacyBrowser>,
    web_crawlers: bool,
    ignore_transactions: Globs,
    health_check: Globs,
    invalid: Vec<String>,
}

impl CompiledFilters {
    /// Compiles a project's filters.
    pub fn new(config: &FiltersConfig) -> Self {
        let mut invalid = Vec::new();
        let mut client_ips = Vec::new();
        for entry in &config.client_ips.blacklisted_ips {
            match IpRange::parse(entry) {
                Some(range) => client_ips.push(range),
                None => invalid.push(entry.clone()),
            }
        }
        let releases = Globs::new(
            config.releases.releases.iter().map(String::as_str),
            &mut invalid,
        );
        let error_messages = Globs::new(
            config.error_messages.patterns.iter().map(String::as_str),
            &mut invalid,
        );
        let ignore_transactions = if config.ignore_transactions.is_enabled {
            Globs::new(
                config
                    .ignore_transactions
                    .patterns
                    .iter()
                    .map(String::as_str),
                &mut invalid,
            )
        } else {
            Globs::default()
        };
        let health_check = if config.health_check.is_enabled {
            Globs::new(HEALTH_CHECK_GLOBS.iter().copied(), &mut invalid)
        } else {
            Globs::default()
        };
        let legacy_browsers = if config.legacy_browsers.is_enabled {
            config.legacy_browsers.browsers.clone()
        } else {
            BTreeSet::new()
        };
        CompiledFilters {
            client_ips,
            releases,
            error_messages,
            localhost: config.localhost.is_enabled,
            browser_extensions: config.browser_extensions.is_enabled,
            legacy_browsers,
            web_crawlers: config.web_crawlers.is_enabled,
            ignore_transactions,
            health_check,
            invalid,
        }
    }

    /// Globs and addresses of the config that did not parse and are
    /// ignored.
    pub fn invalid_patterns(&self) -> &[String] {
        &self.invalid
    }

    /// Whether no filter is on.
    pub fn is_empty(&self) -> bool {
        self.client_ips.is_empty()
            && self.releases.is_empty()
            && self.error_messages.is_empty()
            && !self.localhost
            && !self.browser_extensions
            && self.legacy_browsers.is_empty()
            && !self.web_crawlers
            && self.ignore_transactions.is_empty()
            && self.health_check.is_empty()
    }

    /// Runs the filters in Relay's order; the first that matches drops
    /// the event. `client_ip` is the address the request came from.
    pub fn should_filter(
        &self,
        event: &Event,
        client_ip: Option<IpAddr>,
    ) -> Result<(), FilterStatKey> {
        if let Some(ip) = client_ip {
            if self.client_ips.iter().any(|range| range.contains(ip)) {
                return Err(FilterStatKey::IpAddress);
            }
        }
        if let Some(release) = event.release.as_deref() {
            if self.releases.is_match(release) {
                return Err(FilterStatKey::ReleaseVersion);
            }
        }
        if !self.error_messages.is_empty() && matches_error_message(event, &self.error_messages) {
            return Err(FilterStatKey::ErrorMessage);
        }
        if self.localhost && is_localhost(event) {
            return Err(FilterStatKey::Localhost);
        }
        if self.browser_extensions && is_browser_extension(event) {
            return Err(FilterStatKey::BrowserExtensions);
        }
        let user_agent = event_user_agent(event);
        if let Some(ua) = user_agent.filter(|_| !self.legacy_browsers.is_empty()) {
            if is_legacy_browser(ua, &self.legacy_browsers) {
                return Err(FilterStatKey::LegacyBrowsers);
            }
        }
        if let Some(ua) = user_agent.filter(|_| self.web_crawlers) {
            if is_web_crawler(ua) {
                return Err(FilterStatKey::WebCrawlers);
            }
        }
        if event.is_transaction() {
            if let Some(name) = event.transaction.as_deref() {
                if self.ignore_transactions.is_match(name) || self.health_check.is_match(name) {
                    return Err(FilterStatKey::FilteredTransactions);
                }
            }
        }
        Ok(())
    }
}

/// Checks an event against a project's filters, compiling them first. To
/// check many events, build [`CompiledFilters`] once instead.
pub fn should_filter(
    event: &Event,
    client_ip: Option<IpAddr>,
    config: &FiltersConfig,
) -> Result<(), FilterStatKey> {
    CompiledFilters::new(config).should_filter(event, client_ip)
}

fn matches_error_message(event: &Event, globs: &Globs) -> bool {
    if let Some(entry) = &event.logentry {
        let texts = [&entry.formatted, &entry.message];
        if texts.into_iter().flatten().any(|t| globs.is_match(t)) {
            return true;
        }
    }
    if event.logentry.is_none() {
        if let Some(text) = event.message_text() {
            if globs.is_match(text) {
                return true;
            }
        }
    }
    let Some(exceptions) = &event.exception else {
        return false;
    };
    exceptions.values.iter().any(|e| {
        let text: Cow<'_, str> = match (e.ty.as_deref(), e.value.as_deref()) {
            (Some(ty), Some(value)) if !ty.is_empty() && !value.is_empty() => {
                format!("{ty}: {value}").into()
            }
            (Some(ty), _) if !ty.is_empty() => ty.into(),
            (_, Some(value)) => value.into(),
            _ => return false,
        };
        globs.is_match(&text)
    })
}

fn is_localhost(event: &Event) -> bool {
    let ip = event.user.as_ref().and_then(|u| u.ip_address.as_deref());
    if matches!(ip, Some("127.0.0.1" | "::1")) {
        return true;
    }
    let url = event.request.as_ref().and_then(|r| r.url.as_deref());
    url.and_then(url_host)
        .is_some_and(|host| host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1")
}

/// The host of an absolute URL (`http://user@host:8080/path`).
fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.trim().split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port.find(']').map(|end| &host_port[..=end]);
    }
    Some(host_port.split_once(':').map_or(host_port, |(h, _)| h))
}

fn is_browser_extension(event: &Event) -> bool {
    let Some(exceptions) = &event.exception else {
        return false;
    };
    exceptions.values.iter().any(|exception| {
        let value = exception.value.as_deref().unwrap_or("");
        if EXTENSION_VALUES.is_match(value) {
            return true;
        }
        // The innermost frame that has a location says where it happened.
        let source = exception.stacktrace.as_ref().and_then(|stack| {
            stack
                .frames
                .iter()
                .rev()
                .filter_map(|f| f.abs_path.as_deref())
                .find(|path| !ANONYMOUS_SOURCES.contains(path))
        });
        source.is_some_and(|s| EXTENSION_SOURCES.is_match(s))
    })
}

fn is_web_crawler(user_agent: &str) -> bool {
    WEB_CRAWLERS.is_match(user_agent) && !ALLOWED_CRAWLERS.is_match(user_agent)
}

fn is_legacy_browser(user_agent: &str, browsers: &BTreeSet<LegacyBrowser>) -> bool {
    let Some(browser) = parse_user_agent(user_agent).browser else {
        return false;
    };
    let Some(major) = browser.version.major_number() else {
        return false;
    };
    // Sentry's filters count IE Mobile as IE.
    let family = match browser.family.as_str() {
        "IE Mobile" => "IE",
        other => other,
    };
    if browsers.contains(&LegacyBrowser::Default) {
        let minimum = match family {
            "IE" => 10,
            "Safari" => 6,
            "Opera" => 15,
            "Android" => 4,
            "Opera Mini" => 8,
            _ => return false,
        };
        return major < minimum;
    }
    browsers
        .iter()
        .filter_map(LegacyBrowser::rule)
        .any(|(f, old)| f == family && old(major))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn event(value: Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    fn config(value: Value) -> FiltersConfig {
        serde_json::from_value(value).unwrap()
    }

    fn ua_event(ua: &str) -> Event {
        event(json!({"request": {"headers": {"User-Agent": ua}}}))
    }

    fn globs(patterns: &[&str]) -> Globs {
        let mut invalid = Vec::new();
        let globs = Globs::new(patterns.iter().copied(), &mut invalid);
        assert!(invalid.is_empty(), "invalid: {invalid:?}");
        globs
    }

    #[test]
    fn reasons() {
        let all = [
            (FilterStatKey::IpAddress, "ip-address"),
            (FilterStatKey::ReleaseVersion, "release-version"),
            (FilterStatKey::ErrorMessage, "error-message"),
            (FilterStatKey::BrowserExtensions, "browser-extensions"),
            (FilterStatKey::LegacyBrowsers, "legacy-browsers"),
            (FilterStatKey::Localhost, "localhost"),
            (FilterStatKey::WebCrawlers, "web-crawlers"),
            (FilterStatKey::FilteredTransactions, "filtered-transaction"),
        ];
        for (key, reason) in all {
            assert_eq!(key.as_str(), reason);
            assert_eq!(key.to_string(), reason);
        }
    }

    #[test]
    fn config_shape() {
        let c = config(json!({
            "browserExtensions": {"isEnabled": true},
            "localhost": {"isEnabled": false},
            "legacyBrowsers": {"isEnabled": true, "options": ["ie9", "edge_pre_79", "netscape"]},
            "webCrawlers": {"isEnabled": true},
            "errorMessages": {"patterns": ["a*"]},
            "releases": {"releases": ["1.*"]},
            "ignoreTransactions": {"isEnabled": true, "patterns": ["*/x"]},
            "clientIps": {"blacklistedIps": ["10.0.0.0/8"]},
            "healthCheck": {"isEnabled": true},
            "csp": {"disallowedSources": []},
            "generic": {"version": 1, "filters": []}
        }));
        assert!(c.browser_extensions.is_enabled);
        assert!(c.legacy_browsers.browsers.contains(&LegacyBrowser::Ie9));
        assert!(
            c.legacy_browsers
                .browsers
                .contains(&LegacyBrowser::Unknown("netscape".into()))
        );
        let back: FiltersConfig =
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(config(json!({})), FiltersConfig::default());
        assert!(CompiledFilters::new(&FiltersConfig::default()).is_empty());
        let legacy: LegacyBrowsersFilterConfig =
            serde_json::from_value(json!({"isEnabled": false})).unwrap();
        assert!(legacy.browsers.is_empty());
    }

    #[test]
    fn glob_patterns() {
        let g = globs(&["foo"]);
        assert!(g.is_match("foo") && g.is_match("FOO") && !g.is_match("foobar"));
        let g = globs(&["foo*"]);
        assert!(g.is_match("foobar") && g.is_match("foo\nbar") && !g.is_match("xfoo"));
        let g = globs(&["*bar*"]);
        assert!(g.is_match("a/bar/c") && g.is_match("BAR"));
        let g = globs(&["1.18.[0-4].*"]);
        assert!(g.is_match("1.18.4.2153-2aa83397b") && !g.is_match("1.18.5.2153-2aa83397b"));
        let g = globs(&["[!3].*"]);
        assert!(g.is_match("2.0") && !g.is_match("3.0"));
        let g = globs(&["v?"]);
        assert!(g.is_match("v1") && !g.is_match("v12"));
        let g = globs(&["*/health{/,}"]);
        assert!(g.is_match("GET /health") && g.is_match("/health/") && !g.is_match("/healthx"));
        let g = globs(&[r"a\*b", "(x)+.$"]);
        assert!(g.is_match("a*b") && !g.is_match("axb") && g.is_match("(x)+.$"));
        let g = globs(&["[]]", "[a-]"]);
        assert!(g.is_match("]") && g.is_match("-") && g.is_match("a"));
        assert!(!globs(&["*"]).is_match(""));
        let mut invalid = Vec::new();
        let g = Globs::new(["[abc", "{a,b", "x\\", "ok"], &mut invalid);
        assert_eq!(invalid, ["[abc", "{a,b", "x\\"]);
        assert!(g.is_match("ok"));
    }

    #[test]
    fn client_ips() {
        let c = config(json!({"clientIps": {"blacklistedIps": [
            "127.0.0.1", "10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "::1", "0.0.0.0/0x", "nope"
        ]}}));
        let f = CompiledFilters::new(&c);
        assert_eq!(f.invalid_patterns(), ["0.0.0.0/0x", "nope"]);
        let e = Event::default();
        let check = |ip: &str| f.should_filter(&e, Some(ip.parse().unwrap()));
        for ip in [
            "127.0.0.1",
            "10.255.0.1",
            "192.168.1.77",
            "2001:db8:1::5",
            "::1",
            "::ffff:10.1.1.1",
        ] {
            assert_eq!(check(ip), Err(FilterStatKey::IpAddress), "{ip}");
        }
        for ip in ["127.0.0.2", "11.0.0.1", "192.168.2.1", "2001:db9::1", "::2"] {
            assert_eq!(check(ip), Ok(()), "{ip}");
        }
        assert_eq!(f.should_filter(&e, None), Ok(()));
        let all = CompiledFilters::new(&config(
            json!({"clientIps": {"blacklistedIps": ["0.0.0.0/0", "::/0"]}}),
        ));
        assert!(
            all.should_filter(&e, Some("8.8.8.8".parse().unwrap()))
                .is_err()
        );
        assert!(
            all.should_filter(&e, Some("2a00::1".parse().unwrap()))
                .is_err()
        );
        assert_eq!(IpRange::parse("10.0.0.0/33"), None);
        assert_eq!(IpRange::parse("::/129"), None);
    }

    #[test]
    fn releases() {
        let c = config(json!({"releases": {"releases": ["1.2.*", "beta-*"]}}));
        let f = CompiledFilters::new(&c);
        let check = |r: &str| f.should_filter(&event(json!({"release": r})), None);
        assert_eq!(check("1.2.3"), Err(FilterStatKey::ReleaseVersion));
        assert_eq!(check("BETA-7"), Err(FilterStatKey::ReleaseVersion));
        assert_eq!(check("1.3.0"), Ok(()));
        assert_eq!(f.should_filter(&Event::default(), None), Ok(()));
    }

    #[test]
    fn error_messages() {
        let c = config(json!({"errorMessages": {"patterns": [
            "TypeError*", "*: integer division or modulo by zero", "*ResizeObserver loop*", "OnlyType"
        ]}}));
        let f = CompiledFilters::new(&c);
        let check = |v: Value| f.should_filter(&event(v), None);
        let dropped = Err(FilterStatKey::ErrorMessage);
        assert_eq!(
            check(json!({"exception": {"values": [{"type": "TypeError", "value": "x"}]}})),
            dropped
        );
        assert_eq!(
            check(
                json!({"exception": {"values": [{"type": "ZeroDivisionError", "value": "integer division or modulo by zero"}]}})
            ),
            dropped
        );
        assert_eq!(
            check(json!({"exception": {"values": [{"type": "OnlyType"}]}})),
            dropped
        );
        assert_eq!(
            check(json!({"logentry": {"formatted": "ResizeObserver loop limit exceeded"}})),
            dropped
        );
        assert_eq!(
            check(json!({"message": "resizeobserver LOOP completed"})),
            dropped
        );
        assert_eq!(
            check(json!({"exception": {"values": [{"type": "ValueError", "value": "TypeError"}]}})),
            Ok(())
        );
        assert_eq!(check(json!({"message": "fine"})), Ok(()));
    }

    #[test]
    fn localhost() {
        let on = CompiledFilters::new(&config(json!({"localhost": {"isEnabled": true}})));
        let off = CompiledFilters::new(&FiltersConfig::default());
        let local = [
            json!({"user": {"ip_address": "127.0.0.1"}}),
            json!({"user": {"ip_address": "::1"}}),
            json!({"request": {"url": "http://localhost:8080/x"}}),
            json!({"request": {"url": "https://LOCALHOST/"}}),
            json!({"request": {"url": "http://user@127.0.0.1/a?b"}}),
        ];
        for v in local {
            assert_eq!(
                on.should_filter(&event(v.clone()), None),
                Err(FilterStatKey::Localhost),
                "{v}"
            );
            assert_eq!(off.should_filter(&event(v), None), Ok(()));
        }
        for v in [
            json!({"user": {"ip_address": "133.12.12.1"}}),
            json!({"request": {"url": "http://my.dom.com/"}}),
            json!({"request": {"url": "http://localhost.example.com/"}}),
            json!({"request": {"url": "localhost"}}),
            json!({}),
        ] {
            assert_eq!(on.should_filter(&event(v.clone()), None), Ok(()), "{v}");
        }
        assert_eq!(url_host("http://[::1]:80/"), Some("[::1]"));
    }

    fn exception_with_frames(paths: &[&str]) -> Event {
        let frames: Vec<Value> = paths.iter().map(|p| json!({"abs_path": p})).collect();
        event(json!({"exception": {"values": [
            {"type": "Error", "value": "x", "stacktrace": {"frames": frames}}
        ]}}))
    }

    #[test]
    fn browser_extensions() {
        let on = CompiledFilters::new(&config(json!({"browserExtensions": {"isEnabled": true}})));
        let off = CompiledFilters::new(&FiltersConfig::default());
        let dropped = Err(FilterStatKey::BrowserExtensions);
        for source in [
            "chrome-extension://abcdef/content.js",
            "chrome://browser/content.js",
            "moz-extension://1234/inject.js",
            "safari-extension://x/y.js",
            "safari-web-extension://x/y.js",
            "https://connect.facebook.net/en_US/sdk.js",
            "https://fscr.kaspersky-labs.com/B-9B72-7B7/main.js",
        ] {
            let e = exception_with_frames(&["https://app.test/app.js", source, "<anonymous>"]);
            assert_eq!(on.should_filter(&e, None), dropped, "{source}");
            assert_eq!(off.should_filter(&e, None), Ok(()));
        }
        for value in [
            "top.GLOBALS is undefined",
            "Extension context invalidated.",
            "TypeError: can't access dead object",
            "Cannot redefine property: ethereum",
            "error _gCrWeb",
        ] {
            let e = event(json!({"exception": {"values": [{"type": "Error", "value": value}]}}));
            assert_eq!(on.should_filter(&e, None), dropped, "{value}");
        }
        let e = exception_with_frames(&["chrome-extension://x/a.js", "https://app.test/app.js"]);
        assert_eq!(on.should_filter(&e, None), Ok(()));
        let e = event(json!({"exception": {"values": [{"type": "Error", "value": "reasonable"}]}}));
        assert_eq!(on.should_filter(&e, None), Ok(()));
    }

    #[test]
    fn web_crawlers() {
        let on = CompiledFilters::new(&config(json!({"webCrawlers": {"isEnabled": true}})));
        let off = CompiledFilters::new(&FiltersConfig::default());
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Twitterbot/1.0",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; HubSpot Crawler; web-crawlers@hubspot.com)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)",
            "kube-probe/1.27",
        ] {
            assert_eq!(
                on.should_filter(&ua_event(ua), None),
                Err(FilterStatKey::WebCrawlers),
                "{ua}"
            );
            assert_eq!(off.should_filter(&ua_event(ua), None), Ok(()));
        }
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "APIs-Google (+https://developers.google.com/webmasters/APIs-Google.html)",
            "Mozilla/5.0 (compatible; SentryUptimeBot/1.0; +http://docs.sentry.io/product/alerts/uptime-monitoring/)",
            "opera",
        ] {
            assert_eq!(on.should_filter(&ua_event(ua), None), Ok(()), "{ua}");
        }
    }

    const IE8: &str = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.0; Trident/4.0)";
    const IE9: &str = "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 7.1; Trident/5.0)";
    const IE_MOBILE9: &str = "Mozilla/5.0 (compatible; MSIE 9.0; Windows Phone OS 7.5; Trident/5.0; IEMobile/9.0; NOKIA; Lumia 710)";
    const IE10: &str = "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)";
    const IE11: &str = "Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko";
    const OPERA_MINI_7: &str =
        "Opera/9.80 (J2ME/MIDP; Opera Mini/7.0.32796/59.323; U; fr) Presto/2.12.423 Version/12.16";
    const OPERA_MINI_8: &str =
        "Opera/9.80 (J2ME/MIDP; Opera Mini/8.0.35158/36.2534; U; en) Presto/2.12.423 Version/12.16";
    const OPERA_14: &str = "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/27.0.1453.12 Safari/537.36 OPR/14.0.1116.4";
    const OPERA_12: &str =
        "Opera/9.80 (X11; Linux i686; Ubuntu/14.10) Presto/2.12.388 Version/12.16";
    const OPERA_15: &str = "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/28.0.1500.45 Safari/537.36 OPR/15.0.1147.61 (Edition Next)";
    const ANDROID_3: &str = "Mozilla/5.0 (Linux; U; Android 3.2; nl-nl; GT-P6800 Build/HTJ85B) AppleWebKit/534.13 (KHTML, like Gecko) Version/4.0 Safari/534.13";
    const ANDROID_4: &str = "Mozilla/5.0 (Linux; U; Android 4.1.1; en-gb; Build/KLP) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Safari/534.30";
    const SAFARI_5: &str = "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 1063; tr-DE) AppleWebKit/533.16 (KHTML like Gecko) Version/5.0 Safari/533.16";
    const SAFARI_6: &str = "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.17.4; en-GB) AppleWebKit/605.1.5 (KHTML, like Gecko) Version/6.0 Safari/605.1.5";
    const SAFARI_17: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15";
    const EDGE_18: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.17763";
    const EDGE_120: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91";
    const CHROME_41: &str = "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2228.0 Safari/537.36";
    const CHROME_120: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const FIREFOX_100: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:100.0) Gecko/20100101 Firefox/100.0";
    const FIREFOX_121: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";

    fn legacy(options: &[&str]) -> CompiledFilters {
        CompiledFilters::new(&config(
            json!({"legacyBrowsers": {"isEnabled": true, "options": options}}),
        ))
    }

    fn is_dropped(filters: &CompiledFilters, ua: &str) -> bool {
        let result = filters.should_filter(&ua_event(ua), None);
        assert!(matches!(
            result,
            Ok(()) | Err(FilterStatKey::LegacyBrowsers)
        ));
        result.is_err()
    }

    #[test]
    fn legacy_browser_options() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("ie_pre_9", &[IE8], &[IE9, IE10, IE11]),
            ("ie9", &[IE9, IE_MOBILE9], &[IE8, IE10, IE11]),
            ("ie10", &[IE10], &[IE9, IE11]),
            ("ie11", &[IE11], &[IE10, EDGE_18]),
            (
                "ie",
                &[IE8, IE9, IE10, IE11, IE_MOBILE9],
                &[EDGE_18, CHROME_41],
            ),
            (
                "opera_pre_15",
                &[OPERA_14, OPERA_12],
                &[OPERA_15, OPERA_MINI_7],
            ),
            ("opera", &[OPERA_15, OPERA_12], &[CHROME_120]),
            (
                "opera_mini_pre_8",
                &[OPERA_MINI_7],
                &[OPERA_MINI_8, OPERA_12],
            ),
            ("opera_mini", &[OPERA_MINI_7, OPERA_MINI_8], &[OPERA_12]),
            ("android_pre_4", &[ANDROID_3], &[ANDROID_4, CHROME_41]),
            ("android", &[ANDROID_3], &[ANDROID_4]),
            ("safari_pre_6", &[SAFARI_5], &[SAFARI_6, SAFARI_17]),
            ("safari", &[SAFARI_5, SAFARI_6], &[SAFARI_17]),
            ("edge_pre_79", &[EDGE_18], &[EDGE_120, IE11]),
            ("edge", &[EDGE_18], &[EDGE_120]),
            ("chrome", &[CHROME_41], &[CHROME_120, EDGE_18]),
            ("firefox", &[FIREFOX_100], &[FIREFOX_121]),
            ("netscape", &[], &[IE8, CHROME_41]),
        ];
        for (option, dropped, kept) in cases {
            let filters = legacy(&[option]);
            for ua in *dropped {
                assert!(is_dropped(&filters, ua), "{option} should drop {ua}");
            }
            for ua in *kept {
                assert!(!is_dropped(&filters, ua), "{option} should keep {ua}");
            }
        }
        // Several options: any of them.
        let filters = legacy(&["android_pre_4", "ie10"]);
        assert!(is_dropped(&filters, IE10) && is_dropped(&filters, ANDROID_3));
        assert!(!is_dropped(&filters, IE9));
    }

    #[test]
    fn legacy_browser_default() {
        let filters = legacy(&["default"]);
        for ua in [
            IE9,
            IE_MOBILE9,
            IE8,
            SAFARI_5,
            OPERA_14,
            OPERA_12,
            ANDROID_3,
            OPERA_MINI_7,
        ] {
            assert!(is_dropped(&filters, ua), "default should drop {ua}");
        }
        for ua in [
            IE10,
            IE11,
            SAFARI_6,
            OPERA_15,
            ANDROID_4,
            OPERA_MINI_8,
            CHROME_41,
            EDGE_18,
        ] {
            assert!(!is_dropped(&filters, ua), "default should keep {ua}");
        }
        // `default` decides alone.
        assert!(!is_dropped(&legacy(&["default", "ie11"]), IE11));
        // Off, or on with no options: nothing.
        let off = CompiledFilters::new(&config(
            json!({"legacyBrowsers": {"isEnabled": false, "options": ["default"]}}),
        ));
        assert!(!is_dropped(&off, IE8));
        assert!(!is_dropped(&legacy(&[]), IE8));
    }

    #[test]
    fn transactions() {
        let c = config(json!({
            "ignoreTransactions": {"isEnabled": true, "patterns": ["*/internal/*"]},
            "healthCheck": {"isEnabled": true}
        }));
        let f = CompiledFilters::new(&c);
        let tx = |name: &str| event(json!({"type": "transaction", "transaction": name}));
        let dropped = Err(FilterStatKey::FilteredTransactions);
        for name in [
            "GET /internal/metrics",
            "/healthz",
            "GET /api/health/",
            "/ping",
            "k8s-healthcheck",
            "/[_health]",
        ] {
            assert_eq!(f.should_filter(&tx(name), None), dropped, "{name}");
        }
        for name in [
            "/healthx",
            "/api/healthcare/patients",
            "/upload",
            "/pings",
            "GET /users",
        ] {
            assert_eq!(f.should_filter(&tx(name), None), Ok(()), "{name}");
        }
        // Errors are not transactions.
        let error = event(json!({"transaction": "/healthz"}));
        assert_eq!(f.should_filter(&error, None), Ok(()));
        // Disabled: patterns are ignored.
        let off = CompiledFilters::new(&config(
            json!({"ignoreTransactions": {"isEnabled": false, "patterns": ["*"]}}),
        ));
        assert_eq!(off.should_filter(&tx("/healthz"), None), Ok(()));
    }

    #[test]
    fn order_and_convenience() {
        let c = config(json!({
            "clientIps": {"blacklistedIps": ["127.0.0.1"]},
            "localhost": {"isEnabled": true}
        }));
        let e = event(json!({"user": {"ip_address": "127.0.0.1"}}));
        let ip = Some("127.0.0.1".parse().unwrap());
        assert_eq!(should_filter(&e, ip, &c), Err(FilterStatKey::IpAddress));
        assert_eq!(should_filter(&e, None, &c), Err(FilterStatKey::Localhost));
        assert_eq!(should_filter(&e, None, &FiltersConfig::default()), Ok(()));
    }
}
