//! Walking an event and applying compiled rules, recording each redaction
//! in `_meta`.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value, json};

use super::PiiError;
use super::compiled::{CompiledPiiConfig, CompiledRule, Redact};
use super::hash::HashKey;
use super::plan::{Plan, Plans, Siblings, json_kind};
use super::prefilter::{Needs, TextStats};
use super::rules::{KeyCache, Matcher, ValueMatcher};
use super::selector::{Path, Pii, SegKey, kind};

/// How deep scrubbing descends into an event.
pub(crate) const MAX_DEPTH: usize = 128;

/// Where a value's `_meta` lives relative to its parent's.
#[derive(Debug, Clone, Copy)]
enum MetaLoc<'a> {
    Root,
    Key(&'a str),
    Index(usize),
    /// The value of the `[key, value]` pair at this index.
    Pair(usize),
}

/// A path for selectors plus where `_meta` goes.
struct Node<'a> {
    path: Path<'a>,
    meta: MetaLoc<'a>,
    meta_parent: Option<&'a Node<'a>>,
}

/// The decimal digits of an array index, without allocating.
pub(super) struct IndexKey {
    buf: [u8; 20],
    start: usize,
}

impl IndexKey {
    pub(super) fn new(mut i: usize) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            // `i % 10` is a digit.
            buf[start] = b'0' + (i % 10) as u8;
            i /= 10;
            if i == 0 {
                break;
            }
        }
        IndexKey { buf, start }
    }

    pub(super) fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or_default()
    }
}

/// The `_meta` object at `node`'s path (not its `""` entry), if there is
/// one.
fn find_meta<'m>(meta: &'m Map<String, Value>, node: &Node<'_>) -> Option<&'m Map<String, Value>> {
    let map = match node.meta_parent {
        Some(parent) => find_meta(meta, parent)?,
        None => meta,
    };
    match node.meta {
        MetaLoc::Root => Some(map),
        MetaLoc::Key(k) => map.get(k)?.as_object(),
        MetaLoc::Index(i) => map.get(IndexKey::new(i).as_str())?.as_object(),
        MetaLoc::Pair(i) => map
            .get(IndexKey::new(i).as_str())?
            .as_object()?
            .get("1")?
            .as_object(),
    }
}

/// The `_meta` object at `node`'s path, created (and anything else on the
/// way replaced by objects).
fn meta_map<'m>(meta: &'m mut Map<String, Value>, node: &Node<'_>) -> &'m mut Map<String, Value> {
    let map = match node.meta_parent {
        Some(parent) => meta_map(meta, parent),
        None => meta,
    };
    match node.meta {
        MetaLoc::Root => map,
        MetaLoc::Key(k) => child_map(map, k),
        MetaLoc::Index(i) => child_map(map, IndexKey::new(i).as_str()),
        MetaLoc::Pair(i) => child_map(child_map(map, IndexKey::new(i).as_str()), "1"),
    }
}

/// The object at `key` in `map`, created if missing or not an object.
fn child_map<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    if !map.get(key).is_some_and(Value::is_object) {
        map.insert(key.to_owned(), Value::Object(Map::new()));
    }
    match map.get_mut(key) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("just made an object"),
    }
}

/// The `_meta` object of a value and of what is inside it, if anything
/// changed.
type MetaTree = Option<Map<String, Value>>;

/// What scrubbing did to a string.
enum Scrubbed {
    Unchanged,
    /// Parts were redacted: the remarks, the original length in
    /// characters, and the rule that then removed the whole string, if a
    /// later config did.
    Changed(Vec<Value>, usize, Option<String>),
    /// A rule removed the whole string.
    Removed(String),
}

/// Whether a rule finds something in a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    No,
    Yes,
    /// Its prefilter passed; its regex did not run.
    Unverified,
}

impl From<bool> for Candidate {
    fn from(yes: bool) -> Self {
        if yes { Candidate::Yes } else { Candidate::No }
    }
}

