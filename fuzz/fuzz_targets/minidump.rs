//! Minidump uploads: containers, the magic, form fields, whole uploads.
//!
//! The first byte picks what is fuzzed, the rest is the input:
//!
//! - 0, a minidump body: `decode_minidump` and `upload_from_body` never
//!   panic; what they return starts with the minidump magic, is at most the
//!   cap, and is the input itself when the input has no container;
//! - 1, form fields (lines of `name=value`): `event_from_form` never
//!   panics, and the event nests no deeper than the JSON depth limit or the
//!   path depth limit (plus the root);
//! - 2, a multipart body (its boundary is its first line, as
//!   `boundary_of_body` reads it): `upload_from_parts` never panics; an
//!   upload has the minidump first (with the magic, at most the cap), every
//!   attachment is an attachment item with a file name, and the event has
//!   `platform` and `level`.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sentry_envelope::minidump::{
    self, FormLimits, MinidumpLimits, MinidumpUpload, decode_minidump, has_magic,
};
use sentry_envelope::multipart::{self, MultipartLimits};
use sentry_envelope::protocol::json_depth;
use sentry_envelope::{AttachmentType, ItemType};

const CAP: usize = 64 * 1024;

fn limits() -> MinidumpLimits {
    MinidumpLimits {
        max_minidump_size: CAP,
        form: FormLimits {
            max_fields: 50,
            max_path_depth: 7,
            max_json_depth: 32,
            max_chunks: 20,
        },
        nested: MultipartLimits::default(),
    }
}

fn check_upload(upload: &MinidumpUpload) {
    let (dump, rest) = upload
        .attachments
        .split_first()
        .expect("an upload without its minidump");
    assert_eq!(dump.attachment_type(), Some(AttachmentType::Minidump));
    assert!(has_magic(&dump.payload), "a minidump without the magic");
    for item in rest {
        assert_eq!(item.ty(), &ItemType::Attachment);
        assert!(item.headers.filename.is_some());
    }
    assert!(upload.event.contains_key("platform"));
    assert!(upload.event.contains_key("level"));
    serde_json::to_vec(&upload.event).expect("the event does not serialize");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let limits = limits();
    match selector % 3 {
        0 => {
            let body = Bytes::copy_from_slice(input);
            let container = minidump::container_of(input).is_some();
            if let Ok(dump) = decode_minidump(body.clone(), CAP) {
                assert!(has_magic(&dump));
                if container {
                    assert!(dump.len() <= CAP, "{} bytes over the cap", dump.len());
                } else {
                    assert_eq!(dump, body, "a plain minidump was changed");
                }
            }
            if let Ok(upload) = minidump::upload_from_body(body, &limits) {
                check_upload(&upload);
                assert_eq!(upload.attachments.len(), 1);
            }
        }
        1 => {
            let text = String::from_utf8_lossy(input);
            let fields: Vec<(&str, &str)> = text
                .split('\n')
                .map(|line| line.split_once('=').unwrap_or((line, "")))
                .collect();
            let out = minidump::event_from_form(fields.iter().copied(), &limits.form);
            let json = serde_json::to_vec(&out.event).expect("the event does not serialize");
            let max = limits.form.max_json_depth.max(limits.form.max_path_depth + 1);
            assert!(json_depth(&json) <= max, "the event nests too deep");
            assert!(out.skipped.len() <= fields.len() + 1);
        }
        _ => {
            let body = Bytes::copy_from_slice(input);
            let Some(boundary) = multipart::boundary_of_body(&body) else {
                return;
            };
            let Ok(parts) = multipart::parse(&body, boundary, &MultipartLimits::default()) else {
                return;
            };
            if let Ok(upload) = minidump::upload_from_parts(parts, &limits) {
                check_upload(&upload);
                assert!(upload.attachments[0].payload.len() <= CAP.max(body.len()));
            }
        }
    }
});
