//! Payload schemas: what is inside the items.
//!
//! Every struct keeps the fields it does not name in an `other` map
//! (`#[serde(flatten)]`), so that nothing an SDK sends is lost when a payload
//! is parsed and written back. Fields with more than one form on the wire
//! (tags as a map or a list of pairs, `exception` as a list or as
//! `{"values": [...]}`, timestamps as numbers or RFC 3339 strings) accept all
//! of them.
//!
//! Parse payloads with [`from_json_slice`], which applies a depth limit.

mod checkin;
mod common;
mod event;
mod log;
mod report;
mod session;

pub use checkin::*;
pub use common::*;
pub use event::*;
pub use log::*;
pub use report::*;
pub use session::*;

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The JSON nests deeper than the limit.
    #[error("json nests deeper than {0} levels")]
    TooDeep(usize),
    /// Not valid JSON, or not of the expected shape.
    #[error("invalid payload: {0}")]
    Json(#[from] serde_json::Error),
}

/// The deepest nesting of arrays and objects in a JSON text, counted without
/// parsing it (strings are skipped correctly).
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Parses a JSON payload into `T`, refusing input nested deeper than
/// `max_depth` before any allocation happens.
///
/// serde_json has its own recursion limit of 128; this one is explicit and
/// comes from [`Limits::max_json_depth`](crate::Limits::max_json_depth).
pub fn from_json_slice<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<T, PayloadError> {
    if json_depth(bytes) > max_depth {
        return Err(PayloadError::TooDeep(max_depth));
    }
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_containers_not_strings() {
        assert_eq!(json_depth(b"1"), 0);
        assert_eq!(json_depth(b"{\"a\":[1,{\"b\":2}]}"), 3);
        assert_eq!(json_depth(b"{\"a\":\"[[[[\\\"{{\"}"), 1);
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(matches!(
            from_json_slice::<serde_json::Value>(deep.as_bytes(), 200),
            Err(PayloadError::TooDeep(200))
        ));
        assert!(from_json_slice::<serde_json::Value>(b"[[1]]", 2).is_ok());
    }

    #[test]
    fn floats_round_trip_exactly() {
        // Found by fuzzing: without serde_json's `float_roundtrip`, parsing
        // this prints back as a different double.
        let text = br#"{"x":0.0101791238784790039}"#;
        let event: Event = from_json_slice(text, 10).unwrap();
        let again: Event = from_json_slice(&serde_json::to_vec(&event).unwrap(), 10).unwrap();
        assert_eq!(event, again);
    }
}
