//! Minidump uploads, as Breakpad, Crashpad and Electron send them to
//! `/api/<project_id>/minidump/`.
//!
//! An upload is either the minidump itself as the request body, or a
//! `multipart/form-data` form (see [`multipart`](crate::multipart)) with
//! the minidump in the `upload_file_minidump` field, more files, and text
//! fields that describe the event:
//!
//! - `sentry`, and `sentry___<anything>`: the event as JSON, merged in;
//! - `sentry__1`, `sentry__2`, ...: that JSON cut in chunks (Electron);
//! - `sentry[tags][gpu]=none`: one value at a path (Breakpad, whose values
//!   are short strings);
//! - anything else (Crashpad's `prod`, `ver`, `guid`, ...): `extra`.
//!
//! Like Relay, fields that cannot be used (invalid JSON, a path nested too
//! deep or malformed) are skipped, not refused: the crash still counts. The
//! minidump itself may come in a gzip or zstd container, and must start with
//! the `MDMP` magic (or `PMDM`, big-endian).
//!
//! ```
//! use sentry_envelope::minidump::{self, MinidumpLimits};
//! use sentry_envelope::multipart::Part;
//!
//! let part = |name: &str, filename: Option<&str>, data: &'static [u8]| Part {
//!     name: name.into(),
//!     filename: filename.map(Into::into),
//!     content_type: None,
//!     data: bytes::Bytes::from_static(data),
//! };
//! let upload = minidump::upload_from_parts(
//!     vec![
//!         part("upload_file_minidump", Some("crash.dmp"), b"MDMP\x93\xa7\0\0"),
//!         part("sentry[release]", None, b"app@1.0"),
//!         part("prod", None, b"my-app"),
//!     ],
//!     &MinidumpLimits::default(),
//! )?;
//! assert_eq!(upload.event["release"], "app@1.0");
//! assert_eq!(upload.event["extra"]["prod"], "my-app");
//! assert_eq!(upload.event["platform"], "native");
//! assert_eq!(upload.attachments[0].headers.filename.as_deref(), Some("crash.dmp"));
//! # Ok::<(), sentry_envelope::minidump::MinidumpError>(())
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::compression::{ContentEncoding, DecompressError, decompress};
use crate::item::{AttachmentType, Item, ItemType};
use crate::limits::{LimitError, Limits};
use crate::multipart::{self, MultipartLimits, Part};
use crate::protocol::{EventId, from_json_slice};

/// The form field of the minidump.
pub const MINIDUMP_FIELD: &str = "upload_file_minidump";
/// The file name of a minidump sent as the request body.
pub const MINIDUMP_FILENAME: &str = "Minidump";

/// Limits on a minidump upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinidumpLimits {
    /// The minidump after its container is removed.
    pub max_minidump_size: usize,
    /// The form fields.
    pub form: FormLimits,
    /// A multipart body nested in the minidump field (old Electron).
    pub nested: MultipartLimits,
}

impl MinidumpLimits {
    /// The limits under the given envelope limits: a minidump up to
    /// [`Limits::max_attachment_size`].
    pub fn from_limits(limits: &Limits) -> Self {
        MinidumpLimits {
            max_minidump_size: usize::try_from(limits.max_attachment_size).unwrap_or(usize::MAX),
            form: FormLimits::from_limits(limits),
            nested: MultipartLimits::from_limits(limits),
        }
    }
}

impl Default for MinidumpLimits {
    fn default() -> Self {
        MinidumpLimits::from_limits(&Limits::default())
    }
}

/// Limits on the form fields that make the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormLimits {
    /// Fields read; the rest are skipped.
    pub max_fields: usize,
    /// Keys in a `sentry[a][b]...` path (Relay: 7).
    pub max_path_depth: usize,
    /// JSON nesting in a `sentry` field ([`Limits::max_json_depth`]).
    pub max_json_depth: usize,
    /// `sentry__N` chunks (Electron).
    pub max_chunks: usize,
}

impl FormLimits {
    /// The limits under the given envelope limits.
    pub fn from_limits(limits: &Limits) -> Self {
        FormLimits {
            max_fields: 500,
            max_path_depth: 7,
            max_json_depth: limits.max_json_depth,
            max_chunks: 1000,
        }
    }
}

