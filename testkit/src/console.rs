//! The real console, its staff accounts and a signed-in client.

use shared::config::Env;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::*;

/// A console account's role and the changes `console user change` makes,
/// for tests of other crates that set up staff (the worker's desk tests).
pub use ::console::auth::Role as StaffRole;
pub use ::console::users::Change as StaffChange;

/// The real console, served in this process on a free port.
pub struct Console {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Console {
    /// Starts the console (it migrates the database) and waits until it answers.
    pub async fn start(env: &Env) -> Self {
        let config = ::console::config::ConsoleConfig::from_env(env).expect("test console config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(::console::run(config, listener, shutdown.clone()));
        eventually("console up", Duration::from_secs(60), || async {
            task.is_finished()
                || try_http(addr, "/login")
                    .await
                    .is_some_and(|r| r.status == 200)
        })
        .await;
        if task.is_finished() {
            // Its listener is gone: say why, rather than "connection reset".
            panic!("the console stopped while starting: {:?}", task.await);
        }
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// Stops the console gracefully and waits for it (at most a minute).
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the console to stop", Duration::from_secs(60), self.task)
            .await
            .expect("console task")
            .expect("console run");
    }
}

/// A signed-in browser-less client of the console: its cookie and the
/// CSRF token its pages carry.
pub struct StaffClient {
    /// The console.
    pub addr: SocketAddr,
    /// `leadpipe_session=…`.
    pub cookie: String,
    /// The page's CSRF token.
    pub csrf: String,
}

/// Creates a console account in the database at `url` (as `console user
/// add` would).
pub async fn add_staff(url: &str, username: &str, password: &str, role: ::console::auth::Role) {
    let db = ::console::open_database(url)
        .await
        .expect("open the database");
    ::console::users::add(&db, username, password, role, &[])
        .await
        .expect("add a staff account");
    db.close().await.ok();
}

/// Creates a team (through the same code as `console team add`).
pub async fn add_team(url: &str, name: &str, default: bool) {
    let db = ::console::open_database(url).await.expect("database");
    ::console::teams::add(&db, name, default, None)
        .await
        .expect("add team");
    db.close().await.ok();
}

/// Caps a team's open leads per member (as `console team change --max-open`).
pub async fn cap_team(url: &str, name: &str, cap: i32) {
    let db = ::console::open_database(url).await.expect("database");
    let change = ::console::teams::Change {
        default: false,
        max_open_leads: Some(Some(cap)),
    };
    ::console::teams::change(&db, name, change)
        .await
        .expect("cap team");
    db.close().await.ok();
}

/// Adds a routing rule (as `console rule add`).
pub async fn add_rule(url: &str, team: &str, source: Option<&str>, line: Option<&str>) {
    let db = ::console::open_database(url).await.expect("database");
    let team = ::console::teams::ids(&db, &[team.to_owned()])
        .await
        .expect("the rule's team")[0];
    let rule = ::console::routing::NewRule {
        position: 1,
        source: source.map(str::to_owned),
        line: line.map(str::to_owned),
        team,
    };
    ::console::routing::add(&db, rule).await.expect("add rule");
    db.close().await.ok();
}

/// Creates an account in `teams`, on duty or not (through the same code as
/// `console user add` and `console user change`).
pub async fn add_member(
    url: &str,
    username: &str,
    password: &str,
    role: ::console::auth::Role,
    teams: &[&str],
    on_duty: bool,
) {
    let db = ::console::open_database(url).await.expect("database");
    let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
    ::console::users::add(&db, username, password, role, &teams)
        .await
        .expect("add user");
    let change = ::console::users::Change {
        on_duty: Some(on_duty),
        ..Default::default()
    };
    ::console::users::change(&db, username, change)
        .await
        .expect("duty");
    db.close().await.ok();
}

/// Changes an account (partner ids, duty, role, teams).
pub async fn change_staff(url: &str, username: &str, change: ::console::users::Change) {
    let db = ::console::open_database(url).await.expect("database");
    ::console::users::change(&db, username, change)
        .await
        .expect("change user");
    db.close().await.ok();
}

/// Fetches the sign-in form and posts it as a browser would; with `token`,
/// that CSRF token is sent instead of the form's (to test refusals).
pub async fn post_login(
    addr: SocketAddr,
    username: &str,
    password: &str,
    token: Option<&str>,
) -> HttpResponse {
    let form = http(addr, "GET", "/login", &[], b"").await;
    let login_cookie = set_cookie_value(&form, "leadpipe_login_csrf").expect("login cookie");
    let form_token = csrf_of(&form).expect("login form token");
    let body = format!(
        "username={username}&password={}&csrf_token={}",
        password.replace(' ', "+"),
        token.unwrap_or(&form_token)
    );
    http(
        addr,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &login_cookie),
        ],
        body.as_bytes(),
    )
    .await
}

impl StaffClient {
    /// Signs in through the form, as a browser would.
    pub async fn sign_in(addr: SocketAddr, username: &str, password: &str) -> Self {
        let response = post_login(addr, username, password, None).await;
        assert_eq!(
            response.status,
            303,
            "sign-in: {}",
            String::from_utf8_lossy(&response.body)
        );
        let cookie = set_cookie_value(&response, "leadpipe_session").expect("session cookie");
        let page = http(addr, "GET", "/tata-chat/", &[("Cookie", &cookie)], b"").await;
        assert_eq!(page.status, 200);
        let csrf = csrf_of(&page).expect("page csrf token");
        Self { addr, cookie, csrf }
    }

    /// GETs a path with the session.
    pub async fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[("Cookie", &self.cookie)], b"").await
    }

    /// POSTs JSON with the session and the CSRF header.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        http(
            self.addr,
            "POST",
            path,
            &[
                ("Cookie", &self.cookie),
                ("X-CSRF-Token", &self.csrf),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .await
    }

    /// POSTs a file as the body (as the chat panel uploads one), with the
    /// session and the CSRF header.
    pub async fn post_file(
        &self,
        path: &str,
        content_type: &str,
        name: &str,
        bytes: &[u8],
    ) -> HttpResponse {
        http(
            self.addr,
            "POST",
            path,
            &[
                ("Cookie", &self.cookie),
                ("X-CSRF-Token", &self.csrf),
                ("Content-Type", content_type),
                ("X-File-Name", name),
            ],
            bytes,
        )
        .await
    }

    /// POSTs a form with the session and its `csrf_token` field.
    pub async fn post_form(&self, path: &str) -> HttpResponse {
        self.post_fields(path, Some(&self.csrf), &[]).await
    }

    /// POSTs a form with the session, `fields`, and `csrf_token` when given
    /// (to check refusals, pass `None` or another token).
    pub async fn post_fields(
        &self,
        path: &str,
        csrf_token: Option<&str>,
        fields: &[(&str, &str)],
    ) -> HttpResponse {
        let mut form = form_urlencoded::Serializer::new(String::new());
        if let Some(token) = csrf_token {
            form.append_pair("csrf_token", token);
        }
        form.extend_pairs(fields);
        http(
            self.addr,
            "POST",
            path,
            &[
                ("Cookie", &self.cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form.finish().as_bytes(),
        )
        .await
    }
}
