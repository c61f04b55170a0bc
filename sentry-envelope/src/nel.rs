//! Network Error Logging reports, as browsers post them to
//! `/api/<project_id>/nel/`: a JSON list of reports, each of which becomes
//! its own `nel` item (as Relay splits them).
//!
//! ```
//! use sentry_envelope::nel::{self, NelLimits};
//!
//! let body = br#"[{"age": 0, "type": "network-error", "url": "https://example.com/",
//!     "body": {"type": "http.error", "status_code": 500, "phase": "application"}},
//!     {"age": 1, "type": "network-error", "url": "https://example.com/b", "body": {}}]"#;
//! let reports = nel::split(body, &NelLimits::default())?;
//! assert_eq!(reports.len(), 2);
//! assert!(reports[0].starts_with(b"{"));
//! # Ok::<(), sentry_envelope::nel::NelError>(())
//! ```

use bytes::Bytes;
use serde_json::Value;

use crate::limits::{LimitError, LimitKind, Limits};
use crate::protocol::{PayloadError, from_json_slice};

/// Limits on a NEL request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NelLimits {
    /// The body ([`Limits::max_event_size`]).
    pub max_size: usize,
    /// JSON nesting ([`Limits::max_json_depth`]).
    pub max_json_depth: usize,
    /// Reports in one request ([`Limits::max_item_count`]).
    pub max_reports: usize,
}

impl NelLimits {
    /// The limits under the given envelope limits.
    pub fn from_limits(limits: &Limits) -> Self {
        NelLimits {
            max_size: usize::try_from(limits.max_event_size).unwrap_or(usize::MAX),
            max_json_depth: limits.max_json_depth,
            max_reports: usize::try_from(limits.max_item_count).unwrap_or(usize::MAX),
        }
    }
}

impl Default for NelLimits {
    fn default() -> Self {
        NelLimits::from_limits(&Limits::default())
    }
}

/// Why a NEL request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NelError {
    /// The body is over [`NelLimits::max_size`].
    #[error("NEL reports too large: {0}")]
    TooLarge(LimitError),
    /// More than [`NelLimits::max_reports`] reports.
    #[error("more than {max} NEL reports in one request")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// Not JSON, nested too deep, or not a list.
    #[error("invalid NEL reports: {0}")]
    Json(#[from] PayloadError),
    /// An empty list.
    #[error("no NEL reports")]
    Empty,
}

impl NelError {
    /// Whether a limit was exceeded (HTTP 413), rather than the body being
    /// invalid (HTTP 400).
    pub fn is_limit(&self) -> bool {
        matches!(self, NelError::TooLarge(_) | NelError::TooMany { .. })
    }
}

/// Splits a NEL request body into its reports, each as compact JSON.
///
/// Entries are not checked further: like Relay, what is not a report is
/// dropped when it is processed, not refused here.
pub fn split(body: &[u8], limits: &NelLimits) -> Result<Vec<Bytes>, NelError> {
    if body.len() > limits.max_size {
        return Err(NelError::TooLarge(LimitError::new(
            LimitKind::EventSize,
            body.len() as u64,
            limits.max_size as u64,
        )));
    }
    let reports: Vec<Value> = from_json_slice(body, limits.max_json_depth)?;
    if reports.is_empty() {
        return Err(NelError::Empty);
    }
    if reports.len() > limits.max_reports {
        return Err(NelError::TooMany {
            max: limits.max_reports,
        });
    }
    Ok(reports
        .iter()
        .map(|report| Bytes::from(report.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_split_and_limited() {
        let limits = NelLimits {
            max_size: 64,
            max_json_depth: 3,
            max_reports: 2,
        };
        let reports = split(br#" [{"a": 1}, {"b": [2]}] "#, &limits).unwrap();
        assert_eq!(reports, [&b"{\"a\":1}"[..], &b"{\"b\":[2]}"[..]]);
        assert!(matches!(split(b"[]", &limits), Err(NelError::Empty)));
        assert!(matches!(split(b"{}", &limits), Err(NelError::Json(_))));
        assert_eq!(split(b"[{}, 1]", &limits).unwrap(), [&b"{}"[..], &b"1"[..]]);
        assert!(matches!(
            split(b"[[[[1]]]]", &limits),
            Err(NelError::Json(PayloadError::TooDeep(3)))
        ));
        let e = split(b"[{}, {}, {}]", &limits).unwrap_err();
        assert!(matches!(e, NelError::TooMany { max: 2 }) && e.is_limit());
        let e = split(&[b' '; 65], &limits).unwrap_err();
        assert!(matches!(e, NelError::TooLarge(_)) && e.is_limit());
    }
}
