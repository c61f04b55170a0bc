//! Envelope framing: parsing and writing.
//!
//! The grammar, as SDKs write it and Relay reads it:
//!
//! ```text
//! envelope = headers ( "\n" | EOF ) *item
//! item     = item-headers ( "\n" | EOF ) payload ( "\n" | EOF )
//! payload  = <length bytes>            ; when the item headers have "length"
//!          | <bytes up to "\n" or EOF> ; when they do not
//! ```
//!
//! Headers are one JSON object each. Whitespace before an item's headers is
//! skipped (so an extra blank line between items is harmless, but a body that
//! ends in whitespace after the last item is truncated). A `\r` before a `\n`
//! belongs to the payload. Writing always emits `length`, so any payload
//! survives `parse(write(e)) == e`.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::item::{Item, ItemHeaders, ItemType};
use crate::limits::{LimitError, LimitKind, Limits};
use crate::protocol::EventId;

/// The headers of an envelope, its first line.
///
/// Headers this version does not know stay in `other`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeHeaders {
    /// The id of the event the envelope carries or attaches to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// The DSN the SDK was configured with (authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// When the SDK sent the envelope (RFC 3339), for clock-drift correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// The SDK that sent it (`{"name", "version", ...}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<Value>,
    /// The dynamic sampling context of the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
    /// Any other header, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An item header line as read: the stored headers plus the framing `length`.
#[derive(Deserialize)]
struct RawItemHeaders {
    #[serde(default)]
    length: Option<u32>,
    #[serde(flatten)]
    headers: ItemHeaders,
}

/// A Sentry envelope: headers and items.
///
/// ```
/// use sentry_envelope::{Envelope, ItemType, Limits};
///
/// let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
///              {\"type\":\"event\",\"length\":19}\n\
///              {\"message\":\"hello\"}\n\
///              {\"type\":\"attachment\",\"filename\":\"log.txt\"}\n\
///              line one\n";
/// let envelope = Envelope::parse(bytes::Bytes::from_static(body), &Limits::default())?;
/// assert_eq!(envelope.items().len(), 2);
/// assert_eq!(envelope.items()[1].ty(), &ItemType::Attachment);
/// assert_eq!(&envelope.items()[1].payload[..], b"line one");
/// assert_eq!(Envelope::parse(envelope.to_vec().into(), &Limits::default())?, envelope);
/// # Ok::<(), sentry_envelope::EnvelopeError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Envelope {
    headers: EnvelopeHeaders,
    items: Vec<Item>,
}

/// What is wrong with the bytes of an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The body is empty or only whitespace.
    MissingHeader,
    /// The envelope headers are not a JSON object of the expected shape.
    InvalidHeader(String),
    /// Headers or a payload are followed by something other than `\n`.
    MissingNewline,
    /// An item header promised more bytes than the body has, or the body
    /// ends where an item header should start.
    UnexpectedEof,
    /// An item header is not a JSON object of the expected shape.
    InvalidItemHeader(String),
}

/// A malformed envelope, with the byte offset where parsing stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct ParseError {
    /// Offset into the (decompressed) body.
    pub offset: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::MissingHeader => f.write_str("missing envelope header"),
            ParseErrorKind::InvalidHeader(e) => write!(f, "invalid envelope header: {e}"),
            ParseErrorKind::MissingNewline => {
                f.write_str("missing newline after header or payload")
            }
            ParseErrorKind::UnexpectedEof => f.write_str("unexpected end of envelope"),
            ParseErrorKind::InvalidItemHeader(e) => write!(f, "invalid item header: {e}"),
        }
    }
}

/// Why an envelope could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes are not a valid envelope (HTTP 400).
    #[error("malformed envelope: {0}")]
    Malformed(#[from] ParseError),
    /// The envelope is over a limit (HTTP 413).
    #[error("envelope too large: {0}")]
    TooLarge(#[from] LimitError),
}

/// A broken envelope rule (see [`Envelope::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// Two items that each become an event.
    #[error("duplicate event item: {second} after {first}")]
    DuplicateEventItem {
        /// The first event item's type.
        first: ItemType,
        /// The second.
        second: ItemType,
    },
}