/// What applying a rule to a string did.
enum Applied {
    Nothing,
    Changed,
    /// The rule removes the whole string.
    Removed(String),
}

/// A piece of a string being scrubbed.
#[derive(Clone)]
enum Chunk<'c> {
    /// A part of the string as it was before scrubbing.
    Text(Range<usize>),
    Redacted {
        text: Cow<'c, str>,
        rule: Cow<'c, str>,
        ty: char,
    },
}

struct Scrubber<'c> {
    /// The configs, applied in turn.
    configs: &'c [CompiledPiiConfig],
    /// The [`Needs`] bits any rule of `configs` wants checked.
    wanted: u32,
    /// The event's `_meta`, taken out while walking.
    meta: Map<String, Value>,
    /// Whether the event came with a `_meta`: only then can a value hold
    /// earlier redactions (each value's entry is written once, after it is
    /// read).
    had_meta: bool,
    ranges: Vec<Range<usize>>,
    /// Emptied chunk lists, kept to reuse their allocations.
    spare: Vec<Vec<Chunk<'c>>>,
    /// For each rule of an application, whether it finds something in the
    /// string at hand; kept to reuse its allocation.
    candidates: Vec<Candidate>,
    /// What the configs do at each path shape met so far.
    plans: Plans,
}

/// The configs (indexes into [`Scrubber::configs`]) that still apply to a
/// value: a value one config removes is not seen by the next ones.
type Active = Range<usize>;

