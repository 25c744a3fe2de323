//! The edge's configuration: its listener and limits, the partners'
//! secrets, TLS, the spool, read from environment variables at start-up.

use crate::partners::PartnerSecrets;
use shared::config::{AdminConfig, BrokerConfig, ConfigError, Env, log_format};
use shared::telemetry::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

/// Everything the edge needs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// `INGEST_ADDR`: the partner-facing listener.
    pub addr: SocketAddr,
    /// The broker.
    pub broker: BrokerConfig,
    /// `MAX_BODY_BYTES`: larger bodies are refused with 413.
    pub max_body_bytes: usize,
    /// `HEADER_READ_TIMEOUT_MS`: a client that has not sent its headers by
    /// then is disconnected (slowloris).
    pub header_read_timeout: Duration,
    /// `BODY_READ_TIMEOUT_MS`: a body not fully received by then gets 408.
    pub body_read_timeout: Duration,
    /// `MAX_CONNECTIONS`: open client connections; beyond it new ones wait in
    /// the kernel's accept queue. Together with `MAX_BODY_BYTES` it bounds the
    /// memory bodies can take.
    pub max_connections: usize,
    /// Partner credentials.
    pub secrets: PartnerSecrets,
    /// `DOCS` (default `on`): Swagger UI at `/docs` on the partner port,
    /// from assets inside the binary; `off` answers 404 there.
    pub docs: bool,
    /// `LEAD_SOFT_LIMIT_PER_MINUTE` (default 120, the contract's "soft
    /// limit"): above it a lead portal's requests are still accepted, and
    /// counted (a metric, and a warning naming the partner); 0 switches the
    /// counting off. Partners retry only on 5xx, so a 429 would lose a lead.
    pub lead_soft_limit_per_minute: u32,
    /// `LEAD_RATE_LIMIT_PER_MINUTE` (default 0, off): a hard limit per lead
    /// portal, answered 429, only when configured (set it far above the soft
    /// limit).
    pub lead_rate_limit_per_minute: u32,
    /// `CRM_RATE_LIMIT_PER_MINUTE`: requests per minute per client IP on the
    /// CRM endpoints; 0 switches the limit off.
    pub crm_rate_limit_per_minute: u32,
    /// `TRUSTED_PROXIES` (comma-separated CIDRs or addresses; default none):
    /// a request whose TCP peer is one of them is attributed to the address
    /// `X-Forwarded-For` names; from anyone else that header is ignored, so
    /// a client cannot choose its own address for the CRM's per-IP limit or
    /// the logs.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `TLS_CERT_FILE` and `TLS_KEY_FILE`: HTTPS on the partner port, when
    /// both are set.
    pub tls: Option<TlsConfig>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `ADMIN_ADDR` (default `127.0.0.1:9101`): health, readiness, metrics.
    pub admin: AdminConfig,
    /// Where webhooks wait on disk while the broker cannot confirm them.
    pub spool: SpoolConfig,
}

/// The partner port's certificate and key (PEM files), read at start-up and
/// again whenever either changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `TLS_CERT_FILE`: the certificate chain, the server's own first.
    pub cert_file: std::path::PathBuf,
    /// `TLS_KEY_FILE`: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: std::path::PathBuf,
}

impl TlsConfig {
    /// Reads both variables: neither means plain HTTP; one without the
    /// other is an error naming the missing one.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let read = |name: &str| {
            env.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match (read("TLS_CERT_FILE"), read("TLS_KEY_FILE")) {
            (None, None) => Ok(None),
            (Some(cert_file), Some(key_file)) => Ok(Some(Self {
                cert_file: cert_file.into(),
                key_file: key_file.into(),
            })),
            (Some(_), None) => Err(ConfigError {
                name: "TLS_KEY_FILE",
                message: "required with TLS_CERT_FILE: the certificate's private key (PEM)".into(),
                value: String::new(),
            }),
            (None, Some(_)) => Err(ConfigError {
                name: "TLS_CERT_FILE",
                message: "required with TLS_KEY_FILE: the certificate chain (PEM)".into(),
                value: String::new(),
            }),
        }
    }
}

/// The edge's spool: the broker cannot confirm, so the webhook is written to
/// this edge's own disk before the 201, and published from there later.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// `SPOOL_DIR` (default `data/spool`): one edge's own directory; two
    /// edges never share one (the second refuses to start).
    pub dir: std::path::PathBuf,
    /// `SPOOL_MAX_BYTES` (default 1 GiB): past it the edge answers 503 again.
    /// `0` switches spooling off (a broker that cannot confirm means 503).
    pub max_bytes: u64,
}

impl SpoolConfig {
    /// Reads `SPOOL_DIR` and `SPOOL_MAX_BYTES`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let dir = env.get("SPOOL_DIR").unwrap_or_else(|| "data/spool".into());
        if dir.trim().is_empty() {
            return Err(ConfigError {
                name: "SPOOL_DIR",
                message: "expected a directory".into(),
                value: dir,
            });
        }
        Ok(Self {
            dir: dir.trim().into(),
            max_bytes: env.ranged("SPOOL_MAX_BYTES", 1 << 30, 0..=(1 << 40))?,
        })
    }

    /// True unless `SPOOL_MAX_BYTES=0` switched spooling off.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }
}

