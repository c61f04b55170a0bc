//! Property tests: what is written parses back to the same value.

use bytes::Bytes;
use proptest::prelude::*;
use sentry_envelope::{
    AttachmentType, Auth, Dsn, Envelope, EnvelopeHeaders, EventId, Item, ItemType, Limits,
};
use serde_json::{Map, Value, json};

fn item_type() -> impl Strategy<Value = ItemType> {
    prop_oneof![
        Just(ItemType::Event),
        Just(ItemType::Transaction),
        Just(ItemType::Attachment),
        Just(ItemType::Session),
        Just(ItemType::Sessions),
        Just(ItemType::ClientReport),
        Just(ItemType::CheckIn),
        Just(ItemType::Log),
        Just(ItemType::Span),
        Just(ItemType::UserReportV2),
        Just(ItemType::ReplayRecording),
        "[a-z_]{1,12}".prop_map(|s| ItemType::from_name(&s)),
    ]
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn other_headers() -> impl Strategy<Value = Map<String, Value>> {
    // Keys that collide with named headers would be read into those fields.
    proptest::collection::btree_map("x_[a-z]{1,6}", json_scalar(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn item() -> impl Strategy<Value = Item> {
    (
        item_type(),
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::option::of("[a-z/+.-]{1,20}"),
        proptest::option::of(".{1,20}"),
        proptest::option::of(prop_oneof![
            Just(AttachmentType::Minidump),
            Just(AttachmentType::ViewHierarchy),
            "[a-z.]{1,10}".prop_map(|s| AttachmentType::from_name(&s)),
        ]),
        proptest::option::of(0u32..100),
        other_headers(),
    )
        .prop_map(
            |(ty, payload, content_type, filename, attachment_type, item_count, other)| {
                let mut item = Item::new(ty, payload);
                item.headers.content_type = content_type;
                item.headers.filename = filename;
                item.headers.attachment_type = attachment_type;
                item.headers.item_count = item_count;
                item.headers.other = other;
                item
            },
        )
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        proptest::option::of(any::<[u8; 16]>().prop_map(EventId::from_bytes)),
        proptest::option::of(Just("https://abc@example.com/42".to_owned())),
        proptest::option::of(Just(json!({"name": "sentry.python", "version": "2.0.0"}))),
        other_headers(),
        proptest::collection::vec(item(), 0..6),
    )
        .prop_map(|(event_id, dsn, sdk, other, items)| {
            let mut envelope = Envelope::new(EnvelopeHeaders {
                event_id,
                dsn,
                sent_at: None,
                sdk,
                trace: None,
                other,
            });
            for item in items {
                envelope.add_item(item);
            }
            envelope
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn envelope_round_trips(envelope in envelope()) {
        let written = envelope.to_vec();
        let parsed = Envelope::parse(Bytes::from(written.clone()), &Limits::unlimited()).unwrap();
        prop_assert_eq!(&parsed, &envelope);
        // The trailing newline is optional.
        let trimmed = &written[..written.len() - 1];
        let parsed = Envelope::parse(Bytes::copy_from_slice(trimmed), &Limits::unlimited()).unwrap();
        prop_assert_eq!(&parsed, &envelope);
    }

    #[test]
    fn implicit_lengths_parse_like_explicit_ones(envelope in envelope()) {
        // Write every item without `length` where its payload allows it.
        let mut text = serde_json::to_vec(envelope.headers()).unwrap();
        text.push(b'\n');
        let mut expected = Envelope::new(envelope.headers().clone());
        for item in envelope.items() {
            let mut item = item.clone();
            if item.payload.contains(&b'\n') {
                item.payload = Bytes::from(item.payload.iter().copied().filter(|&b| b != b'\n').collect::<Vec<u8>>());
            }
            text.extend(serde_json::to_vec(&item.headers).unwrap());
            text.push(b'\n');
            text.extend_from_slice(&item.payload);
            text.push(b'\n');
            expected.add_item(item);
        }
        let parsed = Envelope::parse(Bytes::from(text), &Limits::unlimited()).unwrap();
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn truncated_envelopes_never_panic(envelope in envelope(), cut in any::<prop::sample::Index>()) {
        let written = envelope.to_vec();
        let cut = cut.index(written.len());
        let _ = Envelope::parse(Bytes::copy_from_slice(&written[..cut]), &Limits::default());
    }

    #[test]
    fn dsn_round_trips(
        https in any::<bool>(),
        key in "[a-f0-9]{1,32}",
        secret in proptest::option::of("[a-f0-9]{1,32}"),
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        port in proptest::option::of(1u16..),
        path in proptest::collection::vec("[a-z0-9_-]{1,8}", 0..3),
        project in any::<u64>(),
    ) {
        let scheme = if https { "https" } else { "http" };
        let secret = secret.map(|s| format!(":{s}")).unwrap_or_default();
        let port = port.filter(|&p| p != 80 && p != 443).map(|p| format!(":{p}")).unwrap_or_default();
        let path: String = path.iter().map(|p| format!("/{p}")).collect();
        let text = format!("{scheme}://{key}{secret}@{host}{port}{path}/{project}");
        let dsn: Dsn = text.parse().unwrap();
        prop_assert_eq!(dsn.to_string(), text.clone());
        prop_assert_eq!(dsn.to_string().parse::<Dsn>().unwrap(), dsn.clone());
        prop_assert_eq!(dsn.project_id().value(), project);
        prop_assert_eq!(dsn.public_key(), key.as_str());
        let suffix = format!("/api/{project}/envelope/");
        prop_assert!(dsn.envelope_url().ends_with(&suffix));
    }

    #[test]
    fn any_string_parsed_as_dsn_round_trips(text in "\\PC{0,60}") {
        if let Ok(dsn) = text.parse::<Dsn>() {
            prop_assert_eq!(dsn.to_string().parse::<Dsn>().unwrap(), dsn);
        }
    }

    #[test]
    fn auth_header_round_trips(
        key in "[a-f0-9]{1,32}",
        version in proptest::option::of(1u16..20),
        client in proptest::option::of("[a-z.]{1,10}/[0-9.]{1,6}"),
    ) {
        let mut header = format!("Sentry sentry_key={key}");
        if let Some(v) = version { header.push_str(&format!(", sentry_version={v}")); }
        if let Some(c) = &client { header.push_str(&format!(", sentry_client={c}")); }
        let auth = Auth::from_header(&header).unwrap();
        prop_assert_eq!(auth, Auth { public_key: key, secret_key: None, version, client });
    }
}
