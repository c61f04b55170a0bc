//! `RedisCounter` against a real Redis server: the conformance suite,
//! counting under concurrency, the key layout, and reconnecting.
//!
//! The server comes from `SENTRY_TEST_REDIS_URL`, which
//! `scripts/services.sh env` prints after `scripts/services.sh start redis`.
//! Without it the tests are skipped, except under CI (`CI` set), where they
//! fail. The server may be shared: the tests never flush it, and every key
//! they write carries a prefix unique to this run and expires within
//! minutes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sentry_envelope::{DataCategory, ProjectId};
use sentry_relay_core::quota::testsuite::{self, unique_org, window_start};
use sentry_relay_core::quota::{
    Plan, QuotaCheck, QuotaCounter, QuotaError, QuotaScope, RedisCounter, Scoping, plan_checks,
};

const URL_VAR: &str = "SENTRY_TEST_REDIS_URL";

/// The test server's URL; `None` (after saying so) if there is none and
/// this is not CI.
fn redis_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{URL_VAR} is not set under CI: run `bash scripts/services.sh start redis` and \
             `eval \"$(bash scripts/services.sh env)\"` first (scripts/test.sh does)"
        ),
        _ => {
            eprintln!(
                "skipped: {URL_VAR} is not set (bash scripts/services.sh start redis; \
                 eval \"$(bash scripts/services.sh env)\")"
            );
            None
        }
    }
}

/// A key prefix unique to this test process, so that keys of earlier runs
/// (the test organizations repeat between runs) are never read.
fn run_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("sentry-rs-test:{}:{nanos}:", std::process::id())
    })
}

fn open(url: &str) -> RedisCounter {
    RedisCounter::open(url)
        .unwrap()
        .with_key_prefix(run_prefix())
}

fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

#[test]
fn redis_counter_conformance() {
    let Some(url) = redis_url() else { return };
    testsuite::counter_conformance_suite(|| Box::new(open(&url)));
}

