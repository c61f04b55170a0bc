//! Selectors: which values of an event a rule applies to.
//!
//! The grammar and semantics are documented on the [`pii`](super) module.

use std::collections::HashMap;

use super::PiiError;

/// Kinds of values, as bits; a value has its JSON type and, for parts of
/// the event schema, a schema type.
pub(crate) mod kind {
    pub(crate) const STRING: u32 = 1;
    pub(crate) const NUMBER: u32 = 1 << 1;
    pub(crate) const BOOLEAN: u32 = 1 << 2;
    pub(crate) const ARRAY: u32 = 1 << 3;
    pub(crate) const OBJECT: u32 = 1 << 4;
    pub(crate) const EVENT: u32 = 1 << 5;
    pub(crate) const EXCEPTION: u32 = 1 << 6;
    pub(crate) const STACKTRACE: u32 = 1 << 7;
    pub(crate) const FRAME: u32 = 1 << 8;
    pub(crate) const REQUEST: u32 = 1 << 9;
    pub(crate) const USER: u32 = 1 << 10;
    pub(crate) const LOGENTRY: u32 = 1 << 11;
    pub(crate) const MESSAGE: u32 = 1 << 12;
    pub(crate) const THREAD: u32 = 1 << 13;
    pub(crate) const BREADCRUMB: u32 = 1 << 14;
    pub(crate) const SPAN: u32 = 1 << 15;
    pub(crate) const SDK: u32 = 1 << 16;
}

fn type_by_name(name: &str) -> Option<u32> {
    Some(match name {
        "string" => kind::STRING,
        "number" => kind::NUMBER,
        "boolean" => kind::BOOLEAN,
        "array" => kind::ARRAY,
        "object" => kind::OBJECT,
        "event" => kind::EVENT,
        "exception" | "error" => kind::EXCEPTION,
        "stacktrace" => kind::STACKTRACE,
        "frame" => kind::FRAME,
        "http" | "request" => kind::REQUEST,
        "user" => kind::USER,
        "logentry" => kind::LOGENTRY,
        "message" => kind::MESSAGE,
        "thread" => kind::THREAD,
        "breadcrumb" => kind::BREADCRUMB,
        "span" => kind::SPAN,
        "sdk" => kind::SDK,
        _ => return None,
    })
}

/// How personal a field may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pii {
    /// May hold personal data: every selector applies.
    True,
    /// Rarely does: only selectors that name it apply.
    Maybe,
    /// Never does: no selector applies, nor to anything inside.
    False,
}

/// One segment of a value's path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SegKey<'a> {
    /// The event itself.
    Root,
    /// An object key (or the key of a `[key, value]` pair).
    Key(&'a str),
    /// An array index.
    Index(usize),
}

/// A value's path, from the value up to the root.
#[derive(Debug)]
pub(crate) struct Path<'a> {
    pub(crate) parent: Option<&'a Path<'a>>,
    pub(crate) key: SegKey<'a>,
    pub(crate) kinds: u32,
    pub(crate) pii: Pii,
    /// The [`key_bit`] of this segment's key (0 for an index).
    pub(crate) key_bit: u64,
    /// The [`key_bit`]s of the keys of this segment and the ones above.
    pub(crate) keys: u64,
}

impl<'a> Path<'a> {
    pub(crate) fn key_str(&self) -> Option<&'a str> {
        match self.key {
            SegKey::Key(k) => Some(k),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Key(KeyItem),
    Type(u32),
    Wildcard,
    DeepWildcard,
}

/// A literal key of a selector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyItem {
    name: String,
    /// The key as a number: it also matches that array index.
    index: Option<usize>,
    /// Its [`key_bit`].
    bit: u64,
}

impl KeyItem {
    fn new(name: String) -> Self {
        KeyItem {
            index: name.parse().ok(),
            bit: key_bit(&name),
            name,
        }
    }
}

