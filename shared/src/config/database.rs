//! The database's URL (the worker's and the console's), and a password
//! given apart from a URL put into it.

use super::{ConfigError, Env};
use crate::secret::Secret;

/// Default database: an SQLite file under `./data/` (created on first start).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/leadpipe.db?mode=rwc";

/// Puts `password` into a URL's user information, percent-encoded, so a
/// password with `@`, `/`, `:` or `%` cannot break the URL (compose passes
/// passwords separately for this reason). `None` when the URL names no user.
fn with_password(url: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (userinfo, host) = authority.rsplit_once('@')?;
    let user = userinfo.split(':').next().filter(|u| !u.is_empty())?;
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Some(format!("{scheme}://{user}:{encoded}@{host}{path}"))
}

/// `url_var`, with `password_var` (when set) put into it.
pub(super) fn url_with_password(
    env: &Env,
    url: String,
    url_var: &'static str,
    password_var: &'static str,
) -> Result<String, ConfigError> {
    match env.get(password_var) {
        None => Ok(url),
        Some(password) => with_password(&url, &password).ok_or(ConfigError {
            name: password_var,
            message: format!("needs a user name in {url_var} (scheme://user@host/…) to go with it"),
            value: "[redacted]".into(),
        }),
    }
}

/// `DATABASE_URL` (with `DATABASE_PASSWORD`, when set), checked.
pub fn database_url(env: &Env) -> Result<Secret<String>, ConfigError> {
    let url = env
        .get("DATABASE_URL")
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    if !(url.starts_with("postgres://")
        || url.starts_with("postgresql://")
        || url.starts_with("sqlite:"))
    {
        return Err(ConfigError {
            name: "DATABASE_URL",
            message: "expected postgres://… or sqlite://…".into(),
            value: "[redacted]".into(),
        });
    }
    Ok(Secret::new(url_with_password(
        env,
        url,
        "DATABASE_URL",
        "DATABASE_PASSWORD",
    )?))
}
