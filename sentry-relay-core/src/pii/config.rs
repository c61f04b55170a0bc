//! The serde form of advanced data scrubbing rules (Relay's `piiConfig`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Advanced data scrubbing rules, in the JSON form Sentry hands to Relay.
///
/// ```json
/// {
///   "rules": {
///     "strip-ids": {"type": "pattern", "pattern": "id-[0-9]+", "redaction": {"method": "replace", "text": "[id]"}}
///   },
///   "applications": {"$string": ["strip-ids", "@ip:replace"]}
/// }
/// ```
///
/// Rule ids starting with `@` name built-in rules (`@ip`, `@password:filter`,
/// ...); custom rules are declared in `rules`. Compile it once with
/// [`CompiledPiiConfig::new`](super::CompiledPiiConfig::new).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PiiConfig {
    /// Custom rules by id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleSpec>,
    /// Variables shared by rules.
    #[serde(skip_serializing_if = "Vars::is_empty")]
    pub vars: Vars,
    /// Which rules apply where: a selector and the ids of the rules applied
    /// to the values it selects, in order.
    pub applications: BTreeMap<String, Vec<String>>,
}

/// Variables of a [`PiiConfig`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Vars {
    /// The key of the keyed hash used by the `hash` redaction; empty when
    /// not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<String>,
}

impl Vars {
    fn is_empty(&self) -> bool {
        self.hash_key.is_none()
    }
}

/// One rule: what it finds and how it redacts what it finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// What the rule finds.
    #[serde(flatten)]
    pub ty: RuleType,
    /// How found data is redacted; [`Redaction::Default`] when not given.
    #[serde(default)]
    pub redaction: Redaction,
}

/// What a rule finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleType {
    /// The whole value, whatever it is.
    Anything,
    /// Matches of a regular expression (Rust `regex` syntax).
    Pattern {
        /// The regular expression.
        pattern: String,
        /// The capture groups to redact; the whole match when not given.
        #[serde(
            default,
            rename = "replaceGroups",
            skip_serializing_if = "Option::is_none"
        )]
        replace_groups: Option<Vec<usize>>,
    },
    /// IMEI numbers.
    Imei,
    /// MAC addresses.
    Mac,
    /// UUIDs.
    Uuid,
    /// Email addresses.
    Email,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// Credit card numbers (Luhn-valid ones only).
    Creditcard,
    /// IBANs.
    Iban,
    /// User names in file system paths (`/home/jane/...`, `C:\Users\jane\...`).
    Userpath,
    /// The body of PEM keys.
    Pemkey,
    /// Credentials in URLs (`https://user:pass@host`).
    Urlauth,
    /// US social security numbers.
    Usssn,
    /// Bearer tokens (`Bearer abc...`).
    Bearer,
    /// Values under password-like keys (`password`, `secret`, `api_key`,
    /// `auth`, `token`, ...), and bearer tokens anywhere.
    Password,
    /// The value under any key matching a regular expression.
    RedactPair {
        /// The regular expression the key must match.
        #[serde(rename = "keyPattern")]
        key_pattern: String,
    },
    /// Several rules at once.
    Multiple {
        /// The ids of the rules.
        rules: Vec<String>,
        /// Whether redactions are recorded under this rule's id instead of
        /// the inner rules' ids.
        #[serde(default, rename = "hideInner")]
        hide_inner: bool,
    },
    /// Another rule under this id.
    Alias {
        /// The id of the rule.
        rule: String,
        /// Whether redactions are recorded under this rule's id instead of
        /// the inner rule's id.
        #[serde(default, rename = "hideInner")]
        hide_inner: bool,
    },
}

/// How a rule redacts what it found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Redaction {
    /// The rule's own default: for `multiple` and `alias`, the inner rules'
    /// redactions; for other rules, [`Redaction::Remove`].
    #[default]
    Default,
    /// Remove the match (or the whole value, which becomes `null`).
    Remove,
    /// Replace the match by a text.
    Replace {
        /// The replacement; `[Filtered]` when not given.
        #[serde(default = "default_replace_text")]
        text: String,
    },
    /// Replace every character of the match by a mask character.
    Mask {
        /// The mask character; `*` when not given.
        #[serde(default = "default_mask_char", rename = "maskChar")]
        mask_char: char,
        /// Characters left as they are.
        #[serde(default, rename = "charsToIgnore")]
        chars_to_ignore: String,
    },
    /// Replace the match by a keyed hash of it (40 uppercase hex digits).
    Hash,
}

impl Redaction {
    /// A replacement by `text`.
    pub fn replace(text: impl Into<String>) -> Self {
        Redaction::Replace { text: text.into() }
    }

    /// A mask with `*` that masks every character.
    pub fn mask() -> Self {
        Redaction::Mask {
            mask_char: '*',
            chars_to_ignore: String::new(),
        }
    }
}

fn default_replace_text() -> String {
    "[Filtered]".to_owned()
}

fn default_mask_char() -> char {
    '*'
}
