//! `multipart/form-data` bodies (minidump and attachment uploads).
//!
//! The first line is the `Content-Type` header value, the rest the body.
//! Properties:
//!
//! - `boundary`, `boundary_of_body` and `parse` never panic; a boundary
//!   they return is non-empty, at most `MAX_BOUNDARY_LEN` bytes, without a
//!   line break;
//! - what parses respects the limits (tried with small ones): the number of
//!   parts, each part's cap (file or field), the total;
//! - every part's data is a slice of the body;
//! - parts written with `write` (and the same boundary) parse back to equal
//!   parts, unless a name, file name or content type holds a line break
//!   (which `write` encodes as browsers do).

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sentry_envelope::multipart::{self, MAX_BOUNDARY_LEN, MultipartLimits, Part};

const SMALL: MultipartLimits = MultipartLimits {
    max_parts: 4,
    max_file_size: 64,
    max_field_size: 16,
    max_total_size: 100,
    max_header_size: 128,
};

fn check_boundary(boundary: &str) {
    assert!(!boundary.is_empty());
    assert!(boundary.len() <= MAX_BOUNDARY_LEN);
    assert!(!boundary.contains(['\r', '\n']));
}

fn check_within(body: &Bytes, parts: &[Part]) {
    let start = body.as_ptr() as usize;
    for part in parts {
        let p = part.data.as_ptr() as usize;
        assert!(
            part.data.is_empty() || (p >= start && p + part.data.len() <= start + body.len()),
            "part data is not a slice of the body"
        );
    }
}

fn writable(part: &Part) -> bool {
    let clean = |s: &str| !s.contains(['\r', '\n']);
    clean(&part.name)
        && part.filename.as_deref().is_none_or(clean)
        && part.content_type.as_deref().is_none_or(clean)
}

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let content_type = String::from_utf8_lossy(content_type);
    let body = Bytes::copy_from_slice(body);

    if let Some(b) = multipart::boundary_of_body(&body) {
        check_boundary(b);
    }
    let Ok(boundary) = multipart::boundary(&content_type) else {
        return;
    };
    check_boundary(&boundary);

    if let Ok(parts) = multipart::parse(&body, &boundary, &SMALL) {
        assert!(parts.len() <= SMALL.max_parts);
        let mut total = 0;
        for part in &parts {
            let cap = if part.is_file() {
                SMALL.max_file_size
            } else {
                SMALL.max_field_size
            };
            assert!(part.data.len() as u64 <= cap, "part over its cap");
            total += part.data.len() as u64;
        }
        assert!(total <= SMALL.max_total_size, "parts over the total");
        check_within(&body, &parts);
    }

    let Ok(parts) = multipart::parse(&body, &boundary, &MultipartLimits::default()) else {
        return;
    };
    check_within(&body, &parts);
    if parts.iter().all(writable) {
        let written = Bytes::from(multipart::write(&parts, &boundary));
        let loose = MultipartLimits {
            max_header_size: usize::MAX / 2,
            ..MultipartLimits::default()
        };
        let again = multipart::parse(&written, &boundary, &loose)
            .unwrap_or_else(|e| panic!("written parts do not parse: {e}"));
        assert_eq!(again, parts, "written parts parse to other parts");
    }
});
