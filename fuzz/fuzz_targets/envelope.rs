//! Envelope framing and the payload schemas.
//!
//! - parsing never panics;
//! - what parses writes back to bytes that parse (with no limits) to the same
//!   envelope, and writing that again gives the same bytes;
//! - the envelope rules, limits and item quantities never panic, and an
//!   item's data category is the first of its quantities;
//! - each event, transaction and feedback payload that parses as an `Event`
//!   serializes to JSON that parses back to the same `Event`; the session,
//!   sessions, check-in, client report, user report and log payloads do the
//!   same with their schemas.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sentry_envelope::protocol::{
    CheckIn, ClientReport, Event, LogContainer, SessionAggregates, SessionUpdate, UserReport,
    from_json_slice,
};
use sentry_envelope::{Envelope, Item, ItemType, Limits};

/// Parses `payload` as `$ty`; when it parses, checks that its JSON parses
/// back to an equal value.
macro_rules! check_round_trip {
    ($ty:ty, $payload:expr, $max_depth:expr) => {{
        let payload: &[u8] = $payload;
        if let Ok(value) = from_json_slice::<$ty>(payload, $max_depth) {
            let json = match serde_json::to_vec(&value) {
                Ok(json) => json,
                Err(e) => panic!(
                    "{} does not serialize: {e}\npayload: {}",
                    stringify!($ty),
                    String::from_utf8_lossy(payload)
                ),
            };
            // No depth limit of ours: writing may nest one level deeper than
            // the input (a bare list becomes {"values": [...]}).
            match from_json_slice::<$ty>(&json, usize::MAX) {
                Ok(again) => assert_eq!(
                    again,
                    value,
                    "{} changes in a JSON round trip\npayload: {}\nwritten: {}",
                    stringify!($ty),
                    String::from_utf8_lossy(payload),
                    String::from_utf8_lossy(&json)
                ),
                Err(e) => panic!(
                    "written {} does not parse: {e}\npayload: {}\nwritten: {}",
                    stringify!($ty),
                    String::from_utf8_lossy(payload),
                    String::from_utf8_lossy(&json)
                ),
            }
        }
    }};
}

fn check_payload(item: &Item, max_depth: usize) {
    let payload = &item.payload[..];
    match item.ty() {
        ItemType::Event | ItemType::Transaction | ItemType::UserReportV2 => {
            check_round_trip!(Event, payload, max_depth)
        }
        ItemType::Session => check_round_trip!(SessionUpdate, payload, max_depth),
        ItemType::Sessions => check_round_trip!(SessionAggregates, payload, max_depth),
        ItemType::CheckIn => check_round_trip!(CheckIn, payload, max_depth),
        ItemType::ClientReport => check_round_trip!(ClientReport, payload, max_depth),
        ItemType::UserReport => check_round_trip!(UserReport, payload, max_depth),
        ItemType::Log => check_round_trip!(LogContainer, payload, max_depth),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(envelope) = Envelope::parse(Bytes::copy_from_slice(data), &limits) else {
        return;
    };

    let written = envelope.to_vec();
    match Envelope::parse(Bytes::from(written.clone()), &Limits::unlimited()) {
        Ok(again) => {
            assert_eq!(
                again,
                envelope,
                "envelope changes in a write/parse round trip\nwritten: {:?}",
                String::from_utf8_lossy(&written)
            );
            assert!(
                again.to_vec() == written,
                "writing a re-parsed envelope gives different bytes\nwritten: {:?}",
                String::from_utf8_lossy(&written)
            );
        }
        Err(e) => panic!(
            "written envelope does not parse: {e}\nwritten: {:?}",
            String::from_utf8_lossy(&written)
        ),
    }

    assert!(envelope.items().len() as u64 <= limits.max_item_count);
    assert_eq!(limits.check(&envelope), Ok(()));
    let _ = envelope.validate();
    let _ = envelope.requires_event_id();
    let _ = envelope.event_item();
    for item in envelope.items() {
        let quantities = item.quantities();
        assert_eq!(
            item.data_category(),
            quantities.first().map(|&(category, _)| category)
        );
        let _ = item.attachment_type();
        check_payload(item, limits.max_json_depth);
    }
});
