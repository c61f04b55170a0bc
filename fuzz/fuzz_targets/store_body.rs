//! The legacy `/store/` body (JSON, base64 JSON, or base64 zlib JSON).
//!
//! - `decode_store_body` never panics;
//! - a body whose first non-whitespace byte is `{` comes back as it is;
//! - any other output is at most the cap (tried with 1 MiB and 100 bytes).

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sentry_envelope::store::decode_store_body;

fuzz_target!(|data: &[u8]| {
    let is_json = data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    for cap in [1024 * 1024, 100] {
        let Ok(out) = decode_store_body(Bytes::copy_from_slice(data), cap) else {
            continue;
        };
        if is_json {
            assert!(out == data, "a JSON body is not returned as is (cap {cap})");
        } else {
            assert!(
                out.len() <= cap,
                "{} bytes over the cap of {cap}",
                out.len()
            );
        }
    }
});
