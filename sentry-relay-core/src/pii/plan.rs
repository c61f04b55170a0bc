//! What the configs do at each path shape of an event, decided once per
//! shape.
//!
//! Whether a selector selects a value, and whether a rule takes a value
//! for its key, depend only on the value's path: the keys from the root,
//! the schema and JSON kinds along it and how personal each part is. Frames,
//! breadcrumbs and other lists repeat the same paths again and again (the
//! index of an item does not count, unless a selector names one), so the
//! walk looks each value's [`Plan`] up by its parent's plan, its key and
//! its JSON kind, and works the selectors out only the first time.

use std::cell::RefCell;

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, Equivalent, HashTable};
use serde_json::Value;

use super::compiled::{CompiledPiiConfig, CompiledRule};
use super::rules::{KeyCache, Matcher};
use super::scrub::IndexKey;
use super::selector::{Path, Pii, SegKey, key_bit, kind};

/// Where in the event schema a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    Event,
    ExceptionList,
    Exceptions,
    Exception,
    Stacktrace,
    Frames,
    Frame,
    ThreadList,
    Threads,
    Thread,
    BreadcrumbList,
    Breadcrumbs,
    Breadcrumb,
    Spans,
    Span,
    Request,
    User,
    LogEntry,
    Sdk,
    Contexts,
    Context,
    Data,
}

/// The context, schema kind and PII level of child `key` of a value in
/// context `ctx` with level `pii`.
fn child(ctx: Ctx, pii: Pii, key: SegKey<'_>) -> (Ctx, u32, Pii) {
    use Ctx::*;
    let k = match key {
        SegKey::Key(k) => k,
        SegKey::Index(_) | SegKey::Root => "",
    };
    let data = (Data, 0, pii);
    match ctx {
        Event => match k {
            "exception" => (ExceptionList, 0, Pii::True),
            "threads" => (ThreadList, 0, Pii::True),
            "stacktrace" => (Stacktrace, kind::STACKTRACE, Pii::True),
            "request" => (Request, kind::REQUEST, Pii::True),
            "user" => (User, kind::USER, Pii::True),
            "logentry" => (LogEntry, kind::LOGENTRY, Pii::True),
            "breadcrumbs" => (BreadcrumbList, 0, Pii::True),
            "spans" => (Spans, 0, Pii::True),
            "sdk" => (Sdk, kind::SDK, Pii::Maybe),
            "contexts" => (Contexts, 0, Pii::True),
            "debug_meta" | "culprit" | "transaction" | "logger" | "server_name"
            | "transaction_info" => (Data, 0, Pii::Maybe),
            "_meta" | "event_id" | "timestamp" | "start_timestamp" | "received" | "level"
            | "type" | "platform" | "release" | "dist" | "environment" | "fingerprint"
            | "modules" | "errors" | "key_id" | "project" | "version" | "title" | "metadata"
            | "location" | "grouping_config" | "hashes" | "measurements" | "breakdowns"
            | "_metrics" | "_dsc" => (Data, 0, Pii::False),
            _ => (Data, 0, Pii::True),
        },
        ExceptionList if k == "values" => (Exceptions, 0, pii),
        Exceptions => (Exception, kind::EXCEPTION, pii),
        Exception => match k {
            "stacktrace" | "raw_stacktrace" => (Stacktrace, kind::STACKTRACE, pii),
            "type" | "module" | "thread_id" | "mechanism" => (Data, 0, Pii::False),
            _ => data,
        },
        Stacktrace if k == "frames" => (Frames, 0, pii),
        Frames => (Frame, kind::FRAME, pii),
        Frame => match k {
            "filename" | "abs_path" | "context_line" | "pre_context" | "post_context" => {
                (Data, 0, Pii::Maybe)
            }
            "function" | "raw_function" | "symbol" | "module" | "package" | "lineno" | "colno"
            | "in_app" | "platform" | "instruction_addr" | "symbol_addr" | "image_addr"
            | "addr_mode" | "function_id" | "lang" | "trust" => (Data, 0, Pii::False),
            _ => data,
        },
        ThreadList if k == "values" => (Threads, 0, pii),
        Threads => (Thread, kind::THREAD, pii),
        Thread => match k {
            "stacktrace" | "raw_stacktrace" => (Stacktrace, kind::STACKTRACE, pii),
            "id" | "crashed" | "current" | "main" | "state" => (Data, 0, Pii::False),
            "name" => (Data, 0, Pii::Maybe),
            _ => data,
        },
        BreadcrumbList if k == "values" => (Breadcrumbs, 0, pii),
        Breadcrumbs => (Breadcrumb, kind::BREADCRUMB, pii),
        Breadcrumb => match k {
            "timestamp" | "type" | "level" | "category" | "event_id" => (Data, 0, Pii::False),
            _ => data,
        },
        Spans => (Span, kind::SPAN, pii),
        Span => match k {
            "trace_id"
            | "span_id"
            | "parent_span_id"
            | "op"
            | "status"
            | "start_timestamp"
            | "timestamp"
            | "exclusive_time"
            | "same_process_as_parent"
            | "origin"
            | "hash" => (Data, 0, Pii::False),
            _ => data,
        },
        Request => match k {
            "method" | "inferred_content_type" | "api_target" => (Data, 0, Pii::False),
            _ => data,
        },
        LogEntry if k == "message" || k == "formatted" => (Data, kind::MESSAGE, pii),
        Sdk => match k {
            "client_ip" => (Data, 0, Pii::Maybe),
            _ => (Data, 0, Pii::False),
        },
        Contexts => (Context, 0, pii),
        Context => match k {
            "type" | "trace_id" | "span_id" | "parent_span_id" | "op" | "status" | "origin" => {
                (Data, 0, Pii::False)
            }
            _ => data,
        },
        _ => data,
    }
}

