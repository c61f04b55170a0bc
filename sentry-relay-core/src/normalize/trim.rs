//! Trimming: Relay's limits on strings, data bags and stack traces, each
//! cut recorded in `_meta`.
//!
//! - Strings longer than their field's limit plus its allowance are cut to
//!   the limit: the first `limit - 3` characters and `"..."`, with the
//!   remark `["!limit", "s", start, end]` (the byte range of the `"..."`)
//!   and the original length in characters.
//! - Data bags (`extra`, contexts, frame variables, breadcrumb data,
//!   request bodies, headers, cookies, ...) have a depth and a size. Below
//!   the depth a list or object becomes its JSON text; the size is spent,
//!   in key order, on each value's estimated JSON size (only values count,
//!   not keys; a list or object counts 2, plus 1 for every value), and once
//!   it is spent the remaining items of a list or object are removed (its
//!   annotation records the original item count) and a string is cut to
//!   what is left.
//! - Stack traces keep their last 250 frames (the annotation of `frames`
//!   records the original count); of more than 50 frames, the middle ones
//!   lose their variables and source context, system frames first.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use sentry_envelope::protocol::{
    Breadcrumb, Event, Exception, Frame, Request, Stacktrace, StringOrNumber, Tags, User,
};

use super::meta::{MetaTree, Path};

/// The most frames a stack trace keeps (Relay: `enforce_frame_hard_limit`).
pub(crate) const MAX_FRAMES: usize = 250;
/// Beyond this many frames, middle frames lose variables and context
/// (Relay and Sentry: `slim_frame_data`).
const FRAME_ALLOWANCE: usize = 50;

/// A string field's limit in characters, and how far past it a string may
/// go before it is cut (to the limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MaxChars {
    limit: usize,
    allowance: usize,
}

impl MaxChars {
    const fn new(limit: usize, allowance: usize) -> Self {
        MaxChars { limit, allowance }
    }

    /// Messages, log entries, exception values, breadcrumb messages.
    pub(crate) const MESSAGE: MaxChars = MaxChars::new(8192, 200);
    /// Function and symbol names, exception types and modules.
    const SYMBOL: MaxChars = MaxChars::new(256, 20);
    /// File names and paths, the request URL.
    const PATH: MaxChars = MaxChars::new(256, 40);
    /// The request's URL fragment.
    const SUMMARY: MaxChars = MaxChars::new(1024, 100);
    /// Breadcrumb types and categories.
    const ENUM_LIKE: MaxChars = MaxChars::new(128, 0);
    /// `culprit` and `transaction`.
    pub(crate) const CULPRIT: MaxChars = MaxChars::new(200, 0);
    /// Tag values.
    const TAG_VALUE: MaxChars = MaxChars::new(200, 0);
    /// User ids, names and user names.
    const USER: MaxChars = MaxChars::new(128, 0);
    /// User e-mail addresses.
    const EMAIL: MaxChars = MaxChars::new(75, 0);

    const fn hard(limit: usize) -> Self {
        MaxChars::new(limit, 0)
    }

    /// Whether `value` may be cut: it has more bytes than the limit and
    /// allowance in characters (a string has at most as many characters
    /// as bytes).
    fn may_cut(self, value: &str) -> bool {
        value.len() > self.limit + self.allowance
    }
}

/// A data bag's depth and size in estimated JSON bytes.
#[derive(Clone, Copy, Debug)]
struct BagSize {
    max_depth: usize,
    max_bytes: usize,
}

impl BagSize {
    const SMALL: BagSize = BagSize {
        max_depth: 3,
        max_bytes: 1024,
    };
    const MEDIUM: BagSize = BagSize {
        max_depth: 5,
        max_bytes: 2048,
    };
    const LARGE: BagSize = BagSize {
        max_depth: 7,
        max_bytes: 8192,
    };
    const LARGER: BagSize = BagSize {
        max_depth: 7,
        max_bytes: 16384,
    };
    const MASSIVE: BagSize = BagSize {
        max_depth: 7,
        max_bytes: 262_144,
    };
}

