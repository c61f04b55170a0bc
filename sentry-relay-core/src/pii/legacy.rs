//! The simple data scrubbing settings of a project, and the rules they
//! stand for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::{PiiConfig, Redaction, RuleSpec, RuleType};
use super::selector::Selector;

/// Fields the simple settings never scrub.
const IGNORED: &str = "debug_meta.** || $frame.filename || $frame.abs_path || $logentry.formatted || $error.value || $http.headers.user-agent";

/// Fields that hold IP addresses and nothing else.
const IP_FIELDS: &str =
    "$http.env.REMOTE_ADDR || $user.ip_address || $sdk.client_ip || $span.sentry_tags.'user.ip'";

/// Cookies that carry sessions or CSRF tokens.
const SENSITIVE_COOKIES: &[&str] = &[
    "sentrysid",
    "sudo",
    "su",
    "session",
    "__session",
    "sessionid",
    "user_session",
    "symfony",
    "phpsessid",
    "fasthttpsessionid",
    "mysession",
    "irissessionid",
    "_vercel_jwt",
    "csrf",
    "xsrf",
    "_xsrf",
    "_csrf",
    "csrf-token",
    "csrf_token",
    "xsrf-token",
    "xsrf_token",
    "fastcsrf",
    "_iris_csrf",
];

/// A project's data scrubbing settings ("Security & Privacy" in Sentry).
///
/// Deserializes from Sentry's camelCase names (`scrubData`, ...) and from
/// snake_case ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DataScrubbingConfig {
    /// Turns the scrubbing of these settings on.
    #[serde(alias = "scrub_data")]
    pub scrub_data: bool,
    /// Scrubs passwords, secrets, credit card numbers and the like
    /// (needs `scrub_data`).
    #[serde(alias = "scrub_defaults")]
    pub scrub_defaults: bool,
    /// Scrubs IP addresses, wherever they appear.
    #[serde(alias = "scrub_ip_addresses")]
    pub scrub_ip_addresses: bool,
    /// More keys whose values are scrubbed (case-insensitive, a key
    /// containing one of them matches; needs `scrub_data`).
    #[serde(alias = "sensitive_fields")]
    pub sensitive_fields: Vec<String>,
    /// Safe fields: keys (or selectors) that are never scrubbed by these
    /// settings.
    #[serde(alias = "exclude_fields")]
    pub exclude_fields: Vec<String>,
}

impl DataScrubbingConfig {
    /// The settings Sentry gives a new project: scrubbing on, defaults on,
    /// IP addresses scrubbed.
    pub fn new_default() -> Self {
        DataScrubbingConfig {
            scrub_data: true,
            scrub_defaults: true,
            scrub_ip_addresses: true,
            ..Default::default()
        }
    }

    /// The advanced scrubbing rules these settings stand for, as Relay
    /// derives them; `None` when they scrub nothing.
    pub fn to_pii_config(&self) -> Option<PiiConfig> {
        let mut rules = BTreeMap::new();
        let mut applied = Vec::new();
        let mut applications = BTreeMap::new();

        if self.scrub_data && self.scrub_defaults {
            applied.push("@common:filter".to_owned());
            let cookies: Vec<String> = SENSITIVE_COOKIES
                .iter()
                .map(|c| format!("*.cookies.{c}"))
                .collect();
            applications.insert(cookies.join(" || "), vec!["@anything:filter".to_owned()]);
            applications.insert(
                "$logentry.formatted".to_owned(),
                ["@email", "@creditcard", "@iban", "@usssn", "@bearer"]
                    .iter()
                    .map(|r| format!("{r}:replace"))
                    .collect(),
            );
        }
        if self.scrub_ip_addresses {
            applications.insert(IP_FIELDS.to_owned(), vec!["@anything:remove".to_owned()]);
            applied.push("@ip:replace".to_owned());
        }
        if self.scrub_data {
            let fields: Vec<String> = self
                .sensitive_fields
                .iter()
                .map(|f| f.trim())
                .filter(|f| !f.is_empty())
                .map(regex::escape)
                .collect();
            if !fields.is_empty() {
                rules.insert(
                    "strip-fields".to_owned(),
                    RuleSpec {
                        ty: RuleType::RedactPair {
                            key_pattern: fields.join("|"),
                        },
                        redaction: Redaction::replace("[Filtered]"),
                    },
                );
                applied.push("strip-fields".to_owned());
            }
        }
        if applied.is_empty() && applications.is_empty() {
            return None;
        }
        if !applied.is_empty() {
            let mut selector = format!("($string || $number || $array || $object) && !({IGNORED})");
            for field in &self.exclude_fields {
                let field = field.trim();
                if field.is_empty() {
                    continue;
                }
                if Selector::parse(field).is_ok() {
                    selector.push_str(&format!(" && !({field})"));
                } else {
                    // Not a selector: the literal key.
                    selector.push_str(&format!(" && !'{}'", field.replace('\'', "")));
                }
            }
            applications.insert(selector, applied);
        }
        Some(PiiConfig {
            rules,
            applications,
            ..Default::default()
        })
    }
}
