//! The on-disk framing of one record in a segment file.
//!
//! All integers are little-endian:
//!
//! ```text
//! offset  size  field
//! 0       4     body_len   length of the body that follows the header
//! 4       4     crc        CRC-32 (IEEE) of the body
//! 8       8     offset     the record's offset in its partition
//! 16      8     timestamp  milliseconds since the Unix epoch (signed)
//! 24      4     key_tag    0 = no key, else key length + 1
//! 28      k     key
//! 28+k    p     payload    the rest of the body
//! ```
//!
//! A segment file is a sequence of frames and nothing else; its name is the
//! offset of its first record. A torn write leaves a short header, a short
//! body or a body whose CRC does not match; recovery truncates there.

use std::ops::Range;

/// Bytes before the body: length and CRC.
pub(crate) const HEADER_LEN: usize = 8;
/// Bytes of the body before the key: offset, timestamp, key tag.
pub(crate) const BODY_FIXED_LEN: usize = 20;

/// The header of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Length of the body.
    pub(crate) body_len: u32,
    /// CRC-32 of the body.
    pub(crate) crc: u32,
}

impl Header {
    pub(crate) fn parse(bytes: [u8; HEADER_LEN]) -> Header {
        let [a, b, c, d, e, f, g, h] = bytes;
        Header {
            body_len: u32::from_le_bytes([a, b, c, d]),
            crc: u32::from_le_bytes([e, f, g, h]),
        }
    }

    /// Bytes the whole frame occupies on disk.
    pub(crate) fn frame_len(self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.body_len)
    }
}

/// The fixed fields at the start of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fixed {
    pub(crate) offset: u64,
    pub(crate) timestamp_ms: i64,
    /// Key length, if the record has a key.
    pub(crate) key_len: Option<u32>,
}

/// Why a frame is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("body of {0} bytes is shorter than the fixed fields")]
    TooShort(u32),
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Crc { stored: u32, computed: u32 },
    #[error("key of {key_len} bytes does not fit a body of {body_len} bytes")]
    KeyOverflow { key_len: u32, body_len: u32 },
}

/// Length of the body for a record with this key and payload, if it fits the
/// 32-bit length field.
pub(crate) fn body_len(key: Option<&[u8]>, payload: &[u8]) -> Option<u32> {
    let len = BODY_FIXED_LEN
        .checked_add(key.map_or(0, <[u8]>::len))?
        .checked_add(payload.len())?;
    u32::try_from(len).ok()
}

/// Appends one frame to `out`. The caller has checked the length with
/// [`body_len`] (and against the configured record limit).
pub(crate) fn encode(
    out: &mut Vec<u8>,
    offset: u64,
    timestamp_ms: i64,
    key: Option<&[u8]>,
    payload: &[u8],
    body_len: u32,
) {
    let key_tag = match key {
        // The key fits in a body whose length fits in a u32.
        Some(key) => u32::try_from(key.len()).map_or(u32::MAX, |n| n.saturating_add(1)),
        None => 0,
    };
    let start = out.len();
    out.reserve(HEADER_LEN + body_len as usize);
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // CRC, filled in below
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    out.extend_from_slice(&key_tag.to_le_bytes());
    if let Some(key) = key {
        out.extend_from_slice(key);
    }
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + HEADER_LEN..]);
    out[start + 4..start + HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the fixed fields from the first [`BODY_FIXED_LEN`] bytes of a body
/// of `body_len` bytes (the CRC is not checked here).
pub(crate) fn parse_fixed(prefix: &[u8], body_len: u32) -> Result<Fixed, FrameError> {
    let Some(fixed) = prefix.get(..BODY_FIXED_LEN) else {
        return Err(FrameError::TooShort(body_len));
    };
    if (body_len as usize) < BODY_FIXED_LEN {
        return Err(FrameError::TooShort(body_len));
    }
    let u64_at = |i: usize| {
        let mut b = [0; 8];
        b.copy_from_slice(&fixed[i..i + 8]);
        b
    };
    let mut tag = [0; 4];
    tag.copy_from_slice(&fixed[16..20]);
    let key_tag = u32::from_le_bytes(tag);
    let key_len = key_tag.checked_sub(1);
    if let Some(key_len) = key_len {
        if u64::from(key_len) > u64::from(body_len) - BODY_FIXED_LEN as u64 {
            return Err(FrameError::KeyOverflow { key_len, body_len });
        }
    }
    Ok(Fixed {
        offset: u64::from_le_bytes(u64_at(0)),
        timestamp_ms: i64::from_le_bytes(u64_at(8)),
        key_len,
    })
}

/// A decoded body: fixed fields and where key and payload sit in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) fixed: Fixed,
    pub(crate) key: Option<Range<usize>>,
    pub(crate) payload: Range<usize>,
}