/// Cuts `value` to `max` when it is longer than `max` plus its allowance,
/// recording the cut at `path`.
#[inline]
pub(crate) fn trim_string(value: &mut String, max: MaxChars, meta: &mut MetaTree, path: &Path<'_>) {
    // Nearly every string is done here, without a call.
    if max.may_cut(value) {
        cut_string(value, max, meta, path);
    }
}

/// [`trim_string`] for a string with more bytes than `max` allows
/// characters.
#[inline(never)]
fn cut_string(value: &mut String, max: MaxChars, meta: &mut MetaTree, path: &Path<'_>) {
    let hard = max.limit + max.allowance;
    let chars = value.chars().count();
    if chars <= hard {
        return;
    }
    let keep = max.limit.saturating_sub(3);
    let cut = value
        .char_indices()
        .nth(keep)
        .map_or(value.len(), |(i, _)| i);
    value.truncate(cut);
    value.push_str("...");
    meta.drop_remarks_after(path, cut);
    meta.add_remark(path, "!limit", "s", Some((cut, cut + 3)));
    meta.set_len(path, chars);
}

/// [`trim_string`] for the field `key` of the object at `parent`, if it is
/// there; the field's path is only made for a cut.
#[inline]
fn trim_field(
    value: &mut Option<String>,
    max: MaxChars,
    meta: &mut MetaTree,
    parent: &Path<'_>,
    key: &str,
) {
    if let Some(value) = value {
        if max.may_cut(value) {
            cut_string(value, max, meta, &parent.key(key));
        }
    }
}

/// The size Relay estimates for a value alone, without its items.
fn flat_size(value: &Value) -> usize {
    match value {
        // Relay reads `null` as no value at all.
        Value::Null => 0,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => number_len(n),
        Value::String(s) => s.len() + 2,
        Value::Array(_) | Value::Object(_) => 2,
    }
}

/// The length of a number as Rust writes it, without allocating.
fn number_len(n: &Number) -> usize {
    fn digits(mut n: u64) -> usize {
        let mut len = 1;
        while n >= 10 {
            n /= 10;
            len += 1;
        }
        len
    }
    if let Some(u) = n.as_u64() {
        digits(u)
    } else if let Some(i) = n.as_i64() {
        digits(i.unsigned_abs()) + usize::from(i < 0)
    } else {
        float_len(n.as_f64().unwrap_or(0.0))
    }
}

/// The length of a float as Rust writes it; out of line, to keep the
/// size estimates of the common values small.
#[inline(never)]
fn float_len(f: f64) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = write!(count, "{f}");
    count.0
}

/// Whether trimming leaves `items` as they are: they are at `depth` in a
/// bag of `max_depth` levels and their sizes, with everything in them, fit
/// in what is left of `budget` (which they are taken from).
///
/// Conservative: a value's size is taken before its items' (the trimming
/// walk spends it after them), so a `true` is sure; a `false` only means
/// that the trimming walk has to look.
fn fits<'v>(
    items: impl Iterator<Item = &'v Value>,
    depth: usize,
    max_depth: usize,
    budget: &mut usize,
) -> bool {
    // A list or an object this deep would become JSON text.
    let room = depth + 2 <= max_depth;
    // A loop rather than `all`: most items are not lists or objects, and
    // are done here without a call.
    for item in items {
        let Some(left) = budget.checked_sub(flat_size(item) + 1) else {
            return false;
        };
        *budget = left;
        let fit = match item {
            Value::Array(list) => room && fits(list.iter(), depth + 1, max_depth, budget),
            Value::Object(map) => room && fits(map.values(), depth + 1, max_depth, budget),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
        };
        if !fit {
            return false;
        }
    }
    true
}

/// A data bag being walked: how deep it may go from where it starts, and
/// how much of its size is left.
#[derive(Clone, Copy, Debug)]
struct Bag {
    max_depth: usize,
    start: usize,
    remaining: usize,
}

/// Walks an event once, applying every limit.
pub(crate) struct Trimmer<'m> {
    meta: &'m mut MetaTree,
    /// The bags the walk is inside of, outermost first.
    bags: Vec<Bag>,
}

impl<'m> Trimmer<'m> {
    pub(crate) fn new(meta: &'m mut MetaTree) -> Self {
        Trimmer {
            meta,
            bags: Vec::new(),
        }
    }

