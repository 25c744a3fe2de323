//! How to reach the broker, and what to call our objects on it.

use super::database::url_with_password;
use super::{ConfigError, Env};
use crate::secret::Secret;
use std::time::Duration;

/// Default AMQP URL: the local broker's default vhost.
pub const DEFAULT_AMQP_URL: &str = "amqp://127.0.0.1:5672/%2f";
/// How to reach the broker and name our objects on it.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `AMQP_URL`: one node's URL, or several comma-separated (the nodes of
    /// a cluster, tried in turn when connecting and reconnecting). Each may
    /// carry a password, hence secret.
    pub urls: Vec<Secret<String>>,
    /// `AMQP_PREFIX`: prefix of every exchange and queue name, so several
    /// deployments (or tests) can share one vhost without meeting.
    pub prefix: String,
    /// `PUBLISH_CONFIRM_TIMEOUT_MS`: how long a publish may wait for the
    /// broker's confirm before the edge gives up and answers 503.
    pub confirm_timeout: Duration,
    /// `PUBLISH_CHANNELS`: confirm-mode channels the edge publishes on in
    /// parallel.
    pub publish_channels: usize,
    /// `QUEUE_MAX_LENGTH`: messages a work queue holds before the broker
    /// rejects publishes (the edge then answers 503 instead of growing without
    /// bound).
    pub queue_max_length: u32,
}

impl BrokerConfig {
    /// Reads and validates the broker variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env
            .get("AMQP_URL")
            .unwrap_or_else(|| DEFAULT_AMQP_URL.into());
        let mut urls = Vec::new();
        for node in url.split(',').map(str::trim) {
            let node = url_with_password(env, node.to_owned(), "AMQP_URL", "AMQP_PASSWORD")?;
            if !(node.starts_with("amqp://") || node.starts_with("amqps://")) {
                return Err(ConfigError {
                    name: "AMQP_URL",
                    message: "expected amqp://user:password@host:port/vhost, or several such URLs separated by commas".into(),
                    value: "[redacted]".into(),
                });
            }
            urls.push(Secret::new(node));
        }
        let prefix = env.get("AMQP_PREFIX").unwrap_or_else(|| "leadpipe".into());
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || prefix.len() > 100
        {
            return Err(ConfigError {
                name: "AMQP_PREFIX",
                message: "expected up to 100 letters, digits, '-', '_' or '.'".into(),
                value: prefix,
            });
        }
        let publish_channels: usize = env.ranged("PUBLISH_CHANNELS", 4, 1..=64)?;
        Ok(Self {
            urls,
            prefix,
            confirm_timeout: env.millis("PUBLISH_CONFIRM_TIMEOUT_MS", 5_000)?,
            publish_channels,
            queue_max_length: env.parse("QUEUE_MAX_LENGTH", 1_000_000, "a whole number")?,
        })
    }
}