/// The rules (bit `r` for rule `r`) whose key pattern matches `key`;
/// `None` past 64 rules.
fn key_hits(rules: &[CompiledRule], key: &str, keys: &mut KeyCache) -> Option<u64> {
    if rules.len() > 64 {
        return None;
    }
    let hit = |rule: &CompiledRule, keys: &mut KeyCache| match &rule.matcher {
        Matcher::Key(k) | Matcher::KeyValue(k) => k.is_match_key(key, keys),
        Matcher::Anything | Matcher::Value(_) => false,
    };
    Some(
        rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| hit(rule, keys))
            .fold(0, |bits, (r, _)| bits | 1 << r),
    )
}

/// The JSON kind bit of a value.
pub(crate) fn json_kind(v: &Value) -> u32 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => kind::BOOLEAN,
        Value::Number(_) => kind::NUMBER,
        Value::String(_) => kind::STRING,
        Value::Array(_) => kind::ARRAY,
        Value::Object(_) => kind::OBJECT,
    }
}

/// An application that selects the strings of a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppUse {
    /// The config, by index.
    pub(crate) config: usize,
    /// The application in it, by index.
    pub(crate) app: usize,
    /// Whether one of its rules takes the whole string for its key.
    pub(crate) any_key: bool,
    /// Whether its selector selects the strings, once asked: most strings
    /// meet none of the application's rules, and then it is not asked.
    pub(crate) selects: Option<bool>,
    /// Bit `r` for each rule `r` whose key pattern matches the strings'
    /// key; `None` for an application of more than 64 rules.
    pub(crate) key_hits: Option<u64>,
}

/// What the configs do to the values of one path shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) ctx: Ctx,
    pub(crate) pii: Pii,
    /// As in [`Path::kinds`].
    pub(crate) kinds: u32,
    /// As in [`Path::key_bit`].
    pub(crate) key_bit: u64,
    /// As in [`Path::keys`].
    pub(crate) keys: u64,
    /// Strings: the applications that may select them, in order, in
    /// [`Plans::uses`].
    uses: (u32, u32),
    /// Other values: for each config that removes them, its index and the
    /// rule's origin, in [`Plans::removals`].
    removals: (u32, u32),
}

/// The key a plan is found by. `kind` is the value's JSON kind, with
/// [`INDEX`] for an array item; `key` is the object key, or the index's
/// digits when a selector names indexes (else empty: items are alike).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PlanKey {
    parent: u32,
    kind: u32,
    key: Box<str>,
}