/// Scrubs `event` with each of `configs` in turn, in one walk.
///
/// The result is what scrubbing with one config after the other gives:
/// each value sees the rules of every config in order, and a container a
/// config removes is first walked by the configs before it.
pub(crate) fn scrub(event: &mut Value, configs: &[CompiledPiiConfig]) -> Result<(), PiiError> {
    if configs.is_empty() {
        return Ok(());
    }
    let Value::Object(obj) = event else {
        return Err(PiiError::NotAnObject);
    };
    if configs.iter().all(CompiledPiiConfig::is_empty) {
        return Ok(());
    }
    let meta = match obj.remove("_meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let wanted = configs
        .iter()
        .flat_map(|c| &c.applications)
        .fold(0, |bits, app| bits | app.needs);
    let mut s = Scrubber {
        configs,
        wanted,
        had_meta: !meta.is_empty(),
        meta,
        ranges: Vec::new(),
        spare: Vec::new(),
        candidates: Vec::new(),
        plans: Plans::take(configs),
    };
    let root = Node {
        path: Path {
            parent: None,
            key: SegKey::Root,
            kinds: kind::EVENT | kind::OBJECT,
            pii: Pii::True,
            key_bit: 0,
            keys: 0,
        },
        meta: MetaLoc::Root,
        meta_parent: None,
    };
    let result = match s.walk_children(event, &root, Plans::ROOT, 0, 0..configs.len()) {
        // Built bottom-up: the event came without `_meta`.
        Ok(Some(tree)) => {
            s.meta = tree;
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    s.plans.keep();
    if let Value::Object(obj) = event {
        if !s.meta.is_empty() {
            obj.insert("_meta".to_owned(), Value::Object(s.meta));
        }
    }
    result
}

impl<'c> Scrubber<'c> {
    /// Walks the children of `value`; the `_meta` of what changed in them
    /// (when built here, see [`Scrubber::had_meta`]).
    fn walk_children(
        &mut self,
        value: &mut Value,
        node: &Node<'_>,
        plan: u32,
        depth: usize,
        active: Active,
    ) -> Result<MetaTree, PiiError> {
        if depth >= MAX_DEPTH {
            return Err(PiiError::TooDeep);
        }
        let mut tree: MetaTree = None;
        let mut siblings = Siblings::new();
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let key = SegKey::Key(k);
                    if let Some(m) = self.walk(
                        v,
                        node,
                        (plan, &mut siblings),
                        key,
                        MetaLoc::Key(k),
                        depth,
                        active.clone(),
                    )? {
                        tree.get_or_insert_default()
                            .insert(k.clone(), Value::Object(m));
                    }
                }
            }
            Value::Array(items) => {
                let pairs = !items.is_empty()
                    && items.iter().all(|i| {
                        matches!(i.as_array().map(Vec::as_slice), Some([Value::String(_), _]))
                    });
                for (i, item) in items.iter_mut().enumerate() {
                    if pairs {
                        if let Value::Array(pair) = item {
                            if let [Value::String(k), v] = pair.as_mut_slice() {
                                let key = SegKey::Key(k.as_str());
                                let meta = MetaLoc::Pair(i);
                                if let Some(m) = self.walk(
                                    v,
                                    node,
                                    (plan, &mut siblings),
                                    key,
                                    meta,
                                    depth,
                                    active.clone(),
                                )? {
                                    let mut pair = Map::new();
                                    pair.insert("1".to_owned(), Value::Object(m));
                                    tree.get_or_insert_default().insert(
                                        IndexKey::new(i).as_str().to_owned(),
                                        Value::Object(pair),
                                    );
                                }
                            }
                        }
                    } else {
                        let (key, meta) = (SegKey::Index(i), MetaLoc::Index(i));
                        if let Some(m) = self.walk(
                            item,
                            node,
                            (plan, &mut siblings),
                            key,
                            meta,
                            depth,
                            active.clone(),
                        )? {
                            tree.get_or_insert_default()
                                .insert(IndexKey::new(i).as_str().to_owned(), Value::Object(m));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(tree)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        value: &mut Value,
        parent: &Node<'_>,
        (parent_plan, siblings): (u32, &mut Siblings),
        key: SegKey<'_>,
        meta: MetaLoc<'_>,
        depth: usize,
        active: Active,
    ) -> Result<MetaTree, PiiError> {
        if matches!(value, Value::Null | Value::Bool(_)) {
            return Ok(None);
        }
        let id = self.plans.child(
            self.configs,
            parent_plan,
            &parent.path,
            key,
            json_kind(value),
            siblings,
        );
        let plan = *self.plans.get(id);
        if plan.pii == Pii::False {
            return Ok(None);
        }
        let node = Node {
            path: Path {
                parent: Some(&parent.path),
                key,
                kinds: plan.kinds,
                pii: plan.pii,
                key_bit: plan.key_bit,
                keys: plan.keys,
            },
            meta,
            meta_parent: Some(parent),
        };
        let mut keys = KeyCache::default();
        if let Value::String(s) = value {
            return Ok(
                match self.scrub_string(s, &node, &plan, active, &mut keys) {
                    Scrubbed::Unchanged => None,
                    // Built bottom-up: the `_meta` of a string is new, made
                    // at once.
                    Scrubbed::Changed(mut remarks, original_len, removed) if !self.had_meta => {
                        if let Some(origin) = removed {
                            *value = Value::Null;
                            remarks.push(removed_remark(origin));
                        }
                        let mut entry = Map::new();
                        entry.insert("len".to_owned(), Value::from(original_len));
                        entry.insert("rem".to_owned(), Value::Array(remarks));
                        Some(meta_entry(entry))
                    }
                    Scrubbed::Removed(origin) if !self.had_meta => {
                        *value = Value::Null;
                        let mut entry = Map::new();
                        entry.insert("rem".to_owned(), Value::Array(vec![removed_remark(origin)]));
                        Some(meta_entry(entry))
                    }
                    Scrubbed::Changed(remarks, original_len, removed) => {
                        if removed.is_some() {
                            *value = Value::Null;
                        }
                        self.record(&node, None, |meta| {
                            let entry = child_map(meta, "");
                            entry.insert("rem".to_owned(), Value::Array(remarks));
                            entry
                                .entry("len")
                                .or_insert_with(|| Value::from(original_len));
                            if let Some(origin) = removed {
                                add_removed(meta, origin);
                            }
                        })
                    }
                    Scrubbed::Removed(origin) => {
                        *value = Value::Null;
                        self.record(&node, None, |meta| add_removed(meta, origin))
                    }
                },
            );
        }
        // The first config removing the value; the ones before it walk
        // its children first.
        let Some((c, origin)) = self.plans.removal(self.configs, &plan, &active) else {
            return self.walk_children(value, &node, id, depth + 1, active);
        };
        let children = if c > active.start {
            self.walk_children(value, &node, id, depth + 1, active.start..c)?
        } else {
            None
        };
        *value = Value::Null;
        Ok(self.record(&node, children, |meta| add_removed(meta, origin.to_owned())))
    }

    /// Records a change of `node` with `f` on its `_meta` object: in the
    /// event's `_meta` when it came with one; else in `tree`, the `_meta`
    /// of what is inside the node, built bottom-up and returned.
    fn record(
        &mut self,
        node: &Node<'_>,
        tree: MetaTree,
        f: impl FnOnce(&mut Map<String, Value>),
    ) -> MetaTree {
        if self.had_meta {
            f(meta_map(&mut self.meta, node));
            return None;
        }
        let mut tree = tree.unwrap_or_default();
        f(&mut tree);
        Some(tree)
    }

    /// Scrubs a string.
    fn scrub_string(
        &mut self,
        value: &mut String,
        node: &Node<'_>,
        plan: &Plan,
        active: Active,
        keys: &mut KeyCache,
    ) -> Scrubbed {
        let uses = self.plans.uses(plan);
        if !uses.iter().any(|u| active.contains(&u.config))
            || matches!(value.as_str(), "" | "true" | "false" | "null" | "undefined")
        {
            return Scrubbed::Unchanged;
        }
        let n_uses = uses.len();
        let key = node.path.key_str().unwrap_or("");
        let all = self.configs;
        let wanted = self.wanted;
        let mut candidates = std::mem::take(&mut self.candidates);
        // Scrubbing with one config after the other writes the string and
        // its `_meta` after each config that changed it, and the next
        // config starts from there: `committed` is that string (its chunks
        // and text), `None` while it is `value`.
        let mut committed: Option<(Vec<Chunk<'c>>, String)> = None;
        // The needs the committed string meets, once known.
        let mut committed_meets: Option<u32> = None;
        // The chunks of the config at hand, once a rule looks at them, and
        // whether its rules changed them.
        let mut chunks: Option<Vec<Chunk<'c>>> = None;
        let mut dirty = false;
        let mut removed = None;
        'configs: for c in active {
            let config = &all[c];
            for u in 0..n_uses {
                let app_use = self.plans.uses(plan)[u];
                if app_use.config != c {
                    continue;
                }
                let app = &config.applications[app_use.app];
                let any_key = app_use.any_key;
                // The string as it is before this application's rules run,
                // and the needs it meets.
                let joined;
                let (text, meets) = match (&chunks, &committed) {
                    (Some(c), _) if dirty => {
                        joined = join_text(c, value);
                        let meets = Needs::check_all(wanted, &joined, &TextStats::new(&joined));
                        (joined.as_ref(), meets)
                    }
                    (_, Some((_, text))) => (
                        text.as_str(),
                        *committed_meets.get_or_insert_with(|| {
                            Needs::check_all(wanted, text, &TextStats::new(text))
                        }),
                    ),
                    (_, None) => (
                        value.as_str(),
                        *committed_meets.get_or_insert_with(|| {
                            Needs::check_all(wanted, value, &TextStats::new(value))
                        }),
                    ),
                };
                if !any_key && app.needs & meets == 0 {
                    continue;
                }
                // Which rules find something. Patterns with a prefilter run
                // before the selector; custom ones (which may be slow) after.
                let custom = Needs::Anything.bit();
                // While the string is one piece, a value rule whose regex
                // does not match it finds nothing in it either: its `find`
                // can decide, unless an earlier rule splits the string.
                let one_piece = committed.is_none() && !dirty && !self.had_meta;
                candidates.clear();
                candidates.extend(app.rules.iter().map(|rule| match rule.matcher.needs() {
                    Some(n) if n.bit() & meets & !custom != 0 => {
                        if one_piece && matches!(rule.matcher, Matcher::Value(_)) {
                            Candidate::Unverified
                        } else {
                            Candidate::from(rule.matcher.is_match(text))
                        }
                    }
                    _ => Candidate::No,
                }));
                let may_custom = app.needs & custom != 0;
                let none = |c: &[Candidate]| c.iter().all(|c| *c == Candidate::No);
                if !any_key && !may_custom && none(&candidates) {
                    continue;
                }
                if !self.plans.selects(all, plan, u, &node.path) {
                    continue;
                }
                if may_custom {
                    for (rule, candidate) in app.rules.iter().zip(candidates.iter_mut()) {
                        if rule.matcher.needs() == Some(Needs::Anything) {
                            *candidate = Candidate::from(rule.matcher.is_match(text));
                        }
                    }
                    if !any_key && none(&candidates) {
                        continue;
                    }
                }
                let chunks = match &mut chunks {
                    Some(c) => c,
                    None => {
                        let mut c = self.spare_chunks();
                        match &committed {
                            Some((done, _)) => c.extend(done.iter().cloned()),
                            None => self.existing_chunks(value, node, &mut c),
                        }
                        chunks.insert(c)
                    }
                };
                let mut split = false;
                for (r, (rule, &candidate)) in app.rules.iter().zip(&candidates).enumerate() {
                    let candidate = match candidate {
                        Candidate::No => false,
                        Candidate::Yes => true,
                        Candidate::Unverified => !split || rule.matcher.is_match(text),
                    };
                    let key_hit = match &rule.matcher {
                        Matcher::Key(_) | Matcher::KeyValue(_) => match app_use.key_hits {
                            Some(bits) => bits >> r & 1 != 0,
                            None => rule.matcher.takes_key(key, keys),
                        },
                        Matcher::Anything | Matcher::Value(_) => false,
                    };
                    let hash_key = &config.hash_key;
                    let base = value.as_str();
                    let found = self.apply(rule, chunks, base, key_hit, candidate, hash_key);
                    match found {
                        Applied::Nothing => {}
                        Applied::Changed => {
                            dirty = true;
                            split = true;
                        }
                        Applied::Removed(origin) => {
                            removed = Some(origin);
                            break 'configs;
                        }
                    }
                }
            }
            // The end of a config: it wrote the string if it changed it.
            if let Some(c) = chunks.take() {
                let text = dirty.then(|| join_text(&c, value).into_owned());
                let before = committed
                    .as_ref()
                    .map_or(value.as_str(), |(_, t)| t.as_str());
                match text {
                    Some(text) if text != before => {
                        if let Some((old, _)) = committed.replace((c, text)) {
                            self.give_back(old);
                        }
                        committed_meets = None;
                    }
                    _ => self.give_back(c),
                }
            }
            dirty = false;
        }
        if let Some(c) = chunks {
            self.give_back(c);
        }
        self.candidates = candidates;
        let changed = committed.map(|(c, text)| {
            let remarks = remarks(&c, value);
            self.give_back(c);
            (text, remarks, value.chars().count())
        });
        match (removed, changed) {
            (None, None) => Scrubbed::Unchanged,
            (None, Some((new_value, remarks, original_len))) => {
                *value = new_value;
                Scrubbed::Changed(remarks, original_len, None)
            }
            (Some(origin), None) => Scrubbed::Removed(origin),
            // Written by an earlier config, then removed.
            (Some(origin), Some((_, remarks, original_len))) => {
                Scrubbed::Changed(remarks, original_len, Some(origin))
            }
        }
    }

    /// Applies `rule` to the chunks of a string (parts of `base`);
    /// `key_hit` is whether its key pattern matches the string's key.
    fn apply(
        &mut self,
        rule: &'c CompiledRule,
        chunks: &mut Vec<Chunk<'c>>,
        base: &str,
        key_hit: bool,
        value_candidate: bool,
        hash_key: &HashKey,
    ) -> Applied {
        let whole = match &rule.matcher {
            Matcher::Anything => true,
            Matcher::Key(_) => key_hit,
            Matcher::KeyValue(k) => {
                key_hit
                    || (value_candidate
                        && chunks
                            .iter()
                            .any(|c| matches!(c, Chunk::Text(r) if k.is_match(&base[r.clone()]))))
            }
            Matcher::Value(m) => {
                if value_candidate && self.apply_value(rule, m, chunks, base, hash_key) {
                    return Applied::Changed;
                }
                false
            }
        };
        if !whole || !chunks.iter().any(|c| matches!(c, Chunk::Text(_))) {
            return Applied::Nothing;
        }
        if matches!(rule.redact, Redact::Remove) {
            return Applied::Removed(rule.origin.clone());
        }
        let (text, ty) = redact(&rule.redact, &join_text(chunks, base), hash_key);
        chunks.clear();
        chunks.push(Chunk::Redacted {
            text,
            rule: Cow::Borrowed(&rule.origin),
            ty,
        });
        Applied::Changed
    }

    /// Redacts what `m` finds in the text chunks; whether it found
    /// anything.
    fn apply_value(
        &mut self,
        rule: &'c CompiledRule,
        m: &ValueMatcher,
        chunks: &mut Vec<Chunk<'c>>,
        base: &str,
        hash_key: &HashKey,
    ) -> bool {
        // Most of the time nothing is found: look before copying.
        let found = chunks.iter().position(|c| match c {
            Chunk::Text(r) => {
                self.ranges.clear();
                m.find(&base[r.clone()], &mut self.ranges);
                !self.ranges.is_empty()
            }
            Chunk::Redacted { .. } => false,
        });
        let Some(first) = found else {
            return false;
        };
        let mut out = self.spare_chunks();
        for (i, chunk) in chunks.drain(..).enumerate() {
            let Chunk::Text(range) = chunk else {
                out.push(chunk);
                continue;
            };
            let text = &base[range.clone()];
            // The ranges of the first chunk with matches are at hand.
            if i > first {
                self.ranges.clear();
                m.find(text, &mut self.ranges);
            }
            if i < first || self.ranges.is_empty() {
                out.push(Chunk::Text(range));
                continue;
            }
            let mut pos = 0;
            for r in &self.ranges {
                if r.start < pos {
                    continue;
                }
                if r.start > pos {
                    out.push(Chunk::Text(range.start + pos..range.start + r.start));
                }
                let (red, ty) = redact(&rule.redact, &text[r.clone()], hash_key);
                out.push(Chunk::Redacted {
                    text: red,
                    rule: Cow::Borrowed(&rule.origin),
                    ty,
                });
                pos = r.end;
            }
            if pos < text.len() {
                out.push(Chunk::Text(range.start + pos..range.end));
            }
        }
        let emptied = std::mem::replace(chunks, out);
        self.give_back(emptied);
        true
    }

    /// An empty chunk list, reusing an earlier one's allocation.
    fn spare_chunks(&mut self) -> Vec<Chunk<'c>> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps `chunks`' allocation for [`Scrubber::spare_chunks`].
    fn give_back(&mut self, mut chunks: Vec<Chunk<'c>>) {
        chunks.clear();
        self.spare.push(chunks);
    }

    /// Fills `out` with the chunks of `value`, with the ranges earlier
    /// scrubbing recorded in `_meta` kept as redactions.
    fn existing_chunks(&self, value: &str, node: &Node<'_>, out: &mut Vec<Chunk<'c>>) {
        let rem = self.existing_meta(node).and_then(|m| m.get("rem"));
        let Some(rem) = rem.and_then(Value::as_array) else {
            out.push(Chunk::Text(0..value.len()));
            return;
        };
        let mut pos = 0;
        for r in rem {
            let (Some(rule), Some(ty), Some(start), Some(end)) = (
                r.get(0).and_then(Value::as_str),
                r.get(1)
                    .and_then(Value::as_str)
                    .and_then(|t| t.chars().next()),
                r.get(2).and_then(Value::as_u64),
                r.get(3).and_then(Value::as_u64),
            ) else {
                continue;
            };
            let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
                continue;
            };
            if start < pos || end < start || value.get(start..end).is_none() {
                continue;
            }
            if start > pos {
                out.push(Chunk::Text(pos..start));
            }
            out.push(Chunk::Redacted {
                text: Cow::Owned(value[start..end].to_owned()),
                rule: Cow::Owned(rule.to_owned()),
                ty,
            });
            pos = end;
        }
        if pos < value.len() {
            out.push(Chunk::Text(pos..value.len()));
        }
    }

    fn existing_meta(&self, node: &Node<'_>) -> Option<&Map<String, Value>> {
        if !self.had_meta {
            return None;
        }
        find_meta(&self.meta, node)?.get("")?.as_object()
    }
}

/// Records in the `_meta` object of a value that `origin` removed it.
fn add_removed(meta: &mut Map<String, Value>, origin: String) {
    let entry = child_map(meta, "");
    let rem = entry.entry("rem").or_insert_with(|| json!([]));
    if !rem.is_array() {
        *rem = json!([]);
    }
    if let Value::Array(rem) = rem {
        rem.push(removed_remark(origin));
    }
}

/// The remark of a value `origin` removed.
fn removed_remark(origin: String) -> Value {
    Value::Array(vec![Value::String(origin), Value::String("x".to_owned())])
}

/// The `_meta` object of a value whose `""` entry is `entry`.
fn meta_entry(entry: Map<String, Value>) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(String::new(), Value::Object(entry));
    meta
}

/// The redaction of `text`, and its type in `_meta`.
fn redact<'c>(redact: &'c Redact, text: &str, hash_key: &HashKey) -> (Cow<'c, str>, char) {
    match redact {
        Redact::Remove => (Cow::Borrowed(""), 'x'),
        Redact::Replace(t) => (Cow::Borrowed(t), 's'),
        Redact::Mask { mask_char, ignore } => (
            Cow::Owned(
                text.chars()
                    .map(|c| if ignore.contains(c) { c } else { *mask_char })
                    .collect(),
            ),
            'm',
        ),
        Redact::Hash => (Cow::Owned(hash_key.hash_hex(text.as_bytes())), 'p'),
    }
}

/// The string of `chunks` (parts of `base`).
fn join_text<'b>(chunks: &[Chunk<'_>], base: &'b str) -> Cow<'b, str> {
    match chunks {
        [Chunk::Text(r)] if r.len() == base.len() => Cow::Borrowed(base),
        _ => {
            fn part<'a>(c: &'a Chunk<'_>, base: &'a str) -> &'a str {
                match c {
                    Chunk::Text(r) => &base[r.clone()],
                    Chunk::Redacted { text, .. } => text.as_ref(),
                }
            }
            let len = chunks.iter().map(|c| part(c, base).len()).sum();
            let mut out = String::with_capacity(len);
            out.extend(chunks.iter().map(|c| part(c, base)));
            Cow::Owned(out)
        }
    }
}

/// The remarks of the redactions in `chunks` (parts of `base`), with
/// their byte ranges in the joined string.
fn remarks(chunks: &[Chunk<'_>], base: &str) -> Vec<Value> {
    let mut pos = 0;
    let redacted = chunks
        .iter()
        .filter(|c| matches!(c, Chunk::Redacted { .. }))
        .count();
    // One more for a later removal.
    let mut remarks = Vec::with_capacity(redacted + 1);
    for c in chunks {
        match c {
            Chunk::Text(r) => pos += base[r.clone()].len(),
            Chunk::Redacted { text, rule, ty } => {
                let start = pos;
                pos += text.len();
                remarks.push(Value::Array(vec![
                    Value::String(rule.as_ref().to_owned()),
                    Value::String(ty.to_string()),
                    Value::from(start),
                    Value::from(pos),
                ]));
            }
        }
    }
    remarks
}
