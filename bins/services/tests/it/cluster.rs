//! Starts the scaled deployment for a test: every service its own process,
//! on the real PostgreSQL, ClickHouse, Kafka-protocol broker and Redis that
//! `scripts/services.sh` runs (`SENTRY_TEST_*_URL`).
//!
//! Each cluster has a namespace of its own: a new PostgreSQL database, a
//! new ClickHouse database, a topic and group prefix on the broker and a key
//! prefix in Redis. The databases are dropped with the cluster when its test
//! passed (kept for a look when it failed); topics and Redis keys stay (the
//! quota keys expire). The services' logs go to files that are printed when
//! a test fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::Server;

/// A port to listen on, below Linux's ephemeral range (32768 and up), where
/// an outgoing connection (of this test or of a service) could take a port
/// between our check and the service's bind. Each test process walks its
/// own stretch.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = (std::process::id() % 500) * 24;
    loop {
        let n = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        let port = 20_000 + u16::try_from(n).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The admin token of every cluster.
pub const TOKEN: &str = "5e2f0c4b8a7d4e1f9c3b6a2d8e7f1c4b5e2f0c4b8a7d4e1f9c3b6a2d8e7f1c4b";

/// The services, in the order they are started.
pub const SERVICES: [&str; 8] = [
    "web",
    "relay",
    "ingest-consumer",
    "snuba-consumer",
    "snuba-replacer",
    "snuba-api",
    "worker",
    "post-process-forwarder",
];

/// The real servers the services run on.
struct Backends {
    postgres: String,
    clickhouse: String,
    kafka: String,
    redis: String,
}

impl Backends {
    /// The servers of `scripts/services.sh`; `None` (after saying so)
    /// without them, except under CI, where that fails.
    fn from_env() -> Option<Backends> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let names = [
            "SENTRY_TEST_POSTGRES_URL",
            "SENTRY_TEST_CLICKHOUSE_URL",
            "SENTRY_TEST_KAFKA_URL",
            "SENTRY_TEST_REDIS_URL",
        ];
        let values: Vec<Option<String>> = names.iter().map(|n| var(n)).collect();
        if values.iter().any(Option::is_none) {
            let missing: Vec<&str> = names
                .iter()
                .zip(&values)
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            assert!(
                std::env::var_os("CI").is_none(),
                "{missing:?} not set under CI: run `bash scripts/services.sh start` and \
                 `eval \"$(bash scripts/services.sh env)\"` (scripts/test.sh does)"
            );
            eprintln!("skipped: {missing:?} not set (bash scripts/services.sh start)");
            return None;
        }
        let mut values = values.into_iter().flatten();
        let mut next = || values.next().unwrap_or_default();
        Some(Backends {
            postgres: next(),
            clickhouse: next(),
            kafka: next(),
            redis: next(),
        })
    }
}

/// One running service.
struct Process {
    name: &'static str,
    child: Child,
    admin: u16,
    log: PathBuf,
}

