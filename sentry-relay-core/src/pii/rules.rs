//! Built-in rules, and what each kind of rule looks for.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use regex::Regex;

use super::config::{Redaction, RuleSpec, RuleType};
use super::prefilter::{FastKey, Needs, scan_keys};

/// Keys whose values are passwords or similar secrets.
pub(crate) const PASSWORD_KEY_PATTERN: &str = r"(?i)(?:password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|privatekey|private[-_]key|token\S*[:=]|^otp$|^two[-_]factor$)";
/// Keys whose (string) values are tokens.
pub(crate) const TOKEN_KEY_PATTERN: &str = r"(?i)token";
/// Only the password of a URL's credentials, as Sentry's legacy scrubber
/// did (`@urlauth:legacy`).
pub(crate) const URLAUTH_LEGACY_PATTERN: &str =
    r"\b(?:[a-z0-9]+:)?//[a-zA-Z0-9%_.-]+:([a-zA-Z0-9%_.-]+)@";

/// The built-in rule `id` (`@type` or `@type:method`), if there is one.
pub(crate) fn builtin(id: &str) -> Option<RuleSpec> {
    let name = id.strip_prefix('@')?;
    let (ty_name, method) = match name.split_once(':') {
        Some((t, m)) => (t, Some(m)),
        None => (name, None),
    };
    let multiple = |rules: &[&str]| RuleType::Multiple {
        rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        hide_inner: false,
    };
    let (ty, replace_text, default_method) = match ty_name {
        "common" => {
            let ty = match method {
                None => multiple(&[
                    "@iban",
                    "@ip",
                    "@email",
                    "@creditcard",
                    "@pemkey",
                    "@urlauth",
                    "@userpath",
                    "@password",
                    "@usssn",
                ]),
                Some("filter") => multiple(&[
                    "@creditcard:filter",
                    "@iban:filter",
                    "@pemkey:filter",
                    "@urlauth:legacy",
                    "@userpath:filter",
                    "@password:filter",
                    "@usssn:filter",
                ]),
                Some(_) => return None,
            };
            return Some(RuleSpec {
                ty,
                redaction: Redaction::Default,
            });
        }
        "urlauth" if method == Some("legacy") => {
            return Some(RuleSpec {
                ty: RuleType::Pattern {
                    pattern: URLAUTH_LEGACY_PATTERN.to_owned(),
                    replace_groups: Some(vec![1]),
                },
                redaction: Redaction::replace("[Filtered]"),
            });
        }
        "anything" => (RuleType::Anything, "[Filtered]", "replace"),
        "ip" => (RuleType::Ip, "[ip]", "replace"),
        "imei" => (RuleType::Imei, "[imei]", "replace"),
        "mac" => (RuleType::Mac, "[mac]", "mask"),
        "uuid" => (RuleType::Uuid, "[uuid]", "mask"),
        "email" => (RuleType::Email, "[email]", "replace"),
        "iban" => (RuleType::Iban, "[iban]", "replace"),
        "creditcard" => (RuleType::Creditcard, "[creditcard]", "replace"),
        "pemkey" => (RuleType::Pemkey, "[pemkey]", "replace"),
        "urlauth" => (RuleType::Urlauth, "[auth]", "replace"),
        "usssn" => (RuleType::Usssn, "[us-ssn]", "mask"),
        "userpath" => (RuleType::Userpath, "[user]", "replace"),
        "password" => (RuleType::Password, "[password]", "remove"),
        "bearer" => (RuleType::Bearer, "[token]", "replace"),
        _ => return None,
    };
    let Some(method) = method else {
        // `@ip` is `@ip:replace`, recorded as `@ip`.
        return Some(RuleSpec {
            ty: RuleType::Alias {
                rule: format!("@{ty_name}:{default_method}"),
                hide_inner: true,
            },
            redaction: Redaction::Default,
        });
    };
    let redaction = match method {
        "remove" => Redaction::Remove,
        "replace" => Redaction::replace(replace_text),
        "filter" => Redaction::replace("[Filtered]"),
        "mask" => Redaction::mask(),
        "hash" => Redaction::Hash,
        _ => return None,
    };
    Some(RuleSpec { ty, redaction })
}

/// What a compiled rule looks for.
#[derive(Debug)]
pub(crate) enum Matcher {
    /// The whole value.
    Anything,
    /// Parts of string values.
    Value(ValueMatcher),
    /// The whole value when its key matches; in other strings, the whole
    /// string when the pattern occurs in it.
    KeyValue(KeyMatcher),
    /// The whole value when its key matches.
    Key(KeyMatcher),
}

impl Matcher {
    /// Whether the rule takes the whole value at `key` because of its key.
    pub(crate) fn takes_key(&self, key: &str, cache: &mut KeyCache) -> bool {
        match self {
            Matcher::Anything => true,
            Matcher::Key(k) | Matcher::KeyValue(k) => k.is_match_key(key, cache),
            Matcher::Value(_) => false,
        }
    }

