//! User-agent parsing: the browser, operating system and device behind a
//! `User-Agent` header, and the `browser`, `os` and `device` contexts Relay
//! derives from an event's request headers.
//!
//! The parser is a hand-written scanner over the header, not a port of the
//! `uap-core` regex list Relay uses. It knows the browsers, systems and
//! devices that make up nearly all traffic and names them the way
//! `uap-core` does (`Chrome`, `Chrome Mobile`, `Mobile Safari`, `IE`,
//! `Mac OS X`, ...), so that Sentry's tags and the legacy-browser filter
//! see the same families. Anything it does not recognise is left out
//! rather than guessed.
//!
//! Parsing is linear in the header's length, looks at no more than
//! [`MAX_USER_AGENT_LENGTH`] bytes and never panics.
//!
//! ```
//! use sentry_relay_core::user_agent::parse_user_agent;
//!
//! let ua = parse_user_agent(
//!     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
//!      (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
//! );
//! let browser = ua.browser.unwrap();
//! assert_eq!(browser.family, "Chrome");
//! assert_eq!(browser.version.to_string(), "120.0.6099");
//! assert_eq!(ua.os.unwrap().family, "Windows");
//! assert!(ua.device.is_none());
//! ```

use std::fmt;

use serde_json::{Map, Value};

use sentry_envelope::protocol::{Contexts, Event};

/// The longest prefix of a `User-Agent` header that is looked at; real
/// headers are a few hundred bytes.
pub const MAX_USER_AGENT_LENGTH: usize = 1024;

/// Up to three numeric components of a version, as `uap-core` reports
/// them (`major`, `minor`, `patch`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// The major version, if any.
    pub major: Option<String>,
    /// The minor version, if any.
    pub minor: Option<String>,
    /// The patch version, if any.
    pub patch: Option<String>,
}

impl Version {
    /// A version of just a major component.
    pub fn major(major: &str) -> Self {
        Version {
            major: Some(major.to_owned()),
            ..Version::default()
        }
    }

    /// Reads a version like `120.0.6099.109` or `10_15_7` from the start
    /// of `text`: up to three runs of digits separated by `.` or `_`.
    pub fn parse_prefix(text: &str) -> Self {
        let mut version = Version::default();
        let mut rest = text;
        for part in [&mut version.major, &mut version.minor, &mut version.patch] {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                break;
            }
            *part = Some(rest[..digits].to_owned());
            rest = &rest[digits..];
            match rest.as_bytes() {
                [b'.' | b'_', next, ..] if next.is_ascii_digit() => rest = &rest[1..],
                _ => break,
            }
        }
        version
    }

    /// Whether no component is known.
    pub fn is_empty(&self) -> bool {
        self.major.is_none()
    }

    /// The major version as a number, if it is one.
    pub fn major_number(&self) -> Option<u32> {
        self.major.as_deref()?.parse().ok()
    }

    /// The version as [`Display`](fmt::Display) writes it, in a string of
    /// the right size.
    fn dotted(&self) -> String {
        let parts = [&self.major, &self.minor, &self.patch];
        let len = parts.iter().copied().flatten().map(|p| p.len() + 1).sum();
        let mut out = String::with_capacity(len);
        for (i, part) in parts.into_iter().flatten().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
        }
        out
    }
}

impl fmt::Display for Version {
    /// The known components joined with dots (`120.0.6099`); empty when
    /// none is known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [&self.major, &self.minor, &self.patch];
        for (i, part) in parts.into_iter().flatten().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// A browser family (`uap-core` naming) and its version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Browser {
    /// The family: `Chrome`, `Chrome Mobile`, `Firefox`, `Safari`,
    /// `Mobile Safari`, `Edge`, `IE`, `Opera`, `Android`, ...
    pub family: String,
    /// The browser's version.
    pub version: Version,
}

/// An operating system family (`uap-core` naming) and its version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Os {
    /// The family: `Windows`, `Mac OS X`, `iOS`, `Android`, `Linux`, ...
    pub family: String,
    /// The version; for Windows the marketing name (`10`, `7`, `XP`).
    pub version: Version,
}

/// A device, when the header names one (phones, tablets, Macs, crawlers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Device {
    /// The family shown in Sentry: `iPhone`, `Mac`, `Samsung SM-G991B`,
    /// `Spider`, ...
    pub family: String,
    /// The maker, when known.
    pub brand: Option<String>,
    /// The model, when known.
    pub model: Option<String>,
}