/// [`PlanKey`] without the copy of the key; hashes as it does.
#[derive(Hash)]
struct PlanKeyRef<'a> {
    parent: u32,
    kind: u32,
    key: &'a str,
}

impl Equivalent<PlanKey> for PlanKeyRef<'_> {
    fn equivalent(&self, k: &PlanKey) -> bool {
        self.parent == k.parent && self.kind == k.kind && same_key(self.key, &k.key)
    }
}

/// Whether two keys are equal. Keys are mostly short: up to 16 bytes they
/// are compared in two overlapping words each, without a call to `memcmp`
/// (which the profile of a scrub showed as its largest single cost).
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word<const N: usize>(s: &[u8], at: usize) -> Option<[u8; N]> {
        s.get(at..)?.first_chunk::<N>().copied()
    }
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// Marks an array item in [`PlanKey::kind`] (above the kind bits).
const INDEX: u32 = 1 << 31;

/// No plan.
const NONE: u32 = u32::MAX;

/// The plans room is made for at first: more than most events have.
const CAPACITY: usize = 512;

/// A vector with room for [`CAPACITY`] items, holding `first`.
fn with_first<T>(first: T) -> Vec<T> {
    let mut v = Vec::with_capacity(CAPACITY);
    v.push(first);
    v
}

/// The plan of the sibling before, as the children of one value are
/// walked: [`Plans::child`] guesses from it.
pub(crate) struct Siblings(u32);

impl Siblings {
    /// Before the first child.
    pub(crate) fn new() -> Self {
        Siblings(NONE)
    }
}

/// The plans worked out for one list of configs (by [`CompiledPiiConfig`]
/// ids), kept by each thread for the next events scrubbed with them.
pub(crate) struct Plans {
    /// The ids of the configs, in order.
    configs: Vec<u64>,
    /// Whether a selector names an array index, so items differ.
    names_indexes: bool,
    /// The plans by their [`PlanKey`] (in `found_by`).
    ids: HashTable<u32>,
    hasher: DefaultHashBuilder,
    plans: Vec<Plan>,
    uses: Vec<AppUse>,
    /// Config, application and rule indexes.
    removals: Vec<(usize, usize, usize)>,
    /// For each plan, the key it is found by.
    found_by: Vec<PlanKey>,
    /// For each plan, the plan of its first child last time, and of the
    /// sibling after it: objects of one shape list the same keys in the
    /// same order, so these guesses save most hash lookups.
    first_child: Vec<u32>,
    next_sibling: Vec<u32>,
}

/// How many config lists a thread keeps plans for.
const KEPT_LISTS: usize = 16;
/// Past this many plans (after an event with many distinct keys), a list's
/// plans are dropped rather than kept.
const MAX_PLANS: usize = 4096;

thread_local! {
    /// The plans of the config lists this thread scrubbed with last, the
    /// most recent first.
    static KEPT: RefCell<Vec<Plans>> = const { RefCell::new(Vec::new()) };
}

impl Plans {
    /// The plan of the event itself.
    pub(crate) const ROOT: u32 = 0;

    /// The plans this thread kept for `configs`, or new ones; give them
    /// back with [`Plans::keep`].
    pub(crate) fn take(configs: &[CompiledPiiConfig]) -> Self {
        let kept = KEPT.with(|kept| {
            let mut kept = kept.borrow_mut();
            let i = kept
                .iter()
                .position(|p| p.configs.iter().copied().eq(configs.iter().map(|c| c.id)))?;
            Some(kept.remove(i))
        });
        kept.unwrap_or_else(|| Plans::new(configs))
    }

    /// Drops the plans this thread kept.
    pub(crate) fn forget_kept() {
        KEPT.with(|kept| kept.borrow_mut().clear());
    }

    /// Keeps these plans for the next event of this thread (unless an
    /// event with many distinct keys made too many).
    pub(crate) fn keep(self) {
        if self.plans.len() > MAX_PLANS {
            return;
        }
        KEPT.with(|kept| {
            let mut kept = kept.borrow_mut();
            kept.insert(0, self);
            kept.truncate(KEPT_LISTS);
        });
    }

