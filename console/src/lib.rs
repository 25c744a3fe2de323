//! The dealer console: the staff-facing web app. Staff sign in, read and
//! answer WhatsApp conversations (replies go through the broker to a worker,
//! which sends them to Tata), follow a lead's timeline across every partner,
//! and work their follow-ups.
//!
//! It reads the workers' database (applying the same migrations) and never
//! writes partner data itself; what it writes is its own: staff accounts
//! and sessions, read markers, follow-ups marked done.

pub mod audit;
pub mod auth;
pub mod canned;
pub mod chat;
pub mod config;
pub mod conversation;
pub mod conversation_status;
pub mod desk;
pub mod follow_ups;
pub mod leads;
pub mod live;
pub mod media;
pub mod media_files;
pub mod notifications;
pub mod operator;
pub mod outbound_files;
pub mod person;
pub mod reactions;
pub mod refusal;
pub mod reports;
pub mod routing;
pub mod send_again;
pub mod spreadsheet;
pub mod teams;
pub mod templates;
pub mod throttle;
pub mod users;
mod views;
pub mod whatsapp_content;

use anyhow::Context as _;
use auth::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, Staff};
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use config::ConsoleConfig;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use shared::broker::Publisher;
use shared::config::BrokerConfig;
use shared::serve::{Limits, accept_loop};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest request body: forms and replies are small.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest any request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent its request head by then is cut off.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 1024;
/// Largest request head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What every handler shares.
pub struct AppState {
    /// The workers' database.
    pub db: DatabaseConnection,
    /// Publishes reply send requests (confirmed).
    pub publisher: Publisher,
    /// The broker, for the operator's view of the dead-letter queues
    /// (opened per action: operators act rarely).
    pub broker: BrokerConfig,
    /// Failed sign-ins, per user and address.
    pub throttle: throttle::SignInThrottle,
    /// `CONSOLE_SESSION_HOURS`.
    pub session_lifetime: Duration,
    /// Whether cookies carry `Secure`.
    pub secure_cookies: bool,
    /// The lead desk's response target and business hours.
    pub desk: shared::config::DeskConfig,
    /// This process's change feed, which open pages' event streams follow.
    pub live: live::Feed,
    /// Cancelled on shutdown: open event streams end with it.
    pub shutdown: CancellationToken,
    /// `CONSOLE_PUBLIC_URL`: where Tata fetches the files staff send
    /// (none: files cannot be sent).
    pub public_url: Option<String>,
}

/// A time as people in India read it: "22 Nov 2026, 14:05 IST".
pub fn ist(at: DateTime<Utc>) -> String {
    at.with_timezone(&shared::time::ist())
        .format("%d %b %Y, %H:%M IST")
        .to_string()
}

/// How long start-up waits out a busy database (workers migrating at the
/// same moment) before giving up.
const MIGRATION_PATIENCE: Duration = Duration::from_secs(60);

/// Opens the database the workers use and applies pending migrations (the
/// console may start before any worker, or with them: a migration lock held
/// by another process is waited out).
pub async fn open_database(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = store::connect(url, 5, Duration::from_secs(30))
        .await
        .context("connecting to DATABASE_URL")?;
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match store::migrate(&db).await {
            Ok(()) => return Ok(db),
            Err(error) if store::is_transient(&error) && started.elapsed() < MIGRATION_PATIENCE => {
                tracing::info!(%error, "migrations must wait; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(error) => return Err(anyhow::Error::new(error).context("applying migrations")),
        }
    }
}

/// Serves the console on `listener` until `shutdown`, then finishes
/// requests in flight (up to 10 s). Tests call this with a port-0 listener.
pub async fn run(
    config: ConsoleConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let db = open_database(config.database_url.expose()).await?;
    let publisher = Publisher::start(config.broker.clone());
    // Replies need the broker; pages do not. Serve either way, but give the
    // first connection a moment so the first reply is not refused.
    if !publisher.wait_connected(Duration::from_secs(10)).await {
        tracing::warn!("the broker is not reachable yet: replies answer 503 until it is");
    }
    let state = Arc::new(AppState {
        db: db.clone(),
        publisher: publisher.clone(),
        broker: config.broker.clone(),
        throttle: throttle::SignInThrottle::default(),
        session_lifetime: config.session_lifetime,
        secure_cookies: config.secure_cookies(),
        desk: config.desk.clone(),
        live: live::Feed::start(db.clone(), shutdown.clone()),
        shutdown: shutdown.clone(),
        public_url: config.public_url.clone(),
    });
    let app = router(state.clone());
    tracing::info!(addr = %listener.local_addr().context("listener address")?, "console listening");
    serve(listener, app, &shutdown).await;
    publisher.close().await;
    state.db.clone().close().await.ok();
    Ok(())
}

/// Serves connections with hyper directly (not `axum::serve`) for what a
/// staff-facing server needs and it lacks: a deadline on the request head
/// (slow clients are cut off), a bound on its size and on the connections
/// served at once. On shutdown, stops accepting and gives open requests
/// [`DRAIN_TIMEOUT`].
async fn serve(listener: TcpListener, app: Router, shutdown: &CancellationToken) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    let limits = Limits {
        max_connections: MAX_CONNECTIONS,
        drain: DRAIN_TIMEOUT,
    };
    accept_loop(
        "console",
        listener,
        limits,
        shutdown,
        |stream, peer, watcher| {
            // The client's address, for the sign-in throttle (`ConnectInfo`).
            let app = app.clone().layer(Extension(ConnectInfo(peer)));
            let service = hyper_util::service::TowerToHyperService::new(app);
            let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
            async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "console connection ended with an error");
                }
            }
        },
    )
    .await;
}