impl Item {
    /// Whether this item, `from_end` items before the end of its selector,
    /// matches the segment `seg`.
    fn matches(&self, from_end: usize, seg: &Path<'_>) -> bool {
        let named_only = match seg.pii {
            Pii::False => return false,
            Pii::Maybe => from_end == 0,
            Pii::True => false,
        };
        match self {
            Item::Key(k) => match seg.key {
                SegKey::Key(s) => s.eq_ignore_ascii_case(&k.name),
                SegKey::Index(i) => k.index == Some(i),
                SegKey::Root => false,
            },
            Item::Type(t) => !named_only && seg.kinds & t != 0,
            Item::Wildcard | Item::DeepWildcard => !named_only && !matches!(seg.key, SegKey::Root),
        }
    }
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selector {
    Path(Vec<Item>),
    And(Vec<Selector>),
    Or(Vec<Selector>),
    /// An `Or` of many paths ending in a literal key (not a number),
    /// indexed by that key (lowercase) so a value is checked against those
    /// ending in its key.
    OrByKey(HashMap<String, Vec<Vec<Item>>>, Vec<Selector>),
    Not(Box<Selector>),
}

impl Selector {
    /// Parses a selector.
    pub(crate) fn parse(s: &str) -> Result<Selector, PiiError> {
        let mut p = Parser {
            src: s,
            pos: 0,
            depth: 0,
        };
        let sel = p.or()?;
        p.skip_ws();
        if p.pos != s.len() {
            return Err(p.error("unexpected input"));
        }
        Ok(sel.optimize())
    }

    fn optimize(self) -> Selector {
        match self {
            Selector::Or(children) => {
                let children: Vec<Selector> = children.into_iter().map(Self::optimize).collect();
                let keyed = children
                    .iter()
                    .filter(|c| matches!(c, Selector::Path(p) if matches!(p.last(), Some(Item::Key(_)))))
                    .count();
                if keyed < 8 {
                    return Selector::Or(children);
                }
                let mut by_key: HashMap<String, Vec<Vec<Item>>> = HashMap::new();
                let mut rest = Vec::new();
                for child in children {
                    match child {
                        Selector::Path(p) => match p.last() {
                            // A number also matches array indexes (`01`
                            // index 1): those paths stay unindexed.
                            Some(Item::Key(k)) if k.index.is_none() => by_key
                                .entry(k.name.to_ascii_lowercase())
                                .or_default()
                                .push(p),
                            _ => rest.push(Selector::Path(p)),
                        },
                        other => rest.push(other),
                    }
                }
                Selector::OrByKey(by_key, rest)
            }
            Selector::And(c) => Selector::And(c.into_iter().map(Self::optimize).collect()),
            Selector::Not(c) => Selector::Not(Box::new(c.optimize())),
            p @ (Selector::Path(_) | Selector::OrByKey(..)) => p,
        }
    }

    /// Whether the value at `path` is selected.
    pub(crate) fn matches(&self, path: &Path<'_>) -> bool {
        match self {
            Selector::Path(items) => match_path(items, path),
            Selector::And(c) => c.iter().all(|s| s.matches(path)),
            Selector::Or(c) => c.iter().any(|s| s.matches(path)),
            Selector::OrByKey(by_key, rest) => {
                let keyed = match path.key {
                    SegKey::Key(k) if k.bytes().any(|b| b.is_ascii_uppercase()) => {
                        by_key.get(k.to_ascii_lowercase().as_str())
                    }
                    SegKey::Key(k) => by_key.get(k),
                    // Paths ending in numbers are in `rest`.
                    SegKey::Index(_) | SegKey::Root => None,
                };
                keyed.is_some_and(|ps| ps.iter().any(|p| match_path(p, path)))
                    || rest.iter().any(|s| s.matches(path))
            }
            Selector::Not(c) => !c.matches(path),
        }
    }
}

/// The bit of a key in 64-bit Bloom filters of keys: a hash of its length
/// and its first and last two bytes, ASCII case-insensitively (as keys
/// compare).
pub(crate) fn key_bit(key: &str) -> u64 {
    let b = key.as_bytes();
    let byte = |i: Option<&u8>| u64::from(i.map_or(0, u8::to_ascii_lowercase));
    let n = b.len();
    let h = (n as u64)
        | byte(b.first()) << 8
        | byte(b.get(1)) << 16
        | byte(n.checked_sub(2).and_then(|i| b.get(i))) << 24
        | byte(b.last()) << 32;
    1 << (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

/// A quick test that rules out most values a selector cannot match: the
/// keys its matches must end in, as a 64-bit Bloom filter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyFilter {
    /// One bit per key, by [`KeyFilter::bit`].
    bits: u64,
    /// Whether a key is a number, so that array indexes may match.
    numeric: bool,
}

impl KeyFilter {
    fn new<'k>(keys: impl IntoIterator<Item = &'k str>) -> Self {
        let mut filter = KeyFilter {
            bits: 0,
            numeric: false,
        };
        for key in keys {
            filter.bits |= key_bit(key);
            filter.numeric |= key.parse::<usize>().is_ok();
        }
        filter
    }

    /// Whether a value at `path` may be selected.
    #[inline]
    pub(crate) fn may_match(&self, path: &Path<'_>) -> bool {
        match path.key {
            SegKey::Key(_) => self.bits & path.key_bit != 0,
            SegKey::Index(_) => self.numeric,
            SegKey::Root => false,
        }
    }
}

impl Selector {
    /// A filter on the last key of the values this selector matches, when
    /// it only matches values at some literal keys.
    pub(crate) fn key_filter(&self) -> Option<KeyFilter> {
        let mut keys = Vec::new();
        self.last_keys(&mut keys).then(|| KeyFilter::new(keys))
    }