impl Default for FormLimits {
    fn default() -> Self {
        FormLimits::from_limits(&Limits::default())
    }
}

/// Why a minidump upload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MinidumpError {
    /// The form has no `upload_file_minidump` field.
    #[error("missing {MINIDUMP_FIELD} field")]
    MissingMinidump,
    /// The minidump does not start with `MDMP` (or `PMDM`).
    #[error("invalid minidump: no MDMP header")]
    NoMagic,
    /// A gzip or zstd container that does not decode.
    #[error("invalid minidump container: {0}")]
    Container(String),
    /// The minidump is over [`MinidumpLimits::max_minidump_size`] once
    /// unpacked.
    #[error("minidump over its size limit: {0}")]
    TooLarge(LimitError),
}

impl MinidumpError {
    /// Whether a limit was exceeded (HTTP 413), rather than the upload
    /// being invalid (HTTP 400).
    pub fn is_limit(&self) -> bool {
        matches!(self, MinidumpError::TooLarge(_))
    }
}

/// A form field that did not go into the event, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkippedField {
    /// A `sentry` field (or the joined `sentry__N` chunks) that is not a
    /// JSON object, or nests too deep.
    #[error("form field {field:?} is not a usable json object: {reason}")]
    InvalidJson {
        /// The field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A `sentry[...]` name that is not a sequence of `[key]`s.
    #[error("form field {field:?} has a malformed name")]
    MalformedName {
        /// The field name.
        field: String,
    },
    /// A `sentry[...]` path over [`FormLimits::max_path_depth`] keys.
    #[error("form field {field:?} nests deeper than {max} keys")]
    TooDeep {
        /// The field name.
        field: String,
        /// The limit.
        max: usize,
    },
    /// A field after [`FormLimits::max_fields`], or a chunk after
    /// [`FormLimits::max_chunks`].
    #[error("form field {field:?} is over the field count limit")]
    TooMany {
        /// The field name.
        field: String,
    },
}

/// The event that form fields describe.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormEvent {
    /// The event, a JSON object.
    pub event: Map<String, Value>,
    /// Fields that were not used.
    pub skipped: Vec<SkippedField>,
}

/// Builds the event that form fields describe (see the module docs), in
/// field order: later fields overwrite earlier ones.
pub fn event_from_form<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    limits: &FormLimits,
) -> FormEvent {
    let mut out = FormEvent::default();
    let mut chunks: BTreeMap<usize, &str> = BTreeMap::new();
    for (index, (name, value)) in fields.into_iter().enumerate() {
        if index >= limits.max_fields {
            out.skipped
                .push(SkippedField::TooMany { field: name.into() });
            continue;
        }
        if name == "sentry" || name.starts_with("sentry___") {
            merge_json(&mut out, name, value, limits);
        } else if let Some(n) = name
            .strip_prefix("sentry__")
            .and_then(|n| n.parse::<usize>().ok())
        {
            if chunks.len() >= limits.max_chunks && !chunks.contains_key(&n) {
                out.skipped
                    .push(SkippedField::TooMany { field: name.into() });
            } else {
                chunks.insert(n, value);
            }
        } else if name.starts_with("sentry[") {
            match path_of(name) {
                None => out
                    .skipped
                    .push(SkippedField::MalformedName { field: name.into() }),
                Some(path) if path.len() > limits.max_path_depth => {
                    out.skipped.push(SkippedField::TooDeep {
                        field: name.into(),
                        max: limits.max_path_depth,
                    });
                }
                Some(path) => set_path(&mut out.event, &path, value),
            }
        } else {
            set_path(&mut out.event, &["extra", name], value);
        }
    }
    if !chunks.is_empty() {
        let joined: String = chunks.values().copied().collect();
        merge_json(&mut out, "sentry__*", &joined, limits);
    }
    out
}

/// The keys of `sentry[a][b]`: `["a", "b"]`; `None` unless the name is
/// `sentry` followed by one or more `[key]`s (keys hold no brackets).
fn path_of(name: &str) -> Option<Vec<&str>> {
    let mut rest = name.strip_prefix("sentry")?;
    let mut path = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let key = &inner[..end];
        if key.contains('[') {
            return None;
        }
        path.push(key);
        rest = &inner[end + 1..];
    }
    (!path.is_empty()).then_some(path)
}

