//! [`PiiConfig`] compiled for scrubbing: selectors parsed, rules resolved,
//! regexes built.

use regex::{Regex, RegexBuilder, RegexSet};

use super::PiiError;
use super::config::{PiiConfig, Redaction, RuleType};
use super::rules::{Matcher, builtin, matchers};
use super::selector::Selector;

/// How deep `alias` and `multiple` rules may refer to each other.
const MAX_RULE_DEPTH: usize = 16;
/// The largest compiled size of a custom regex.
const MAX_REGEX_SIZE: usize = 1 << 20;

/// A redaction with its defaults resolved.
#[derive(Debug, Clone)]
pub(crate) enum Redact {
    Remove,
    Replace(String),
    Mask { mask_char: char, ignore: String },
    Hash,
}

/// A rule ready to apply.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    /// The rule id recorded in `_meta`.
    pub(crate) origin: String,
    pub(crate) matcher: Matcher,
    pub(crate) redact: Redact,
}

/// Rules and where they apply.
#[derive(Debug)]
pub(crate) struct Application {
    pub(crate) selector: Selector,
    pub(crate) rules: Vec<CompiledRule>,
    /// For each rule looking into strings, its index; and a set of their
    /// patterns to check them all at once.
    pub(crate) value_rules: Vec<usize>,
    pub(crate) prefilter: Option<RegexSet>,
    /// Whether a rule applies by key or to anything (so to containers).
    pub(crate) applies_to_containers: bool,
}

/// A [`PiiConfig`] ready to scrub events: build it once per project config
/// and reuse it.
#[derive(Debug)]
pub struct CompiledPiiConfig {
    pub(crate) applications: Vec<Application>,
    pub(crate) hash_key: Vec<u8>,
}

impl CompiledPiiConfig {
    /// Compiles `config`: parses its selectors, resolves rule ids (custom
    /// rules first, then built-in ones) and builds its regexes.
    pub fn new(config: &PiiConfig) -> Result<Self, PiiError> {
        let mut applications = Vec::with_capacity(config.applications.len());
        for (selector, rule_ids) in &config.applications {
            let selector = Selector::parse(selector)?;
            let mut rules = Vec::new();
            for id in rule_ids {
                resolve(config, id, None, None, 0, &mut rules)?;
            }
            applications.push(Application::new(selector, rules)?);
        }
        Ok(CompiledPiiConfig {
            applications,
            hash_key: config
                .vars
                .hash_key
                .clone()
                .unwrap_or_default()
                .into_bytes(),
        })
    }

    /// Whether the config has no rules: scrubbing changes nothing.
    pub fn is_empty(&self) -> bool {
        self.applications.iter().all(|a| a.rules.is_empty())
    }
}

impl Application {
    pub(crate) fn new(selector: Selector, rules: Vec<CompiledRule>) -> Result<Self, PiiError> {
        let mut value_rules = Vec::new();
        let mut patterns = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let pattern = match &rule.matcher {
                Matcher::Value(m) => m.prefilter(),
                Matcher::KeyValue(re) => re.as_str(),
                Matcher::Anything | Matcher::Key(_) => continue,
            };
            value_rules.push(i);
            patterns.push(pattern);
        }
        let prefilter = if patterns.is_empty() {
            None
        } else {
            Some(
                regex::RegexSetBuilder::new(&patterns)
                    .size_limit(MAX_REGEX_SIZE * 8)
                    .build()
                    .map_err(|e| PiiError::InvalidPattern {
                        pattern: patterns.join(" | "),
                        reason: e.to_string(),
                    })?,
            )
        };
        let applies_to_containers = rules.iter().any(|r| {
            matches!(
                r.matcher,
                Matcher::Anything | Matcher::Key(_) | Matcher::KeyValue(_)
            )
        });
        Ok(Application {
            selector,
            rules,
            value_rules,
            prefilter,
            applies_to_containers,
        })
    }
}

fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        .build()
}

/// Resolves rule `id` into leaf rules, appended to `out`. `redaction` and
/// `origin` override the inner rules' when set by an enclosing rule.
fn resolve(
    config: &PiiConfig,
    id: &str,
    redaction: Option<&Redaction>,
    origin: Option<&str>,
    depth: usize,
    out: &mut Vec<CompiledRule>,
) -> Result<(), PiiError> {
    if depth > MAX_RULE_DEPTH {
        return Err(PiiError::RuleTooDeep(id.to_owned()));
    }
    let builtin_spec;
    let spec = match config.rules.get(id) {
        Some(spec) => spec,
        None => {
            builtin_spec = builtin(id).ok_or_else(|| PiiError::UnknownRule(id.to_owned()))?;
            &builtin_spec
        }
    };
    let redaction = match (&spec.redaction, redaction) {
        (_, Some(outer)) if *outer != Redaction::Default => Some(outer),
        (own, _) => Some(own),
    };
    match &spec.ty {
        RuleType::Multiple { rules, hide_inner } => {
            let origin = origin.or(if *hide_inner { Some(id) } else { None });
            for inner_id in rules {
                resolve(config, inner_id, redaction, origin, depth + 1, out)?;
            }
        }
        RuleType::Alias { rule, hide_inner } => {
            let origin = origin.or(if *hide_inner { Some(id) } else { None });
            resolve(config, rule, redaction, origin, depth + 1, out)?;
        }
        ty => {
            let redact = match redaction.unwrap_or(&Redaction::Default) {
                Redaction::Default | Redaction::Remove => Redact::Remove,
                Redaction::Replace { text } => Redact::Replace(text.clone()),
                Redaction::Mask {
                    mask_char,
                    chars_to_ignore,
                } => Redact::Mask {
                    mask_char: *mask_char,
                    ignore: chars_to_ignore.clone(),
                },
                Redaction::Hash => Redact::Hash,
            };
            let found = matchers(ty, compile_regex).map_err(|e| PiiError::InvalidPattern {
                pattern: id.to_owned(),
                reason: e.to_string(),
            })?;
            for matcher in found {
                out.push(CompiledRule {
                    origin: origin.unwrap_or(id).to_owned(),
                    matcher,
                    redact: redact.clone(),
                });
            }
        }
    }
    Ok(())
}
