//! The Sentry wire format, as SDKs send it and Relay reads it.
//!
//! This crate is the bottom layer of the project: it knows the bytes and
//! nothing else. It has no async runtime, performs no I/O and never reads
//! the clock, so it can be embedded anywhere and fuzzed directly.
//!
//! # The envelope
//!
//! SDKs send data to `/api/<project_id>/envelope/` as an *envelope*: a line
//! of JSON headers, then items, each a line of JSON headers followed by a
//! payload. A payload is `length` bytes long when the item headers say so,
//! and otherwise runs to the next newline:
//!
//! ```text
//! {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b@sentry.example.com/42"}
//! {"type":"event","length":41,"content_type":"application/json"}
//! {"message":"hello world","level":"error"}
//! {"type":"attachment","length":6,"filename":"app.log"}
//! Hello
//!
//! ```
//!
//! ```
//! use sentry_envelope::{Envelope, ItemType, Limits, DataCategory};
//! use sentry_envelope::protocol::{from_json_slice, Event};
//!
//! let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://e12d836b15bb49d7bbf99e64295d995b@sentry.example.com/42\"}\n\
//! {\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\"}\n\
//! {\"message\":\"hello world\",\"level\":\"error\"}\n\
//! {\"type\":\"attachment\",\"length\":6,\"filename\":\"app.log\"}\n\
//! Hello\n\n";
//!
//! let limits = Limits::default();
//! let envelope = Envelope::parse(bytes::Bytes::from_static(body), &limits)?;
//! envelope.validate()?;
//! let [event_item, attachment] = envelope.items() else { panic!() };
//! assert_eq!(event_item.ty(), &ItemType::Event);
//! assert_eq!(attachment.data_category(), Some(DataCategory::Attachment));
//! assert_eq!(&attachment.payload[..], b"Hello\n");
//!
//! let event: Event = from_json_slice(&event_item.payload, limits.max_json_depth)?;
//! assert_eq!(event.message_text(), Some("hello world"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is here
//!
//! - [`Dsn`]: parse, validate and display DSNs; the endpoint URLs.
//! - [`Auth`], [`reconcile`]: the three ways a request names its client key.
//! - [`Envelope`], [`Item`], [`ItemType`], [`DataCategory`]: framing, item
//!   types, the envelope rules, and what each item counts as.
//! - [`Limits`]: Relay's default limits, and [`LimitError`] naming the one hit.
//! - [`decompress`], [`BodyDecoder`], [`read_capped`]: request bodies with a
//!   cap enforced while decompressing.
//! - [`protocol`]: serde schemas of the payloads, which keep unknown fields.
//! - [`store`]: the legacy `/store/` body.
//! - [`multipart`]: `multipart/form-data` bodies (minidump and attachment
//!   uploads), with limits on parts and sizes.
//! - [`minidump`]: minidump uploads: compressed containers, the `MDMP`
//!   magic, and the event that the form fields describe.
//! - [`security`]: CSP, Expect-CT, HPKP and Expect-Staple reports, turned
//!   into events.
//! - [`nel`]: Network Error Logging report lists.

#![forbid(unsafe_code)]

mod auth;
mod category;
mod compression;
mod dsn;
mod envelope;
mod item;
mod limits;
pub mod minidump;
pub mod multipart;
pub mod nel;
pub mod protocol;
mod redact;
pub mod security;
pub mod store;

pub use auth::{Auth, AuthError, AuthSource, RequestAuth, reconcile};
pub use category::DataCategory;
pub use compression::{BodyDecoder, ContentEncoding, DecompressError, decompress, read_capped};
pub use dsn::{Dsn, DsnError, ProjectId, Scheme};
pub use envelope::{
    Envelope, EnvelopeError, EnvelopeHeaders, ParseError, ParseErrorKind, RuleError,
};
pub use item::{AttachmentType, Item, ItemHeaders, ItemType};
pub use limits::{LimitError, LimitKind, Limits};
pub use protocol::EventId;
pub use redact::redact_url;
