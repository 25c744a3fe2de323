//! The console's configuration, read from environment variables at start-up.

use shared::config::{BrokerConfig, ConfigError, DeskConfig, Env, database_url, log_format};
use shared::secret::Secret;
use shared::telemetry::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

/// The dealer console's configuration.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// `CONSOLE_ADDR` (default `127.0.0.1:8090`): the staff web app, never
    /// the partner port.
    pub addr: SocketAddr,
    /// The broker, for publishing reply send requests.
    pub broker: BrokerConfig,
    /// `DATABASE_URL`: the workers' database (same default).
    pub database_url: Secret<String>,
    /// `CONSOLE_SESSION_HOURS` (default 12): how long a sign-in lasts.
    pub session_lifetime: Duration,
    /// `CONSOLE_PUBLIC_URL`: the address staff use; an `https://` one makes
    /// the session cookie `Secure` (TLS is terminated in front of the console).
    pub public_url: Option<String>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// The lead desk's response target and business hours (`DESK_*`, the
    /// worker's too): a lead reopened here starts a new clock by them.
    pub desk: DeskConfig,
}

impl ConsoleConfig {
    /// Reads and validates the console's variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let addr = env
            .get("CONSOLE_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8090".into());
        let addr = addr.trim().parse().map_err(|_| ConfigError {
            name: "CONSOLE_ADDR",
            message: "expected an address such as 127.0.0.1:8090".into(),
            value: addr.clone(),
        })?;
        let database_url = database_url(env)?;
        let hours: u64 = env.ranged("CONSOLE_SESSION_HOURS", 12, 1..=720)?;
        let public_url = env.get("CONSOLE_PUBLIC_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError {
                name: "CONSOLE_PUBLIC_URL",
                message: "expected https://… (or http://… for a local run)".into(),
                value: url.clone(),
            });
        }
        Ok(Self {
            addr,
            broker: BrokerConfig::from_env(env)?,
            database_url,
            session_lifetime: Duration::from_secs(hours * 3600),
            public_url,
            log_format: log_format(env)?,
            desk: DeskConfig::from_env(env)?,
        })
    }

    /// True when staff reach the console over TLS: cookies are `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
    }

    #[test]
    fn the_console_settings_are_checked() {
        let console = ConsoleConfig::from_env(&env(&[])).unwrap();
        assert_eq!(console.addr.to_string(), "127.0.0.1:8090");
        assert!(!console.secure_cookies());
        let https = ConsoleConfig::from_env(&env(&[("CONSOLE_PUBLIC_URL", "https://crm.example")]));
        assert!(https.unwrap().secure_cookies());
        let err = ConsoleConfig::from_env(&env(&[("CONSOLE_SESSION_HOURS", "0")])).unwrap_err();
        assert_eq!(err.name, "CONSOLE_SESSION_HOURS");
    }
}