    /// Applies every limit to the event, but for tags.
    pub(crate) fn trim_event(&mut self, event: &mut Event) {
        let root = Path::ROOT;
        let meta = &mut *self.meta;
        trim_field(
            &mut event.culprit,
            MaxChars::CULPRIT,
            meta,
            &root,
            "culprit",
        );
        trim_field(
            &mut event.transaction,
            MaxChars::CULPRIT,
            meta,
            &root,
            "transaction",
        );
        if let Some(entry) = &mut event.logentry {
            let path = root.key("logentry");
            trim_field(
                &mut entry.message,
                MaxChars::MESSAGE,
                meta,
                &path,
                "message",
            );
            trim_field(
                &mut entry.formatted,
                MaxChars::MESSAGE,
                meta,
                &path,
                "formatted",
            );
            if let Some(params) = &mut entry.params {
                self.bag_value(params, BagSize::MEDIUM, &path, "params");
            }
        }
        if let Some(exceptions) = &mut event.exception {
            let values = root.key("exception");
            let values = values.key("values");
            for (i, exception) in exceptions.values.iter_mut().enumerate() {
                self.exception(exception, &values.index(i));
            }
        }
        if let Some(stacktrace) = &mut event.stacktrace {
            self.stacktrace(stacktrace, &root.key("stacktrace"));
        }
        if let Some(threads) = &mut event.threads {
            let values = root.key("threads");
            let values = values.key("values");
            for (i, thread) in threads.values.iter_mut().enumerate() {
                if let Some(stacktrace) = &mut thread.stacktrace {
                    let path = values.index(i);
                    self.stacktrace(stacktrace, &path.key("stacktrace"));
                }
            }
        }
        if let Some(breadcrumbs) = &mut event.breadcrumbs {
            let values = root.key("breadcrumbs");
            let values = values.key("values");
            for (i, breadcrumb) in breadcrumbs.values.iter_mut().enumerate() {
                self.breadcrumb(breadcrumb, &values.index(i));
            }
        }
        if let Some(request) = &mut event.request {
            self.request(request, &root.key("request"));
        }
        if let Some(user) = &mut event.user {
            self.user(user, &root.key("user"));
        }
        if let Some(extra) = &mut event.extra {
            self.bag_map(
                extra,
                BagSize::MASSIVE,
                Some(BagSize::LARGER),
                &root,
                "extra",
            );
        }
        if let Some(contexts) = &mut event.contexts {
            let path = root.key("contexts");
            for (key, context) in contexts.0.iter_mut() {
                self.bag_value(context, BagSize::LARGE, &path, key);
            }
        }
        if let Some(modules) = &mut event.modules {
            self.bag_map(modules, BagSize::LARGE, None, &root, "modules");
        }
    }

    /// Cuts tag values to the tag length: the checks of tags removed the
    /// longer ones the SDK sent, this is for the server name and site
    /// moved into tags.
    pub(crate) fn trim_tags(&mut self, event: &mut Event) {
        if let Some(Tags::List(tags)) = &mut event.tags {
            let root = Path::ROOT;
            let path = root.key("tags");
            for (i, (_, value)) in tags.iter_mut().enumerate() {
                match value {
                    Value::String(value) if MaxChars::TAG_VALUE.may_cut(value) => {
                        let pair = path.index(i);
                        cut_string(value, MaxChars::TAG_VALUE, self.meta, &pair.index(1));
                    }
                    _ => {}
                }
            }
        }
    }

    fn exception(&mut self, exception: &mut Exception, path: &Path<'_>) {
        let meta = &mut *self.meta;
        trim_field(&mut exception.ty, MaxChars::SYMBOL, meta, path, "type");
        trim_field(&mut exception.value, MaxChars::MESSAGE, meta, path, "value");
        trim_field(
            &mut exception.module,
            MaxChars::SYMBOL,
            meta,
            path,
            "module",
        );
        if let Some(stacktrace) = &mut exception.stacktrace {
            self.stacktrace(stacktrace, &path.key("stacktrace"));
        }
        if let Some(stacktrace) = &mut exception.raw_stacktrace {
            self.stacktrace(stacktrace, &path.key("raw_stacktrace"));
        }
    }