    /// The [`key_bit`]s of keys every match has above the value (as in
    /// [`Path::keys`]): `extra.**` needs an `extra` above.
    pub(crate) fn required_keys(&self) -> u64 {
        match self {
            Selector::Path(items) => items
                .split_last()
                .map_or(&[][..], |(_, above)| above)
                .iter()
                .filter_map(|item| match item {
                    // A number also matches array indexes, which have no key.
                    Item::Key(k) if k.index.is_none() => Some(k.bit),
                    _ => None,
                })
                .fold(0, |bits, bit| bits | bit),
            Selector::Or(children) => children
                .iter()
                .fold(u64::MAX, |bits, c| bits & c.required_keys()),
            Selector::OrByKey(by_key, rest) => by_key
                .values()
                .flatten()
                .map(|p| Selector::Path(p.clone()).required_keys())
                .chain(rest.iter().map(Selector::required_keys))
                .fold(u64::MAX, |bits, b| bits & b),
            Selector::And(children) => children.iter().fold(0, |bits, c| bits | c.required_keys()),
            Selector::Not(_) => 0,
        }
    }

    /// Whether the selector may select a value only selectors naming it
    /// apply to ([`Pii::Maybe`]): false when every match must end in a
    /// type or a wildcard.
    pub(crate) fn may_select_named_only(&self) -> bool {
        match self {
            Selector::Path(items) => matches!(items.last(), Some(Item::Key(_))),
            Selector::Or(children) => children.iter().any(Self::may_select_named_only),
            Selector::OrByKey(by_key, rest) => {
                !by_key.is_empty() || rest.iter().any(Self::may_select_named_only)
            }
            Selector::And(children) => children.iter().all(Self::may_select_named_only),
            Selector::Not(_) => true,
        }
    }

    /// Whether a literal key of the selector is a number, which also
    /// matches that array index.
    pub(crate) fn names_index(&self) -> bool {
        let path = |items: &[Item]| {
            items
                .iter()
                .any(|i| matches!(i, Item::Key(k) if k.index.is_some()))
        };
        match self {
            Selector::Path(items) => path(items),
            Selector::And(c) | Selector::Or(c) => c.iter().any(Self::names_index),
            Selector::OrByKey(by_key, rest) => {
                by_key.values().flatten().any(|p| path(p)) || rest.iter().any(Self::names_index)
            }
            Selector::Not(c) => c.names_index(),
        }
    }

