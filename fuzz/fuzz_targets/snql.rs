//! The SnQL parser.
//!
//! Properties:
//!
//! - `snql::parse` never panics, on any text;
//! - an error's offset lies within the input, on a character boundary, and
//!   its line and column agree with the offset;
//! - a query that parses prints as SnQL that parses back to the same tree,
//!   and printing that tree again gives the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_snuba::snql;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match snql::parse(text) {
        Ok(query) => {
            let printed = query.to_string();
            let again = match snql::parse(&printed) {
                Ok(again) => again,
                Err(e) => panic!("printed query does not parse: {e}\n{printed}"),
            };
            assert_eq!(again, query, "{printed}");
            assert_eq!(again.to_string(), printed);
        }
        Err(e) => {
            assert!(e.offset <= text.len() && text.is_char_boundary(e.offset));
            let before = &text[..e.offset];
            assert_eq!(e.line, before.matches('\n').count() + 1);
            assert!(e.column >= 1);
        }
    }
});