/// What a `User-Agent` header says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserAgent {
    /// The browser, if recognised.
    pub browser: Option<Browser>,
    /// The operating system, if recognised.
    pub os: Option<Os>,
    /// The device, if the header names one.
    pub device: Option<Device>,
}

/// Parses a `User-Agent` header. Never panics; unknown parts are `None`.
pub fn parse_user_agent(header: &str) -> UserAgent {
    parse_parts(header, Parts::ALL)
}

/// The parts of a `User-Agent` header to look for.
#[derive(Clone, Copy, Debug)]
struct Parts {
    browser: bool,
    os: bool,
    device: bool,
}

impl Parts {
    const ALL: Parts = Parts {
        browser: true,
        os: true,
        device: true,
    };
}

/// [`parse_user_agent`], for the parts asked for; the others are `None`.
fn parse_parts(header: &str, parts: Parts) -> UserAgent {
    if !(parts.browser || parts.os || parts.device) {
        return UserAgent::default();
    }
    let ua = &Ua::new(truncate(header.trim(), MAX_USER_AGENT_LENGTH));
    let crawler = if parts.browser || parts.device {
        crawler(ua)
    } else {
        None
    };
    UserAgent {
        browser: if parts.browser {
            crawler.clone().or_else(|| browser(ua))
        } else {
            None
        },
        os: if parts.os { os(ua) } else { None },
        device: match crawler {
            _ if !parts.device => None,
            Some(_) => Some(Device {
                family: "Spider".into(),
                brand: Some("Spider".into()),
                model: Some(
                    if ua.contains("Mobile") {
                        "Smartphone"
                    } else {
                        "Desktop"
                    }
                    .into(),
                ),
            }),
            None => device(ua),
        },
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A `User-Agent` header, with the set of bytes it holds: most of the
/// dozens of tokens parsing looks for have a byte the header lacks, and are
/// ruled out without a search.
#[derive(Clone, Copy)]
struct Ua<'a> {
    text: &'a str,
    /// Bit `b % 64` of word `b / 64` for each ASCII byte `b` of `text`
    /// (two words: shifts of a `u128` cost more).
    ascii: [u64; 2],
    non_ascii: bool,
}

impl<'a> Ua<'a> {
    fn new(text: &'a str) -> Self {
        let mut ua = Ua {
            text,
            ascii: [0; 2],
            non_ascii: false,
        };
        for &b in text.as_bytes() {
            if b < 0x80 {
                ua.ascii[usize::from(b >> 6)] |= 1 << (b & 63);
            } else {
                ua.non_ascii = true;
            }
        }
        ua
    }

    /// Whether the header may contain `token`: it has each of its bytes.
    /// Inlined: the tokens are constants where it is called.
    #[inline]
    fn may_contain(&self, token: &str) -> bool {
        token.bytes().all(|b| {
            if b < 0x80 {
                self.ascii[usize::from(b >> 6)] & (1 << (b & 63)) != 0
            } else {
                self.non_ascii
            }
        })
    }

    /// Whether the header contains `token`.
    #[inline]
    fn contains(&self, token: &str) -> bool {
        self.may_contain(token) && find(self.text, token).is_some()
    }
}

/// The byte offset of the first occurrence of `needle` in `hay`, as
/// [`str::find`] gives it.
///
/// Headers are short: a scan for the token's first byte beats the setup of
/// `str::find`'s searcher.
fn find(hay: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    // The last offset the needle fits at.
    let last = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last {
        i += hay[i..=last].iter().position(|&b| b == first)?;
        // A match of UTF-8 text starts at a character boundary.
        if hay[i + 1..i + needle.len()] == *rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The text after the first occurrence of `token` that starts a word (is
/// not preceded by a letter or digit).
#[inline]
fn after<'a>(ua: &Ua<'a>, token: &str) -> Option<&'a str> {
    if !ua.may_contain(token) {
        return None;
    }
    after_word(ua.text, token)
}

/// [`after`], for a header that may contain `token`.
fn after_word<'a>(ua: &'a str, token: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(pos) = find(ua.get(from..)?, token) {
        let at = from + pos;
        let boundary = ua[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary {
            return Some(&ua[at + token.len()..]);
        }
        from = at + token.len();
    }
    None
}

/// The version after `token` (e.g. `Chrome/`), if the token is there and
/// followed by a number.
fn version_after(ua: &Ua<'_>, token: &str) -> Option<Version> {
    let version = Version::parse_prefix(after(ua, token)?);
    (!version.is_empty()).then_some(version)
}

fn browser_named(family: &str, version: Version) -> Option<Browser> {
    Some(Browser {
        family: family.to_owned(),
        version,
    })
}

/// Well-known crawlers name themselves `Name/version`; they become the
/// browser, and the device a `Spider` (as in `uap-core`).
fn crawler(ua: &Ua<'_>) -> Option<Browser> {
    const CRAWLERS: &[(&str, &str)] = &[
        ("Googlebot/", "Googlebot"),
        ("Googlebot-Image/", "Googlebot-Image"),
        ("AdsBot-Google", "AdsBot-Google"),
        ("Mediapartners-Google", "Mediapartners-Google"),
        ("bingbot/", "bingbot"),
        ("BingPreview/", "BingPreview"),
        ("YandexBot/", "YandexBot"),
        ("Baiduspider", "Baiduspider"),
        ("DuckDuckBot", "DuckDuckBot"),
        ("Applebot/", "Applebot"),
        ("AhrefsBot/", "AhrefsBot"),
        ("SemrushBot", "SemrushBot"),
        ("facebookexternalhit/", "FacebookBot"),
        ("Twitterbot/", "Twitterbot"),
        ("GPTBot/", "GPTBot"),
        ("ClaudeBot/", "ClaudeBot"),
        ("PetalBot", "PetalBot"),
    ];
    CRAWLERS.iter().find_map(|(token, family)| {
        let rest = after(ua, token)?;
        let version = if token.ends_with('/') {
            Version::parse_prefix(rest)
        } else {
            rest.strip_prefix('/')
                .map(Version::parse_prefix)
                .unwrap_or_default()
        };
        browser_named(family, version)
    })
}

fn browser(ua: &Ua<'_>) -> Option<Browser> {
    let android = ua.contains("Android");
    let mobile = ua.contains("Mobile");
    let apple_mobile = ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod");

    // Browsers built on Chromium or WebKit mention Chrome and Safari too:
    // the specific tokens go first.
    if let Some(v) = version_after(ua, "EdgA/").or_else(|| version_after(ua, "EdgiOS/")) {
        return browser_named("Edge Mobile", v);
    }
    if let Some(v) = version_after(ua, "Edg/").or_else(|| version_after(ua, "Edge/")) {
        return browser_named("Edge", v);
    }
    if let Some(v) = version_after(ua, "Opera Mini/") {
        return browser_named("Opera Mini", v);
    }
    if let Some(v) = version_after(ua, "OPR/") {
        let family = if android { "Opera Mobile" } else { "Opera" };
        return browser_named(family, v);
    }
    if let Some(v) = version_after(ua, "Opera/") {
        // Presto-era Opera reports 9.80 and the real version in `Version/`.
        let v = version_after(ua, "Version/").unwrap_or(v);
        let family = if ua.contains("Opera Mobi") {
            "Opera Mobile"
        } else {
            "Opera"
        };
        return browser_named(family, v);
    }
    if let Some(v) = version_after(ua, "SamsungBrowser/") {
        return browser_named("Samsung Internet", v);
    }
    if let Some(v) = version_after(ua, "YaBrowser/") {
        return browser_named("Yandex Browser", v);
    }
    if let Some(v) = version_after(ua, "Vivaldi/") {
        return browser_named("Vivaldi", v);
    }
    if let Some(v) = version_after(ua, "UCBrowser/") {
        return browser_named("UC Browser", v);
    }
    if let Some(v) = version_after(ua, "FxiOS/") {
        return browser_named("Firefox iOS", v);
    }
    if let Some(v) = version_after(ua, "Firefox/") {
        let family = if android || mobile {
            "Firefox Mobile"
        } else {
            "Firefox"
        };
        return browser_named(family, v);
    }
    if let Some(v) = version_after(ua, "CriOS/") {
        return browser_named("Chrome Mobile iOS", v);
    }
    if let Some(v) = version_after(ua, "IEMobile/") {
        return browser_named("IE Mobile", v);
    }
    if let Some(v) = version_after(ua, "MSIE ") {
        return browser_named("IE", v);
    }
    if ua.contains("Trident/") {
        if let Some(v) = version_after(ua, "rv:") {
            return browser_named("IE", v);
        }
    }
    if let Some(v) = version_after(ua, "HeadlessChrome/") {
        return browser_named("HeadlessChrome", v);
    }
    if let Some(v) = version_after(ua, "Chromium/") {
        return browser_named("Chromium", v);
    }
    if let Some(v) = version_after(ua, "Chrome/") {
        let family = if android && ua.contains("; wv)") {
            "Chrome Mobile WebView"
        } else if android && mobile {
            "Chrome Mobile"
        } else {
            "Chrome"
        };
        return browser_named(family, v);
    }
    if android && ua.contains("Safari/") {
        // The stock Android browser: `uap-core` reports the system's
        // version as the browser's.
        let v = version_after(ua, "Android ").unwrap_or_default();
        return browser_named("Android", v);
    }
    if ua.contains("Safari/") || apple_mobile {
        let family = if apple_mobile {
            "Mobile Safari"
        } else {
            "Safari"
        };
        return match version_after(ua, "Version/") {
            Some(v) => browser_named(family, v),
            None if apple_mobile && ua.contains("AppleWebKit/") => {
                browser_named("Mobile Safari UI/WKWebView", Version::default())
            }
            None => None,
        };
    }
    None
}

fn os(ua: &Ua<'_>) -> Option<Os> {
    let named = |family: &str, version: Version| {
        Some(Os {
            family: family.to_owned(),
            version,
        })
    };
    if let Some(v) =
        version_after(ua, "Windows Phone OS ").or_else(|| version_after(ua, "Windows Phone "))
    {
        return named("Windows Phone", v);
    }
    if let Some(rest) = after(ua, "Windows NT ") {
        let nt = Version::parse_prefix(rest);
        let name = match (nt.major.as_deref(), nt.minor.as_deref()) {
            (Some("10"), _) => "10",
            (Some("6"), Some("3")) => "8.1",
            (Some("6"), Some("2")) => "8",
            (Some("6"), Some("1")) => "7",
            (Some("6"), Some("0")) => "Vista",
            (Some("5"), Some("1" | "2")) => "XP",
            (Some("5"), Some("0")) => "2000",
            _ => return named("Windows", Version::default()),
        };
        return named("Windows", Version::major(name));
    }
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        let v = version_after(ua, "iPhone OS ")
            .or_else(|| version_after(ua, "CPU OS "))
            .or_else(|| version_after(ua, "OS "))
            .unwrap_or_default();
        return named("iOS", v);
    }
    if let Some(rest) = after(ua, "Mac OS X") {
        let v = Version::parse_prefix(rest.trim_start());
        return named("Mac OS X", v);
    }
    if let Some(rest) = after(ua, "Android") {
        let v = Version::parse_prefix(rest.trim_start());
        return named("Android", v);
    }
    if let Some(rest) = after(ua, "CrOS ") {
        // `CrOS x86_64 15633.69.0`: the version follows the architecture.
        let v = rest
            .split_once(' ')
            .map(|(_, v)| Version::parse_prefix(v))
            .unwrap_or_default();
        return named("Chrome OS", v);
    }
    for distro in ["Ubuntu", "Fedora", "Debian"] {
        if ua.contains(distro) {
            return named(distro, Version::default());
        }
    }
    if ua.contains("Linux") || ua.contains("X11") {
        return named("Linux", Version::default());
    }
    None
}

fn device(ua: &Ua<'_>) -> Option<Device> {
    let apple = |family: &str| {
        Some(Device {
            family: family.to_owned(),
            brand: Some("Apple".into()),
            model: Some(family.to_owned()),
        })
    };
    // Windows Phone, checked first: these headers also say `Android` and
    // `iPhone` to be served mobile pages.
    if ua.contains("Windows Phone") {
        return None;
    }
    if ua.contains("iPad") {
        return apple("iPad");
    }
    if ua.contains("iPod") {
        return apple("iPod");
    }
    if ua.contains("iPhone") {
        return apple("iPhone");
    }
    if ua.contains("Macintosh") {
        return apple("Mac");
    }
    if ua.contains("Android") {
        return android_device(ua);
    }
    None
}

/// The model in `(Linux; Android 14; SM-G991B Build/UP1A)`: the part with
/// `Build/`, else the first part after the Android version that is not a
/// locale or a flag. Chrome's reduced header says `K` instead of a model.
fn android_device(ua: &Ua<'_>) -> Option<Device> {
    let ua = ua.text;
    let start = ua.find('(')? + 1;
    let end = ua[start..].find(')').map_or(ua.len(), |e| start + e);
    let parts: Vec<&str> = ua[start..end].split(';').map(str::trim).collect();
    let with_build = parts.iter().find_map(|p| {
        let (model, _) = p.split_once("Build/")?;
        Some(model.trim())
    });
    let model = with_build.or_else(|| {
        let android = parts.iter().position(|p| p.starts_with("Android"))?;
        parts[android + 1..]
            .iter()
            .copied()
            .find(|p| !is_flag_or_locale(p))
    })?;
    if model.is_empty() || model == "K" || is_flag_or_locale(model) {
        return None;
    }
    let brand = android_brand(model);
    let family = match brand {
        // `uap-core` names Google's phones without the brand.
        Some(brand) if brand != "Google" && !starts_with_ignore_case(model, brand) => {
            format!("{brand} {model}")
        }
        _ => model.to_owned(),
    };
    Some(Device {
        family,
        brand: brand.map(str::to_owned),
        model: Some(model.to_owned()),
    })
}

fn is_flag_or_locale(part: &str) -> bool {
    let bytes = part.as_bytes();
    let locale = matches!(bytes, [a, b, b'-' | b'_', c, d]
        if a.is_ascii_alphabetic() && b.is_ascii_alphabetic()
            && c.is_ascii_alphabetic() && d.is_ascii_alphabetic())
        || (bytes.len() == 2 && bytes.iter().all(u8::is_ascii_lowercase));
    locale
        || part.starts_with("rv:")
        || matches!(part, "U" | "I" | "N" | "wv" | "Linux" | "Mobile" | "Tablet")
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn android_brand(model: &str) -> Option<&'static str> {
    const BRANDS: &[(&str, &str)] = &[
        ("SM-", "Samsung"),
        ("GT-", "Samsung"),
        ("SAMSUNG", "Samsung"),
        ("Galaxy", "Samsung"),
        ("Pixel", "Google"),
        ("Nexus", "Google"),
        ("HTC", "HTC"),
        ("moto", "Motorola"),
        ("XT1", "Motorola"),
        ("Redmi", "XiaoMi"),
        ("Mi ", "XiaoMi"),
        ("POCO", "XiaoMi"),
        ("HUAWEI", "Huawei"),
        ("ONEPLUS", "OnePlus"),
        ("LG-", "LG"),
        ("LM-", "LG"),
        ("Nokia", "Nokia"),
        ("CPH", "Oppo"),
        ("vivo", "vivo"),
    ];
    BRANDS
        .iter()
        .find(|(prefix, _)| starts_with_ignore_case(model, prefix))
        .map(|(_, brand)| *brand)
}

// --- contexts from request headers ------------------------------------------

/// Request headers by name (case-insensitive), from an object or a list of
/// `[name, value]` pairs, in one pass: for each name, the value of the
/// first header of that name, if it is a non-empty string (trimmed).
fn find_headers<'a, const N: usize>(headers: &'a Value, names: [&str; N]) -> [Option<&'a str>; N] {
    let mut found: [Option<&'a Value>; N] = [None; N];
    let mut see = |key: &str, value: &'a Value| {
        for (name, slot) in names.iter().zip(&mut found) {
            if slot.is_none() && key.eq_ignore_ascii_case(name) {
                *slot = Some(value);
            }
        }
    };
    match headers {
        Value::Object(map) => map.iter().for_each(|(k, v)| see(k, v)),
        Value::Array(pairs) => {
            for pair in pairs {
                if let Some([Value::String(k), v]) = pair.as_array().map(Vec::as_slice) {
                    see(k, v);
                }
            }
        }
        _ => {}
    }
    found.map(|value| {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    })
}