fn json_error_message(error: &serde_json::Error) -> String {
    // serde_json appends "at line L column C"; the offset says where instead.
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(pos) => text[..pos].to_owned(),
        None => text,
    }
}

fn skip_whitespace(bytes: &[u8], mut offset: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(offset) {
        offset += 1;
    }
    offset
}

/// Reads one JSON value at `offset` (after optional whitespace) and returns
/// it with the offset just past it.
fn read_json_line<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    offset: usize,
) -> Result<(T, usize), (usize, serde_json::Error)> {
    let start = skip_whitespace(bytes, offset);
    let mut stream = serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<T>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, start + stream.byte_offset())),
        Some(Err(e)) => Err((start + error_column_offset(&bytes[start..], &e), e)),
        // Only on empty input, which callers rule out; an error, not a panic.
        None => Err((start, serde::de::Error::custom("unexpected end of input"))),
    }
}

/// serde_json reports line and column; headers are one line, so translate.
fn error_column_offset(bytes: &[u8], error: &serde_json::Error) -> usize {
    let (line, column) = (error.line(), error.column());
    if line == 0 {
        return 0;
    }
    let mut offset = 0;
    for _ in 1..line {
        match bytes[offset..].iter().position(|&b| b == b'\n') {
            Some(pos) => offset += pos + 1,
            None => return bytes.len(),
        }
    }
    (offset + column.saturating_sub(1)).min(bytes.len())
}

fn require_newline(bytes: &[u8], offset: usize) -> Result<(), ParseError> {
    match bytes.get(offset) {
        None | Some(b'\n') => Ok(()),
        Some(_) => Err(ParseError {
            offset,
            kind: ParseErrorKind::MissingNewline,
        }),
    }
}

impl Envelope {
    /// An empty envelope with the given headers.
    pub fn new(headers: EnvelopeHeaders) -> Self {
        Envelope {
            headers,
            items: Vec::new(),
        }
    }

    /// Parses an envelope from a (decompressed) body.
    ///
    /// Applies the whole-envelope limits (size, item count) while parsing,
    /// then the item limits of [`Limits::check`]. Payloads are not parsed;
    /// they share `bytes`.
    pub fn parse(bytes: Bytes, limits: &Limits) -> Result<Envelope, EnvelopeError> {
        let size = bytes.len() as u64;
        if size > limits.max_envelope_size {
            return Err(
                LimitError::new(LimitKind::EnvelopeSize, size, limits.max_envelope_size).into(),
            );
        }
        let envelope = Self::parse_framing(&bytes, limits.max_item_count)?;
        limits.check(&envelope)?;
        Ok(envelope)
    }

    fn parse_framing(bytes: &Bytes, max_items: u64) -> Result<Envelope, EnvelopeError> {
        let slice = bytes.as_ref();
        let start = skip_whitespace(slice, 0);
        if start == slice.len() {
            return Err(ParseError {
                offset: start,
                kind: ParseErrorKind::MissingHeader,
            }
            .into());
        }
        let (headers, end) =
            read_json_line::<EnvelopeHeaders>(slice, start).map_err(|(offset, e)| ParseError {
                offset,
                kind: ParseErrorKind::InvalidHeader(json_error_message(&e)),
            })?;
        require_newline(slice, end)?;
        let mut offset = end + 1;
        let mut items = Vec::new();
        while offset < slice.len() {
            if items.len() as u64 >= max_items {
                return Err(LimitError::new(
                    LimitKind::ItemCount,
                    items.len() as u64 + 1,
                    max_items,
                )
                .into());
            }
            let (item, next) = Self::parse_item(bytes, offset)?;
            items.push(item);
            offset = next;
        }
        Ok(Envelope { headers, items })
    }

