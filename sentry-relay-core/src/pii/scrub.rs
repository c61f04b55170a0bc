//! Walking an event and applying compiled rules, recording each redaction
//! in `_meta`.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value, json};

use super::PiiError;
use super::compiled::{CompiledPiiConfig, CompiledRule, Redact};
use super::hash::hash_hex;
use super::rules::{Matcher, ValueMatcher};
use super::selector::{Path, Pii, SegKey, kind};

/// How deep scrubbing descends into an event.
pub(crate) const MAX_DEPTH: usize = 128;

/// Where in the event schema a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
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
        LogEntry if k == "message" => (Data, kind::MESSAGE, pii),
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

fn json_kind(v: &Value) -> u32 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => kind::BOOLEAN,
        Value::Number(_) => kind::NUMBER,
        Value::String(_) => kind::STRING,
        Value::Array(_) => kind::ARRAY,
        Value::Object(_) => kind::OBJECT,
    }
}

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

impl Node<'_> {
    fn meta_path(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        let mut node = Some(self);
        while let Some(n) = node {
            match n.meta {
                MetaLoc::Root => {}
                MetaLoc::Key(k) => out.push(Cow::Borrowed(k)),
                MetaLoc::Index(i) => out.push(Cow::Owned(i.to_string())),
                MetaLoc::Pair(i) => {
                    out.push(Cow::Borrowed("1"));
                    out.push(Cow::Owned(i.to_string()));
                }
            }
            node = n.meta_parent;
        }
        out.reverse();
        out
    }
}

/// A piece of a string being scrubbed.
enum Chunk {
    Text(String),
    Redacted {
        text: String,
        rule: String,
        ty: char,
    },
}

struct Scrubber<'c> {
    config: &'c CompiledPiiConfig,
    /// The event's `_meta`, taken out while walking.
    meta: Value,
    ranges: Vec<Range<usize>>,
}

pub(crate) fn scrub(event: &mut Value, config: &CompiledPiiConfig) -> Result<(), PiiError> {
    let Value::Object(obj) = event else {
        return Err(PiiError::NotAnObject);
    };
    if config.is_empty() {
        return Ok(());
    }
    let meta = match obj.remove("_meta") {
        Some(m @ Value::Object(_)) => m,
        _ => Value::Object(Map::new()),
    };
    let mut s = Scrubber {
        config,
        meta,
        ranges: Vec::new(),
    };
    let root = Node {
        path: Path {
            parent: None,
            key: SegKey::Root,
            kinds: kind::EVENT | kind::OBJECT,
            pii: Pii::True,
        },
        meta: MetaLoc::Root,
        meta_parent: None,
    };
    let result = s.walk_children(event, &root, Ctx::Event, 0);
    if let (Value::Object(obj), Value::Object(m)) = (event, s.meta) {
        if !m.is_empty() {
            obj.insert("_meta".to_owned(), Value::Object(m));
        }
    }
    result
}

