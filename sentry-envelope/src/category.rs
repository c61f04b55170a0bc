//! Data categories: what rate limits, quotas and outcomes count.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! categories {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A kind of data that quotas, rate limits and outcomes are counted in.
        ///
        /// The names are the ones Sentry uses in the `X-Sentry-Rate-Limits`
        /// header, in client reports and in the stats API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum DataCategory {
            $($(#[$doc])* $variant,)*
            /// A category this version does not know.
            Unknown,
        }

        impl DataCategory {
            /// Every known category.
            pub const ALL: &'static [DataCategory] = &[$(DataCategory::$variant,)*];

            /// The wire name, as in `X-Sentry-Rate-Limits` and client reports.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DataCategory::$variant => $name,)*
                    DataCategory::Unknown => "unknown",
                }
            }
        }

        impl FromStr for DataCategory {
            type Err = std::convert::Infallible;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $($name => DataCategory::$variant,)*
                    _ => DataCategory::Unknown,
                })
            }
        }
    };
}

categories! {
    /// Anything without a more specific category.
    Default => "default",
    /// Error events.
    Error => "error",
    /// Transaction events.
    Transaction => "transaction",
    /// Security reports (CSP and friends).
    Security => "security",
    /// Attachment bytes.
    Attachment => "attachment",
    /// Attachment items, counted one each.
    AttachmentItem => "attachment_item",
    /// Release-health sessions.
    Session => "session",
    /// Profiles.
    Profile => "profile",
    /// Profiles that were stored and indexed.
    ProfileIndexed => "profile_indexed",
    /// Backend continuous-profiling chunks.
    ProfileChunk => "profile_chunk",
    /// UI continuous-profiling chunks.
    ProfileChunkUi => "profile_chunk_ui",
    /// Session replays.
    Replay => "replay",
    /// Transactions that were stored and indexed.
    TransactionIndexed => "transaction_indexed",
    /// Transactions counted for metrics extraction.
    TransactionProcessed => "transaction_processed",
    /// Cron monitor check-ins.
    Monitor => "monitor",
    /// Cron monitor seats.
    MonitorSeat => "monitor_seat",
    /// Spans.
    Span => "span",
    /// Spans that were stored and indexed.
    SpanIndexed => "span_indexed",
    /// User feedback.
    UserReportV2 => "feedback",
    /// Metric buckets.
    MetricBucket => "metric_bucket",
    /// Log items, counted one each.
    LogItem => "log_item",
    /// Log bytes.
    LogByte => "log_byte",
    /// Trace metrics.
    TraceMetric => "trace_metric",
    /// Uptime checks.
    Uptime => "uptime",
}

impl fmt::Display for DataCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DataCategory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DataCategory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(name.parse().unwrap_or(DataCategory::Unknown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &category in DataCategory::ALL {
            assert_eq!(category.as_str().parse::<DataCategory>().unwrap(), category);
        }
        assert_eq!(
            "nope".parse::<DataCategory>().unwrap(),
            DataCategory::Unknown
        );
        assert_eq!(DataCategory::UserReportV2.to_string(), "feedback");
    }
}