/// Sets a string at a path of keys, replacing what is not an object on
/// the way.
fn set_path(event: &mut Map<String, Value>, path: &[&str], value: &str) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = event;
    for key in parents {
        let entry = node
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(map) = entry else {
            return;
        };
        node = map;
    }
    node.insert((*last).to_owned(), Value::String(value.to_owned()));
}

fn merge_json(out: &mut FormEvent, field: &str, json: &str, limits: &FormLimits) {
    match from_json_slice::<Value>(json.as_bytes(), limits.max_json_depth) {
        Ok(Value::Object(map)) => merge(&mut out.event, map),
        Ok(_) => out.skipped.push(SkippedField::InvalidJson {
            field: field.into(),
            reason: "not an object".into(),
        }),
        Err(e) => out.skipped.push(SkippedField::InvalidJson {
            field: field.into(),
            reason: e.to_string(),
        }),
    }
}

/// Merges `from` into `into`: objects key by key, anything else replaces.
/// The recursion is as deep as `from`, whose depth the JSON parser limits.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// The compression container of a minidump, by its magic bytes: gzip or
/// zstd (Relay also reads bzip2 and xz, which this crate does not link).
pub fn container_of(data: &[u8]) -> Option<ContentEncoding> {
    match data {
        [0x1f, 0x8b, ..] => Some(ContentEncoding::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(ContentEncoding::Zstd),
        _ => None,
    }
}

/// Whether data starts with the minidump magic, in either byte order.
pub fn has_magic(data: &[u8]) -> bool {
    data.starts_with(b"MDMP") || data.starts_with(b"PMDM")
}

/// Unpacks a minidump from its container, if it has one, with `max_size`
/// as the cap on the result, and checks its magic bytes.
///
/// ```
/// use sentry_envelope::minidump::{decode_minidump, MinidumpError};
/// let dump = decode_minidump(bytes::Bytes::from_static(b"MDMP\x93\xa7"), 100)?;
/// assert_eq!(&dump[..4], b"MDMP");
/// assert!(matches!(decode_minidump(bytes::Bytes::from_static(b"ELF"), 100), Err(MinidumpError::NoMagic)));
/// # Ok::<(), MinidumpError>(())
/// ```
pub fn decode_minidump(data: Bytes, max_size: usize) -> Result<Bytes, MinidumpError> {
    let data = match container_of(&data) {
        Some(encoding) => decompress(encoding, &data, max_size).map_err(|e| match e {
            DecompressError::TooLarge(limit) => MinidumpError::TooLarge(limit),
            other => MinidumpError::Container(other.to_string()),
        })?,
        None => data,
    };
    if !has_magic(&data) {
        return Err(MinidumpError::NoMagic);
    }
    Ok(data)
}

/// The minidump in a multipart body nested in the minidump field, as old
/// Electron versions send it; `None` if the field holds no such body.
pub fn nested_minidump(data: &Bytes, limits: &MultipartLimits) -> Option<Bytes> {
    if has_magic(data) || container_of(data).is_some() {
        return None;
    }
    let boundary = multipart::boundary_of_body(data)?;
    multipart::parse(data, boundary, limits)
        .ok()?
        .into_iter()
        .find(|part| part.name == MINIDUMP_FIELD)
        .map(|part| part.data)
}

/// A file name without the container extension (`.gz`, `.zst`, and
/// Relay's `.xz`, `.bz2`), once the container is removed.
pub fn strip_container_extension(filename: &str) -> &str {
    [".gz", ".zst", ".xz", ".bz2"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))
        .unwrap_or(filename)
}

/// The attachment type of an upload's file, by its form field name.
pub fn attachment_type_of(field: &str) -> AttachmentType {
    match field {
        MINIDUMP_FIELD => AttachmentType::Minidump,
        "__sentry-breadcrumb1" | "__sentry-breadcrumb2" => AttachmentType::Breadcrumbs,
        "__sentry-event" => AttachmentType::EventPayload,
        "view-hierarchy.json" => AttachmentType::ViewHierarchy,
        _ => AttachmentType::Attachment,
    }
}

