//! Capped decompression.
//!
//! The first byte picks the encoding (and a chunk size), the rest is the
//! body. Properties:
//!
//! - `decompress` never panics, and its output is at most the cap (1 MiB);
//! - `BodyDecoder` fed the body in chunks agrees with `decompress`: both
//!   succeed with the same bytes, or both fail;
//! - the cap is exact: an output of `n` bytes decodes with a cap of `n`,
//!   and fails as too large with a cap of `n - 1`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_envelope::{BodyDecoder, ContentEncoding, DecompressError, decompress};

const CAP: usize = 1024 * 1024;

const ENCODINGS: [ContentEncoding; 5] = [
    ContentEncoding::Identity,
    ContentEncoding::Gzip,
    ContentEncoding::Deflate,
    ContentEncoding::Br,
    ContentEncoding::Zstd,
];

const CHUNK_SIZES: [usize; 8] = [1, 2, 3, 7, 64, 511, 4096, 65536];

fn chunked(
    encoding: ContentEncoding,
    body: &[u8],
    chunk_size: usize,
) -> Result<bytes::Bytes, DecompressError> {
    let mut decoder = BodyDecoder::new(encoding, CAP);
    for chunk in body.chunks(chunk_size) {
        decoder.write(chunk)?;
    }
    decoder.finish()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = ENCODINGS[usize::from(selector) % ENCODINGS.len()];
    let chunk_size = CHUNK_SIZES[(usize::from(selector) / ENCODINGS.len()) % CHUNK_SIZES.len()];

    let whole = decompress(encoding, body, CAP);
    if let Ok(out) = &whole {
        assert!(
            out.len() <= CAP,
            "{encoding}: {} bytes over the cap",
            out.len()
        );
    }

    let parts = chunked(encoding, body, chunk_size);
    match (&whole, &parts) {
        (Ok(a), Ok(b)) => assert!(
            a == b,
            "{encoding}: chunks of {chunk_size} give other bytes ({} vs {} bytes)",
            b.len(),
            a.len()
        ),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "{encoding}: whole and in chunks of {chunk_size} disagree:\n  whole:   {:?}\n  chunked: {:?}",
            a.as_ref().map(|o| o.len()),
            b.as_ref().map(|o| o.len())
        ),
    }

    if let Ok(out) = &whole {
        match decompress(encoding, body, out.len()) {
            Ok(exact) => assert!(
                exact == *out,
                "{encoding}: cap = output size changes the output"
            ),
            Err(e) => panic!(
                "{encoding}: {} bytes fail with a cap of {}: {e}",
                out.len(),
                out.len()
            ),
        }
        if !out.is_empty() {
            match decompress(encoding, body, out.len() - 1) {
                Err(DecompressError::TooLarge(_)) => {}
                other => panic!(
                    "{encoding}: {} bytes with a cap of {}: expected TooLarge, got {:?}",
                    out.len(),
                    out.len() - 1,
                    other.map(|o| o.len())
                ),
            }
        }
    }
});