/// The event's `User-Agent` request header, if it has one.
pub fn event_user_agent(event: &Event) -> Option<&str> {
    let [user_agent] = find_headers(event.request.as_ref()?.headers.as_ref()?, ["user-agent"]);
    user_agent
}

/// A client-hint value without its quotes (`"Windows"` is `Windows`).
fn unquote(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// The browser in `Sec-CH-UA` (`"Chromium";v="120", "Google
/// Chrome";v="120", "Not_A Brand";v="8"`): the first brand that is not
/// Chromium itself or a made-up "not a brand" entry.
fn browser_from_hint(brands: &str) -> Option<Browser> {
    let mut fallback = None;
    for entry in brands.split(',') {
        let (name, version) = match entry.split_once(';') {
            Some((name, params)) => {
                let version = params
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("v="))
                    .map(unquote)
                    .map(Version::parse_prefix)
                    .unwrap_or_default();
                (unquote(name), version)
            }
            None => (unquote(entry), Version::default()),
        };
        if name.is_empty() || name.to_ascii_lowercase().contains("brand") {
            continue;
        }
        let browser = Browser {
            family: name.to_owned(),
            version,
        };
        if name == "Chromium" {
            fallback.get_or_insert(browser);
        } else {
            return Some(browser);
        }
    }
    fallback
}