    fn stacktrace(&mut self, stacktrace: &mut Stacktrace, path: &Path<'_>) {
        let path = path.key("frames");
        let frames = &mut stacktrace.frames;
        let count = frames.len();
        if count > MAX_FRAMES {
            // The most recent calls are last: keep those.
            frames.drain(..count - MAX_FRAMES);
            self.meta.set_len(&path, count);
        }
        slim_frame_data(frames, FRAME_ALLOWANCE);
        for (i, frame) in frames.iter_mut().enumerate() {
            self.frame(frame, &path.index(i));
        }
    }

    fn frame(&mut self, frame: &mut Frame, path: &Path<'_>) {
        let meta = &mut *self.meta;
        for (value, key) in [
            (&mut frame.function, "function"),
            (&mut frame.raw_function, "raw_function"),
            (&mut frame.symbol, "symbol"),
        ] {
            trim_field(value, MaxChars::SYMBOL, meta, path, key);
        }
        for (value, key) in [
            (&mut frame.filename, "filename"),
            (&mut frame.abs_path, "abs_path"),
        ] {
            trim_field(value, MaxChars::PATH, meta, path, key);
        }
        if let Some(vars) = &mut frame.vars {
            self.bag_map(vars, BagSize::MEDIUM, None, path, "vars");
        }
    }

    fn breadcrumb(&mut self, breadcrumb: &mut Breadcrumb, path: &Path<'_>) {
        let meta = &mut *self.meta;
        trim_field(&mut breadcrumb.ty, MaxChars::ENUM_LIKE, meta, path, "type");
        trim_field(
            &mut breadcrumb.category,
            MaxChars::ENUM_LIKE,
            meta,
            path,
            "category",
        );
        trim_field(
            &mut breadcrumb.message,
            MaxChars::MESSAGE,
            meta,
            path,
            "message",
        );
        if let Some(data) = &mut breadcrumb.data {
            self.bag_map(data, BagSize::MEDIUM, None, path, "data");
        }
    }

    fn request(&mut self, request: &mut Request, path: &Path<'_>) {
        let meta = &mut *self.meta;
        trim_field(&mut request.url, MaxChars::PATH, meta, path, "url");
        trim_field(
            &mut request.fragment,
            MaxChars::SUMMARY,
            meta,
            path,
            "fragment",
        );
        for (value, key, size) in [
            (&mut request.data, "data", BagSize::LARGE),
            (&mut request.query_string, "query_string", BagSize::SMALL),
            (&mut request.cookies, "cookies", BagSize::MEDIUM),
            (&mut request.headers, "headers", BagSize::LARGE),
        ] {
            if let Some(value) = value {
                self.bag_value(value, size, path, key);
            }
        }
        if let Some(env) = &mut request.env {
            self.bag_map(env, BagSize::LARGE, None, path, "env");
        }
    }

    fn user(&mut self, user: &mut User, path: &Path<'_>) {
        let meta = &mut *self.meta;
        if let Some(StringOrNumber::Str(id)) = &mut user.id {
            trim_string(id, MaxChars::USER, meta, &path.key("id"));
        }
        trim_field(&mut user.email, MaxChars::EMAIL, meta, path, "email");
        trim_field(&mut user.username, MaxChars::USER, meta, path, "username");
        trim_field(&mut user.name, MaxChars::USER, meta, path, "name");
    }

    // --- data bags ------------------------------------------------------------

    /// Trims a value that is a data bag of its own, the field `key` of the
    /// object at `parent`.
    fn bag_value(&mut self, value: &mut Value, size: BagSize, parent: &Path<'_>, key: &str) {
        // Nearly every bag is far below its limits: a walk that only adds
        // up sizes shows that, without the bookkeeping of trimming. The
        // value's own size counts too, which only makes the check stricter.
        let mut budget = size.max_bytes;
        if fits(std::iter::once(&*value), 0, size.max_depth, &mut budget) {
            return;
        }
        self.bags.clear();
        self.push(size, 0);
        self.process(value, 0, &parent.key(key));
        self.bags.clear();
    }