    /// Parses one item at `offset`; returns it and the offset of the next.
    fn parse_item(bytes: &Bytes, offset: usize) -> Result<(Item, usize), ParseError> {
        let slice = bytes.as_ref();
        let start = skip_whitespace(slice, offset);
        if start == slice.len() {
            return Err(ParseError {
                offset: start,
                kind: ParseErrorKind::UnexpectedEof,
            });
        }
        let (raw, headers_end) =
            read_json_line::<RawItemHeaders>(slice, start).map_err(|(offset, e)| ParseError {
                offset,
                kind: ParseErrorKind::InvalidItemHeader(json_error_message(&e)),
            })?;
        require_newline(slice, headers_end)?;
        let payload_start = (headers_end + 1).min(slice.len());
        let payload_end = match raw.length {
            Some(length) => {
                let end = payload_start + length as usize;
                if end > slice.len() {
                    return Err(ParseError {
                        offset: slice.len(),
                        kind: ParseErrorKind::UnexpectedEof,
                    });
                }
                require_newline(slice, end)?;
                end
            }
            None => slice[payload_start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(slice.len(), |pos| payload_start + pos),
        };
        let item = Item {
            headers: raw.headers,
            payload: bytes.slice(payload_start..payload_end),
        };
        Ok((item, payload_end + 1))
    }

    /// Writes the envelope; every item gets an explicit `length`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct WriteItemHeaders<'a> {
            #[serde(rename = "type")]
            ty: &'a ItemType,
            length: usize,
            #[serde(flatten)]
            rest: ItemHeadersRest<'a>,
        }
        /// The headers after `type`, so that `type` and `length` come first.
        struct ItemHeadersRest<'a>(&'a ItemHeaders);
        impl Serialize for ItemHeadersRest<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let h = self.0;
                let mut map = s.serialize_map(None)?;
                if let Some(v) = &h.content_type {
                    map.serialize_entry("content_type", v)?;
                }
                if let Some(v) = &h.filename {
                    map.serialize_entry("filename", v)?;
                }
                if let Some(v) = &h.attachment_type {
                    map.serialize_entry("attachment_type", v)?;
                }
                if let Some(v) = &h.item_count {
                    map.serialize_entry("item_count", v)?;
                }
                if let Some(v) = &h.platform {
                    map.serialize_entry("platform", v)?;
                }
                for (k, v) in &h.other {
                    if k != "type" && k != "length" {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
        }

        // Serializing maps of strings and JSON values into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &self.headers);
        out.push(b'\n');
        for item in &self.items {
            let headers = WriteItemHeaders {
                ty: &item.headers.ty,
                length: item.payload.len(),
                rest: ItemHeadersRest(&item.headers),
            };
            let _ = serde_json::to_writer(&mut *out, &headers);
            out.push(b'\n');
            out.extend_from_slice(&item.payload);
            out.push(b'\n');
        }
    }

    /// The envelope as bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let size = 64 + self.items.iter().map(|i| i.len() + 64).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        self.write_to(&mut out);
        out
    }

    /// The headers.
    pub fn headers(&self) -> &EnvelopeHeaders {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut EnvelopeHeaders {
        &mut self.headers
    }

    /// The items, in order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The items, to change or remove.
    pub fn items_mut(&mut self) -> &mut Vec<Item> {
        &mut self.items
    }

    /// Appends an item.
    pub fn add_item(&mut self, item: Item) {
        self.items.push(item);
    }

    /// The event id of the envelope header.
    ///
    /// This id wins over any `event_id` inside an event payload: the event
    /// an envelope carries is stored under the envelope's id.
    pub fn event_id(&self) -> Option<EventId> {
        self.headers.event_id
    }

    /// The first item that is, or becomes, an event.
    pub fn event_item(&self) -> Option<&Item> {
        self.items.iter().find(|i| i.ty().is_event())
    }

    /// Whether some item needs the envelope to have an event id.
    pub fn requires_event_id(&self) -> bool {
        self.items.iter().any(|i| i.ty().requires_event())
    }

    /// Gives the envelope an event id if one of its items needs one and the
    /// header has none. The caller supplies the new id (this crate has no
    /// source of randomness). Returns the envelope's id.
    pub fn ensure_event_id(&mut self, new_id: impl FnOnce() -> EventId) -> Option<EventId> {
        if self.headers.event_id.is_none() && self.requires_event_id() {
            self.headers.event_id = Some(new_id());
        }
        self.headers.event_id
    }

    /// Checks the envelope rules: at most one item that becomes an event
    /// (an event, a transaction, a security report or an Unreal report;
    /// never an event and a transaction together).
    pub fn validate(&self) -> Result<(), RuleError> {
        let mut events = self.items.iter().filter(|i| i.ty().is_event());
        if let (Some(first), Some(second)) = (events.next(), events.next()) {
            return Err(RuleError::DuplicateEventItem {
                first: first.ty().clone(),
                second: second.ty().clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9ec79c33ec9942ab8353589fcb2e04dc";

    fn parse(text: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::parse(Bytes::copy_from_slice(text), &Limits::default())
    }

    fn malformed(text: &[u8]) -> ParseError {
        match parse(text) {
            Err(EnvelopeError::Malformed(e)) => e,
            other => panic!(
                "expected a parse error for {:?}, got {other:?}",
                String::from_utf8_lossy(text)
            ),
        }
    }

    fn payloads(e: &Envelope) -> Vec<&[u8]> {
        e.items().iter().map(|i| &i.payload[..]).collect()
    }

    #[test]
    fn header_only_with_and_without_newline() {
        for body in [
            &b"{}"[..],
            b"{}\n",
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}",
        ] {
            let e = parse(body).unwrap();
            assert!(e.items().is_empty());
        }
        assert_eq!(
            parse(b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}")
                .unwrap()
                .event_id()
                .unwrap()
                .to_string(),
            ID
        );
    }

    #[test]
    fn explicit_length() {
        let e = parse(b"{}\n{\"type\":\"attachment\",\"length\":11}\nhello\nworld\n").unwrap();
        assert_eq!(payloads(&e), [&b"hello\nworld"[..]]);
    }

    #[test]
    fn implicit_length_ends_at_newline_or_eof() {
        let e = parse(b"{}\n{\"type\":\"attachment\"}\nhello\n{\"type\":\"event\"}\n{}").unwrap();
        assert_eq!(payloads(&e), [&b"hello"[..], b"{}"]);
    }

    #[test]
    fn carriage_return_is_payload() {
        let e = parse(b"{}\n{\"type\":\"attachment\"}\nhello\r\n").unwrap();
        assert_eq!(payloads(&e), [&b"hello\r"[..]]);
        let e = parse(b"{}\n{\"type\":\"attachment\",\"length\":6}\nhello\r\n").unwrap();
        assert_eq!(payloads(&e), [&b"hello\r"[..]]);
    }

    #[test]
    fn empty_payloads() {
        for body in [
            &b"{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"attachment\",\"length\":0}\n"[..],
            b"{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"attachment\",\"length\":0}",
            b"{}\n{\"type\":\"attachment\"}\n\n{\"type\":\"attachment\"}\n",
            b"{}\n{\"type\":\"attachment\"}\n\n{\"type\":\"attachment\"}",
        ] {
            let e = parse(body).unwrap();
            assert_eq!(payloads(&e), [&b""[..], b""], "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn trailing_newline_is_optional() {
        let with = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n").unwrap();
        let without = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}").unwrap();
        assert_eq!(with, without);
    }

    #[test]
    fn blank_lines_before_item_headers_are_skipped() {
        let e = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n\n\n{\"type\":\"session\"}\n{}")
            .unwrap();
        assert_eq!(e.items().len(), 2);
    }

    #[test]
    fn unknown_types_and_headers_are_kept() {
        let body = b"{\"x-custom\":1}\n{\"type\":\"brand_new\",\"foo\":[1,2]}\nabc\n";
        let e = parse(body).unwrap();
        assert_eq!(e.headers().other["x-custom"], 1);
        let item = &e.items()[0];
        assert_eq!(item.ty(), &ItemType::Unknown("brand_new".into()));
        assert_eq!(item.headers.other["foo"], serde_json::json!([1, 2]));
        let again = parse(&e.to_vec()).unwrap();
        assert_eq!(again, e);
        assert!(
            String::from_utf8_lossy(&e.to_vec()).contains("\"type\":\"brand_new\",\"length\":3")
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases: &[(&[u8], ParseErrorKind, usize)] = &[
            (b"", ParseErrorKind::MissingHeader, 0),
            (b"  \n ", ParseErrorKind::MissingHeader, 4),
            (b"{} x", ParseErrorKind::MissingNewline, 2),
            (
                b"{}\n{\"type\":\"event\",\"length\":5}\nabc",
                ParseErrorKind::UnexpectedEof,
                34,
            ),
            (
                b"{}\n{\"type\":\"event\",\"length\":2}\nabc",
                ParseErrorKind::MissingNewline,
                33,
            ),
            (
                b"{}\n{\"type\":\"event\"} {}",
                ParseErrorKind::MissingNewline,
                19,
            ),
            (
                b"{}\n{\"type\":\"event\"}\n{}\n\n",
                ParseErrorKind::UnexpectedEof,
                24,
            ),
        ];
        for (body, kind, offset) in cases {
            let e = malformed(body);
            assert_eq!(
                (&e.kind, e.offset),
                (kind, *offset),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let e = malformed(b"[1]\n");
        assert!(matches!(e.kind, ParseErrorKind::InvalidHeader(_)));
        let e = malformed(b"{}\n{\"length\":2}\n{}");
        assert_eq!(
            e.to_string(),
            "invalid item header: missing field `type` at byte 14"
        );
        let e = malformed(b"{}\n{\"type\":\"event\",\"length\":-1}\n");
        assert!(
            matches!(e.kind, ParseErrorKind::InvalidItemHeader(_)),
            "{e}"
        );
        let e = malformed(b"{\"event_id\":\"nope\"}\n");
        assert!(matches!(e.kind, ParseErrorKind::InvalidHeader(_)), "{e}");
        let e = malformed(b"{}\n{\"type\":\"event\",\"length\":1\n");
        assert!(
            matches!(e.kind, ParseErrorKind::InvalidItemHeader(_)),
            "{e}"
        );
    }

    #[test]
    fn envelope_limits() {
        let limits = Limits {
            max_envelope_size: 10,
            ..Limits::default()
        };
        let err = Envelope::parse(Bytes::from_static(b"{}\n{\"type\":\"event\"}\n{}"), &limits)
            .unwrap_err();
        assert!(matches!(
            err,
            EnvelopeError::TooLarge(LimitError {
                kind: LimitKind::EnvelopeSize,
                ..
            })
        ));

        let limits = Limits {
            max_item_count: 2,
            ..Limits::default()
        };
        let body = b"{}\n{\"type\":\"a\"}\n\n{\"type\":\"a\"}\n\n{\"type\":\"a\"}\n";
        let err = Envelope::parse(Bytes::from_static(body), &limits).unwrap_err();
        assert!(matches!(
            err,
            EnvelopeError::TooLarge(LimitError {
                kind: LimitKind::ItemCount,
                ..
            })
        ));
    }

    #[test]
    fn rules() {
        let mut e = parse(b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"attachment\"}\nx\n").unwrap();
        assert!(e.validate().is_ok());
        assert!(e.requires_event_id());
        let id: EventId = ID.parse().unwrap();
        assert_eq!(e.ensure_event_id(|| id), Some(id));

        let e = parse(b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"transaction\"}\n{}\n").unwrap();
        assert_eq!(
            e.validate(),
            Err(RuleError::DuplicateEventItem {
                first: ItemType::Event,
                second: ItemType::Transaction
            })
        );
        let mut sessions = parse(b"{}\n{\"type\":\"session\"}\n{}\n").unwrap();
        assert!(!sessions.requires_event_id());
        assert_eq!(sessions.ensure_event_id(|| id), None);
    }
}