    /// Whether the rule's pattern matches `text`, for rules that look into
    /// strings.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Value(m) => m.is_match(text),
            Matcher::KeyValue(k) => k.is_match(text),
            Matcher::Anything | Matcher::Key(_) => false,
        }
    }

    /// What a string needs for the rule to find something in it, for rules
    /// that look into strings.
    pub(crate) fn needs(&self) -> Option<Needs> {
        match self {
            Matcher::Value(m) => Some(m.needs),
            Matcher::KeyValue(k) => Some(k.needs),
            Matcher::Anything | Matcher::Key(_) => None,
        }
    }
}

/// A pattern on keys (or, for [`Matcher::KeyValue`], on whole strings).
#[derive(Debug)]
pub(crate) struct KeyMatcher {
    re: Regex,
    /// An exact matcher for ASCII text, for the built-in patterns.
    pub(crate) fast: Option<FastKey>,
    /// What a string needs for the pattern to match it.
    pub(crate) needs: Needs,
}

impl KeyMatcher {
    fn new(re: Regex) -> Self {
        let fast = match re.as_str() {
            PASSWORD_KEY_PATTERN => Some(FastKey::Password),
            TOKEN_KEY_PATTERN => Some(FastKey::Token),
            _ => None,
        };
        KeyMatcher {
            re,
            fast,
            needs: fast.map_or(Needs::Anything, FastKey::needs),
        }
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.fast
            .and_then(|f| f.is_match(text))
            .unwrap_or_else(|| self.re.is_match(text))
    }

    /// Whether the pattern matches `key`, with the results of the built-in
    /// patterns remembered in `cache` (one per key).
    pub(crate) fn is_match_key(&self, key: &str, cache: &mut KeyCache) -> bool {
        let slot = match self.fast {
            Some(FastKey::Password) => &mut cache.password,
            Some(FastKey::Token) => &mut cache.token,
            None => return self.re.is_match(key),
        };
        if let Some(hit) = *slot {
            return hit;
        }
        match scan_keys(key) {
            // One pass answers both patterns.
            Some((password, token)) => {
                cache.password = Some(password);
                cache.token = Some(token);
                match self.fast {
                    Some(FastKey::Password) => password,
                    _ => token,
                }
            }
            None => *slot.insert(self.re.is_match(key)),
        }
    }
}

/// Whether one key matches the built-in key patterns, once known.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    password: Option<bool>,
    token: Option<bool>,
}

/// What a rule looks for inside strings, and what a string needs to
/// contain for it to find anything.
#[derive(Debug)]
pub(crate) struct ValueMatcher {
    pub(crate) find: Find,
    pub(crate) needs: Needs,
}

/// How a rule finds what it looks for inside strings.
#[derive(Debug)]
pub(crate) enum Find {
    /// Matches of a regex, or of some of its groups.
    Regex(Regex, Option<Vec<usize>>),
    Ipv4(Regex),
    Ipv6(Regex),
    Creditcard(Regex),
    Iban(Regex),
}

impl ValueMatcher {
    fn new(find: Find, needs: Needs) -> Self {
        ValueMatcher { find, needs }
    }

    /// Whether the rule's regex matches `text` (before checks such as the
    /// Luhn digit).
    pub(crate) fn is_match(&self, text: &str) -> bool {
        match &self.find {
            Find::Regex(r, _)
            | Find::Ipv4(r)
            | Find::Ipv6(r)
            | Find::Creditcard(r)
            | Find::Iban(r) => r.is_match(text),
        }
    }

    /// The byte ranges of `text` to redact.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Range<usize>>) {
        match &self.find {
            Find::Regex(re, None) => out.extend(re.find_iter(text).map(|m| m.range())),
            Find::Regex(re, Some(groups)) => {
                for caps in re.captures_iter(text) {
                    let mut ranges: Vec<Range<usize>> = groups
                        .iter()
                        .filter_map(|g| caps.get(*g))
                        .map(|m| m.range())
                        .filter(|r| !r.is_empty())
                        .collect();
                    ranges.sort_by_key(|r| r.start);
                    for r in ranges {
                        if out.last().is_none_or(|l| l.end <= r.start) {
                            out.push(r);
                        }
                    }
                }
            }
            Find::Ipv4(re) => out.extend(
                re.find_iter(text)
                    .filter(|m| m.as_str().parse::<Ipv4Addr>().is_ok())
                    .map(|m| m.range()),
            ),
            Find::Ipv6(re) => {
                for m in re.find_iter(text) {
                    let before = text[..m.start()].chars().next_back();
                    let after = text[m.end()..].chars().next();
                    let boundary =
                        |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_');
                    let candidate = m.as_str().trim_end_matches('.');
                    if boundary(before)
                        && (boundary(after) || candidate.len() < m.as_str().len())
                        && candidate.parse::<Ipv6Addr>().is_ok()
                    {
                        out.push(m.start()..m.start() + candidate.len());
                    }
                }
            }
            Find::Creditcard(re) => out.extend(
                re.find_iter(text)
                    .filter(|m| is_card_number(m.as_str()))
                    .map(|m| m.range()),
            ),
            Find::Iban(re) => out.extend(
                re.find_iter(text)
                    .filter(|m| is_iban(m.as_str()))
                    .map(|m| m.range()),
            ),
        }
    }
}