    /// Trims an object that is a data bag of its own, the field `key` of
    /// the object at `parent`; with `inner`, each of its values is a bag
    /// too (`extra`).
    fn bag_map(
        &mut self,
        map: &mut Map<String, Value>,
        size: BagSize,
        inner: Option<BagSize>,
        parent: &Path<'_>,
        key: &str,
    ) {
        // As in `bag_value`; each value's bag starts one level down, and
        // the smaller of the two sizes is the budget of all of them.
        let (mut budget, max_depth) = match inner {
            Some(inner) => (
                size.max_bytes.min(inner.max_bytes),
                size.max_depth.min(inner.max_depth + 1),
            ),
            None => (size.max_bytes, size.max_depth),
        };
        if fits(map.values(), 1, max_depth, &mut budget) {
            return;
        }
        self.bags.clear();
        self.push(size, 0);
        self.process_map(map, 0, &parent.key(key), inner);
        self.bags.clear();
    }

    fn push(&mut self, size: BagSize, start: usize) {
        self.bags.push(Bag {
            max_depth: size.max_depth,
            start,
            remaining: size.max_bytes,
        });
    }

    fn remaining_size(&self) -> usize {
        self.bags
            .iter()
            .map(|b| b.remaining)
            .min()
            .unwrap_or(usize::MAX)
    }

