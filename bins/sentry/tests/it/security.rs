//! Who may reach what, checked against the real binary: anonymous callers
//! and bogus credentials on every route, members of another organization,
//! what each role may do, the CSRF token on every form and on
//! cookie-authenticated API writes, and passwords that show up in no
//! answer, output, log or database file.
//!
//! The route tables below must list every route the router has: a test
//! reads the router's source and fails when a route is missing here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sentry_eventstore::{IssueQuery, IssueStatus, Role, Store};
use serde_json::json;

use crate::server::{Reply, Server};

/// The password of the accounts the tests make.
const PASSWORD: &str = "security-suite-password";
/// A member of another organization only.
const OUTSIDER: &str = "outsider@acme.test";
/// A user who belongs to no organization until a test adds them.
const BYSTANDER: &str = "bystander@example.test";
/// Every scope the token page offers.
const ALL_SCOPES: &[&str] = &[
    "org:read",
    "project:read",
    "project:write",
    "project:releases",
    "event:read",
    "event:write",
    "event:admin",
    "member:read",
    "team:read",
];

/// Every route of the web API as the router spells it (a query may follow),
/// with a JSON body a permitted caller gets a success for. The delete comes
/// last: the issue is gone after it.
const API_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/0/organizations/{org}/", ""),
    ("GET", "/api/0/organizations/{org}/members/", ""),
    ("GET", "/api/0/organizations/{org}/teams/", ""),
    ("GET", "/api/0/organizations/{org}/projects/", ""),
    ("GET", "/api/0/projects/{org}/{project}/", ""),
    ("GET", "/api/0/projects/{org}/{project}/filters/", ""),
    (
        "GET",
        "/api/0/organizations/{org}/stats_v2/?field=sum(quantity)",
        "",
    ),
    ("GET", "/api/0/projects/{org}/{project}/keys/", ""),
    ("GET", "/api/0/projects/{org}/{project}/hooks/", ""),
    (
        "GET",
        "/api/0/projects/{org}/{project}/hooks/{hook_id}/",
        "",
    ),
    ("GET", "/api/0/organizations/{org}/issues/", ""),
    ("GET", "/api/0/organizations/{org}/issues/{id}/", ""),
    ("GET", "/api/0/organizations/{org}/issues/{id}/events/", ""),
    ("GET", "/api/0/organizations/{org}/issues/{id}/tags/", ""),
    (
        "GET",
        "/api/0/organizations/{org}/issues/{id}/tags/{key}/values/",
        "",
    ),
    (
        "GET",
        "/api/0/organizations/{org}/issues-stats/?groups={id}",
        "",
    ),
    ("GET", "/api/0/organizations/{org}/events/?field=title", ""),
    (
        "GET",
        "/api/0/organizations/{org}/issues/{id}/events/{event}/",
        "",
    ),
    (
        "GET",
        "/api/0/projects/{org}/{project}/events/{event_id}/",
        "",
    ),
    (
        "PUT",
        "/api/0/projects/{org}/{project}/",
        r#"{"platform":"rust"}"#,
    ),
    (
        "PUT",
        "/api/0/projects/{org}/{project}/filters/{filter_id}/",
        r#"{"active":true}"#,
    ),
    (
        "POST",
        "/api/0/projects/{org}/{project}/keys/",
        r#"{"name":"Extra key"}"#,
    ),
    (
        "PUT",
        "/api/0/projects/{org}/{project}/keys/{key_id}/",
        r#"{"name":"Renamed key"}"#,
    ),
    (
        "POST",
        "/api/0/projects/{org}/{project}/hooks/",
        r#"{"url":"http://127.0.0.1:9/extra-hook","events":["event.created"]}"#,
    ),
    (
        "PUT",
        "/api/0/projects/{org}/{project}/hooks/{hook_id}/",
        r#"{"events":["event.created","event.alert"]}"#,
    ),
    (
        "POST",
        "/api/0/teams/{org}/{team}/projects/",
        r#"{"name":"Api project"}"#,
    ),
    (
        "PUT",
        "/api/0/organizations/{org}/issues/?id={id}",
        r#"{"status":"resolved"}"#,
    ),
    (
        "PUT",
        "/api/0/organizations/{org}/issues/{id}/",
        r#"{"status":"ignored"}"#,
    ),
    (
        "DELETE",
        "/api/0/projects/{org}/{project}/hooks/{hook_id}/",
        "",
    ),
    ("DELETE", "/api/0/organizations/{org}/issues/{id}/", ""),
];

type Form = &'static [(&'static str, &'static str)];

/// Every page route that needs a session, with the form a permitted user
/// gets a change from (CSRF token not included).
const PAGE_ROUTES: &[(&str, &str, Form)] = &[
    ("GET", "/", &[]),
    ("GET", "/organizations/{org}/issues/", &[]),
    ("GET", "/organizations/{org}/issues/{id}/", &[]),
    (
        "GET",
        "/organizations/{org}/issues/{id}/events/{event}/",
        &[],
    ),
    (
        "GET",
        "/organizations/{org}/issues/{id}/events/{event}/json/",
        &[],
    ),
    ("GET", "/organizations/{org}/projects/", &[]),
    ("GET", "/organizations/{org}/projects/new/", &[]),
    ("GET", "/settings/{org}/projects/{project}/", &[]),
    ("GET", "/settings/{org}/projects/{project}/keys/", &[]),
    ("GET", "/settings/{org}/members/", &[]),
    ("GET", "/settings/{org}/teams/", &[]),
    ("GET", "/settings/account/api/auth-tokens/", &[]),
    ("POST", "/auth/logout/", &[]),
    (
        "POST",
        "/organizations/{org}/issues/",
        &[("action", "resolve"), ("id", "{id}")],
    ),
    (
        "POST",
        "/organizations/{org}/issues/{id}/",
        &[("action", "ignore")],
    ),
    (
        "POST",
        "/organizations/{org}/projects/new/",
        &[
            ("name", "Form project"),
            ("platform", "python"),
            ("team", "{team}"),
        ],
    ),
    (
        "POST",
        "/settings/{org}/projects/{project}/",
        &[("name", "Renamed by form"), ("platform", "python")],
    ),
    (
        "POST",
        "/settings/{org}/projects/{project}/keys/",
        &[("action", "create"), ("label", "Form key")],
    ),
    (
        "POST",
        "/settings/{org}/members/",
        &[("action", "add"), ("email", BYSTANDER), ("role", "member")],
    ),
    ("POST", "/settings/{org}/teams/", &[("name", "Form team")]),
    (
        "POST",
        "/settings/account/api/auth-tokens/",
        &[("action", "create"), ("scope", "org:read")],
    ),
];