impl Scrubber<'_> {
    fn walk_children(
        &mut self,
        value: &mut Value,
        node: &Node<'_>,
        ctx: Ctx,
        depth: usize,
    ) -> Result<(), PiiError> {
        if depth >= MAX_DEPTH {
            return Err(PiiError::TooDeep);
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let key = SegKey::Key(k);
                    self.walk(v, node, key, MetaLoc::Key(k), ctx, depth)?;
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
                                self.walk(v, node, key, MetaLoc::Pair(i), ctx, depth)?;
                            }
                        }
                    } else {
                        self.walk(item, node, SegKey::Index(i), MetaLoc::Index(i), ctx, depth)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn walk(
        &mut self,
        value: &mut Value,
        parent: &Node<'_>,
        key: SegKey<'_>,
        meta: MetaLoc<'_>,
        ctx: Ctx,
        depth: usize,
    ) -> Result<(), PiiError> {
        let (ctx, schema_kind, pii) = child(ctx, parent.path.pii, key);
        if pii == Pii::False || matches!(value, Value::Null | Value::Bool(_)) {
            return Ok(());
        }
        let node = Node {
            path: Path {
                parent: Some(&parent.path),
                key,
                kinds: schema_kind | json_kind(value),
                pii,
            },
            meta,
            meta_parent: Some(parent),
        };
        let removed = match value {
            Value::String(s) => {
                let removed = self.scrub_string(s, &node);
                if removed.is_none() {
                    return Ok(());
                }
                removed
            }
            _ => self.remove_container(&node),
        };
        if let Some(origin) = removed {
            *value = Value::Null;
            self.add_removed(&node, origin);
            return Ok(());
        }
        self.walk_children(value, &node, ctx, depth + 1)
    }

    /// The rule removing a non-string value, if one applies.
    fn remove_container(&self, node: &Node<'_>) -> Option<String> {
        let key = node.path.key_str().unwrap_or("");
        for app in &self.config.applications {
            if !app.applies_to_containers {
                continue;
            }
            let hit = app.rules.iter().find(|r| match &r.matcher {
                Matcher::Anything => true,
                Matcher::Key(re) | Matcher::KeyValue(re) => re.is_match(key),
                Matcher::Value(_) => false,
            });
            if let Some(rule) = hit {
                if app.selector.matches(&node.path) {
                    return Some(rule.origin.clone());
                }
            }
        }
        None
    }

    /// Scrubs a string; the id of the rule removing it, if one does.
    fn scrub_string(&mut self, value: &mut String, node: &Node<'_>) -> Option<String> {
        if matches!(value.as_str(), "" | "true" | "false" | "null" | "undefined") {
            return None;
        }
        let key = node.path.key_str().unwrap_or("");
        let mut chunks: Option<Vec<Chunk>> = None;
        let config = self.config;
        for app in &config.applications {
            let candidates = app.prefilter.as_ref().map(|set| {
                let text = match &chunks {
                    Some(c) => Cow::Owned(join_text(c)),
                    None => Cow::Borrowed(value.as_str()),
                };
                set.matches(&text)
            });
            let any_value = candidates.as_ref().is_some_and(|c| c.matched_any());
            let any_key = app.applies_to_containers
                && app.rules.iter().any(|r| match &r.matcher {
                    Matcher::Anything => true,
                    Matcher::Key(re) | Matcher::KeyValue(re) => re.is_match(key),
                    Matcher::Value(_) => false,
                });
            if !(any_value || any_key) || !app.selector.matches(&node.path) {
                continue;
            }
            let chunks = chunks.get_or_insert_with(|| self.existing_chunks(value, node));
            for (i, rule) in app.rules.iter().enumerate() {
                let value_candidate = app
                    .value_rules
                    .iter()
                    .position(|r| *r == i)
                    .zip(candidates.as_ref())
                    .is_some_and(|(p, c)| c.matched(p));
                if let Some(origin) = self.apply(rule, chunks, key, value_candidate) {
                    return Some(origin);
                }
            }
        }
        let chunks = chunks?;
        let (new_value, remarks) = join(&chunks);
        if new_value != *value {
            let original_len = value.chars().count();
            *value = new_value;
            let entry = self.meta_entry(node);
            entry.insert("rem".to_owned(), Value::Array(remarks));
            entry
                .entry("len")
                .or_insert_with(|| Value::from(original_len));
        }
        None
    }

    /// Applies `rule` to the chunks of a string; the rule's id when it
    /// removes the whole value.
    fn apply(
        &mut self,
        rule: &CompiledRule,
        chunks: &mut Vec<Chunk>,
        key: &str,
        value_candidate: bool,
    ) -> Option<String> {
        let whole = match &rule.matcher {
            Matcher::Anything => true,
            Matcher::Key(re) => re.is_match(key),
            Matcher::KeyValue(re) => {
                re.is_match(key)
                    || (value_candidate
                        && chunks
                            .iter()
                            .any(|c| matches!(c, Chunk::Text(t) if re.is_match(t))))
            }
            Matcher::Value(m) => {
                if value_candidate {
                    self.apply_value(rule, m, chunks);
                }
                false
            }
        };
        if !whole || !chunks.iter().any(|c| matches!(c, Chunk::Text(_))) {
            return None;
        }
        if matches!(rule.redact, Redact::Remove) {
            return Some(rule.origin.clone());
        }
        let text = join_text(chunks);
        let (text, ty) = self.redact(&rule.redact, &text);
        *chunks = vec![Chunk::Redacted {
            text,
            rule: rule.origin.clone(),
            ty,
        }];
        None
    }

    fn apply_value(&mut self, rule: &CompiledRule, m: &ValueMatcher, chunks: &mut Vec<Chunk>) {
        let mut out = Vec::with_capacity(chunks.len() + 2);
        for chunk in chunks.drain(..) {
            let Chunk::Text(text) = chunk else {
                out.push(chunk);
                continue;
            };
            self.ranges.clear();
            m.find(&text, &mut self.ranges);
            if self.ranges.is_empty() {
                out.push(Chunk::Text(text));
                continue;
            }
            let mut pos = 0;
            let ranges = std::mem::take(&mut self.ranges);
            for r in &ranges {
                if r.start < pos {
                    continue;
                }
                if r.start > pos {
                    out.push(Chunk::Text(text[pos..r.start].to_owned()));
                }
                let (red, ty) = self.redact(&rule.redact, &text[r.clone()]);
                out.push(Chunk::Redacted {
                    text: red,
                    rule: rule.origin.clone(),
                    ty,
                });
                pos = r.end;
            }
            self.ranges = ranges;
            if pos < text.len() {
                out.push(Chunk::Text(text[pos..].to_owned()));
            }
        }
        *chunks = out;
    }

    fn redact(&self, redact: &Redact, text: &str) -> (String, char) {
        match redact {
            Redact::Remove => (String::new(), 'x'),
            Redact::Replace(t) => (t.clone(), 's'),
            Redact::Mask { mask_char, ignore } => (
                text.chars()
                    .map(|c| if ignore.contains(c) { c } else { *mask_char })
                    .collect(),
                'm',
            ),
            Redact::Hash => (hash_hex(&self.config.hash_key, text.as_bytes()), 'p'),
        }
    }

    /// The chunks of `value`, with the ranges earlier scrubbing recorded
    /// in `_meta` kept as redactions.
    fn existing_chunks(&self, value: &str, node: &Node<'_>) -> Vec<Chunk> {
        let whole = || vec![Chunk::Text(value.to_owned())];
        let Some(rem) = self.existing_meta(node).and_then(|m| m.get("rem")) else {
            return whole();
        };
        let Some(rem) = rem.as_array() else {
            return whole();
        };
        let mut out = Vec::new();
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
                out.push(Chunk::Text(value[pos..start].to_owned()));
            }
            out.push(Chunk::Redacted {
                text: value[start..end].to_owned(),
                rule: rule.to_owned(),
                ty,
            });
            pos = end;
        }
        if pos < value.len() {
            out.push(Chunk::Text(value[pos..].to_owned()));
        }
        out
    }

    fn existing_meta(&self, node: &Node<'_>) -> Option<&Map<String, Value>> {
        if self.meta.as_object().is_none_or(Map::is_empty) {
            return None;
        }
        let mut cur = &self.meta;
        for seg in node.meta_path() {
            cur = cur.get(seg.as_ref())?;
        }
        cur.get("")?.as_object()
    }

    /// The `_meta` entry of a value (`{"": {...}}` at its path), created.
    fn meta_entry(&mut self, node: &Node<'_>) -> &mut Map<String, Value> {
        let mut cur = &mut self.meta;
        for seg in node.meta_path().into_iter().chain([Cow::Borrowed("")]) {
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            let Value::Object(map) = cur else {
                unreachable!("just made an object")
            };
            cur = map
                .entry(seg.into_owned())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        match cur {
            Value::Object(map) => map,
            _ => unreachable!("just made an object"),
        }
    }

    fn add_removed(&mut self, node: &Node<'_>, origin: String) {
        let entry = self.meta_entry(node);
        let rem = entry.entry("rem").or_insert_with(|| json!([]));
        if !rem.is_array() {
            *rem = json!([]);
        }
        if let Value::Array(rem) = rem {
            rem.push(json!([origin, "x"]));
        }
    }
}

fn join_text(chunks: &[Chunk]) -> String {
    chunks
        .iter()
        .map(|c| match c {
            Chunk::Text(t) | Chunk::Redacted { text: t, .. } => t.as_str(),
        })
        .collect()
}

/// The string of `chunks` and the remarks of its redactions.
fn join(chunks: &[Chunk]) -> (String, Vec<Value>) {
    let mut s = String::new();
    let mut remarks = Vec::new();
    for c in chunks {
        match c {
            Chunk::Text(t) => s.push_str(t),
            Chunk::Redacted { text, rule, ty } => {
                let start = s.len();
                s.push_str(text);
                remarks.push(json!([rule, ty.to_string(), start, s.len()]));
            }
        }
    }
    (s, remarks)
}
