//! The legacy `/store/` request body.
//!
//! Old SDKs (the raven family) post one event to `/api/<id>/store/`. The body
//! is the event's JSON, possibly compressed by the `Content-Encoding` header
//! (handled by [`decompress`](crate::decompress) first), or base64 of
//! zlib-compressed JSON without any header saying so (raven-node,
//! raven-python in some configurations).

use base64::Engine as _;
use bytes::Bytes;

use crate::compression::{ContentEncoding, DecompressError, decompress};

/// Why a store body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreBodyError {
    /// The body is empty.
    #[error("empty store body")]
    Empty,
    /// Neither JSON nor base64.
    #[error("store body is neither json nor base64: {0}")]
    NotBase64(String),
    /// The base64 held a zlib stream that did not decompress.
    #[error("store body: {0}")]
    Decompress(#[from] DecompressError),
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

/// Turns a (already content-decoded) store body into event JSON bytes.
///
/// A body that starts with `{` is JSON. Anything else is base64; what it
/// decodes to is JSON if it starts with `{`, else a zlib (or raw deflate)
/// stream, decompressed with `cap` as the limit.
///
/// ```
/// use base64::Engine as _;
/// use std::io::Write;
/// let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
/// z.write_all(br#"{"message":"hi"}"#).unwrap();
/// let body = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
///
/// let json = sentry_envelope::store::decode_store_body(body.as_bytes().to_vec().into(), 1 << 20)?;
/// assert_eq!(&json[..], br#"{"message":"hi"}"#);
/// # Ok::<(), sentry_envelope::store::StoreBodyError>(())
/// ```
pub fn decode_store_body(body: Bytes, cap: usize) -> Result<Bytes, StoreBodyError> {
    let trimmed = trim_ascii(&body);
    if trimmed.is_empty() {
        return Err(StoreBodyError::Empty);
    }
    if trimmed[0] == b'{' {
        return Ok(body);
    }
    // Base64 is at most 4/3 of the zlib stream; a body this large cannot
    // decode to less than the cap's worth of input.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|e| StoreBodyError::NotBase64(e.to_string()))?;
    if trim_ascii(&decoded).first() == Some(&b'{') {
        if decoded.len() > cap {
            return Err(DecompressError::TooLarge(crate::LimitError::new(
                crate::LimitKind::EventSize,
                decoded.len() as u64,
                cap as u64,
            ))
            .into());
        }
        return Ok(Bytes::from(decoded));
    }
    Ok(decompress(ContentEncoding::Deflate, &decoded, cap)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            &decode_store_body(Bytes::from_static(b" {\"a\":1}"), 100).unwrap()[..],
            b" {\"a\":1}"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"{\"a\":1}");
        assert_eq!(
            &decode_store_body(b64.into_bytes().into(), 100).unwrap()[..],
            b"{\"a\":1}"
        );
        assert!(matches!(
            decode_store_body(Bytes::from_static(b"  "), 100),
            Err(StoreBodyError::Empty)
        ));
        assert!(matches!(
            decode_store_body(Bytes::from_static(b"%%%"), 100),
            Err(StoreBodyError::NotBase64(_))
        ));
        let not_zlib = base64::engine::general_purpose::STANDARD.encode(b"\x78\x9cgarbage");
        assert!(matches!(
            decode_store_body(not_zlib.into_bytes().into(), 100),
            Err(StoreBodyError::Decompress(_))
        ));
    }
}