    /// Collects the keys every match must end in; false when a match may
    /// end anywhere.
    fn last_keys<'s>(&'s self, out: &mut Vec<&'s str>) -> bool {
        match self {
            Selector::Path(items) => match items.last() {
                Some(Item::Key(k)) => {
                    out.push(&k.name);
                    true
                }
                _ => false,
            },
            Selector::Or(children) => children.iter().all(|c| c.last_keys(out)),
            Selector::OrByKey(by_key, rest) => {
                out.extend(by_key.keys().map(String::as_str));
                rest.iter().all(|c| c.last_keys(out))
            }
            // Any one of the conditions will do.
            Selector::And(children) => children.iter().any(|c| {
                let mut keys = Vec::new();
                let found = c.last_keys(&mut keys);
                if found {
                    out.extend(keys);
                }
                found
            }),
            Selector::Not(_) => false,
        }
    }
}

/// Whether `items` match the segments ending at `path`.
fn match_path(items: &[Item], path: &Path<'_>) -> bool {
    // Cheap tests first: the last key is the value's, and the keys above
    // are on the path.
    let Some((last, above)) = items.split_last() else {
        return true;
    };
    if let Item::Key(k) = last {
        if k.index.is_none() && path.key_bit & k.bit == 0 {
            return false;
        }
    }
    above.iter().all(|item| match item {
        // A number also matches array indexes, which have no key.
        Item::Key(k) if k.index.is_none() => path.keys & k.bit != 0,
        _ => true,
    }) && match_items(items, items.len(), Some(path))
}

/// Whether `items` match the segments ending at `seg`; `total` is the
/// length of the whole selector.
fn match_items(items: &[Item], total: usize, seg: Option<&Path<'_>>) -> bool {
    let Some((last, rest)) = items.split_last() else {
        // The start of a selector is not anchored.
        return true;
    };
    let from_end = total - items.len();
    let Some(seg) = seg else {
        return false;
    };
    if !last.matches(from_end, seg) {
        return false;
    }
    if *last != Item::DeepWildcard {
        return match_items(rest, total, seg.parent);
    }
    // `**` takes this segment and any number of the ones above.
    let mut next = seg.parent;
    loop {
        if match_items(rest, total, next) {
            return true;
        }
        match next {
            Some(s) if last.matches(from_end, s) => next = s.parent,
            _ => return false,
        }
    }
}

const MAX_NESTING: usize = 32;