    fn remaining_depth(&self, depth: usize) -> usize {
        self.bags
            .iter()
            .map(|b| b.max_depth.saturating_sub(depth - b.start))
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Spends a processed value's size on every bag the walk is in.
    fn spend(&mut self, value: &Value) {
        let cost = flat_size(value) + 1;
        for bag in &mut self.bags {
            bag.remaining = bag.remaining.saturating_sub(cost);
        }
    }

    /// Trims a value inside a bag, not counting its own size.
    fn process(&mut self, value: &mut Value, depth: usize, path: &Path<'_>) {
        if matches!(value, Value::Array(_) | Value::Object(_)) && self.remaining_depth(depth) <= 1 {
            // As deep as the bag goes: the rest becomes JSON text.
            let text = serde_json::to_string(&*value).unwrap_or_default();
            *value = Value::String(text);
        }
        match value {
            Value::String(s) => {
                // Relay cuts to what is left of the innermost bag.
                let left = self.bags.last().map_or(usize::MAX, |b| b.remaining);
                trim_string(s, MaxChars::hard(left), self.meta, path);
            }
            Value::Array(items) => {
                let count = items.len();
                let mut cut = None;
                for (i, item) in items.iter_mut().enumerate() {
                    if self.remaining_size() == 0 {
                        cut = Some(i);
                        break;
                    }
                    self.process(item, depth + 1, &path.index(i));
                    self.spend(item);
                }
                if let Some(cut) = cut {
                    items.truncate(cut);
                    self.meta.set_len(path, count);
                }
            }
            Value::Object(map) => self.process_map(map, depth, path, None),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn process_map(
        &mut self,
        map: &mut Map<String, Value>,
        depth: usize,
        path: &Path<'_>,
        inner: Option<BagSize>,
    ) {
        let count = map.len();
        let mut cut = None;
        for (i, (key, item)) in map.iter_mut().enumerate() {
            if self.remaining_size() == 0 {
                cut = Some(i);
                break;
            }
            let child = path.key(key);
            if let Some(size) = inner {
                self.push(size, depth + 1);
                self.process(item, depth + 1, &child);
                self.bags.pop();
            } else {
                self.process(item, depth + 1, &child);
            }
            self.spend(item);
        }
        if let Some(cut) = cut {
            let mut seen = 0;
            map.retain(|_, _| {
                seen += 1;
                seen <= cut
            });
            self.meta.set_len(path, count);
        }
    }
}

/// Removes variables and source context of the middle frames beyond
/// `allowance`: system frames first, then application frames, keeping the
/// ones at both ends.
fn slim_frame_data(frames: &mut [Frame], allowance: usize) {
    let count = frames.len();
    if count <= allowance {
        return;
    }
    let (app, system): (Vec<usize>, Vec<usize>) =
        (0..count).partition(|&i| frames[i].in_app == Some(true));
    let system_half = allowance.saturating_sub(app.len()) / 2;
    let system_cut = system
        .get(system_half..system.len().saturating_sub(system_half))
        .unwrap_or(&[]);
    let left = count
        .saturating_sub(allowance)
        .saturating_sub(system_cut.len());
    let app_half = app.len().saturating_sub(left) / 2;
    let app_cut = app
        .get(app_half..app.len().saturating_sub(app_half))
        .unwrap_or(&[]);
    for &i in system_cut.iter().chain(app_cut) {
        let frame = &mut frames[i];
        let vars = frame.vars.take();
        let pre_context = frame.pre_context.take();
        let post_context = frame.post_context.take();
        if *frame == Frame::default() {
            // Nothing else in the frame: keep it, rather than leave an empty
            // frame that the next normalization would remove.
            frame.vars = vars;
            frame.pre_context = pre_context;
            frame.post_context = post_context;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trimmed(value: &str, max: MaxChars) -> (String, Option<Value>) {
        let mut meta = MetaTree::new(None);
        let mut value = value.to_owned();
        let root = Path::ROOT;
        trim_string(&mut value, max, &mut meta, &root.key("v"));
        (value, meta.into_value())
    }

    #[test]
    fn strings() {
        // Relay's own example.
        let (value, meta) = trimmed(
            "This is my long string I want to have trimmed!",
            MaxChars::hard(20),
        );
        assert_eq!(value, "This is my long s...");
        assert_eq!(
            meta.unwrap(),
            json!({"v": {"": {"rem": [["!limit", "s", 17, 20]], "len": 46}}})
        );
        // Within the allowance nothing happens; past it, the cut is at the
        // limit.
        let (value, meta) = trimmed(&"m".repeat(8392), MaxChars::MESSAGE);
        assert_eq!(value.len(), 8392);
        assert!(meta.is_none());
        let (value, _) = trimmed(&"m".repeat(8393), MaxChars::MESSAGE);
        assert_eq!(value.chars().count(), 8192);
        // Ranges are in bytes, lengths in characters.
        let (value, meta) = trimmed(&"é".repeat(10), MaxChars::hard(5));
        assert_eq!(value, "éé...");
        assert_eq!(
            meta.unwrap(),
            json!({"v": {"": {"rem": [["!limit", "s", 4, 7]], "len": 10}}})
        );
    }

    fn bag(value: Value, size: BagSize) -> (Value, Option<Value>) {
        let mut meta = MetaTree::new(None);
        let mut value = value;
        let root = Path::ROOT;
        Trimmer::new(&mut meta).bag_value(&mut value, size, &root, "b");
        (value, meta.into_value())
    }

    fn nested(depth: usize) -> Value {
        (1..=depth).fold(
            json!("max depth"),
            |inner, d| json!({ format!("key{d}"): inner }),
        )
    }

    #[test]
    fn deep_values_become_text() {
        // Relay's example: extra values nested eight deep keep five levels.
        let mut meta = MetaTree::new(None);
        let mut extra: Map<String, Value> = serde_json::from_value(json!({
            "key_1": "value 1",
            "key_2": nested(8),
            "key_3": nested(5),
        }))
        .unwrap();
        let root = Path::ROOT;
        Trimmer::new(&mut meta).bag_map(
            &mut extra,
            BagSize::MASSIVE,
            Some(BagSize::LARGER),
            &root,
            "extra",
        );
        assert_eq!(
            Value::Object(extra),
            json!({
                "key_1": "value 1",
                "key_2": {"key8": {"key7": {"key6": {"key5": {
                    "key4": "{\"key3\":{\"key2\":{\"key1\":\"max depth\"}}}"
                }}}}},
                "key_3": nested(5),
            })
        );
        assert!(meta.into_value().is_none());
    }

    #[test]
    fn wide_values_are_cut() {
        // Relay's example: a context of 8192 bytes, "bar" first.
        let (value, meta) = bag(
            json!({"foo": "a".repeat(4000), "bar": "a".repeat(5000)}),
            BagSize::LARGE,
        );
        assert_eq!(value["bar"].as_str().unwrap().len(), 5000);
        assert_eq!(value["foo"].as_str().unwrap().len(), 3189);
        assert_eq!(
            meta.unwrap(),
            json!({"b": {"foo": {"": {"rem": [["!limit", "s", 3186, 3189]], "len": 4000}}}})
        );

        // A long list keeps what fits: two bytes an item.
        let (value, meta) = bag(json!(vec![1; 20_000]), BagSize::LARGER);
        assert_eq!(value.as_array().unwrap().len(), 8192);
        assert_eq!(meta.unwrap(), json!({"b": {"": {"len": 20_000}}}));

        // Objects lose their last keys.
        let big: Map<String, Value> = (0..100)
            .map(|i| (format!("key_{i:02}"), json!("x".repeat(100))))
            .collect();
        let (value, meta) = bag(Value::Object(big), BagSize::MEDIUM);
        let kept = value.as_object().unwrap();
        assert_eq!(kept.len(), 20);
        assert!(kept.contains_key("key_00") && kept.contains_key("key_19"));
        let meta = meta.unwrap();
        assert_eq!(meta["b"][""], json!({"len": 100}));
        assert_eq!(meta["b"]["key_19"][""]["len"], 100);
    }

    #[test]
    fn trimming_twice_changes_nothing() {
        for (value, size) in [
            (
                json!({"foo": "a".repeat(4000), "bar": "a".repeat(5000)}),
                BagSize::LARGE,
            ),
            (json!(vec![1.5; 5000]), BagSize::MEDIUM),
            (
                json!({"a": nested(9), "b": ["é".repeat(3000)]}),
                BagSize::SMALL,
            ),
        ] {
            let (once, _) = bag(value, size);
            let (twice, meta) = bag(once.clone(), size);
            assert_eq!(once, twice);
            assert!(meta.is_none(), "{meta:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(flat_size(&json!(-17)), 3);
        assert_eq!(flat_size(&json!(u64::MAX)), 20);
        assert_eq!(flat_size(&json!(1.5)), 3);
        assert_eq!(flat_size(&json!(2.0)), 1);
        assert_eq!(flat_size(&json!("foobar")), 8);
        assert_eq!(flat_size(&json!([1, 2])), 2);
        assert_eq!(flat_size(&json!(null)), 0);
    }

    fn frames(in_app: &[bool]) -> Vec<Frame> {
        in_app
            .iter()
            .enumerate()
            .map(|(i, &in_app)| Frame {
                function: Some(format!("f{i}")),
                in_app: Some(in_app),
                pre_context: Some(vec![Some("a".into())]),
                context_line: Some("b".into()),
                vars: Some(Map::new()),
                ..Frame::default()
            })
            .collect()
    }

    #[test]
    fn slim_frames() {
        // Relay's example: five frames, room for four.
        let mut f = frames(&[false; 5]);
        slim_frame_data(&mut f, 4);
        let slimmed: Vec<bool> = f.iter().map(|f| f.pre_context.is_none()).collect();
        assert_eq!(slimmed, [false, false, true, false, false]);
        assert!(f[2].vars.is_none() && f[2].context_line.is_some());

        // Application frames keep their data while system frames can give.
        let mut flags = vec![false; 60];
        flags[29] = true;
        flags[30] = true;
        let mut f = frames(&flags);
        slim_frame_data(&mut f, 50);
        assert!(f[29].vars.is_some() && f[30].vars.is_some());
        assert_eq!(f.iter().filter(|f| f.vars.is_none()).count(), 10);
    }

    #[test]
    fn frame_limit() {
        let mut meta = MetaTree::new(None);
        let mut stacktrace = Stacktrace {
            frames: frames(&[true; 300]),
            ..Stacktrace::default()
        };
        let root = Path::ROOT;
        Trimmer::new(&mut meta).stacktrace(&mut stacktrace, &root.key("stacktrace"));
        assert_eq!(stacktrace.frames.len(), MAX_FRAMES);
        assert_eq!(stacktrace.frames[0].function.as_deref(), Some("f50"));
        assert_eq!(
            meta.into_value().unwrap(),
            json!({"stacktrace": {"frames": {"": {"len": 300}}}})
        );
    }
}