/// The page routes anyone may use.
const PUBLIC_PAGES: &[(&str, &str)] = &[
    ("GET", "/_static/app.css"),
    ("GET", "/auth/login/"),
    ("POST", "/auth/login/"),
];

/// Percent-encodes everything but unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

fn pct_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The value of the input named `name` in a page.
fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// An HTTP client that keeps cookies as a browser does, follows no
/// redirect and keeps a transcript of every answer.
struct Client {
    agent: ureq::Agent,
    base: String,
    cookies: BTreeMap<String, String>,
    bearer: Option<String>,
    /// The session's CSRF token, once signed in.
    csrf: String,
    /// Every answer: status, headers and body.
    seen: String,
}

impl Client {
    fn new(server: &Server) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            agent,
            base: server.url.clone(),
            cookies: BTreeMap::new(),
            bearer: None,
            csrf: String::new(),
            seen: String::new(),
        }
    }

    /// A client authenticated by an API token.
    fn with_token(server: &Server, token: &str) -> Client {
        let mut client = Client::new(server);
        client.bearer = Some(token.to_owned());
        client
    }

    /// A client with a session of `email`, and the session's CSRF token.
    fn sign_in(server: &Server, email: &str, password: &str) -> Client {
        let mut client = Client::new(server);
        let r = client.try_sign_in(email, password, "/");
        assert_eq!(r.status, 303, "sign-in of {email}: {}", r.body);
        assert!(
            client.cookies.contains_key("sentrysid"),
            "no session cookie"
        );
        let page = client.get("/settings/account/api/auth-tokens/");
        assert_eq!(page.status, 200, "{}", page.body);
        client.csrf = input_value(&page.body, "csrfmiddlewaretoken");
        client
    }

    /// Fetches the sign-in form and posts it.
    fn try_sign_in(&mut self, email: &str, password: &str, next: &str) -> Reply {
        let form = self.get(&format!("/auth/login/?next={}", pct(next)));
        assert_eq!(form.status, 200, "{}", form.body);
        let token = input_value(&form.body, "csrfmiddlewaretoken");
        assert_eq!(
            self.cookies.get("sentrycsrf"),
            Some(&token),
            "the form's token is also its cookie"
        );
        self.post_form(
            "/auth/login/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("username", email),
                ("password", password),
                ("next", next),
            ],
        )
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("Cookie", jar.join("; "));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut response = if body.is_empty() {
            self.agent.run(request.body(()).unwrap())
        } else {
            self.agent.run(request.body(body.to_vec()).unwrap())
        }
        .unwrap();
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        writeln!(self.seen, "{method} {path} -> {status}").unwrap();
        for (k, v) in &headers {
            writeln!(self.seen, "{k}: {v}").unwrap();
            if k.eq_ignore_ascii_case("set-cookie") {
                self.keep_cookie(v);
            }
        }
        writeln!(self.seen, "\n{body}\n").unwrap();
        Reply {
            status,
            body,
            headers,
        }
    }

    fn keep_cookie(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let (name, value) = parts.next().unwrap().split_once('=').unwrap();
        let expired = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
        if expired || value.is_empty() {
            self.cookies.remove(name.trim());
        } else {
            self.cookies
                .insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }

    fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[], b"")
    }

    /// Posts a form as it is, without adding a CSRF token.
    fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect();
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.join("&").as_bytes(),
        )
    }

    /// Posts a form with the session's CSRF token, as the page's form does.
    fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrfmiddlewaretoken", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, &all)
    }

    /// Calls the API with `X-CSRFToken` set when signed in.
    fn api(&mut self, method: &str, path: &str, body: &str) -> Reply {
        let csrf = (!self.csrf.is_empty()).then(|| self.csrf.clone());
        self.api_with_csrf(method, path, body, csrf.as_deref())
    }

    fn api_with_csrf(&mut self, method: &str, path: &str, body: &str, csrf: Option<&str>) -> Reply {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(csrf) = csrf {
            headers.push(("X-CSRFToken", csrf));
        }
        self.send(method, path, &headers, body.as_bytes())
    }

    /// Mints an API token with `scopes` on the token page.
    fn mint_token(&mut self, scopes: &[&str]) -> String {
        let mut fields = vec![("action", "create")];
        fields.extend(scopes.iter().map(|s| ("scope", *s)));
        let r = self.submit("/settings/account/api/auth-tokens/", &fields);
        assert_eq!(r.status, 200, "{}", r.body);
        let marker = "aria-label=\"New token\" value=\"";
        let start = r.body.find(marker).expect("the new token is shown") + marker.len();
        r.body[start..].split('"').next().unwrap().to_owned()
    }
}