impl IngestConfig {
    /// Reads and validates the edge's variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let raw_addr = env
            .get("INGEST_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let addr = raw_addr.trim().parse().map_err(|_| ConfigError {
            name: "INGEST_ADDR",
            message: "expected host:port, for example 0.0.0.0:8080".into(),
            value: raw_addr.clone(),
        })?;
        let max_body_bytes: usize =
            env.ranged("MAX_BODY_BYTES", 1024 * 1024, 1..=64 * 1024 * 1024)?;
        let max_connections: usize = env.ranged("MAX_CONNECTIONS", 1024, 1..=100_000)?;
        Ok(Self {
            addr,
            broker: BrokerConfig::from_env(env)?,
            max_body_bytes,
            header_read_timeout: env.millis("HEADER_READ_TIMEOUT_MS", 10_000)?,
            body_read_timeout: env.millis("BODY_READ_TIMEOUT_MS", 30_000)?,
            max_connections,
            secrets: PartnerSecrets::from_env(env)?,
            docs: match env.get("DOCS").as_deref().map(str::trim) {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => {
                    return Err(ConfigError {
                        name: "DOCS",
                        message: "expected on or off".into(),
                        value: other.into(),
                    });
                }
            },
            lead_soft_limit_per_minute: env.ranged(
                "LEAD_SOFT_LIMIT_PER_MINUTE",
                120,
                0..=1_000_000,
            )?,
            lead_rate_limit_per_minute: env.ranged(
                "LEAD_RATE_LIMIT_PER_MINUTE",
                0,
                0..=1_000_000,
            )?,
            crm_rate_limit_per_minute: env.ranged(
                "CRM_RATE_LIMIT_PER_MINUTE",
                100,
                0..=1_000_000,
            )?,
            trusted_proxies: trusted_proxies(env)?,
            tls: TlsConfig::from_env(env)?,
            log_format: log_format(env)?,
            admin: AdminConfig::address_only(env, "127.0.0.1:9101")?,
            spool: SpoolConfig::from_env(env)?,
        })
    }
}

/// Reads `TRUSTED_PROXIES`: CIDRs (`10.0.0.0/8`) or single addresses.
fn trusted_proxies(env: &Env) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let raw = env.get("TRUSTED_PROXIES").unwrap_or_default();
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError {
                    name: "TRUSTED_PROXIES",
                    message: format!(
                        "{entry:?} is not an address or a CIDR range (for example 10.0.0.0/8 or 192.0.2.7)"
                    ),
                    value: raw.clone(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Source;
    use shared::config::DEFAULT_AMQP_URL;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_are_documented_values() {
        let ingest = IngestConfig::from_env(&env(&[])).unwrap();
        assert_eq!(ingest.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(ingest.broker.urls[0].expose(), DEFAULT_AMQP_URL);
        assert_eq!(ingest.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = IngestConfig::from_env(&env(&[("INGEST_ADDR", "localhost")])).unwrap_err();
        assert_eq!(err.name, "INGEST_ADDR");
        let err =
            IngestConfig::from_env(&env(&[("PUBLISH_CONFIRM_TIMEOUT_MS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("milliseconds"), "{err}");
    }

    #[test]
    fn secrets_have_no_defaults_rotate_and_must_be_long_enough() {
        let config = IngestConfig::from_env(&env(&[])).unwrap();
        assert!(config.secrets.get(Source::Cardekho).is_none());
        assert!(config.secrets.get(Source::CrmEvents).is_none());
        let config = IngestConfig::from_env(&env(&[(
            "LEAD_API_KEY_CARDEKHO",
            "old-cardekho-key-0001,new-cardekho-key-0002",
        )]))
        .unwrap();
        let keys = config.secrets.get(Source::Cardekho).unwrap();
        assert!(keys.matches(b"old-cardekho-key-0001") && keys.matches(b"new-cardekho-key-0002"));
        let err = IngestConfig::from_env(&env(&[("CALL_CAPTURE_API_KEYS", "short")])).unwrap_err();
        assert_eq!(err.name, "CALL_CAPTURE_API_KEYS");
        assert!(!err.to_string().contains("short"), "{err}");
    }

    #[test]
    fn the_admin_listener_can_be_switched_off_and_needs_no_token() {
        let ingest = IngestConfig::from_env(&env(&[("ADMIN_ADDR", "off")])).unwrap();
        assert!(ingest.admin.addr.is_none());
        // The edge serves nothing that needs the token: it does not read it.
        let ingest = IngestConfig::from_env(&env(&[("ADMIN_TOKEN", "tiny")])).unwrap();
        assert!(ingest.admin.token.is_none());
    }
}