struct Parser<'s> {
    src: &'s str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> PiiError {
        PiiError::InvalidSelector {
            selector: self.src.to_owned(),
            reason: format!("{reason} at offset {}", self.pos),
        }
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Selector, PiiError> {
        let mut items = vec![self.and()?];
        while self.eat("||") || self.eat("|") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Selector::Or(items)
        })
    }

    fn and(&mut self) -> Result<Selector, PiiError> {
        let mut items = vec![self.not()?];
        while self.eat("&&") || self.eat("&") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Selector::And(items)
        })
    }

    fn not(&mut self) -> Result<Selector, PiiError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error("too deeply nested"));
        }
        let sel = if self.eat("!") {
            Selector::Not(Box::new(self.not()?))
        } else if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(self.error("expected `)`"));
            }
            inner
        } else {
            self.path()?
        };
        self.depth -= 1;
        Ok(sel)
    }

    fn path(&mut self) -> Result<Selector, PiiError> {
        self.skip_ws();
        let mut items = vec![self.item()?];
        while self.rest().starts_with('.') {
            self.pos += 1;
            items.push(self.item()?);
        }
        Ok(Selector::Path(items))
    }

    fn item(&mut self) -> Result<Item, PiiError> {
        let rest = self.rest();
        if rest.starts_with("**") {
            self.pos += 2;
            return Ok(Item::DeepWildcard);
        }
        if rest.starts_with('*') {
            self.pos += 1;
            return Ok(Item::Wildcard);
        }
        if let Some(quoted) = rest.strip_prefix('\'') {
            let Some(end) = quoted.find('\'') else {
                return Err(self.error("unterminated quote"));
            };
            let key = quoted[..end].to_owned();
            self.pos += end + 2;
            return Ok(Item::Key(KeyItem::new(key)));
        }
        let is_type = rest.starts_with('$');
        let body = if is_type { &rest[1..] } else { rest };
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_-@:+#".contains(c)))
            .unwrap_or(body.len());
        if len == 0 {
            return Err(self.error("expected a key, `*`, `**` or a `$type`"));
        }
        let name = &body[..len];
        let item = if is_type {
            match type_by_name(name) {
                Some(t) => Item::Type(t),
                None => return Err(self.error(&format!("unknown type `${name}`"))),
            }
        } else {
            Item::Key(KeyItem::new(name.to_owned()))
        };
        self.pos += len + usize::from(is_type);
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A segment of a test path: key (or index), schema kinds and PII level.
    type Seg = (Result<&'static str, usize>, u32, Pii);

    /// Calls `f` with the path of the last of `segs` (under the root).
    fn with_path(segs: &[Seg], parent: &Path<'_>, f: &mut dyn FnMut(&Path<'_>)) {
        let Some(((key, kinds, pii), rest)) = segs.split_first() else {
            return f(parent);
        };
        let (key, bit) = match key {
            Ok(k) => (SegKey::Key(k), key_bit(k)),
            Err(i) => (SegKey::Index(*i), 0),
        };
        let path = Path {
            parent: Some(parent),
            key,
            kinds: *kinds,
            pii: *pii,
            key_bit: bit,
            keys: parent.keys | bit,
        };
        with_path(rest, &path, f);
    }

    fn seg() -> impl Strategy<Value = Seg> {
        let key = prop_oneof![
            prop::sample::select(vec![
                "extra",
                "Extra",
                "foo",
                "foo.bar",
                "vars",
                "cookies",
                "session",
                "sessionid",
                "REMOTE_ADDR",
                "remote_addr",
                "env",
                "headers",
                "user-agent",
                "0",
                "01",
                "1",
                "debug_meta",
                "filename",
                "formatted",
                "value",
                "ip_address",
                "",
            ])
            .prop_map(Ok),
            (0usize..3).prop_map(Err),
        ];
        let kinds = prop::sample::select(vec![
            kind::STRING,
            kind::OBJECT,
            kind::ARRAY,
            kind::NUMBER,
            kind::FRAME | kind::OBJECT,
            kind::REQUEST | kind::OBJECT,
            kind::USER | kind::OBJECT,
            kind::LOGENTRY | kind::OBJECT,
            kind::EXCEPTION | kind::OBJECT,
        ]);
        let pii = prop::sample::select(vec![Pii::True, Pii::True, Pii::Maybe, Pii::False]);
        (key, kinds, pii)
    }

    const SELECTORS: &[&str] = &[
        "$string",
        "**",
        "foo",
        "extra.foo",
        "extra.'foo.bar'",
        "$event.extra.*",
        "extra.**",
        "$frame.vars.**",
        "$frame.filename",
        "$http.env.REMOTE_ADDR || $user.ip_address || extra.0",
        "$logentry.formatted",
        "($string || $object) && !(debug_meta.** || $frame.filename || $http.headers.user-agent)",
        "!$string",
        "extra.* && !extra.foo",
        "01 || 1.foo",
        "0.foo",
        "*.cookies.sessionid || *.cookies.session || *.cookies.a || *.cookies.b || *.cookies.c \
         || *.cookies.d || *.cookies.e || *.cookies.f || *.cookies.01 || extra.**",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The quick tests never rule out a value the selector selects.
        #[test]
        fn quick_tests_never_rule_out_a_match(
            segs in prop::collection::vec(seg(), 1..5),
            which in 0..SELECTORS.len(),
        ) {
            let selector = Selector::parse(SELECTORS[which]).unwrap();
            let root = Path {
                parent: None,
                key: SegKey::Root,
                kinds: kind::EVENT | kind::OBJECT,
                pii: Pii::True,
                key_bit: 0,
                keys: 0,
            };
            let mut checked = Ok(());
            with_path(&segs, &root, &mut |path| {
                if !selector.matches(path) {
                    return;
                }
                let required = selector.required_keys();
                if path.pii == Pii::Maybe && !selector.may_select_named_only() {
                    checked = Err("named only");
                } else if path.keys & required != required {
                    checked = Err("required keys");
                } else if selector.key_filter().is_some_and(|f| !f.may_match(path)) {
                    checked = Err("key filter");
                }
            });
            prop_assert_eq!(checked, Ok(()), "{} on {:?}", SELECTORS[which], segs);
        }
    }
}
