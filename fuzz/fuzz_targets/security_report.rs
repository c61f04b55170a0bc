//! Security reports (CSP, Expect-CT, Expect-Staple, HPKP, Reporting API
//! lists) and NEL report lists.
//!
//! Properties:
//!
//! - `security::parse` never panics (with the default limits and small
//!   ones); a list gives at most `max_reports` reports and skipped entries;
//! - every report is a JSON object whose `type` is its kind's, with a
//!   string title (`logentry.formatted`) and the kind's interface object,
//!   and it serializes to JSON that parses as an `Event`;
//! - `nel::split` never panics; it gives at most `max_reports` reports, each
//!   valid JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_envelope::nel::{self, NelLimits};
use sentry_envelope::protocol::{Event, from_json_slice};
use sentry_envelope::security::{self, SecurityLimits};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let small = SecurityLimits {
        max_size: 64 * 1024,
        max_json_depth: 16,
        max_reports: 3,
    };
    for limits in [SecurityLimits::default(), small] {
        let Ok(parsed) = security::parse(data, &limits) else {
            continue;
        };
        assert!(parsed.reports.len() + parsed.skipped.len() <= limits.max_reports.max(1));
        for report in &parsed.reports {
            let ty = report.kind.event_type();
            assert_eq!(report.event["type"].as_str(), Some(ty));
            assert!(report.event["logentry"]["formatted"].is_string());
            assert!(report.event[ty].is_object(), "no {ty} interface");
            let json = serde_json::to_vec(&report.event).expect("the event does not serialize");
            if let Err(e) = from_json_slice::<Event>(&json, 200) {
                panic!("the {ty} event does not parse as an event: {e}");
            }
        }
    }

    let limits = NelLimits {
        max_size: 64 * 1024,
        max_json_depth: 16,
        max_reports: 5,
    };
    if let Ok(reports) = nel::split(data, &limits) {
        assert!(!reports.is_empty() && reports.len() <= limits.max_reports);
        for report in reports {
            serde_json::from_slice::<Value>(&report).expect("a NEL report is not JSON");
        }
    }
});