impl Reply {
    fn location(&self) -> &str {
        self.header("location").unwrap_or("")
    }
}

/// The server's database, opened beside it as `sentry createuser` does:
/// for setup the API cannot do and for checking state.
struct Db {
    store: Arc<dyn Store>,
    rt: tokio::runtime::Runtime,
}

impl Db {
    fn open(server: &Server) -> Db {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("sqlite://{}", server.data_dir.join("sentry.db").display());
        let store = rt.block_on(sentry_eventstore::open(&url)).unwrap();
        Db { store, rt }
    }

    fn org_id(&self, slug: &str) -> i64 {
        self.rt
            .block_on(self.store.organization(slug))
            .unwrap()
            .unwrap()
            .id
    }

    fn user_id(&self, email: &str) -> i64 {
        self.rt
            .block_on(self.store.user_by_login(email))
            .unwrap()
            .unwrap()
            .id
    }

    /// Everything a request could change, as text: organizations, teams,
    /// members, projects with keys and settings, issues, users and tokens.
    fn snapshot(&self) -> String {
        let store = &self.store;
        self.rt.block_on(async {
            let mut out = String::new();
            for org in store.organizations().await.unwrap() {
                writeln!(out, "{org:?}").unwrap();
                writeln!(out, "{:?}", store.teams(org.id).await.unwrap()).unwrap();
                writeln!(out, "{:?}", store.members(org.id).await.unwrap()).unwrap();
                for p in store.projects(org.id).await.unwrap() {
                    writeln!(out, "{p:?}").unwrap();
                    writeln!(out, "{:?}", store.keys(p.id).await.unwrap()).unwrap();
                    let hooks = store.service_hooks(p.id).await.unwrap();
                    writeln!(out, "{hooks:?}").unwrap();
                    let config = store.project_config(p.id.unsigned_abs()).await.unwrap();
                    writeln!(out, "{config:?}").unwrap();
                }
                let all = IssueQuery {
                    limit: 1000,
                    ..Default::default()
                };
                writeln!(out, "{:?}", store.issues(org.id, &all).await.unwrap()).unwrap();
            }
            for user in store.users().await.unwrap() {
                let tokens = store.tokens(user.id).await.unwrap();
                writeln!(out, "{user:?} {tokens:?}").unwrap();
            }
            out
        })
    }

    /// The status of an issue of `sentry`; `None` once deleted.
    fn issue_status(&self, id: &str) -> Option<IssueStatus> {
        let org = self.org_id("sentry");
        self.rt
            .block_on(self.store.issue(org, id.parse().unwrap()))
            .unwrap()
            .map(|i| i.status)
    }

    fn role(&self, org: &str, email: &str) -> Option<Role> {
        let (org, user) = (self.org_id(org), self.user_id(email));
        self.rt.block_on(self.store.role(org, user)).unwrap()
    }

    fn project_slugs(&self, org: &str) -> Vec<String> {
        let org = self.org_id(org);
        let projects = self.rt.block_on(self.store.projects(org)).unwrap();
        projects.into_iter().map(|p| p.slug).collect()
    }
}

/// Runs `sentry createuser` on the server's data directory.
fn createuser(server: &Server, email: &str, password: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentry"))
        .arg("createuser")
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(["--email", email, "--password", password])
        .args(extra)
        .output()
        .unwrap()
}