/// Whether `s` (digits with optional spaces or dashes) is a card number: a
/// known issuer prefix and length, and a valid Luhn check digit.
fn is_card_number(s: &str) -> bool {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let prefix = |n: usize| digits[..n].iter().fold(0u32, |a, d| a * 10 + u32::from(*d));
    let issuer = match digits.len() {
        15 => matches!(prefix(2), 34 | 37),
        16 => {
            prefix(1) == 4
                || (51..=55).contains(&prefix(2))
                || (2221..=2720).contains(&prefix(4))
                || prefix(4) == 6011
                || prefix(2) == 65
        }
        _ => false,
    };
    issuer && luhn(&digits)
}

pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Whether `s` is an IBAN with a valid mod-97 check.
fn is_iban(s: &str) -> bool {
    let (head, tail) = s.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

fn re(pattern: &str) -> Regex {
    // The built-in patterns are constants covered by tests.
    #[allow(clippy::unwrap_used)]
    Regex::new(pattern).unwrap()
}

/// The matchers of a rule type other than `multiple` and `alias`.
pub(crate) fn matchers(
    ty: &RuleType,
    compile: impl Fn(&str) -> Result<Regex, regex::Error>,
) -> Result<Vec<Matcher>, regex::Error> {
    let value = |find: Find, needs: Needs| Ok(vec![Matcher::Value(ValueMatcher::new(find, needs))]);
    let simple = |p: &str, needs: Needs| value(Find::Regex(re(p), None), needs);
    let group = |p: &str, g: usize, needs: Needs| value(Find::Regex(re(p), Some(vec![g])), needs);
    match ty {
        RuleType::Anything => Ok(vec![Matcher::Anything]),
        RuleType::Pattern {
            pattern,
            replace_groups,
        } => {
            let needs = if pattern == URLAUTH_LEGACY_PATTERN {
                Needs::Urlauth
            } else {
                Needs::Anything
            };
            value(
                Find::Regex(compile(pattern)?, replace_groups.clone()),
                needs,
            )
        }
        RuleType::RedactPair { key_pattern } => Ok(vec![Matcher::KeyValue(KeyMatcher::new(
            compile(&format!("(?i){key_pattern}"))?,
        ))]),
        RuleType::Imei => simple(r"\b\d{2}-?\d{6}-?\d{6}-?\d{1,2}\b", Needs::Imei),
        RuleType::Mac => simple(r"\b[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2}){5}\b", Needs::Mac),
        RuleType::Uuid => simple(
            r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b",
            Needs::Uuid,
        ),
        RuleType::Email => simple(
            r"\b[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*\.[a-zA-Z]{2,}\b",
            Needs::Email,
        ),
        RuleType::Usssn => simple(r"\b\d{3}-\d{2}-\d{4}\b", Needs::Usssn),
        RuleType::Bearer => simple(r"(?i)\bbearer\s+\S+", Needs::Bearer),
        RuleType::Userpath => group(
            r"(?i)(?:\b(?:[a-z]:[\\/])?(?:users|home|documents and settings)[\\/]|/(?:home|users)/)([^/\\\r\n\x00]+)",
            1,
            Needs::Userpath,
        ),
        RuleType::Pemkey => group(
            r"(?s)-----BEGIN[A-Z ]+(?:PRIVATE|PUBLIC) KEY-----[\t ]*\r?\n?(.+?)\r?\n?-----END[A-Z ]+(?:PRIVATE|PUBLIC) KEY-----",
            1,
            Needs::Pemkey,
        ),
        RuleType::Urlauth => group(
            r"\b(?:[a-z0-9+.-]+:)?//([a-zA-Z0-9%_.-]+(?::[a-zA-Z0-9%_.-]+)?)@",
            1,
            Needs::Urlauth,
        ),
        RuleType::Ip => Ok(vec![
            Matcher::Value(ValueMatcher::new(
                Find::Ipv4(re(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")),
                Needs::Ipv4,
            )),
            Matcher::Value(ValueMatcher::new(
                Find::Ipv6(re(
                    r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z]+)?",
                )),
                Needs::Ipv6,
            )),
        ]),
        RuleType::Creditcard => value(
            Find::Creditcard(re(r"\b\d(?:[ -]?\d){12,18}\b")),
            Needs::Creditcard,
        ),
        RuleType::Iban => value(
            Find::Iban(re(r"\b[A-Z]{2}\d{2}[A-Za-z0-9]{11,30}\b")),
            Needs::Iban,
        ),
        RuleType::Password => Ok(vec![
            Matcher::Value(ValueMatcher::new(
                Find::Regex(re(r"(?i)\bbearer\s+\S+"), None),
                Needs::Bearer,
            )),
            Matcher::Key(KeyMatcher::new(re(TOKEN_KEY_PATTERN))),
            Matcher::KeyValue(KeyMatcher::new(re(PASSWORD_KEY_PATTERN))),
        ]),
        RuleType::Multiple { .. } | RuleType::Alias { .. } => Ok(Vec::new()),
    }
}