/// A running deployment; every process is stopped when it is dropped.
pub struct Cluster {
    backends: Backends,
    namespace: String,
    pub env: BTreeMap<String, String>,
    processes: Vec<Process>,
    /// Processes killed by [`kill9`](Self::kill9), for their logs.
    killed: Vec<Process>,
    logs: tempfile::TempDir,
    /// A client of `web`, with the DSN of project `internal` pointing at
    /// `relay`.
    pub web: Server,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Runs SQL in the PostgreSQL server of `url` (database `postgres`).
fn psql(url: &str, sql: &str) {
    let (server, _) = url.rsplit_once('/').unwrap();
    let out = Command::new("psql")
        .arg(format!("{server}/postgres"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql (Debian package postgresql-client)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// Starts every service on a fresh namespace, or `None` without the
    /// backing servers (outside CI).
    pub fn start() -> Option<Cluster> {
        let backends = Backends::from_env()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        // Tests start clusters in parallel, and two clocks readings may be
        // equal (CI once gave two tests the same database name): a counter
        // makes the name unique in this process.
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let namespace = format!("e2e{nanos:x}n{n}");
        psql(&backends.postgres, &format!("CREATE DATABASE {namespace}"));
        let (pg_server, _) = backends.postgres.rsplit_once('/').unwrap();
        let clickhouse = backends
            .clickhouse
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let separator = if backends.kafka.contains('?') {
            '&'
        } else {
            '?'
        };
        let web_port = free_port();
        let relay_port = free_port();
        let env: BTreeMap<String, String> = [
            (
                "SENTRY_STREAM_URL",
                format!("{}{separator}prefix={namespace}-", backends.kafka),
            ),
            ("SENTRY_METADATA_URL", format!("{pg_server}/{namespace}")),
            (
                "SENTRY_EVENT_STORE_URL",
                format!("clickhouse://{clickhouse}/{namespace}"),
            ),
            (
                "SENTRY_QUOTAS_URL",
                format!("{}?prefix={namespace}:", backends.redis),
            ),
            (
                "SENTRY_CACHE_URL",
                format!("{}?prefix={namespace}:cache:", backends.redis),
            ),
            ("SENTRY_URL", format!("http://127.0.0.1:{web_port}")),
            ("SENTRY_ADMIN_TOKEN", TOKEN.to_owned()),
            ("SENTRY_BATCH_SIZE", "200".to_owned()),
            ("RUST_LOG", "info,sqlx=warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut cluster = Cluster {
            backends,
            namespace,
            env,
            processes: Vec::new(),
            killed: Vec::new(),
            logs: tempfile::tempdir().unwrap(),
            web: Server::attach(&format!("http://127.0.0.1:{web_port}"), "", TOKEN),
        };
        for service in SERVICES {
            let bind = match service {
                "web" => Some(web_port),
                "relay" => Some(relay_port),
                "snuba-api" => Some(free_port()),
                _ => None,
            };
            cluster.spawn(service, bind);
            if service == "web" {
                // Web makes the schema and the first project: wait for it
                // before the others open the same databases.
                cluster.wait_ready("web");
            }
        }
        for service in SERVICES {
            cluster.wait_ready(service);
        }
        let project = cluster.web.get_json("/api/0/projects/sentry/internal/");
        let keys = cluster
            .web
            .get_json("/api/0/projects/sentry/internal/keys/");
        let public = keys[0]["public"].as_str().unwrap().to_owned();
        cluster.web.dsn = format!(
            "http://{public}@127.0.0.1:{relay_port}/{}",
            project["id"].as_str().unwrap()
        );
        Some(cluster)
    }

    /// Starts one more process of `service` (a second consumer of a group,
    /// say), listening on `bind` if it serves HTTP.
    pub fn spawn(&mut self, service: &'static str, bind: Option<u16>) {
        let admin = free_port();
        let log = self
            .logs
            .path()
            .join(format!("{service}-{}.log", self.processes.len()));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(binary(service));
        cmd.envs(&self.env)
            .env("SENTRY_ADMIN_BIND", format!("127.0.0.1:{admin}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        if let Some(port) = bind {
            cmd.env("SENTRY_BIND", format!("127.0.0.1:{port}"));
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {service}: {e}"));
        self.processes.push(Process {
            name: service,
            child,
            admin,
            log,
        });
    }

    /// Waits until every process of `service` answers `/health/ready`.
    pub fn wait_ready(&mut self, service: &str) {
        let agent = agent();
        let deadline = Instant::now() + Duration::from_secs(60);
        for i in 0..self.processes.len() {
            if self.processes[i].name != service {
                continue;
            }
            loop {
                let process = &mut self.processes[i];
                if let Some(status) = process.child.try_wait().unwrap() {
                    panic!(
                        "{service} exited: {status}\n{}",
                        std::fs::read_to_string(&process.log).unwrap_or_default()
                    );
                }
                let url = format!("http://127.0.0.1:{}/health/ready", process.admin);
                if agent.get(&url).call().is_ok_and(|r| r.status() == 200) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{service} not ready\n{}",
                    std::fs::read_to_string(&process.log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Kills the first process of `service` with SIGKILL (no shutdown).
    pub fn kill9(&mut self, service: &str) {
        let i = self
            .processes
            .iter()
            .position(|p| p.name == service)
            .unwrap_or_else(|| panic!("no {service} running"));
        let mut process = self.processes.remove(i);
        process.child.kill().unwrap();
        process.child.wait().unwrap();
        self.killed.push(process);
    }

    /// Stops the first process of `service` with SIGTERM and waits up to
    /// 30 s for it to finish its work and exit; its exit status.
    pub fn terminate(&mut self, service: &str) -> std::process::ExitStatus {
        let i = self
            .processes
            .iter()
            .position(|p| p.name == service)
            .unwrap_or_else(|| panic!("no {service} running"));
        let mut process = self.processes.remove(i);
        let pid = process.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = process.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{service} did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.killed.push(process);
        status
    }

    /// Runs `sql` in the cluster's ClickHouse database; the answer's text.
    pub fn clickhouse(&self, sql: &str) -> String {
        let url = format!("{}?database={}", self.backends.clickhouse, self.namespace);
        let mut reply = agent().post(&url).send(sql).unwrap();
        let body = reply.body_mut().read_to_string().unwrap();
        assert_eq!(reply.status(), 200, "{sql}: {body}");
        body
    }

    /// Waits up to 60 s for [`metric`](Self::metric) to reach `at_least`;
    /// returns its value.
    pub fn wait_metric(&self, service: &str, name: &str, labels: &[&str], at_least: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let value = self.metric(service, name, labels);
            if value >= at_least || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `/metrics` text of the first process of `service`.
    pub fn metrics(&self, service: &str) -> String {
        let process = self.processes.iter().find(|p| p.name == service).unwrap();
        let url = format!("http://127.0.0.1:{}/metrics", process.admin);
        let mut reply = agent().get(&url).call().unwrap();
        assert_eq!(reply.status(), 200);
        reply.body_mut().read_to_string().unwrap()
    }

    /// The sum of the samples of `name` in `service`'s metrics whose
    /// labels contain `labels` (as `key="value"` text).
    pub fn metric(&self, service: &str, name: &str, labels: &[&str]) -> f64 {
        self.metrics(service)
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }
}

/// Runs `scripts/services.sh` with `args` (to stop and start a server).
pub fn services_sh(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh");
    let status = Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "services.sh {args:?}: {status}");
}

/// The path of a service's binary, built by cargo for these tests.
fn binary(service: &str) -> &'static str {
    match service {
        "relay" => env!("CARGO_BIN_EXE_relay"),
        "web" => env!("CARGO_BIN_EXE_web"),
        "ingest-consumer" => env!("CARGO_BIN_EXE_ingest-consumer"),
        "snuba-consumer" => env!("CARGO_BIN_EXE_snuba-consumer"),
        "snuba-replacer" => env!("CARGO_BIN_EXE_snuba-replacer"),
        "snuba-api" => env!("CARGO_BIN_EXE_snuba-api"),
        "worker" => env!("CARGO_BIN_EXE_worker"),
        "post-process-forwarder" => env!("CARGO_BIN_EXE_post-process-forwarder"),
        other => panic!("no service {other}"),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = Command::new("kill")
                .args(["-TERM", &process.child.id().to_string()])
                .status();
        }
        for process in self.processes.iter_mut().chain(&mut self.killed) {
            let deadline = Instant::now() + Duration::from_secs(15);
            while process.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = process.child.kill();
            let _ = process.child.wait();
            if std::thread::panicking() {
                eprintln!(
                    "---- {} log ----\n{}",
                    process.name,
                    std::fs::read_to_string(&process.log).unwrap_or_default()
                );
            }
        }
        if !std::thread::panicking() {
            psql(
                &self.backends.postgres,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.namespace),
            );
            let _ = agent()
                .post(&self.backends.clickhouse)
                .send(format!("DROP DATABASE IF EXISTS {}", self.namespace));
        }
    }
}