    fn new(configs: &[CompiledPiiConfig]) -> Self {
        let root = Plan {
            ctx: Ctx::Event,
            pii: Pii::True,
            kinds: kind::EVENT | kind::OBJECT,
            key_bit: 0,
            keys: 0,
            uses: (0, 0),
            removals: (0, 0),
        };
        Plans {
            configs: configs.iter().map(|c| c.id).collect(),
            names_indexes: configs.iter().any(CompiledPiiConfig::names_indexes),
            ids: HashTable::with_capacity(CAPACITY),
            hasher: DefaultHashBuilder::default(),
            plans: with_first(root),
            uses: Vec::with_capacity(CAPACITY),
            removals: Vec::new(),
            found_by: with_first(PlanKey {
                parent: NONE,
                kind: 0,
                key: "".into(),
            }),
            first_child: with_first(NONE),
            next_sibling: with_first(NONE),
        }
    }

    pub(crate) fn get(&self, id: u32) -> &Plan {
        &self.plans[id as usize]
    }

    /// The applications that may select the strings of `plan`.
    pub(crate) fn uses(&self, plan: &Plan) -> &[AppUse] {
        &self.uses[plan.uses.0 as usize..plan.uses.1 as usize]
    }

    /// Whether application use `i` of `plan` (as in [`Plans::uses`])
    /// selects the string at `path` (a path of that plan).
    pub(crate) fn selects(
        &mut self,
        configs: &[CompiledPiiConfig],
        plan: &Plan,
        i: usize,
        path: &Path<'_>,
    ) -> bool {
        let app_use = &mut self.uses[plan.uses.0 as usize + i];
        *app_use
            .selects
            .get_or_insert_with(|| configs[app_use.config].applications[app_use.app].selects(path))
    }