/// An attachment item for an uploaded file: its file name (else its field
/// name), content type and attachment type.
pub fn attachment_item(part: Part, ty: AttachmentType) -> Item {
    let mut item = Item::new(ItemType::Attachment, part.data);
    item.headers.filename = Some(part.filename.unwrap_or(part.name));
    item.headers.content_type = part.content_type;
    item.headers.attachment_type = Some(ty);
    item
}

/// What a minidump upload holds: the event its fields describe and its
/// files as attachment items, the minidump first.
#[derive(Clone, Debug, PartialEq)]
pub struct MinidumpUpload {
    /// The event: the form fields, with `platform` (`native`) and `level`
    /// (`fatal`) unless the fields set them.
    pub event: Map<String, Value>,
    /// The event id the fields give (`sentry[event_id]`, or `event_id` in
    /// the `sentry` JSON), if it is a valid one.
    pub event_id: Option<EventId>,
    /// The minidump, then the other files, as attachment items.
    pub attachments: Vec<Item>,
    /// Form fields that were not used.
    pub skipped: Vec<SkippedField>,
}

impl MinidumpUpload {
    fn new(form: FormEvent, attachments: Vec<Item>) -> Self {
        let mut event = form.event;
        let event_id = event
            .get("event_id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok());
        event
            .entry("platform")
            .or_insert_with(|| Value::String("native".into()));
        event
            .entry("level")
            .or_insert_with(|| Value::String("fatal".into()));
        MinidumpUpload {
            event,
            event_id,
            attachments,
            skipped: form.skipped,
        }
    }
}

/// Reads a minidump sent as the whole request body.
pub fn upload_from_body(
    body: Bytes,
    limits: &MinidumpLimits,
) -> Result<MinidumpUpload, MinidumpError> {
    let data = decode_minidump(body, limits.max_minidump_size)?;
    let item = attachment_item(
        Part {
            name: MINIDUMP_FILENAME.into(),
            filename: Some(MINIDUMP_FILENAME.into()),
            content_type: Some("application/x-dmp".into()),
            data,
        },
        AttachmentType::Minidump,
    );
    Ok(MinidumpUpload::new(FormEvent::default(), vec![item]))
}

/// Reads the parts of a multipart minidump upload: the first
/// `upload_file_minidump` part is the minidump (unpacked and checked), the
/// other parts with a file name (or that field name) are attachments, the
/// parts without one are the form fields.
pub fn upload_from_parts(
    parts: Vec<Part>,
    limits: &MinidumpLimits,
) -> Result<MinidumpUpload, MinidumpError> {
    let mut fields = Vec::new();
    let mut minidump = None;
    let mut attachments = Vec::new();
    for part in parts {
        if part.name == MINIDUMP_FIELD && minidump.is_none() {
            minidump = Some(part);
        } else if part.filename.is_none() && part.name != MINIDUMP_FIELD {
            fields.push(part);
        } else {
            let ty = attachment_type_of(&part.name);
            attachments.push(attachment_item(part, ty));
        }
    }
    let mut minidump = minidump.ok_or(MinidumpError::MissingMinidump)?;
    if let Some(nested) = nested_minidump(&minidump.data, &limits.nested) {
        minidump.data = nested;
    }
    minidump.data = decode_minidump(minidump.data, limits.max_minidump_size)?;
    minidump.filename = minidump
        .filename
        .map(|f| strip_container_extension(&f).to_owned());
    attachments.insert(0, attachment_item(minidump, AttachmentType::Minidump));

    let values: Vec<_> = fields
        .iter()
        .map(|p| String::from_utf8_lossy(&p.data))
        .collect();
    let form = event_from_form(
        fields
            .iter()
            .zip(&values)
            .map(|(p, v)| (p.name.as_str(), &**v)),
        &limits.form,
    );
    Ok(MinidumpUpload::new(form, attachments))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::protocol::json_depth;

    fn form(fields: &[(&str, &str)]) -> FormEvent {
        event_from_form(fields.iter().copied(), &FormLimits::default())
    }

    fn part(name: &str, filename: Option<&str>, data: &[u8]) -> Part {
        Part {
            name: name.into(),
            filename: filename.map(Into::into),
            content_type: None,
            data: Bytes::copy_from_slice(data),
        }
    }

    fn gzip(data: &[u8]) -> Bytes {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        Bytes::from(gz.finish().unwrap())
    }

    #[test]
    fn form_fields_build_an_event() {
        let out = form(&[
            ("sentry", r#"{"release":"1.0","tags":{"a":"1"}}"#),
            ("sentry[tags][b]", "2"),
            ("sentry[user][id]", "42"),
            ("prod", "my-app"),
            ("ver", "1.2.3"),
        ]);
        assert_eq!(
            Value::Object(out.event),
            json!({
                "release": "1.0",
                "tags": {"a": "1", "b": "2"},
                "user": {"id": "42"},
                "extra": {"prod": "my-app", "ver": "1.2.3"},
            })
        );
        assert!(out.skipped.is_empty());
    }

    #[test]
    fn chunks_and_namespaced_json_are_merged() {
        let out = form(&[
            ("sentry__2", r#""b"}}"#),
            ("sentry__1", r#"{"tags":{"a":"#),
            ("sentry___extra", r#"{"tags":{"c":"d"},"level":"error"}"#),
        ]);
        assert_eq!(
            Value::Object(out.event),
            json!({"tags": {"a": "b", "c": "d"}, "level": "error"})
        );
    }

    #[test]
    fn unusable_fields_are_skipped_not_refused() {
        let deep = format!("sentry{}", "[a]".repeat(8));
        let out = form(&[
            ("sentry", "{"),
            ("sentry", "[1]"),
            ("sentry[tags", "x"),
            ("sentry[a]b", "x"),
            ("sentry[a[b]]", "x"),
            (&deep, "x"),
            ("sentry[a][b][c][d][e][f][g]", "deep enough"),
            ("sentry[]", "empty key"),
        ]);
        assert_eq!(
            Value::Object(out.event),
            json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": "deep enough"}}}}}}, "": "empty key"})
        );
        assert_eq!(out.skipped.len(), 6, "{:?}", out.skipped);
        assert!(matches!(
            out.skipped[5],
            SkippedField::TooDeep { max: 7, .. }
        ));

        let limits = FormLimits {
            max_fields: 1,
            max_json_depth: 2,
            ..FormLimits::default()
        };
        let out = event_from_form([("sentry", r#"{"a":{"b":[]}}"#), ("x", "y")], &limits);
        assert!(out.event.is_empty());
        assert!(matches!(out.skipped[0], SkippedField::InvalidJson { .. }));
        assert!(matches!(out.skipped[1], SkippedField::TooMany { .. }));
    }

    #[test]
    fn a_path_replaces_what_is_not_an_object() {
        let out = form(&[("sentry[tags]", "flat"), ("sentry[tags][a]", "1")]);
        assert_eq!(Value::Object(out.event), json!({"tags": {"a": "1"}}));
    }

    #[test]
    fn minidumps_are_checked_and_unpacked() {
        assert!(decode_minidump(Bytes::from_static(b"MDMP\x93\xa7"), 100).is_ok());
        assert!(decode_minidump(Bytes::from_static(b"PMDM"), 100).is_ok());
        assert!(matches!(
            decode_minidump(Bytes::from_static(b"garbage"), 100),
            Err(MinidumpError::NoMagic)
        ));
        let mut dump = b"MDMP".to_vec();
        dump.extend_from_slice(&[0u8; 1000]);
        let gz = gzip(&dump);
        assert_eq!(decode_minidump(gz.clone(), 2000).unwrap(), dump);
        let err = decode_minidump(gz.clone(), 100).unwrap_err();
        assert!(err.is_limit(), "{err}");
        let err = decode_minidump(gz.slice(..20), 2000).unwrap_err();
        assert!(matches!(err, MinidumpError::Container(_)), "{err}");
        assert!(matches!(
            decode_minidump(gzip(b"not a dump"), 100),
            Err(MinidumpError::NoMagic)
        ));
        let zst = zstd::bulk::compress(&dump, 1).unwrap();
        assert_eq!(decode_minidump(zst.into(), 2000).unwrap(), dump);
    }

    #[test]
    fn an_upload_as_crashpad_sends_it() {
        let upload = upload_from_parts(
            vec![
                part("prod", None, b"my-app"),
                part("ver", None, b"1.0"),
                part("sentry[release]", None, b"my-app@1.0"),
                part(
                    "sentry[event_id]",
                    None,
                    b"9ec79c33ec9942ab8353589fcb2e04dc",
                ),
                part(MINIDUMP_FIELD, Some("crash.dmp.gz"), &gzip(b"MDMP\x93\xa7")),
                part("__sentry-breadcrumb1", Some("breadcrumb1"), b"[]"),
                part("log", Some("app.log"), b"last words"),
            ],
            &MinidumpLimits::default(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(upload.event),
            json!({
                "extra": {"prod": "my-app", "ver": "1.0"},
                "release": "my-app@1.0",
                "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
                "platform": "native",
                "level": "fatal",
            })
        );
        assert_eq!(
            upload.event_id.map(|id| id.to_string()).as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        let names: Vec<_> = upload
            .attachments
            .iter()
            .map(|i| {
                (
                    i.headers.filename.as_deref().unwrap(),
                    i.attachment_type().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("crash.dmp", AttachmentType::Minidump),
                ("breadcrumb1", AttachmentType::Breadcrumbs),
                ("app.log", AttachmentType::Attachment),
            ]
        );
        assert_eq!(&upload.attachments[0].payload[..], b"MDMP\x93\xa7");
    }

    #[test]
    fn uploads_without_a_minidump_are_refused() {
        let err = upload_from_parts(
            vec![part("sentry", None, b"{}")],
            &MinidumpLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, MinidumpError::MissingMinidump));
        let err = upload_from_parts(
            vec![part(MINIDUMP_FIELD, Some("x"), b"ELF")],
            &MinidumpLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, MinidumpError::NoMagic));
    }

    #[test]
    fn a_nested_multipart_minidump_is_unwrapped() {
        let inner = multipart::write(
            &[
                part("other", None, b"x"),
                part(MINIDUMP_FIELD, Some("m.dmp"), b"MDMP inner"),
            ],
            "inner",
        );
        let upload = upload_from_parts(
            vec![part(MINIDUMP_FIELD, Some("m.dmp"), &inner)],
            &MinidumpLimits::default(),
        )
        .unwrap();
        assert_eq!(&upload.attachments[0].payload[..], b"MDMP inner");
    }

    #[test]
    fn a_raw_body_is_a_minidump() {
        let upload = upload_from_body(
            Bytes::from_static(b"MDMP\x93\xa7"),
            &MinidumpLimits::default(),
        )
        .unwrap();
        assert_eq!(
            upload.attachments[0].headers.filename.as_deref(),
            Some(MINIDUMP_FILENAME)
        );
        assert_eq!(upload.event["platform"], "native");
        assert_eq!(upload.event_id, None);
        assert!(upload_from_body(Bytes::from_static(b"{}"), &MinidumpLimits::default()).is_err());
    }

    #[test]
    fn container_extensions_are_removed() {
        assert_eq!(strip_container_extension("a.dmp.gz"), "a.dmp");
        assert_eq!(strip_container_extension("a.zst"), "a");
        assert_eq!(strip_container_extension("a.dmp"), "a.dmp");
    }

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("sentry".to_owned()),
            "sentry(\\[[a-z]{0,3}\\]){1,9}",
            "sentry__[0-9]{1,2}",
            "sentry___[a-z]{1,3}",
            "sentry[\\[\\]a-z]{0,8}",
            "[a-z]{1,6}",
        ]
    }

    fn field_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{0,6}",
            Just("{".to_owned()),
            Just(r#"{"tags":{"a":"1"},"user":{"id":1}}"#.to_owned()),
            Just(r#"{"extra":"flat"}"#.to_owned()),
            (1usize..40).prop_map(|n| format!("{}{}", "{\"a\":".repeat(n), "1") + &"}".repeat(n)),
        ]
    }

    proptest! {
        #[test]
        fn any_form_gives_an_event_within_limits(
            fields in proptest::collection::vec((field_name(), field_value()), 0..12)
        ) {
            let limits = FormLimits { max_json_depth: 20, ..FormLimits::default() };
            let out = event_from_form(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())), &limits);
            let json = serde_json::to_vec(&out.event).unwrap();
            // A path adds at most its keys; JSON comes in at most at its limit.
            prop_assert!(json_depth(&json) <= limits.max_json_depth.max(limits.max_path_depth + 1));
            prop_assert!(out.skipped.len() <= fields.len() + 1);
        }
    }
}
