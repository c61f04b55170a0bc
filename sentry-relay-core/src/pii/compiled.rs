//! [`PiiConfig`] compiled for scrubbing: selectors parsed, rules resolved,
//! regexes built.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use regex::{Regex, RegexBuilder};

use super::PiiError;
use super::config::{PiiConfig, Redaction, RuleType};
use super::hash::HashKey;
use super::rules::{KeyCache, Matcher, builtin, matchers};
use super::selector::{KeyFilter, Path, Pii, Selector};

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
    selector: Selector,
    /// Rules out most values quickly when the selector names their keys.
    key_filter: Option<KeyFilter>,
    /// Whether the selector may select values only named selectors apply
    /// to.
    named_only: bool,
    /// Keys every selected value has above it, as in [`Path::keys`].
    required_keys: u64,
    pub(crate) rules: Vec<CompiledRule>,
    /// The [`Needs`](super::prefilter::Needs) bits of the rules that look
    /// into strings: a string meeting none is left to the other rules.
    pub(crate) needs: u32,
    /// The rules that apply by key or to anything, by index.
    key_rules: Vec<usize>,
    /// Whether the selector names an array index.
    names_index: bool,
}

/// A [`PiiConfig`] ready to scrub events: build it once per project config
/// and reuse it.
#[derive(Debug)]
pub struct CompiledPiiConfig {
    pub(crate) applications: Vec<Application>,
    pub(crate) hash_key: HashKey,
    /// The same for configs with the same rules and applications, and
    /// only for those: what was worked out for them is kept under it (see
    /// `plan`).
    pub(crate) id: u64,
}

/// The next new [`CompiledPiiConfig::id`].
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// How many rule sets [`shape_id`] remembers; past this it starts over
/// (with new ids, so nothing kept is ever taken for another rule set).
const MAX_SHAPE_IDS: usize = 4096;

/// The id of the rule set of `config`: projects with the same settings
/// (most keep the defaults) share what was worked out for them. The
/// hash key is left out: it changes no decision, only a hash's digits.
fn shape_id(config: &PiiConfig) -> u64 {
    static IDS: LazyLock<Mutex<HashMap<String, u64>>> = LazyLock::new(Default::default);
    let new_id = || NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let Ok(shape) = serde_json::to_string(&(&config.rules, &config.applications)) else {
        return new_id();
    };
    // Every update is a single insert or clear: a panic leaves it whole.
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    if ids.len() >= MAX_SHAPE_IDS && !ids.contains_key(&shape) {
        ids.clear();
    }
    *ids.entry(shape).or_insert_with(new_id)
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
            applications.push(Application::new(selector, rules));
        }
        Ok(CompiledPiiConfig {
            applications,
            hash_key: HashKey::new(config.vars.hash_key.as_deref().unwrap_or("").as_bytes()),
            id: shape_id(config),
        })
    }

    /// Whether a selector names an array index: then items of one array
    /// may be scrubbed differently.
    pub(crate) fn names_indexes(&self) -> bool {
        self.applications.iter().any(|a| a.names_index)
    }

    /// Whether the config has no rules: scrubbing changes nothing.
    pub fn is_empty(&self) -> bool {
        self.applications.iter().all(|a| a.rules.is_empty())
    }
}

impl Application {
    pub(crate) fn new(selector: Selector, rules: Vec<CompiledRule>) -> Self {
        let needs = rules
            .iter()
            .filter_map(|r| r.matcher.needs())
            .fold(0, |bits, n| bits | n.bit());
        Application {
            key_filter: selector.key_filter(),
            named_only: selector.may_select_named_only(),
            required_keys: selector.required_keys(),
            names_index: selector.names_index(),
            selector,
            needs,
            key_rules: (0..rules.len())
                .filter(|i| {
                    matches!(
                        rules[*i].matcher,
                        Matcher::Anything | Matcher::Key(_) | Matcher::KeyValue(_)
                    )
                })
                .collect(),
            rules,
        }
    }

    /// A quick test that the selector may select the value at `path`:
    /// when false, nothing of this application applies to it.
    pub(crate) fn may_select(&self, path: &Path<'_>) -> bool {
        (self.named_only || path.pii != Pii::Maybe)
            && path.keys & self.required_keys == self.required_keys
            && self.key_filter.is_none_or(|f| f.may_match(path))
    }

    /// Whether the selector selects the value at `path` (which
    /// [`Application::may_select`]).
    pub(crate) fn selects(&self, path: &Path<'_>) -> bool {
        self.selector.matches(path)
    }

    /// Whether a rule applies by key or to anything (so to containers).
    pub(crate) fn applies_to_containers(&self) -> bool {
        !self.key_rules.is_empty()
    }

    /// The first rule taking the whole value at `key` because of its key.
    pub(crate) fn rule_for_key(&self, key: &str, keys: &mut KeyCache) -> Option<&CompiledRule> {
        self.rule_index_for_key(key, keys).map(|i| &self.rules[i])
    }

    /// [`Application::rule_for_key`], as an index into its rules.
    pub(crate) fn rule_index_for_key(&self, key: &str, keys: &mut KeyCache) -> Option<usize> {
        self.key_rules
            .iter()
            .copied()
            .find(|i| self.rules[*i].matcher.takes_key(key, keys))
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