    /// The first config of `active` that removes the (non-string) values
    /// of `plan`, and the origin of its rule.
    pub(crate) fn removal<'c>(
        &self,
        configs: &'c [CompiledPiiConfig],
        plan: &Plan,
        active: &std::ops::Range<usize>,
    ) -> Option<(usize, &'c str)> {
        self.removals[plan.removals.0 as usize..plan.removals.1 as usize]
            .iter()
            .find(|(c, _, _)| active.contains(c))
            .map(|&(c, a, r)| (c, configs[c].applications[a].rules[r].origin.as_str()))
    }

    /// The plan of child `key`, of JSON kind `json_kind`, of the value
    /// whose plan is `parent` and whose path is `parent_path`.
    pub(crate) fn child(
        &mut self,
        configs: &[CompiledPiiConfig],
        parent: u32,
        parent_path: &Path<'_>,
        key: SegKey<'_>,
        json_kind: u32,
        siblings: &mut Siblings,
    ) -> u32 {
        let index = match key {
            SegKey::Index(i) if self.names_indexes => Some(IndexKey::new(i)),
            _ => None,
        };
        let (kind, text) = match key {
            SegKey::Key(k) => (json_kind, k),
            SegKey::Index(_) | SegKey::Root => (
                json_kind | INDEX,
                index.as_ref().map_or("", IndexKey::as_str),
            ),
        };
        let guess = match siblings.0 {
            NONE => self.first_child[parent as usize],
            previous => self.next_sibling[previous as usize],
        };
        let id = match self.found_by.get(guess as usize) {
            Some(k) if k.kind == kind && same_key(&k.key, text) => guess,
            _ => {
                let found_by = PlanKeyRef {
                    parent,
                    kind,
                    key: text,
                };
                let id = self.find(configs, parent_path, key, json_kind, found_by);
                match siblings.0 {
                    NONE => self.first_child[parent as usize] = id,
                    previous => self.next_sibling[previous as usize] = id,
                }
                id
            }
        };
        siblings.0 = id;
        id
    }

    /// [`Plans::child`] by its [`PlanKey`], made if new.
    fn find(
        &mut self,
        configs: &[CompiledPiiConfig],
        parent_path: &Path<'_>,
        key: SegKey<'_>,
        json_kind: u32,
        lookup: PlanKeyRef<'_>,
    ) -> u32 {
        let hash = self.hasher.hash_one(&lookup);
        let found_by = &self.found_by;
        let same = |id: &u32| lookup.equivalent(&found_by[*id as usize]);
        if let Some(id) = self.ids.find(hash, same) {
            return *id;
        }
        let owned = PlanKey {
            parent: lookup.parent,
            kind: lookup.kind,
            key: lookup.key.into(),
        };
        let plan = self.make(configs, lookup.parent, parent_path, key, json_kind);
        let id = u32::try_from(self.plans.len()).unwrap_or(NONE);
        self.plans.push(plan);
        self.found_by.push(owned);
        self.first_child.push(NONE);
        self.next_sibling.push(NONE);
        let (found_by, hasher) = (&self.found_by, &self.hasher);
        self.ids
            .insert_unique(hash, id, |id| hasher.hash_one(&found_by[*id as usize]));
        id
    }

    /// Works out the plan of a value from its path.
    fn make(
        &mut self,
        configs: &[CompiledPiiConfig],
        parent: u32,
        parent_path: &Path<'_>,
        key: SegKey<'_>,
        json_kind: u32,
    ) -> Plan {
        let up = self.plans[parent as usize];
        let (ctx, schema_kind, pii) = child(up.ctx, up.pii, key);
        let bit = match key {
            SegKey::Key(k) => key_bit(k),
            SegKey::Index(_) | SegKey::Root => 0,
        };
        let path = Path {
            parent: Some(parent_path),
            key,
            kinds: schema_kind | json_kind,
            pii,
            key_bit: bit,
            keys: up.keys | bit,
        };
        let uses_start = self.uses.len();
        let removals_start = self.removals.len();
        if pii != Pii::False {
            let name = path.key_str().unwrap_or("");
            let mut keys = KeyCache::default();
            for (c, config) in configs.iter().enumerate() {
                if json_kind == kind::STRING {
                    for (a, app) in config.applications.iter().enumerate() {
                        if !app.may_select(&path) {
                            continue;
                        }
                        let any_key = app.rule_for_key(name, &mut keys).is_some();
                        if any_key || app.needs != 0 {
                            self.uses.push(AppUse {
                                config: c,
                                app: a,
                                any_key,
                                selects: None,
                                key_hits: key_hits(&app.rules, name, &mut keys),
                            });
                        }
                    }
                } else {
                    let removal = config.applications.iter().enumerate().find_map(|(a, app)| {
                        if !app.applies_to_containers() || !app.may_select(&path) {
                            return None;
                        }
                        let rule = app.rule_index_for_key(name, &mut keys)?;
                        app.selects(&path).then_some((c, a, rule))
                    });
                    self.removals.extend(removal);
                }
            }
        }
        let range = |start: usize, end: usize| {
            (
                u32::try_from(start).unwrap_or(u32::MAX),
                u32::try_from(end).unwrap_or(u32::MAX),
            )
        };
        Plan {
            ctx,
            pii,
            kinds: path.kinds,
            key_bit: bit,
            keys: path.keys,
            uses: range(uses_start, self.uses.len()),
            removals: range(removals_start, self.removals.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_key;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Keys of every length up to past the word compares, equal and
        /// differing in any one byte (first, last, inside either word).
        #[test]
        fn same_key_agrees_with_string_equality(
            a in "[a-c\u{e9}]{0,20}",
            b in "[a-c\u{e9}]{0,20}",
            flip in any::<prop::sample::Index>(),
        ) {
            prop_assert_eq!(same_key(&a, &b), a == b);
            prop_assert!(same_key(&a, &a.clone()));
            if !a.is_empty() {
                let mut changed = a.clone().into_bytes();
                let i = flip.index(changed.len());
                changed[i] ^= 0x01;
                if let Ok(changed) = String::from_utf8(changed) {
                    prop_assert!(!same_key(&a, &changed), "{:?} {:?}", a, changed);
                }
            }
        }
    }
}