fn add_user(server: &Server, email: &str, extra: &[&str]) {
    let out = createuser(server, email, PASSWORD, extra);
    assert!(
        out.status.success(),
        "createuser {email}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn event_envelope() -> Vec<u8> {
    let event = json!({
        "platform": "python",
        "environment": "production",
        "exception": {"values": [{
            "type": "ProbeError",
            "value": "the security probe",
            "stacktrace": {"frames": [{"function": "probe", "module": "app.security", "in_app": true, "lineno": 7}]}
        }]}
    })
    .to_string();
    format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

/// The real ids behind the route templates.
struct Ids {
    issue: String,
    event: String,
    /// The public key, as the API names a key.
    public_key: String,
    /// The numeric id, as the keys page names a key.
    key: String,
    /// The id of a service hook of `internal`.
    hook: String,
}

impl Ids {
    /// A route template (or form value) of org `sentry` with real ids.
    fn fill(&self, template: &str) -> String {
        template
            .replace("{org}", "sentry")
            .replace("{project}", "internal")
            .replace("{team}", "sentry")
            .replace("{id}", &self.issue)
            .replace("{event}", &self.event)
            .replace("{event_id}", &self.event)
            .replace("{key_id}", &self.public_key)
            .replace("{hook_id}", &self.hook)
            .replace("{filter_id}", "browser-extensions")
            .replace("{key}", "environment")
    }

    fn fill_form(&self, form: Form) -> Vec<(String, String)> {
        form.iter()
            .map(|(k, v)| ((*k).to_owned(), self.fill(v)))
            .collect()
    }
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A server with one issue of one event in project `internal`.
struct Fixture {
    server: Server,
    db: Db,
    ids: Ids,
}

impl Fixture {
    fn on(server: Server) -> Fixture {
        let r = server.post_envelope(&event_envelope());
        assert_eq!(r.status, 200, "{}", r.body);
        let event = r.json()["id"].as_str().unwrap().to_owned();
        let issues = server.wait_for_events(1);
        let issue = issues[0]["id"].as_str().unwrap().to_owned();
        let db = Db::open(&server);
        let project = db
            .rt
            .block_on(db.store.project(db.org_id("sentry"), "internal"));
        let project = project.unwrap().unwrap();
        let key = db.rt.block_on(db.store.keys(project.id)).unwrap().remove(0);
        let hook = db.rt.block_on(db.store.create_service_hook(
            project.id,
            "http://127.0.0.1:9/hook",
            &["event.created".to_owned()],
        ));
        let ids = Ids {
            issue,
            event,
            public_key: key.public_key,
            key: key.id.to_string(),
            hook: hook.unwrap().guid,
        };
        Fixture { server, db, ids }
    }

    fn start() -> Fixture {
        Fixture::on(Server::start())
    }
}

/// The `(method, path)` of each `.route(...)` in a router's source whose
/// path `keep` accepts.
fn routes_in_source(file: &str, keep: impl Fn(&str) -> bool) -> BTreeSet<(String, String)> {
    let path = format!("{}/../../sentry-web/src/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeSet::new();
    for piece in source.split(".route(").skip(1) {
        // A route ends at the next one or at the end of the function.
        let piece = &piece[..piece.find("\n}").unwrap_or(piece.len())];
        let route = piece.split('"').nth(1).unwrap();
        if !keep(route) {
            continue;
        }
        for method in ["get", "post", "put", "delete", "patch", "any"] {
            let call = format!("{method}(");
            let called = piece.match_indices(&call).any(|(i, _)| {
                i == 0 || {
                    let before = piece.as_bytes()[i - 1];
                    !(before.is_ascii_alphanumeric() || before == b'_')
                }
            });
            if called {
                out.insert((method.to_uppercase(), route.to_owned()));
            }
        }
    }
    out
}

/// Asserts a 303 to the sign-in page that comes back to `path`.
fn assert_sent_to_sign_in(r: &Reply, what: &str, path: &str) {
    assert_eq!(r.status, 303, "{what}: {}", r.body);
    let next = r
        .location()
        .strip_prefix("/auth/login/?next=")
        .unwrap_or_else(|| panic!("{what}: redirected to {:?}", r.location()));
    assert_eq!(pct_decode(next), path, "{what}");
}

#[test]
fn the_route_tables_cover_every_route() {
    let api = routes_in_source("lib.rs", |p| p.starts_with("/api/0/") && !p.contains("{*"));
    let covered: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|(m, t, _)| ((*m).to_owned(), t.split('?').next().unwrap().to_owned()))
        .collect();
    assert_eq!(api, covered, "API routes in lib.rs vs API_ROUTES");

    let pages = routes_in_source("pages/mod.rs", |_| true);
    let covered: BTreeSet<(String, String)> = PAGE_ROUTES
        .iter()
        .map(|(m, t, _)| ((*m).to_owned(), (*t).to_owned()))
        .chain(
            PUBLIC_PAGES
                .iter()
                .map(|(m, t)| ((*m).to_owned(), (*t).to_owned())),
        )
        .collect();
    assert_eq!(pages, covered, "page routes in pages/mod.rs vs PAGE_ROUTES");
}

#[test]
fn anonymous_callers_and_bogus_credentials_reach_nothing() {
    let f = Fixture::start();
    let before = f.db.snapshot();
    let mut anonymous = Client::new(&f.server);
    let mut bogus_token = Client::with_token(&f.server, "0123456789abcdef0123456789abcdef");
    let mut bogus_cookie = Client::new(&f.server);
    bogus_cookie
        .cookies
        .insert("sentrysid".into(), "no-such-session".into());

    for (method, template, body) in API_ROUTES {
        let path = f.ids.fill(template);
        for (who, client) in [
            ("anonymous", &mut anonymous),
            ("bogus token", &mut bogus_token),
            ("bogus session cookie", &mut bogus_cookie),
        ] {
            let r = client.api_with_csrf(method, &path, body, Some("whatever"));
            assert_eq!(r.status, 401, "{who} {method} {path}: {}", r.body);
        }
    }

    // Pages take sessions only: a valid API token does not open them.
    let mut api_token = Client::with_token(&f.server, &f.server.token);
    for (method, template, form) in PAGE_ROUTES {
        let path = f.ids.fill(template);
        let mut form = f.ids.fill_form(form);
        form.push(("csrfmiddlewaretoken".into(), "whatever".into()));
        for (who, client) in [
            ("anonymous", &mut anonymous),
            ("bogus session cookie", &mut bogus_cookie),
            ("API token", &mut api_token),
        ] {
            let r = match *method {
                "GET" => client.get(&path),
                _ => client.post_form(&path, &pairs(&form)),
            };
            assert_sent_to_sign_in(&r, &format!("{who} {method} {path}"), &path);
        }
    }

    // The sign-in form and the stylesheet are public.
    let r = anonymous.get("/auth/login/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"password\""), "{}", r.body);
    let r = anonymous.get("/_static/app.css");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/css"));

    assert_eq!(f.db.snapshot(), before, "refused requests changed state");

    // The same paths are real: an owner's session opens every page, and
    // the admin token succeeds on every API route.
    add_user(&f.server, "owner@example.test", &["--role", "owner"]);
    let mut owner = Client::sign_in(&f.server, "owner@example.test", PASSWORD);
    for (method, template, _) in PAGE_ROUTES.iter().filter(|r| r.0 == "GET") {
        let path = f.ids.fill(template);
        let r = owner.get(&path);
        let expected = if path == "/" { 303 } else { 200 };
        assert_eq!(r.status, expected, "owner {method} {path}: {}", r.body);
    }
    let mut admin = Client::with_token(&f.server, &f.server.token);
    for (method, template, body) in API_ROUTES {
        let path = f.ids.fill(template);
        let r = admin.api(method, &path, body);
        assert!(
            (200..300).contains(&r.status),
            "admin {method} {path}: {} {}",
            r.status,
            r.body
        );
    }
    assert_eq!(f.db.issue_status(&f.ids.issue), None, "the delete ran");
}

#[test]
fn members_of_another_organization_are_refused_everywhere() {
    let f = Fixture::start();
    // A second organization, with a team, whose owner is the outsider.
    let acme =
        f.db.rt
            .block_on(f.db.store.create_organization("acme", "Acme"));
    let acme = acme.unwrap();
    f.db.rt
        .block_on(f.db.store.create_team(acme.id, "acme", "Acme"))
        .unwrap();
    add_user(&f.server, OUTSIDER, &["--org", "acme", "--role", "owner"]);
    let mut session = Client::sign_in(&f.server, OUTSIDER, PASSWORD);
    let token = session.mint_token(ALL_SCOPES);
    let mut by_token = Client::with_token(&f.server, &token);

    // Both credentials work in the outsider's own organization.
    let r = by_token.api(
        "POST",
        "/api/0/teams/acme/acme/projects/",
        r#"{"name":"Acme Web"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(session.get("/organizations/acme/issues/").status, 200);
    assert_eq!(
        session
            .api("GET", "/api/0/organizations/acme/projects/", "")
            .status,
        200
    );
    let home = session.get("/");
    assert_eq!(home.status, 303);
    assert_eq!(home.location(), "/organizations/acme/issues/");

    let before = f.db.snapshot();
    for (method, template, body) in API_ROUTES {
        let path = f.ids.fill(template);
        for (who, client) in [("session", &mut session), ("token", &mut by_token)] {
            let r = client.api(method, &path, body);
            assert_eq!(r.status, 403, "{who} {method} {path}: {}", r.body);
            assert!(
                !r.body.contains("CSRF"),
                "{who} {method} {path}: {}",
                r.body
            );
        }
    }
    for (method, template, form) in PAGE_ROUTES.iter().filter(|r| r.1.contains("{org}")) {
        let path = f.ids.fill(template);
        let r = match *method {
            "GET" => session.get(&path),
            _ => session.submit(&path, &pairs(&f.ids.fill_form(form))),
        };
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert!(!r.body.contains("CSRF"), "{method} {path}: {}", r.body);
    }
    // An empty bulk selection is refused too.
    let r = session.submit("/organizations/sentry/issues/", &[("action", "resolve")]);
    assert_eq!(r.status, 403, "{}", r.body);

    // `sentry`'s ids through the outsider's own organization.
    let issue = &f.ids.issue;
    for path in [
        format!("/api/0/organizations/acme/issues/{issue}/"),
        format!("/api/0/organizations/acme/issues/{issue}/events/"),
        format!(
            "/api/0/organizations/acme/issues/{issue}/events/{}/",
            f.ids.event
        ),
        format!("/api/0/projects/acme/acme-web/events/{}/", f.ids.event),
        "/api/0/projects/acme/internal/".to_owned(),
    ] {
        assert_eq!(by_token.api("GET", &path, "").status, 404, "{path}");
    }
    let r = by_token.api(
        "PUT",
        &format!("/api/0/organizations/acme/issues/{issue}/"),
        r#"{"status":"resolved"}"#,
    );
    assert_eq!(r.status, 404, "{}", r.body);
    let r = by_token.api(
        "DELETE",
        &format!("/api/0/organizations/acme/issues/{issue}/"),
        "",
    );
    assert_eq!(r.status, 404, "{}", r.body);
    // Bulk updates by id answer as for ids that match nothing; what counts
    // is that the issue stays as it was (the snapshot below).
    by_token.api(
        "PUT",
        &format!("/api/0/organizations/acme/issues/?id={issue}"),
        r#"{"status":"resolved"}"#,
    );
    let r = by_token.api(
        "PUT",
        &format!("/api/0/projects/acme/acme-web/keys/{}/", f.ids.public_key),
        r#"{"isActive":false}"#,
    );
    assert_eq!(r.status, 404, "{}", r.body);
    let hook = format!("/api/0/projects/acme/acme-web/hooks/{}/", f.ids.hook);
    for (method, body) in [
        ("GET", ""),
        ("PUT", r#"{"url":"http://127.0.0.1:9/taken"}"#),
        ("DELETE", ""),
    ] {
        let r = by_token.api(method, &hook, body);
        assert_eq!(r.status, 404, "{method} {hook}: {}", r.body);
    }
    let r = by_token.api("GET", "/api/0/projects/acme/acme-web/hooks/", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!([]),
        "another project's hooks are not listed"
    );
    for page in [
        format!("/organizations/acme/issues/{issue}/"),
        format!("/organizations/acme/issues/{issue}/events/latest/json/"),
    ] {
        assert_eq!(session.get(&page).status, 404, "{page}");
    }
    let r = session.submit(
        "/organizations/acme/issues/",
        &[("action", "delete"), ("id", issue.as_str())],
    );
    assert_eq!(r.status, 303, "back to the list, having deleted nothing");
    let r = session.submit(
        &format!("/organizations/acme/issues/{issue}/"),
        &[("action", "resolve")],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    let r = session.submit(
        "/settings/acme/projects/acme-web/keys/",
        &[("action", "disable"), ("key", f.ids.key.as_str())],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let admin_id = f.db.user_id("admin@localhost").to_string();
    for action in ["role", "remove"] {
        let r = session.submit(
            "/settings/acme/members/",
            &[
                ("action", action),
                ("user", admin_id.as_str()),
                ("role", "member"),
            ],
        );
        assert_eq!(r.status, 400, "{action}: {}", r.body);
    }
    // Tokens are revoked by their owner only.
    let admin_tokens =
        f.db.rt
            .block_on(f.db.store.tokens(admin_id.parse().unwrap()))
            .unwrap();
    assert!(!admin_tokens.is_empty());
    for t in &admin_tokens {
        let id = t.id.to_string();
        let r = session.submit(
            "/settings/account/api/auth-tokens/",
            &[("action", "revoke"), ("id", id.as_str())],
        );
        assert_eq!(r.status, 303, "{}", r.body);
    }

    assert_eq!(f.db.snapshot(), before, "the outsider changed something");
    assert_eq!(f.db.issue_status(issue), Some(IssueStatus::Unresolved));
    assert_eq!(
        f.server.get("/api/0/organizations/sentry/projects/").status,
        200,
        "the admin token still works"
    );
}

#[test]
fn members_triage_issues_but_do_not_administer() {
    let f = Fixture::start();
    add_user(&f.server, "member@example.test", &["--role", "member"]);
    add_user(&f.server, BYSTANDER, &["--org", "nowhere"]);
    let mut member = Client::sign_in(&f.server, "member@example.test", PASSWORD);
    let issue = f.ids.issue.clone();

    // Reading.
    let r = member.get("/organizations/sentry/issues/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("ProbeError"), "{}", r.body);
    let r = member.get(&format!("/organizations/sentry/issues/{issue}/"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("the security probe"), "{}", r.body);
    let r = member.api("GET", "/api/0/organizations/sentry/issues/", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["id"], issue.as_str());
    for page in [
        "/settings/sentry/projects/internal/",
        "/settings/sentry/members/",
    ] {
        assert_eq!(member.get(page).status, 200, "{page}");
    }

    // Triage: resolve on the page, unresolve through the API.
    let r = member.submit(
        &format!("/organizations/sentry/issues/{issue}/"),
        &[("action", "resolve")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(f.db.issue_status(&issue), Some(IssueStatus::Resolved));
    let r = member.api(
        "PUT",
        &format!("/api/0/organizations/sentry/issues/{issue}/"),
        r#"{"status":"unresolved"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(f.db.issue_status(&issue), Some(IssueStatus::Unresolved));

    // Administration is refused, whatever the token's scopes say.
    let token = member.mint_token(ALL_SCOPES);
    let mut by_token = Client::with_token(&f.server, &token);
    let before = f.db.snapshot();
    let r = member.get("/organizations/sentry/projects/new/");
    assert_eq!(r.status, 403);
    let member_id = f.db.user_id("member@example.test").to_string();
    let admin_id = f.db.user_id("admin@localhost").to_string();
    let forms: &[(&str, Vec<(&str, &str)>)] = &[
        (
            "/organizations/sentry/projects/new/",
            vec![("name", "Mine"), ("platform", "python"), ("team", "sentry")],
        ),
        (
            "/settings/sentry/projects/internal/",
            vec![("name", "Taken over"), ("platform", "python")],
        ),
        (
            "/settings/sentry/projects/internal/keys/",
            vec![("action", "create"), ("label", "Mine")],
        ),
        (
            "/settings/sentry/projects/internal/keys/",
            vec![("action", "disable"), ("key", f.ids.key.as_str())],
        ),
        (
            "/settings/sentry/members/",
            vec![("action", "add"), ("email", BYSTANDER), ("role", "member")],
        ),
        (
            "/settings/sentry/members/",
            vec![
                ("action", "role"),
                ("user", member_id.as_str()),
                ("role", "owner"),
            ],
        ),
        (
            "/settings/sentry/members/",
            vec![("action", "remove"), ("user", admin_id.as_str())],
        ),
        ("/settings/sentry/teams/", vec![("name", "Mine")]),
    ];
    for (path, form) in forms {
        let r = member.submit(path, form);
        assert_eq!(r.status, 403, "{path} {form:?}: {}", r.body);
    }
    let key = format!("/api/0/projects/sentry/internal/keys/{}/", f.ids.public_key);
    let hook = format!("/api/0/projects/sentry/internal/hooks/{}/", f.ids.hook);
    for path in ["/api/0/projects/sentry/internal/hooks/", hook.as_str()] {
        let r = member.api("GET", path, "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let writes = [
        (
            "PUT",
            "/api/0/projects/sentry/internal/",
            r#"{"name":"Taken over"}"#,
        ),
        (
            "PUT",
            "/api/0/projects/sentry/internal/filters/localhost/",
            r#"{"active":true}"#,
        ),
        (
            "POST",
            "/api/0/projects/sentry/internal/keys/",
            r#"{"name":"Mine"}"#,
        ),
        ("PUT", key.as_str(), r#"{"isActive":false}"#),
        (
            "POST",
            "/api/0/projects/sentry/internal/hooks/",
            r#"{"url":"http://127.0.0.1:9/mine","events":["event.created"]}"#,
        ),
        ("PUT", hook.as_str(), r#"{"url":"http://127.0.0.1:9/mine"}"#),
        ("DELETE", hook.as_str(), ""),
        (
            "POST",
            "/api/0/teams/sentry/sentry/projects/",
            r#"{"name":"Mine"}"#,
        ),
    ];
    for (method, path, body) in writes {
        for (who, client) in [("session", &mut member), ("token", &mut by_token)] {
            let r = client.api(method, path, body);
            assert_eq!(r.status, 403, "{who} {method} {path}: {}", r.body);
        }
    }
    assert_eq!(f.db.snapshot(), before, "a refused request changed state");
    assert_eq!(
        f.db.role("sentry", "member@example.test"),
        Some(Role::Member)
    );
}

#[test]
fn managers_create_projects_but_make_no_owners() {
    let f = Fixture::start();
    add_user(&f.server, "manager@example.test", &["--role", "manager"]);
    add_user(&f.server, BYSTANDER, &["--org", "nowhere"]);
    let mut manager = Client::sign_in(&f.server, "manager@example.test", PASSWORD);

    assert_eq!(
        manager.get("/organizations/sentry/projects/new/").status,
        200
    );
    let r = manager.submit(
        "/organizations/sentry/projects/new/",
        &[
            ("name", "Manager Page"),
            ("platform", "rust"),
            ("team", "sentry"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        "/settings/sentry/projects/manager-page/?created=1"
    );
    let r = manager.api(
        "POST",
        "/api/0/teams/sentry/sentry/projects/",
        r#"{"name":"Manager Api"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let slugs = f.db.project_slugs("sentry");
    assert!(slugs.contains(&"manager-page".to_owned()), "{slugs:?}");
    assert!(slugs.contains(&"manager-api".to_owned()), "{slugs:?}");

    // Owners are made by owners only.
    let before = f.db.snapshot();
    let r = manager.submit(
        "/settings/sentry/members/",
        &[("action", "add"), ("email", BYSTANDER), ("role", "owner")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let manager_id = f.db.user_id("manager@example.test").to_string();
    let r = manager.submit(
        "/settings/sentry/members/",
        &[
            ("action", "role"),
            ("user", manager_id.as_str()),
            ("role", "owner"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(f.db.snapshot(), before);
    let r = manager.submit(
        "/settings/sentry/members/",
        &[("action", "add"), ("email", BYSTANDER), ("role", "manager")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(f.db.role("sentry", BYSTANDER), Some(Role::Manager));
}

#[test]
fn page_forms_need_the_session_csrf_token() {
    let f = Fixture::start();
    add_user(&f.server, "owner@example.test", &["--role", "owner"]);
    add_user(&f.server, BYSTANDER, &["--org", "nowhere"]);
    let mut owner = Client::sign_in(&f.server, "owner@example.test", PASSWORD);
    let other = Client::sign_in(&f.server, "owner@example.test", PASSWORD);
    assert_ne!(owner.csrf, other.csrf, "each session has its own token");

    let posts: Vec<_> = PAGE_ROUTES
        .iter()
        .filter(|(m, t, _)| *m == "POST" && *t != "/auth/logout/")
        .map(|(_, t, form)| (f.ids.fill(t), f.ids.fill_form(form)))
        .collect();
    let before = f.db.snapshot();
    for (path, form) in &posts {
        let wrong = [
            None,
            Some("not-the-token"),
            Some(""),
            Some(other.csrf.as_str()),
        ];
        for token in wrong {
            let mut fields = pairs(form);
            if let Some(token) = token {
                fields.push(("csrfmiddlewaretoken", token));
            }
            let r = owner.post_form(path, &fields);
            assert_eq!(
                r.status, 403,
                "POST {path} with token {token:?}: {}",
                r.body
            );
            assert!(r.body.contains("CSRF"), "{}", r.body);
        }
    }
    assert_eq!(f.db.snapshot(), before, "a refused form changed state");

    // The same forms with the token do what they say.
    let mut last = before;
    for (path, form) in &posts {
        let r = owner.submit(path, &pairs(form));
        let expected = if path.contains("auth-tokens") {
            200
        } else {
            303
        };
        assert_eq!(r.status, expected, "POST {path}: {}", r.body);
        let now = f.db.snapshot();
        assert_ne!(now, last, "POST {path} changed nothing");
        last = now;
    }
    assert_eq!(f.db.issue_status(&f.ids.issue), Some(IssueStatus::Ignored));

    // Signing out needs the token too; afterwards the cookie is worthless.
    let session = owner.cookies["sentrysid"].clone();
    for token in [None, Some("not-the-token")] {
        let mut fields = vec![];
        if let Some(token) = token {
            fields.push(("csrfmiddlewaretoken", token));
        }
        let r = owner.post_form("/auth/logout/", &fields);
        assert_eq!(r.status, 403, "{}", r.body);
        let r = owner.get("/settings/account/api/auth-tokens/");
        assert_eq!(r.status, 200, "still signed in");
    }
    let r = owner.submit("/auth/logout/", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/auth/login/");
    assert!(!owner.cookies.contains_key("sentrysid"), "cookie cleared");
    owner.cookies.insert("sentrysid".into(), session);
    let r = owner.get("/settings/account/api/auth-tokens/");
    assert_sent_to_sign_in(&r, "ended session", "/settings/account/api/auth-tokens/");
    let r = owner.api("GET", "/api/0/organizations/sentry/projects/", "");
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn sign_in_needs_its_form_cookie_and_stays_on_this_site() {
    let f = Fixture::start();
    add_user(&f.server, "owner@example.test", &["--role", "owner"]);
    let email = "owner@example.test";

    // No form cookie, or a field that does not match it: refused, and no
    // session comes of it.
    let mut client = Client::new(&f.server);
    let r = client.post_form(
        "/auth/login/",
        &[
            ("csrfmiddlewaretoken", "made-up"),
            ("username", email),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!client.cookies.contains_key("sentrysid"));
    for field in [Some("made-up"), None] {
        let mut client = Client::new(&f.server);
        assert_eq!(client.get("/auth/login/").status, 200);
        assert!(client.cookies.contains_key("sentrycsrf"));
        let mut fields = vec![("username", email), ("password", PASSWORD)];
        if let Some(field) = field {
            fields.push(("csrfmiddlewaretoken", field));
        }
        let r = client.post_form("/auth/login/", &fields);
        assert_eq!(r.status, 403, "field {field:?}: {}", r.body);
        assert!(!client.cookies.contains_key("sentrysid"));
    }

    // A wrong password: 401, no session.
    let mut client = Client::new(&f.server);
    let r = client.try_sign_in(email, "not-the-password", "/");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!client.cookies.contains_key("sentrysid"));

    // The right one: a session cookie scripts cannot read.
    let r = client.try_sign_in(email, PASSWORD, "/settings/sentry/members/");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/settings/sentry/members/");
    let cookie = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("sentrysid="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !client.cookies.contains_key("sentrycsrf"),
        "form cookie cleared"
    );

    // `next` leads to this site only.
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let mut client = Client::new(&f.server);
        let r = client.try_sign_in(email, PASSWORD, next);
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.location(), "/", "next={next}");
    }
}

#[test]
fn api_writes_with_the_session_cookie_need_the_csrf_header() {
    let f = Fixture::start();
    add_user(&f.server, "owner@example.test", &["--role", "owner"]);
    let mut owner = Client::sign_in(&f.server, "owner@example.test", PASSWORD);
    let issue = format!("/api/0/organizations/sentry/issues/{}/", f.ids.issue);
    let resolve = r#"{"status":"resolved"}"#;

    // Reads need no header.
    let r = owner.api_with_csrf("GET", &issue, "", None);
    assert_eq!(r.status, 200, "{}", r.body);

    let before = f.db.snapshot();
    for csrf in [None, Some("not-the-token"), Some("")] {
        let r = owner.api_with_csrf("PUT", &issue, resolve, csrf);
        assert_eq!(r.status, 403, "{csrf:?}: {}", r.body);
        assert!(r.body.contains("CSRF"), "{}", r.body);
        let r = owner.api_with_csrf(
            "POST",
            "/api/0/projects/sentry/internal/keys/",
            r#"{"name":"Forged"}"#,
            csrf,
        );
        assert_eq!(r.status, 403, "{csrf:?}: {}", r.body);
        let r = owner.api_with_csrf(
            "POST",
            "/api/0/projects/sentry/internal/hooks/",
            r#"{"url":"http://127.0.0.1:9/forged","events":["event.created"]}"#,
            csrf,
        );
        assert_eq!(r.status, 403, "{csrf:?}: {}", r.body);
        let r = owner.api_with_csrf("DELETE", &issue, "", csrf);
        assert_eq!(r.status, 403, "{csrf:?}: {}", r.body);
    }
    assert_eq!(f.db.snapshot(), before, "a refused write changed state");
    assert_eq!(
        f.db.issue_status(&f.ids.issue),
        Some(IssueStatus::Unresolved)
    );

    let r = owner.api("PUT", &issue, resolve);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(f.db.issue_status(&f.ids.issue), Some(IssueStatus::Resolved));
}

#[test]
fn passwords_appear_in_no_answer_output_log_or_database_file() {
    // Only letters, digits and dashes: the same in a form body, a URL and
    // JSON, so a copy in any of them would be found.
    let password = "Kestrel-Quartz-8842-Pw";
    let wrong = "Heron-Basalt-1937-Pw";
    let email = "traced@example.test";
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("server.log");
    let f = Fixture::on(Server::start_logged(&log));

    let mut outputs = String::new();
    let mut run = |extra: &[&str], ok: bool| {
        let out = createuser(&f.server, email, password, extra);
        assert_eq!(out.status.success(), ok, "createuser {extra:?}");
        outputs.push_str(&String::from_utf8_lossy(&out.stdout));
        outputs.push_str(&String::from_utf8_lossy(&out.stderr));
    };
    run(&["--role", "owner"], true);
    run(&["--role", "owner"], false); // exists already
    run(&["--role", "owner", "--force-update"], true);
    assert!(outputs.contains(email), "{outputs}");
    assert!(outputs.contains("exists"), "{outputs}");

    let mut client = Client::new(&f.server);
    let r = client.try_sign_in(email, wrong, "/");
    assert_eq!(r.status, 401, "{}", r.body);
    let r = client.try_sign_in(email, password, "/");
    assert_eq!(r.status, 303, "{}", r.body);
    let page = client.get("/settings/account/api/auth-tokens/");
    client.csrf = input_value(&page.body, "csrfmiddlewaretoken");
    client.mint_token(&["org:read", "member:read"]);
    for page in [
        "/settings/sentry/members/",
        "/settings/account/api/auth-tokens/",
        "/organizations/sentry/issues/",
        "/settings/sentry/projects/internal/",
    ] {
        assert_eq!(client.get(page).status, 200, "{page}");
    }
    for path in [
        "/api/0/organizations/sentry/projects/",
        "/api/0/organizations/sentry/issues/",
        "/api/0/projects/sentry/internal/keys/",
    ] {
        assert_eq!(client.api("GET", path, "").status, 200, "{path}");
    }
    client.submit("/auth/logout/", &[]);
    assert!(client.seen.contains(email), "the members page was recorded");

    // The log has the sign-ins (written as they happen, so wait a little).
    let deadline = Instant::now() + Duration::from_secs(10);
    let log_text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("signed in") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(log_text.contains("sign-in refused"), "{log_text}");
    assert!(log_text.contains("signed in"), "{log_text}");

    let db_dir = &f.server.data_dir;
    let mut db_bytes = std::fs::read(db_dir.join("sentry.db")).unwrap();
    if let Ok(wal) = std::fs::read(db_dir.join("sentry.db-wal")) {
        db_bytes.extend(wal);
    }
    let has = |haystack: &[u8], needle: &str| {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(has(&db_bytes, email), "the database files hold the user");
    assert!(has(&db_bytes, "$argon2id$"), "and a password hash");

    for secret in [password, wrong] {
        assert!(!client.seen.contains(secret), "{secret} in an HTTP answer");
        assert!(!outputs.contains(secret), "{secret} in createuser's output");
        assert!(!log_text.contains(secret), "{secret} in the server log");
        assert!(!has(&db_bytes, secret), "{secret} in the database files");
    }
}
