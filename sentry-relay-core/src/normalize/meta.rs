//! The event's `_meta` tree, as normalization writes it.
//!
//! `_meta` mirrors the event: the annotations of the value at
//! `exception.values.0.value` live at `_meta.exception.values.0.value[""]`.
//! An annotation holds remarks (`rem`: `[rule, type, start, end]`, the
//! range in bytes of the changed text), the original length (`len`, in
//! characters for strings, in items for lists and objects), errors (`err`)
//! and an original value (`val`).
//!
//! Normalization writes into the tree the event came with (SDKs send
//! `_meta` too, and data scrubbing adds to the same tree later): entries
//! are added, never replaced, so an annotation that is already there stays.

use serde_json::{Map, Value};

/// One step of a path into the event.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A path into the event, as a chain of borrowed steps: building one costs
/// nothing; it is only turned into keys when an annotation is written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Option<Seg<'a>>,
}

impl Path<'static> {
    /// The event itself.
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        seg: None,
    };
}

impl<'a> Path<'a> {
    /// The path of a key of the object at this path.
    pub(crate) fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            seg: Some(Seg::Key(key)),
        }
    }

    /// The path of an item of the list at this path.
    pub(crate) fn index(&self, index: usize) -> Path<'_> {
        Path {
            parent: Some(self),
            seg: Some(Seg::Index(index)),
        }
    }

    /// The steps from the root, outermost first.
    fn segments(&self) -> Vec<Seg<'a>> {
        let mut out = Vec::new();
        let mut node = Some(self);
        while let Some(path) = node {
            out.extend(path.seg);
            node = path.parent;
        }
        out.reverse();
        out
    }

    /// The dotted form Relay uses for `errors[].name`
    /// (`exception.values.0.stacktrace`).
    pub(crate) fn dotted(&self) -> String {
        let mut out = String::new();
        for seg in self.segments() {
            if !out.is_empty() {
                out.push('.');
            }
            match seg {
                Seg::Key(k) => out.push_str(k),
                Seg::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }
}

/// The `_meta` tree of an event being normalized.
#[derive(Debug, Default)]
pub(crate) struct MetaTree {
    root: Map<String, Value>,
}

impl MetaTree {
    /// The tree the event came with (`event.other["_meta"]`); anything that
    /// is not an object starts a new tree.
    pub(crate) fn new(existing: Option<Value>) -> Self {
        MetaTree {
            root: match existing {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            },
        }
    }

    /// The tree, unless it is empty.
    pub(crate) fn into_value(self) -> Option<Value> {
        (!self.root.is_empty()).then_some(Value::Object(self.root))
    }

    /// The annotation (`""` entry) of the value at `path`, created on the
    /// way.
    fn annotation(&mut self, path: &Path<'_>) -> &mut Map<String, Value> {
        let mut map = &mut self.root;
        for seg in path.segments() {
            map = match seg {
                Seg::Key(k) => child(map, k),
                Seg::Index(i) => child(map, &i.to_string()),
            };
        }
        child(map, "")
    }

    /// Records a remark with a byte range of the current value
    /// (`[rule, type, start, end]`), unless the same one is there.
    pub(crate) fn add_remark(
        &mut self,
        path: &Path<'_>,
        rule: &str,
        ty: &str,
        range: Option<(usize, usize)>,
    ) {
        let mut remark = vec![Value::from(rule), Value::from(ty)];
        if let Some((start, end)) = range {
            remark.push(Value::from(start));
            remark.push(Value::from(end));
        }
        let remark = Value::Array(remark);
        let rem = list(self.annotation(path), "rem");
        if !rem.contains(&remark) {
            rem.push(remark);
        }
    }

    /// Drops remarks whose range ends after `end` (text that was cut off).
    pub(crate) fn drop_remarks_after(&mut self, path: &Path<'_>, end: usize) {
        let annotation = self.annotation(path);
        if let Some(Value::Array(rem)) = annotation.get_mut("rem") {
            rem.retain(|r| {
                r.get(3)
                    .and_then(Value::as_u64)
                    .is_none_or(|e| e as usize <= end)
            });
            if rem.is_empty() {
                annotation.remove("rem");
            }
        }
    }

    /// Records the original length, unless an earlier step recorded one.
    pub(crate) fn set_len(&mut self, path: &Path<'_>, len: usize) {
        self.annotation(path)
            .entry("len")
            .or_insert_with(|| Value::from(len));
    }

    /// Records an error (`[kind, data]`, or `kind` alone without data),
    /// unless the same one is there.
    pub(crate) fn add_error(&mut self, path: &Path<'_>, kind: &str, data: Option<Value>) {
        let error = match data {
            Some(data) => Value::Array(vec![Value::from(kind), data]),
            None => Value::from(kind),
        };
        let err = list(self.annotation(path), "err");
        if !err.contains(&error) {
            err.push(error);
        }
    }

    /// Records the original value, unless an earlier step recorded one.
    pub(crate) fn set_original(&mut self, path: &Path<'_>, value: Value) {
        self.annotation(path).entry("val").or_insert(value);
    }
}

/// The object at `key`, created if missing or not an object.
fn child<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// The list at `key`, created if missing or not a list.
fn list<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Vec<Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(l) => l,
        _ => unreachable!("just made a list"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_are_merged() {
        let mut meta = MetaTree::new(Some(json!({
            "extra": {"a": {"": {"rem": [["@password:filter", "s", 0, 10]], "len": 7}}}
        })));
        let root = Path::ROOT;
        let extra = root.key("extra");
        let a = extra.key("a");
        meta.add_remark(&a, "!limit", "s", Some((7, 10)));
        meta.add_remark(&a, "!limit", "s", Some((7, 10)));
        meta.set_len(&a, 300);
        let frames = root.key("frames");
        let second = frames.index(2);
        meta.add_error(&second, "invalid_data", Some(json!({"reason": "x"})));
        meta.set_original(&second, json!(1));
        meta.set_original(&second, json!(2));
        assert_eq!(
            meta.into_value().unwrap(),
            json!({
                "extra": {"a": {"": {"rem": [["@password:filter", "s", 0, 10], ["!limit", "s", 7, 10]], "len": 7}}},
                "frames": {"2": {"": {"err": [["invalid_data", {"reason": "x"}]], "val": 1}}}
            })
        );
        assert_eq!(second.dotted(), "frames.2");
        assert!(MetaTree::new(Some(json!(3))).into_value().is_none());
    }

    #[test]
    fn cut_remarks_are_dropped() {
        let mut meta = MetaTree::new(None);
        let root = Path::ROOT;
        let v = root.key("v");
        meta.add_remark(&v, "@ip", "s", Some((0, 4)));
        meta.add_remark(&v, "@email", "s", Some((10, 20)));
        meta.drop_remarks_after(&v, 8);
        assert_eq!(
            meta.into_value().unwrap(),
            json!({"v": {"": {"rem": [["@ip", "s", 0, 4]]}}})
        );
    }
}
