//! DSN parsing.
//!
//! - parsing never panics;
//! - a DSN that parses displays as text that parses to the same DSN (and
//!   displays the same again);
//! - `Dsn::new` with the parts of a parsed DSN builds the same DSN;
//! - the derived endpoint URLs never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_envelope::Dsn;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(dsn) = text.parse::<Dsn>() else {
        return;
    };

    let shown = dsn.to_string();
    match shown.parse::<Dsn>() {
        Ok(again) => {
            assert_eq!(again, dsn, "input: {text:?}\ndisplayed: {shown:?}");
            assert_eq!(again.to_string(), shown, "input: {text:?}");
        }
        Err(e) => {
            panic!("displayed DSN does not parse: {e}\ninput: {text:?}\ndisplayed: {shown:?}")
        }
    }

    let rebuilt = Dsn::new(
        dsn.scheme(),
        dsn.public_key(),
        dsn.secret_key(),
        dsn.host(),
        dsn.port(),
        dsn.path(),
        dsn.project_id(),
    );
    assert_eq!(rebuilt.as_ref(), Ok(&dsn), "input: {text:?}");

    let _ = dsn.effective_port();
    let _ = dsn.base_url();
    let _ = dsn.envelope_url();
    let _ = dsn.store_url();
    let _ = dsn.minidump_url();
    let _ = dsn.security_url();
    let _ = dsn.nel_url();
    let _ = dsn.unreal_url();
    let _ = dsn.cron_url(&text);
    let _ = dsn.otlp_traces_url();
    let _ = dsn.attachments_url(&text);
});