/// Every route. Sign-in and assets are open; everything else needs a
/// session (and, for a POST, its CSRF token).
pub fn router(state: Arc<AppState>) -> Router {
    let signed_in = Router::new()
        .route("/", get(|| async { Redirect::to("/tata-chat/") }))
        .route("/tata-chat/", get(chat_page))
        .route("/ajax/tata-conversations/", get(chat::list_conversations))
        .route("/ajax/tata-conversations/{phone}/", get(chat::get_thread))
        .route(
            "/ajax/tata-conversations/{phone}/read",
            post(chat::mark_read),
        )
        .route("/ajax/tata-send-reply/", post(chat::send_reply))
        .route("/ajax/tata-send-template/", post(chat::send_template))
        .route(
            "/ajax/tata-conversations/{phone}/status",
            post(conversation_status::set),
        )
        .route(
            "/ajax/tata-conversations/{phone}/reactions",
            post(reactions::react),
        )
        .route(
            "/ajax/tata-conversations/{phone}/replies/{id}/again",
            post(send_again::send_again),
        )
        .route("/ajax/whatsapp/templates", get(templates::list))
        .route("/whatsapp/media/{media_id}", get(media::serve))
        .route(
            "/whatsapp/sent-files/{id}",
            get(outbound_files::serve_staff),
        )
        .route("/ajax/canned-replies", get(canned::list))
        .route("/desk/canned", get(canned::show).post(canned::add))
        .route("/desk/canned/{id}/delete", post(canned::delete))
        .route("/ajax/whatsapp/templates/refresh", post(templates::refresh))
        // A lead's page: the desk's panel above the person's timeline.
        .route("/leads/{id}", get(leads::timeline))
        .route("/follow-ups/", get(follow_ups::list))
        .route("/follow-ups/{id}/done", post(follow_ups::done))
        .route("/notifications/", get(notifications::list))
        .route("/notifications/read", post(notifications::mark_read))
        .route("/ajax/notifications/", get(notifications::list_json))
        .route("/ajax/events", get(live::stream::events))
        .route("/logout", post(logout))
        .merge(desk::routes())
        .merge(reports::routes())
        .merge(operator::routes())
        // Inside the session check (which runs first): the staff member
        // is known when the access is recorded.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record_access,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_session,
        ));
    // Files staff send: bodies up to a photo's size, on this route alone.
    let uploads = Router::new()
        .route(
            "/ajax/tata-conversations/{phone}/files",
            post(outbound_files::upload),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record_access,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_session,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            outbound_files::MAX_FILE_BYTES,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            outbound_files::MAX_FILE_BYTES,
        ));
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .route("/assets/live.js", get(live_js))
        // Tata fetches the files staff send here: no session, an
        // unguessable token that expires.
        .route(
            "/public/whatsapp-files/{token}",
            get(outbound_files::serve_public),
        )
        .merge(signed_in)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .merge(uploads)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers on every answer: no framing, no sniffing, no outside scripts.
/// A route with a stricter policy of its own (a customer's file) keeps it.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/console.js"),
    )
}

async fn live_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/live.js"),
    )
}

async fn chat_page(Extension(staff): Extension<Staff>) -> maud::Markup {
    views::chat(&staff)
}

/// `GET /login`: the form, with a fresh double-submit CSRF token.
async fn login_page(State(state): State<Arc<AppState>>) -> Response {
    login_form(&state, StatusCode::OK, None)
}

