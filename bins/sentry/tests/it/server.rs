//! Starts the real `sentry` binary on a free port for a test, and talks to
//! it over HTTP like a client would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `sentry run`, killed when dropped.
pub struct Server {
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
    #[allow(dead_code)]
    pub data_dir: PathBuf,
    pub url: String,
    pub dsn: String,
    pub token: String,
    agent: ureq::Agent,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A response: status and body text.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not json ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Server {
    /// Starts a server on a new data dir.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut server = Server::start_in(&dir, free_port(), &[]);
        server._tmp = Some(tmp);
        server
    }

    /// A client of a server started elsewhere: `url` serves the API, `dsn`
    /// takes events, `token` is an admin token.
    #[allow(dead_code)]
    pub fn attach(url: &str, dsn: &str, token: &str) -> Server {
        Server {
            child: None,
            _tmp: None,
            data_dir: PathBuf::new(),
            url: url.trim_end_matches('/').to_owned(),
            dsn: dsn.to_owned(),
            token: token.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        }
    }

    /// Starts a server on a given data dir and port.
    pub fn start_in(dir: &Path, port: u16, env: &[(&str, &str)]) -> Server {
        Server::start_with(dir, port, &[], env)
    }

    /// Starts a server with extra arguments to `sentry run`.
    pub fn start_with(dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn(dir, port, args, env, None)
    }

    /// Starts a server on a new data dir whose log (at `debug`, stdout and
    /// stderr) goes to `log`.
    #[allow(dead_code)]
    pub fn start_logged(log: &Path) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut server = Server::spawn(&dir, free_port(), &[], &[], Some(log));
        server._tmp = Some(tmp);
        server
    }

    fn spawn(
        dir: &Path,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Server {
        // `option_env!`: this file is also a module of the tests of
        // bins/services, which attach to servers they start themselves.
        let Some(bin) = option_env!("CARGO_BIN_EXE_sentry") else {
            panic!("only the tests of bins/sentry start the sentry binary");
        };
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--data-dir"])
            .arg(dir)
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(log) = log {
            let file = std::fs::File::create(log).unwrap();
            cmd.env("RUST_LOG", "debug")
                .stdout(file.try_clone().unwrap())
                .stderr(file);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start sentry run");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let url = format!("http://127.0.0.1:{port}");
        let mut server = Server {
            child: Some(child),
            _tmp: None,
            data_dir: dir.to_path_buf(),
            url: url.clone(),
            dsn: String::new(),
            token: String::new(),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sentry run exited early: {status}");
            }
            if let Ok(r) = server.agent.get(format!("{url}/_health/")).call() {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
        let boot: Value =
            serde_json::from_slice(&std::fs::read(dir.join("bootstrap.json")).unwrap()).unwrap();
        server.dsn = boot["dsn"].as_str().unwrap().to_owned();
        server.token = boot["token"].as_str().unwrap().to_owned();
        server
    }

    /// The project id of the bootstrap DSN.
    pub fn project_id(&self) -> u64 {
        self.dsn.rsplit('/').next().unwrap().parse().unwrap()
    }

    /// The public key of the bootstrap DSN.
    pub fn public_key(&self) -> String {
        let rest = self.dsn.split_once("://").unwrap().1;
        rest.split_once('@').unwrap().0.to_owned()
    }

    /// The process id of the running server.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn finish(mut response: ureq::http::Response<ureq::Body>) -> Reply {
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        Reply {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
            headers,
        }
    }

    /// `GET` an API path with the admin token.
    pub fn get(&self, path: &str) -> Reply {
        let r = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .unwrap();
        Server::finish(r)
    }

    /// `GET` a path and expect 200 with JSON.
    pub fn get_json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json()
    }

    /// Sends JSON with a method (`PUT`, `POST`) and the admin token.
    pub fn send_json(&self, method: &str, path: &str, body: &Value) -> Reply {
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let r = match method {
            "PUT" => self
                .agent
                .put(url)
                .header("Authorization", auth)
                .send_json(body),
            "POST" => self
                .agent
                .post(url)
                .header("Authorization", auth)
                .send_json(body),
            other => panic!("method {other}"),
        }
        .unwrap();
        Server::finish(r)
    }

    /// `OPTIONS`, as a browser's CORS preflight.
    pub fn options(&self, path: &str) -> Reply {
        let r = self
            .agent
            .options(format!("{}{path}", self.url))
            .header("Origin", "http://example.com")
            .header("Access-Control-Request-Method", "POST")
            .call()
            .unwrap();
        Server::finish(r)
    }

    /// `DELETE` with the admin token.
    pub fn delete(&self, path: &str) -> Reply {
        let r = self
            .agent
            .delete(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .unwrap();
        Server::finish(r)
    }

    /// POSTs raw bytes to a path with extra headers (no API token).
    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut req = self.agent.post(format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Server::finish(req.send(body).unwrap())
    }

    /// POSTs an envelope to the bootstrap project with the DSN's key.
    pub fn post_envelope(&self, body: &[u8]) -> Reply {
        let auth = format!("Sentry sentry_key={}, sentry_version=7", self.public_key());
        self.post_raw(
            &format!("/api/{}/envelope/", self.project_id()),
            &[("X-Sentry-Auth", auth.as_str())],
            body,
        )
    }

    /// Every issue of the organization matching `query`, all pages.
    pub fn issues(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = format!(
            "/api/0/organizations/sentry/issues/?query={}&limit=100",
            query.replace(' ', "+").replace(':', "%3A")
        );
        loop {
            let r = self.get(&path);
            assert_eq!(r.status, 200, "{}", r.body);
            out.extend(r.json().as_array().unwrap().iter().cloned());
            let link = r.header("link").unwrap().to_owned();
            let next = link
                .split(", ")
                .find(|l| l.contains("rel=\"next\""))
                .unwrap();
            if !next.contains("results=\"true\"") {
                return out;
            }
            let url = next.split('>').next().unwrap().trim_start_matches('<');
            path = url.strip_prefix(&self.url).unwrap().to_owned();
        }
    }

    /// Waits until the issues (any status) hold `n` events in all.
    pub fn wait_for_events(&self, n: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let issues = self.issues("");
            let count: u64 = issues
                .iter()
                .map(|i| i["count"].as_str().unwrap().parse::<u64>().unwrap())
                .sum();
            if count >= n {
                return issues;
            }
            assert!(
                Instant::now() < deadline,
                "only {count} of {n} events arrived"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
