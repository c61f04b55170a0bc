//! Integration tests of `sentry-stream`: the conformance suite every backend
//! runs, the file log's durability and recovery, a kill -9 crash test and a
//! produce-rate measurement.

// Tests fail loudly and read their own files whole: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod conformance;
mod crash;
mod filelog;
#[cfg(feature = "kafka")]
mod kafka;
mod rate;
mod util;