fn login_form(state: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    let Ok(token) = auth::random_token() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness available").into_response();
    };
    let cookie = auth::set_cookie(LOGIN_CSRF_COOKIE, &token, 3600, state.secure_cookies);
    (
        status,
        [(header::SET_COOKIE, cookie)],
        views::login(&token, error),
    )
        .into_response()
}

/// The sign-in form's fields.
#[derive(Deserialize)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
}

/// `POST /login`.
async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_form(
            &state,
            StatusCode::BAD_REQUEST,
            Some("Fill in your user name and password."),
        );
    };
    let cookie_token = auth::cookie(&headers, LOGIN_CSRF_COOKIE);
    let csrf_ok = matches!(
        (cookie_token, form.csrf_token.as_deref()),
        (Some(a), Some(b)) if auth::same_token(a, b)
    );
    if !csrf_ok {
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            Some("The form had expired; please sign in again."),
        );
    }
    let username = form.username.unwrap_or_default().trim().to_owned();
    let password = form.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() || username.len() > 64 || password.len() > 1024 {
        return login_form(
            &state,
            StatusCode::BAD_REQUEST,
            Some("Fill in your user name and password."),
        );
    }
    let address = peer.ip();
    if let Some(wait) = state.throttle.blocked(&username, address) {
        tracing::warn!(%username, client = %address, "sign-in refused: too many failures");
        record_failed_sign_in(&state, &username, address, "throttled").await;
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return login_form(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed sign-ins. Try again in {minutes} minutes."
            )),
        );
    }
    let user = match auth::check_credentials(&state.db, &username, &password).await {
        Ok(user) => user,
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "cannot check a sign-in");
            return login_form(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Signing in is unavailable right now; try again shortly."),
            );
        }
    };
    let Some(user) = user else {
        state.throttle.failed(&username, address);
        tracing::warn!(%username, client = %address, "sign-in failed");
        record_failed_sign_in(&state, &username, address, "wrong credentials").await;
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    };
    state.throttle.succeeded(&username);
    let token = match auth::start_session(&state.db, &user, state.session_lifetime).await {
        Ok(token) => token,
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "cannot start a session");
            return login_form(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Signing in is unavailable right now; try again shortly."),
            );
        }
    };
    tracing::info!(%username, client = %address, "signed in");
    let actor = store::access_log::Actor {
        user: Some(user.id),
        username: user.username.clone(),
        address: Some(address.to_string()),
    };
    if let Err(error) =
        store::access_log::record(&state.db, &actor, store::access_log::Action::SignedIn, None)
            .await
    {
        // Nothing is read without a trace: no session either.
        tracing::error!(%error, "a sign-in could not be recorded in the audit; refused");
        return login_form(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Signing in is unavailable right now; try again shortly."),
        );
    }
    let session = auth::set_cookie(
        SESSION_COOKIE,
        &token,
        state.session_lifetime.as_secs(),
        state.secure_cookies,
    );
    let clear = auth::set_cookie(LOGIN_CSRF_COOKIE, "", 0, state.secure_cookies);
    let mut response = Redirect::to("/tata-chat/").into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .append(header::SET_COOKIE, session.parse().expect("a valid cookie"));
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear.parse().expect("a valid cookie"));
    response
}

/// Puts a refused sign-in in the access audit (issue 24). Nothing was
/// opened, so an audit that cannot be written only leaves a log line.
async fn record_failed_sign_in(
    state: &AppState,
    typed: &str,
    address: std::net::IpAddr,
    why: &str,
) {
    let recorded = async {
        let actor = store::access_log::Actor {
            user: None,
            username: store::access_log::attempted_name(&state.db, typed).await?,
            address: Some(address.to_string()),
        };
        store::access_log::record(
            &state.db,
            &actor,
            store::access_log::Action::SignInFailed,
            Some(why.to_owned()),
        )
        .await
    };
    if let Err(error) = recorded.await {
        tracing::warn!(%error, "a failed sign-in could not be recorded in the audit");
    }
}

/// The sign-out form.
#[derive(Deserialize)]
struct LogoutForm {
    csrf_token: Option<String>,
}

/// `POST /logout`.
async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(refusal) = auth::form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    if let Some(token) = auth::cookie(&headers, SESSION_COOKIE)
        && let Err(error) = auth::end_session(&state.db, token).await
    {
        tracing::warn!(error = format!("{error:#}"), "cannot end a session");
    }
    tracing::info!(username = %staff.username, "signed out");
    let clear = auth::set_cookie(SESSION_COOKIE, "", 0, state.secure_cookies);
    let mut response = Redirect::to("/login").into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear.parse().expect("a valid cookie"));
    response
}
