//! Reading configuration from environment variables, once at start-up and
//! validated there, so a bad value stops the process with a clear message
//! instead of failing on the first request: the reader ([`Env`], its error
//! [`ConfigError`]) and the parts every binary shares (the broker, the admin
//! listener, the database URL, the log format). Each binary's own
//! configuration is in its crate (`ingest::config`, `worker::config`,
//! `console::config`).
//!
//! Every variable, its default and its meaning is listed in README.md
//! ("Configuration"); keep the two in step.

mod admin;
mod broker;
mod database;
mod desk;

pub use admin::AdminConfig;
pub use broker::{BrokerConfig, DEFAULT_AMQP_URL};
pub use database::{DEFAULT_DATABASE_URL, database_url};
pub use desk::DeskConfig;

use crate::secret::SecretList;
use crate::telemetry::LogFormat;
use std::collections::HashMap;
use std::time::Duration;

/// A variable was set to something we cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: {message} (got {value:?})")]
pub struct ConfigError {
    /// The environment variable.
    pub name: &'static str,
    /// What a valid value looks like.
    pub message: String,
    /// The offending value (never a secret: secret variables report no value).
    pub value: String,
}

/// Looks a variable up by name.
type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where variables come from: the process environment in production, a map
/// in tests, so validation is tested without touching global state.
pub struct Env {
    lookup: Lookup,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// A fixed set of variables (tests, tools).
    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self {
            lookup: Box::new(move |name| map.get(name).cloned()),
        }
    }

    /// `env` limited to one variable (a part of the configuration that
    /// must not read the others).
    pub fn only(env: &Env, name: &'static str) -> Env {
        let value = env.get(name);
        Self {
            lookup: Box::new(move |asked| (asked == name).then(|| value.clone()).flatten()),
        }
    }

    /// A fixed set of variables given as pairs (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The value, or `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The variable parsed as a `T`, or `default` when unset; `expected`
    /// says what a valid value looks like.
    pub fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError {
                name,
                message: format!("expected {expected}"),
                value: raw,
            }),
        }
    }

    /// The variable as a number within `range`, or `default` when unset.
    pub fn ranged<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let expected = format!("a number from {} to {}", range.start(), range.end());
        let value = self.parse(name, default, &expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError {
                name,
                message: format!("expected {expected}"),
                value: value.to_string(),
            })
        }
    }

    /// The variable as a positive whole number of milliseconds.
    pub fn millis(&self, name: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse(name, default_ms, "a whole number of milliseconds")?;
        if ms == 0 {
            return Err(ConfigError {
                name,
                message: "must be greater than zero".into(),
                value: ms.to_string(),
            });
        }
        Ok(Duration::from_millis(ms))
    }
}

/// Shortest secret accepted: anything shorter is guessable.
pub const MIN_SECRET_LEN: usize = 16;

impl Env {
    /// A secret variable: one or more comma-separated values (so keys rotate
    /// without downtime), each at least [`MIN_SECRET_LEN`] characters.
    /// `None` when unset: there are no default secrets.
    pub fn secrets(&self, name: &'static str) -> Result<Option<SecretList>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let short = raw
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .any(|v| v.chars().count() < MIN_SECRET_LEN);
        if short {
            return Err(ConfigError {
                name,
                message: format!("every value must be at least {MIN_SECRET_LEN} characters"),
                value: "[redacted]".into(),
            });
        }
        Ok(SecretList::parse(&raw))
    }
}

/// `LOG_FORMAT`: `text` (the default) or `json`.
pub fn log_format(env: &Env) -> Result<LogFormat, ConfigError> {
    match env.get("LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError {
            name: "LOG_FORMAT",
            message: "expected text or json".into(),
            value: other.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
    }

    #[test]
    fn amqp_url_takes_the_nodes_of_a_cluster() {
        let config = BrokerConfig::from_env(&env(&[
            (
                "AMQP_URL",
                "amqp://leadpipe@rabbit-1:5672/%2f, amqp://leadpipe@rabbit-2:5672/%2f,amqp://leadpipe@rabbit-3:5672/%2f",
            ),
            ("AMQP_PASSWORD", "pw"),
        ]))
        .unwrap();
        let urls: Vec<&str> = config.urls.iter().map(|u| u.expose().as_str()).collect();
        assert_eq!(
            urls,
            [
                "amqp://leadpipe:pw@rabbit-1:5672/%2f",
                "amqp://leadpipe:pw@rabbit-2:5672/%2f",
                "amqp://leadpipe:pw@rabbit-3:5672/%2f"
            ]
        );
        let err = BrokerConfig::from_env(&env(&[(
            "AMQP_URL",
            "amqp://user:hunter2@rabbit-1/%2f,rabbit-2:5672",
        )]))
        .unwrap_err();
        assert_eq!(err.name, "AMQP_URL");
        assert!(!err.to_string().contains("hunter2"));
    }
}
