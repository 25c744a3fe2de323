//! The operators' listener's address and token.

use super::{ConfigError, Env};
use crate::secret::SecretList;
use std::net::SocketAddr;

/// The operators' listener (health, readiness, metrics and, on the worker,
/// the webhook log), kept off the partner-facing port.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// `ADMIN_ADDR`: where it listens; `off` disables it. Defaults to
    /// loopback (`127.0.0.1:9100` for a worker, `127.0.0.1:9101` for the
    /// edge), so nothing is exposed unless asked for.
    pub addr: Option<SocketAddr>,
    /// `ADMIN_TOKEN`: the bearer token the webhook log requires (one or more
    /// comma-separated values, at least 16 characters each). Unset: the log
    /// endpoints refuse every request; health and metrics stay open.
    pub token: Option<SecretList>,
}

impl AdminConfig {
    /// Reads `ADMIN_ADDR` only: for a process whose admin listener serves
    /// nothing that needs a token (the edge), so it neither reads nor
    /// checks `ADMIN_TOKEN`.
    pub fn address_only(env: &Env, default_addr: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            token: None,
            ..Self::from_env(&Env::only(env, "ADMIN_ADDR"), default_addr)?
        })
    }

    /// Reads `ADMIN_ADDR` (with this binary's default) and `ADMIN_TOKEN`.
    pub fn from_env(env: &Env, default_addr: &str) -> Result<Self, ConfigError> {
        let raw = env.get("ADMIN_ADDR").unwrap_or_else(|| default_addr.into());
        let addr = match raw.trim() {
            "off" => None,
            value => Some(value.parse().map_err(|_| ConfigError {
                name: "ADMIN_ADDR",
                message: "expected host:port (for example 127.0.0.1:9100) or off".into(),
                value: raw.clone(),
            })?),
        };
        Ok(Self {
            addr,
            token: env.secrets("ADMIN_TOKEN")?,
        })
    }
}