/// Checks a whole body against the header's CRC and locates key and payload.
pub(crate) fn decode(header: Header, body: &[u8]) -> Result<Decoded, FrameError> {
    let computed = crc32fast::hash(body);
    if computed != header.crc {
        return Err(FrameError::Crc {
            stored: header.crc,
            computed,
        });
    }
    let fixed = parse_fixed(body, header.body_len)?;
    let key_end = BODY_FIXED_LEN + fixed.key_len.map_or(0, |n| n as usize);
    Ok(Decoded {
        fixed,
        key: fixed.key_len.map(|_| BODY_FIXED_LEN..key_end),
        payload: key_end..body.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(offset: u64, key: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let len = body_len(key, payload).unwrap();
        encode(&mut out, offset, -5, key, payload, len);
        out
    }

    fn split(frame: &[u8]) -> (Header, &[u8]) {
        let header = Header::parse(frame[..HEADER_LEN].try_into().unwrap());
        (header, &frame[HEADER_LEN..])
    }

    #[test]
    fn round_trip_with_and_without_key() {
        for key in [None, Some(&b""[..]), Some(&b"project:1"[..])] {
            let bytes = frame(42, key, b"payload \x00\xff");
            let (header, body) = split(&bytes);
            assert_eq!(header.frame_len(), bytes.len() as u64);
            let decoded = decode(header, body).unwrap();
            assert_eq!(decoded.fixed.offset, 42);
            assert_eq!(decoded.fixed.timestamp_ms, -5);
            assert_eq!(decoded.key.map(|r| &body[r]), key);
            assert_eq!(&body[decoded.payload], b"payload \x00\xff");
        }
    }

    #[test]
    fn empty_payload() {
        let bytes = frame(0, None, b"");
        let (header, body) = split(&bytes);
        assert_eq!(header.body_len as usize, BODY_FIXED_LEN);
        assert!(decode(header, body).unwrap().payload.is_empty());
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let bytes = frame(7, Some(b"k"), b"hello world");
        for i in HEADER_LEN..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                let (header, body) = split(&bad);
                assert!(decode(header, body).is_err(), "byte {i} bit {bit}");
            }
        }
        // A flipped CRC byte is caught too.
        let mut bad = bytes.clone();
        bad[5] ^= 1;
        let (header, body) = split(&bad);
        assert!(matches!(decode(header, body), Err(FrameError::Crc { .. })));
    }

    #[test]
    fn malformed_fixed_fields() {
        assert_eq!(parse_fixed(&[0; 10], 10), Err(FrameError::TooShort(10)));
        assert_eq!(parse_fixed(&[0; 20], 19), Err(FrameError::TooShort(19)));
        let mut body = [0u8; 20];
        body[16..20].copy_from_slice(&6u32.to_le_bytes()); // key of 5 bytes
        assert!(matches!(
            parse_fixed(&body, 24),
            Err(FrameError::KeyOverflow { key_len: 5, .. })
        ));
        assert!(parse_fixed(&body, 25).is_ok());
    }

    #[test]
    fn length_limits() {
        assert_eq!(body_len(None, b"abc"), Some(23));
        assert_eq!(body_len(Some(b"k"), b"abc"), Some(24));
    }
}
