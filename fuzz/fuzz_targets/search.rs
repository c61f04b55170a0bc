//! Sentry's issue search.
//!
//! Properties:
//!
//! - `search::parse` never panics, on any text;
//! - an error's offset lies within the input, on a character boundary, and
//!   its column counts the characters before it;
//! - a search that parses prints as text that parses back to the same tree
//!   (unless printing made it longer than the limit), and printing that tree
//!   again gives the same text;
//! - a search that parses always compiles, and compiling never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_snuba::search;

/// 2024-05-01T00:00:00Z: the fixed "now" of relative times.
const NOW: i64 = 1_714_521_600;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match search::parse(text) {
        Ok(query) => {
            let printed = query.to_string();
            if printed.len() <= search::MAX_QUERY_LEN {
                let again = match search::parse(&printed) {
                    Ok(again) => again,
                    Err(e) => panic!("printed search does not parse: {e}\n{printed}"),
                };
                assert_eq!(again, query, "{printed}");
                assert_eq!(again.to_string(), printed);
            }
            if let Err(e) = search::compile(&query, NOW) {
                panic!("a parsed search does not compile: {e}\n{printed}");
            }
            // Relative times far in the past or future stay representable.
            let _ = search::compile(&query, i64::MIN);
            let _ = search::compile(&query, i64::MAX);
        }
        Err(e) => {
            assert!(e.offset <= text.len() && text.is_char_boundary(e.offset));
            assert_eq!(e.column, text[..e.offset].chars().count() + 1);
        }
    }
});