/// A context of type `ty` with the non-empty ones of `fields`.
fn context<const N: usize>(ty: &str, fields: [(&str, Option<String>); N]) -> Value {
    let mut map = Map::new();
    for (key, value) in fields {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            map.insert(key.to_owned(), Value::String(value));
        }
    }
    map.insert("type".into(), Value::String(ty.to_owned()));
    Value::Object(map)
}

/// Fills the `browser`, `os` and `device` contexts from the request's
/// `User-Agent` header and client hints (`Sec-CH-UA`,
/// `Sec-CH-UA-Platform`, `Sec-CH-UA-Platform-Version`, `Sec-CH-UA-Model`),
/// as Relay does. A context the SDK sent is never touched; client hints
/// win over the `User-Agent` header where both say something.
pub fn normalize_user_agent(event: &mut Event) {
    let Some(headers) = event.request.as_ref().and_then(|r| r.headers.as_ref()) else {
        return;
    };
    let has = |key: &str| {
        event
            .contexts
            .as_ref()
            .is_some_and(|c| c.0.contains_key(key))
    };
    let (need_browser, need_os, need_device) = (!has("browser"), !has("os"), !has("device"));
    if !(need_browser || need_os || need_device) {
        return;
    }
    let [user_agent, brands, platform, platform_version, model] = find_headers(
        headers,
        [
            "user-agent",
            "sec-ch-ua",
            "sec-ch-ua-platform",
            "sec-ch-ua-platform-version",
            "sec-ch-ua-model",
        ],
    );
    /// A client hint without its quotes, unless that leaves nothing.
    fn hint(value: Option<&str>) -> Option<&str> {
        value.map(unquote).filter(|v| !v.is_empty())
    }
    // Only what a missing context needs is looked at.
    // `Sec-CH-UA` is a list of quoted brands: not unquoted as a whole.
    let brands = brands.filter(|_| need_browser).and_then(browser_from_hint);
    let platform = hint(platform).filter(|_| need_os);
    let model = hint(model).filter(|_| need_device);
    let parts = Parts {
        browser: need_browser && brands.is_none(),
        os: need_os && platform.is_none(),
        device: need_device && model.is_none(),
    };
    let parsed = user_agent
        .map(|user_agent| parse_parts(user_agent, parts))
        .unwrap_or_default();

    let browser = brands.or(parsed.browser).map(|b| {
        let version = (!b.version.is_empty()).then(|| b.version.dotted());
        context("browser", [("name", Some(b.family)), ("version", version)])
    });
    let os = match platform {
        Some(platform) => Some(Os {
            family: platform.to_owned(),
            version: hint(platform_version)
                .map(Version::parse_prefix)
                .unwrap_or_default(),
        }),
        None => parsed.os,
    };
    let os = os.map(|o| {
        let version = (!o.version.is_empty()).then(|| o.version.dotted());
        context("os", [("name", Some(o.family)), ("version", version)])
    });
    let device = match model {
        Some(model) => Some(Device {
            family: model.to_owned(),
            brand: None,
            model: Some(model.to_owned()),
        }),
        None => parsed.device,
    };
    let device = device.map(|d| {
        context(
            "device",
            [
                ("family", Some(d.family)),
                ("model", d.model),
                ("brand", d.brand),
            ],
        )
    });
    if browser.is_none() && os.is_none() && device.is_none() {
        return;
    }
    let contexts = event.contexts.get_or_insert_with(Contexts::default);
    for (key, value) in [("browser", browser), ("os", os), ("device", device)] {
        if let Some(value) = value {
            contexts.0.insert(key.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(ua: &str) -> (String, String) {
        let browser = parse_user_agent(ua).browser.unwrap_or_default();
        (browser.family, browser.version.to_string())
    }

    fn o(ua: &str) -> (String, String) {
        let os = parse_user_agent(ua).os.unwrap_or_default();
        (os.family, os.version.to_string())
    }

    /// A header, its browser and OS as `(family, version)`, its device family.
    type Case = (
        &'static str,
        (&'static str, &'static str),
        (&'static str, &'static str),
        Option<&'static str>,
    );

    /// Real headers, with what `uap-core` makes of them.
    const TABLE: &[Case] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "120.0.0"),
            ("Windows", "10"),
            None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.199 Safari/537.36",
            ("Chrome", "119.0.6045"),
            ("Mac OS X", "10.15.7"),
            Some("Mac"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            ("Firefox", "121.0"),
            ("Windows", "10"),
            None,
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
            ("Firefox", "115.0"),
            ("Ubuntu", ""),
            None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
            ("Safari", "17.2"),
            ("Mac OS X", "10.15.7"),
            Some("Mac"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            ("Edge", "120.0.2210"),
            ("Windows", "10"),
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.17763",
            ("Edge", "18.17763"),
            ("Windows", "10"),
            None,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            ("Mobile Safari", "17.2"),
            ("iOS", "17.2.1"),
            Some("iPhone"),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            ("Chrome Mobile iOS", "120.0.6099"),
            ("iOS", "16.6"),
            Some("iPad"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
            ("Chrome Mobile", "120.0.6099"),
            ("Android", "14"),
            Some("Pixel 8"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            ("Samsung Internet", "23.0"),
            ("Android", "13"),
            Some("Samsung SM-S911B"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            ("Chrome Mobile", "120.0.0"),
            ("Android", "10"),
            None,
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 2.3.5; en-us; HTC Vision Build/GRI40) AppleWebKit/533.1 (KHTML, like Gecko) Version/4.0 Mobile Safari/533.1",
            ("Android", "2.3.5"),
            ("Android", "2.3.5"),
            Some("HTC Vision"),
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
            ("Firefox Mobile", "121.0"),
            ("Android", "14"),
            None,
        ),
        (
            "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)",
            ("IE", "9.0"),
            ("Windows", "7"),
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko",
            ("IE", "11.0"),
            ("Windows", "8.1"),
            None,
        ),
        (
            "Opera/9.80 (X11; Linux i686; Ubuntu/14.10) Presto/2.12.388 Version/12.16",
            ("Opera", "12.16"),
            ("Ubuntu", ""),
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            ("Opera", "106.0.0"),
            ("Windows", "10"),
            None,
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("Chrome", "120.0.0"),
            ("Chrome OS", "14541.0.0"),
            None,
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ("Googlebot", "2.1"),
            ("", ""),
            Some("Spider"),
        ),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
            ("bingbot", "2.0"),
            ("", ""),
            Some("Spider"),
        ),
    ];

    #[test]
    fn real_user_agents() {
        for (ua, browser, os, device) in TABLE {
            assert_eq!(
                b(ua),
                (browser.0.into(), browser.1.into()),
                "browser of {ua}"
            );
            assert_eq!(o(ua), (os.0.into(), os.1.into()), "os of {ua}");
            let parsed = parse_user_agent(ua).device.map(|d| d.family);
            assert_eq!(parsed.as_deref(), *device, "device of {ua}");
        }
    }

    #[test]
    fn devices() {
        let d = parse_user_agent(TABLE[10].0).device.unwrap();
        assert_eq!(d.brand.as_deref(), Some("Samsung"));
        assert_eq!(d.model.as_deref(), Some("SM-S911B"));
        let d = parse_user_agent(TABLE[7].0).device.unwrap();
        assert_eq!(d.brand.as_deref(), Some("Apple"));
    }

    #[test]
    fn versions() {
        let v = Version::parse_prefix("10_15_7 like");
        assert_eq!(v.to_string(), "10.15.7");
        assert_eq!(Version::parse_prefix("1.2.3.4").to_string(), "1.2.3");
        assert_eq!(Version::parse_prefix("7.").to_string(), "7");
        assert!(Version::parse_prefix("x").is_empty());
        assert_eq!(
            Version::parse_prefix("99999999999999999999").major_number(),
            None
        );
    }

    #[test]
    fn garbage() {
        assert_eq!(parse_user_agent(""), UserAgent::default());
        assert_eq!(parse_user_agent("curl/8.4.0"), UserAgent::default());
        assert!(parse_user_agent(&"Chrome/".repeat(1000)).browser.is_none());
        // Only the first `MAX_USER_AGENT_LENGTH` bytes are read.
        let long = format!("{} Chrome/99.0", "x".repeat(MAX_USER_AGENT_LENGTH));
        assert!(parse_user_agent(&long).browser.is_none());
        let ua = "Mozilla/5.0 (Linux; Android 14; (((; Build/) Chrome/1 Mobile";
        assert_eq!(b(ua), ("Chrome Mobile".into(), "1".into()));
        let multibyte = "é".repeat(2000);
        assert_eq!(parse_user_agent(&multibyte), UserAgent::default());
    }

    #[test]
    fn find_is_str_find() {
        let hays = [
            "",
            "a",
            "aab",
            "Chrome/Chrome/1",
            "éChrome/",
            "xx Safari/",
            "ééé",
            "OS OS X",
        ];
        let needles = [
            "",
            "a",
            "ab",
            "Chrome/",
            "é",
            "Safari/",
            "OS X",
            "éé",
            "toolongneedle",
        ];
        for hay in hays {
            for needle in needles {
                assert_eq!(find(hay, needle), hay.find(needle), "{hay:?} {needle:?}");
                assert_eq!(Ua::new(hay).contains(needle), hay.contains(needle));
            }
        }
    }

    fn event(value: Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn contexts_from_headers() {
        let mut e = event(json!({"request": {"headers": [["user-agent", TABLE[7].0]]}}));
        normalize_user_agent(&mut e);
        let c = &e.contexts.unwrap().0;
        assert_eq!(
            c["browser"],
            json!({"name": "Mobile Safari", "version": "17.2", "type": "browser"})
        );
        assert_eq!(
            c["os"],
            json!({"name": "iOS", "version": "17.2.1", "type": "os"})
        );
        assert_eq!(
            c["device"],
            json!({"family": "iPhone", "model": "iPhone", "brand": "Apple", "type": "device"})
        );
    }

    #[test]
    fn sdk_contexts_win() {
        let mut e = event(json!({
            "request": {"headers": {"User-Agent": TABLE[0].0}},
            "contexts": {"browser": {"name": "Mine"}}
        }));
        normalize_user_agent(&mut e);
        let c = &e.contexts.unwrap().0;
        assert_eq!(c["browser"], json!({"name": "Mine"}));
        assert_eq!(c["os"]["name"], "Windows");
        assert!(c.get("device").is_none());
    }

    #[test]
    fn client_hints() {
        let mut e = event(json!({"request": {"headers": {
            "User-Agent": TABLE[11].0,
            "Sec-CH-UA": "\"Not_A Brand\";v=\"8\", \"Chromium\";v=\"120\", \"Google Chrome\";v=\"120\"",
            "Sec-CH-UA-Platform": "\"Android\"",
            "Sec-CH-UA-Platform-Version": "\"14.0.0\"",
            "Sec-CH-UA-Model": "\"Pixel 7\""
        }}}));
        normalize_user_agent(&mut e);
        let c = &e.contexts.unwrap().0;
        assert_eq!(
            c["browser"],
            json!({"name": "Google Chrome", "version": "120", "type": "browser"})
        );
        assert_eq!(
            c["os"],
            json!({"name": "Android", "version": "14.0.0", "type": "os"})
        );
        assert_eq!(
            c["device"],
            json!({"family": "Pixel 7", "model": "Pixel 7", "type": "device"})
        );
        assert_eq!(
            browser_from_hint("\"Chromium\";v=\"120\"").unwrap().family,
            "Chromium"
        );
    }

    #[test]
    fn no_headers_no_contexts() {
        let mut e = event(json!({"request": {"headers": {"Accept": "*/*"}}}));
        normalize_user_agent(&mut e);
        assert!(e.contexts.is_none());
        let mut e = event(json!({}));
        normalize_user_agent(&mut e);
        assert!(e.contexts.is_none());
    }
}