/// Threads of several relays (some sharing a counter, some with their own)
/// race for one quota of limit `L` checked together with a larger one:
/// exactly `L` items are accepted, and the larger quota counted exactly
/// those, none of the refused ones.
#[test]
fn redis_counter_is_atomic_under_concurrency() {
    let Some(url) = redis_url() else { return };
    const THREADS: usize = 8;
    const ATTEMPTS: usize = 40;
    const LIMIT: u64 = 100;

    let org = unique_org();
    let now = window_start(org);
    let small = testsuite::quota("race", QuotaScope::Organization, &[], Some(LIMIT));
    let large = testsuite::quota("race2", QuotaScope::Project, &[], Some(10 * LIMIT));
    let scoping = Scoping::new(org, ProjectId::new(7)).item(DataCategory::Error);
    let shared = Arc::new(open(&url));
    let accepted = AtomicU64::new(0);
    thread::scope(|s| {
        for i in 0..THREADS {
            let own = (i % 2 == 1).then(|| open(&url));
            let (shared, accepted, small, large) = (&shared, &accepted, &small, &large);
            s.spawn(move || {
                let counter: &dyn QuotaCounter = own.as_ref().unwrap_or(shared.as_ref());
                for _ in 0..ATTEMPTS {
                    let limits = testsuite::call(counter, &[small, large], scoping, 1, now);
                    if limits.is_empty() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(accepted.load(Ordering::Relaxed), LIMIT);

    let checks = [&small, &large].map(|quota| QuotaCheck {
        quota,
        scoping,
        quantity: 1,
    });
    let Plan::Track(tracked) = plan_checks(&checks, now) else {
        panic!("not tracked")
    };
    let mut con = raw(&url);
    for t in &tracked {
        let key = format!("{}{}", run_prefix(), t.key);
        let count: u64 = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
        assert_eq!(count, LIMIT, "{key}");
    }
}

/// Keys follow the documented layout and expire a grace period after the
/// end of their window, counted from the `now` passed in.
#[test]
fn redis_counter_key_layout_and_expiry() {
    let Some(url) = redis_url() else { return };
    let counter = open(&url);
    let org = unique_org();
    let now = window_start(org) + chrono::TimeDelta::seconds(15);
    let quota = testsuite::quota("layout", QuotaScope::Project, &[], Some(10));
    let scoping = Scoping::new(org, ProjectId::new(42)).item(DataCategory::Error);
    assert!(testsuite::call(&counter, &[&quota], scoping, 3, now).is_empty());

    let slot =
        sentry_relay_core::quota::window_slot(org, 60, u64::try_from(now.timestamp()).unwrap());
    let key = format!("{}quota:layout{{{org}}}42:{slot}", run_prefix());
    let mut con = raw(&url);
    let count: u64 = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
    assert_eq!(count, 3);
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut con).unwrap();
    let expected = 45 + sentry_relay_core::quota::redis::EXPIRY_GRACE_SECS as i64;
    assert!(
        (expected - 5..=expected).contains(&ttl),
        "ttl {ttl}, expected {expected}"
    );

    // A check with quantity 0 creates no key.
    let other = testsuite::quota("layout0", QuotaScope::Project, &[], Some(10));
    assert!(testsuite::call(&counter, &[&other], scoping, 0, now).is_empty());
    let key0 = format!("{}quota:layout0{{{org}}}42:{slot}", run_prefix());
    let exists: bool = redis::cmd("EXISTS").arg(&key0).query(&mut con).unwrap();
    assert!(!exists);
}

/// A counter that is not an integer fails the call before anything is
/// counted; the connection stays usable.
#[test]
fn redis_counter_rejects_corrupt_counters() {
    let Some(url) = redis_url() else { return };
    let counter = open(&url).with_max_idle(1);
    let org = unique_org();
    let now = window_start(org);
    let good = testsuite::quota("good", QuotaScope::Organization, &[], Some(10));
    let bad = testsuite::quota("bad", QuotaScope::Organization, &[], Some(10));
    let scoping = Scoping::new(org, ProjectId::new(1)).item(DataCategory::Error);
    let slot =
        sentry_relay_core::quota::window_slot(org, 60, u64::try_from(now.timestamp()).unwrap());
    let key = |id: &str| format!("{}quota:{id}{{{org}}}:{slot}", run_prefix());
    let mut con = raw(&url);
    let () = redis::cmd("SET")
        .arg(key("bad"))
        .arg("1.5")
        .arg("EX")
        .arg(120)
        .query(&mut con)
        .unwrap();

    let checks = [&good, &bad].map(|quota| QuotaCheck {
        quota,
        scoping,
        quantity: 1,
    });
    let err = counter.check_and_add(&checks, now).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    let exists: bool = redis::cmd("EXISTS")
        .arg(key("good"))
        .query(&mut con)
        .unwrap();
    assert!(!exists, "nothing counted");
    assert!(testsuite::call(&counter, &[&good], scoping, 1, now).is_empty());
}

#[test]
fn redis_counter_unreachable_server_is_a_backend_error() {
    // Port 1 on the loopback: nothing listens there.
    let err = RedisCounter::open("redis://127.0.0.1:1/0").unwrap_err();
    assert!(matches!(err, QuotaError::Backend(_)), "{err}");
    assert!(err.to_string().contains("redis connect"), "{err}");
}

/// A TCP proxy to the server whose connections the test can cut, as a
/// server restart or an idle timeout would.
struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted, stopped) = (conns.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut list = accepted.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, conns, stop }
    }

    /// Closes every connection made so far.
    fn cut(&self) {
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.cut();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) if to.write_all(&buf[..n]).is_err() => break,
                Ok(_) => {}
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// A pooled connection the server closed is replaced, and the call that
/// found it closed is retried once and counted once.
#[test]
fn redis_counter_reconnects() {
    let Some(url) = redis_url() else { return };
    let info = redis::Client::open(url.as_str()).unwrap();
    let target = match info.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, port) => {
            use std::net::ToSocketAddrs;
            (host.as_str(), *port)
                .to_socket_addrs()
                .unwrap()
                .next()
                .unwrap()
        }
        other => panic!("reconnect test needs a TCP url, not {other}"),
    };
    let db = info.get_connection_info().redis_settings().db();
    let proxy = Proxy::start(target);
    let counter = RedisCounter::open(&format!("redis://127.0.0.1:{}/{db}", proxy.port))
        .unwrap()
        .with_key_prefix(run_prefix())
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));

    let org = unique_org();
    let now = window_start(org);
    let quota = testsuite::quota("reconnect", QuotaScope::Organization, &[], Some(3));
    let scoping = Scoping::new(org, ProjectId::new(1)).item(DataCategory::Error);
    assert!(testsuite::call(&counter, &[&quota], scoping, 1, now).is_empty());

    proxy.cut();
    // Let the pipes notice, so the pooled connection is closed for sure.
    thread::sleep(Duration::from_millis(100));
    let result = counter.check_and_add(
        &[QuotaCheck {
            quota: &quota,
            scoping,
            quantity: 1,
        }],
        now,
    );
    assert!(
        result.is_ok_and(|l| l.is_empty()),
        "retried on a new connection"
    );
    assert!(testsuite::call(&counter, &[&quota], scoping, 1, now).is_empty());
    assert!(
        !testsuite::call(&counter, &[&quota], scoping, 1, now).is_empty(),
        "counted 3, each once"
    );

    // With the server gone for good, calls fail instead of hanging.
    drop(proxy);
    thread::sleep(Duration::from_millis(100));
    let result = counter.check_and_add(
        &[QuotaCheck {
            quota: &quota,
            scoping,
            quantity: 1,
        }],
        now,
    );
    match result {
        Err(QuotaError::Backend(e)) => eprintln!("expected failure: {e}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
}
