//! Who is signed in: argon2id passwords, sessions kept in the database
//! (the cookie holds a random token, the table only its SHA-256), and a
//! CSRF token per session that every POST must send back.

use crate::AppState;
use crate::refusal::{Refusal, is_json_route};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use store::entities::{staff_notifications, staff_sessions, staff_users, team_members};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "leadpipe_session";
/// The pre-sign-in CSRF cookie (double-submit on the login form).
pub const LOGIN_CSRF_COOKIE: &str = "leadpipe_login_csrf";
/// The header carrying the CSRF token on `fetch` POSTs.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Shortest password accepted for a staff account.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The three roles: sales staff; managers, who also see every lead,
/// reassign and edit the routing rules; operators, who also see every lead
/// and the operator's view (issue 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Works their leads and conversations.
    Sales,
    /// Runs a desk: every lead, reassignment, routing rules.
    Manager,
    /// Operates the pipeline.
    Operator,
}

impl Role {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Sales => "sales",
            Role::Manager => "manager",
            Role::Operator => "operator",
        }
    }

    /// Reads a stored or typed name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sales" => Some(Role::Sales),
            "manager" => Some(Role::Manager),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// Whether this role sees every lead (the desk's Team and All views).
    pub fn sees_all_leads(self) -> bool {
        matches!(self, Role::Manager | Role::Operator)
    }
}

/// The signed-in staff member, put in each request's extensions.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Their account.
    pub user_id: Uuid,
    /// Their sign-in name.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// The session's CSRF token, for the page to carry.
    pub csrf_token: String,
    /// The teams they belong to.
    pub teams: Vec<Uuid>,
    /// Whether they take new leads now.
    pub on_duty: bool,
    /// Their unread notifications (counted for pages only).
    pub unread: u64,
}

/// A new random token: 32 bytes from the OS, hex.
pub fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(hex::encode(bytes))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An argon2id hash (PHC string, random salt) of `password`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// A hash of no one's password, verified against when the user does not
/// exist, so a wrong name takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default())
}

/// True when `password` matches the stored hash (argon2 compares in
/// constant time).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Checks a sign-in; the user when the password is right.
pub async fn check_credentials(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> anyhow::Result<Option<staff_users::Model>> {
    let user = staff_users::Entity::find()
        .filter(staff_users::Column::Username.eq(username))
        .one(db)
        .await?;
    let password = password.to_owned();
    let stored = user
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
    // Argon2 is deliberately slow: off the async threads.
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored)).await?;
    Ok(user.filter(|_| matches))
}

/// Starts a session for `user`; returns the cookie's token.
pub async fn start_session(
    db: &DatabaseConnection,
    user: &staff_users::Model,
    lifetime: std::time::Duration,
) -> anyhow::Result<String> {
    let token = random_token()?;
    let now = Utc::now();
    let row = staff_sessions::ActiveModel {
        token_hash: Set(token_hash(&token)),
        user_id: Set(user.id),
        csrf_token: Set(random_token()?),
        created_at: Set(now),
        expires_at: Set(now + chrono::TimeDelta::from_std(lifetime)?),
    };
    staff_sessions::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    // Expired sessions go as new ones come.
    staff_sessions::Entity::delete_many()
        .filter(staff_sessions::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(token)
}

/// Ends the session whose cookie token is `token`.
pub async fn end_session(db: &DatabaseConnection, token: &str) -> anyhow::Result<()> {
    staff_sessions::Entity::delete_by_id(token_hash(token))
        .exec(db)
        .await?;
    Ok(())
}

/// The staff member a session token belongs to, if it is live.
async fn session_staff(db: &DatabaseConnection, token: &str) -> anyhow::Result<Option<Staff>> {
    let Some(session) = staff_sessions::Entity::find_by_id(token_hash(token))
        .one(db)
        .await?
        .filter(|s| s.expires_at > Utc::now())
    else {
        return Ok(None);
    };
    let Some(user) = staff_users::Entity::find_by_id(session.user_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let role = Role::parse(&user.role).ok_or_else(|| {
        anyhow::anyhow!("account {} has an unknown role {:?}", user.id, user.role)
    })?;
    let teams = team_members::Entity::find()
        .filter(team_members::Column::UserId.eq(user.id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.team_id)
        .collect();
    Ok(Some(Staff {
        user_id: user.id,
        role,
        username: user.username,
        csrf_token: session.csrf_token,
        teams,
        on_duty: user.on_duty,
        unread: 0,
    }))
}

/// How many notifications `user` has not read.
pub(crate) async fn unread_count(db: &DatabaseConnection, user: Uuid) -> anyhow::Result<u64> {
    Ok(staff_notifications::Entity::find()
        .filter(staff_notifications::Column::UserId.eq(user))
        .filter(staff_notifications::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, `Secure` over TLS.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Middleware on every route but sign-in and assets: no session, no entry
/// (pages redirect to `/login`, ajax answers 401); a POST without the
/// session's CSRF token (`X-CSRF-Token` header or `csrf_token` form field,
/// which the handler checks) is 403.
pub async fn require_session(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let token = cookie(request.headers(), SESSION_COOKIE).map(str::to_owned);
    let staff = match token {
        Some(token) => match session_staff(&state.db, &token).await {
            Ok(staff) => staff,
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "cannot read the session");
                return Refusal::DatabaseUnavailable.for_path(&path);
            }
        },
        None => None,
    };
    let Some(mut staff) = staff else {
        return if is_json_route(&path) {
            Refusal::Unauthorized("sign in first".into()).json()
        } else {
            Redirect::to("/login").into_response()
        };
    };
    if request.method() == Method::POST {
        let header_token = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        let form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        match header_token {
            Some(sent) if same_token(sent, &staff.csrf_token) => {}
            // Forms carry the token in a field, checked by their handler
            // (see `FormCsrf`), which reads the body.
            None if form => {}
            _ => {
                return Refusal::Forbidden(
                    "missing or wrong CSRF token (send the page's csrf-token as X-CSRF-Token)"
                        .into(),
                )
                .for_path(&path);
            }
        }
    }
    if !is_json_route(&path) && request.method() == Method::GET {
        // The bell in every page's header.
        staff.unread = match unread_count(&state.db, staff.user_id).await {
            Ok(unread) => unread,
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "cannot count notifications");
                return Refusal::DatabaseUnavailable.for_path(&path);
            }
        };
    }
    request.extensions_mut().insert(staff);
    next.run(request).await
}

/// A form that carries nothing but its CSRF token (a button that removes,
/// marks read or done).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    pub csrf_token: Option<String>,
}

/// Checks a form's `csrf_token` field against the session's: the 403 to
/// answer when it is missing or wrong.
pub fn form_csrf_refusal(staff: &Staff, sent: Option<&str>) -> Option<Response> {
    match sent {
        Some(sent) if same_token(sent, &staff.csrf_token) => None,
        _ => Some(Refusal::Forbidden("missing or wrong CSRF token".into()).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn cookies_are_read_and_set_safely() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; leadpipe_session=abc".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
        let set = set_cookie(SESSION_COOKIE, "abc", 60, true);
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.ends_with("Secure")
        );
        assert!(!set_cookie(SESSION_COOKIE, "abc", 60, false).contains("Secure"));
    }
}
