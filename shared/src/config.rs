//! Typed configuration, read once from environment variables at start-up and
//! validated there, so a bad value stops the process with a clear message
//! instead of failing on the first request.
//!
//! Every variable, its default and its meaning is listed in README.md
//! ("Configuration"); keep the two in step.

use crate::secret::{Secret, SecretList};
use crate::telemetry::LogFormat;
use std::collections::HashMap;
use std::net::SocketAddr;
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

    /// The value, or `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: std::str::FromStr>(
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

    fn ranged<T>(
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

    fn millis(&self, name: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
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

/// The partner-facing secrets, per route. `None` means the route takes no
/// credential (allowed only where the contract documents none, or where the
/// contract makes it optional).
#[derive(Debug, Clone, Default)]
pub struct PartnerSecrets {
    /// `TATA_CALLS_SECRET`: optional; when set, `/api/webhook/` requires it
    /// in `X-Webhook-Secret`.
    pub tata_calls: Option<SecretList>,
    /// `TATA_WHATSAPP_SECRET`: optional; when set, `/webhook/` requires it
    /// in `X-Webhook-Secret`.
    pub tata_whatsapp: Option<SecretList>,
    /// `LEAD_API_KEY_CARDEKHO`: CarDekho's `X-API-Key` values. Unset: every
    /// CarDekho request is refused.
    pub cardekho: Option<SecretList>,
    /// `LEAD_API_KEY_CARWALE`: CarWale's `X-API-Key` values.
    pub carwale: Option<SecretList>,
    /// `CALL_CAPTURE_API_KEYS`: accepted `x-api-key` values. Unset: every
    /// call-capture request is refused.
    pub call_capture: Option<SecretList>,
    /// `CRM_WEBHOOK_SECRET`: HMAC keys; when set, CRM events must be signed.
    pub crm: Option<SecretList>,
}

impl PartnerSecrets {
    /// Reads every secret variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            tata_calls: env.secrets("TATA_CALLS_SECRET")?,
            tata_whatsapp: env.secrets("TATA_WHATSAPP_SECRET")?,
            cardekho: env.secrets("LEAD_API_KEY_CARDEKHO")?,
            carwale: env.secrets("LEAD_API_KEY_CARWALE")?,
            call_capture: env.secrets("CALL_CAPTURE_API_KEYS")?,
            crm: env.secrets("CRM_WEBHOOK_SECRET")?,
        })
    }
}

/// Default AMQP URL: the local broker's default vhost.
pub const DEFAULT_AMQP_URL: &str = "amqp://127.0.0.1:5672/%2f";
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
fn url_with_password(
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
fn database_url(env: &Env) -> Result<Secret<String>, ConfigError> {
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

fn log_format(env: &Env) -> Result<LogFormat, ConfigError> {
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

/// Everything a worker needs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The broker.
    pub broker: BrokerConfig,
    /// `DATABASE_URL`: `postgres://…` or `sqlite://…`; may carry a password.
    pub database_url: Secret<String>,
    /// `WORKER_PREFETCH`: unacknowledged deliveries a worker holds per
    /// source queue. Default: `WORKER_BATCH_SIZE` × `WORKER_BATCHES_IN_FLIGHT`,
    /// so one source alone can fill every batch in flight (quorum queues
    /// take no channel-wide prefetch, so the limit is per queue).
    pub prefetch: u16,
    /// `WORKER_BATCH_SIZE`: deliveries committed together in one transaction
    /// (each acked only after that commit).
    pub batch_size: usize,
    /// `WORKER_BATCHES_IN_FLIGHT`: batches a worker processes at once (each
    /// on its own connection; SQLite's single connection takes them in turn).
    pub batches_in_flight: usize,
    /// `DATABASE_MAX_CONNECTIONS`: the worker's connection-pool size.
    pub database_max_connections: u32,
    /// `RETRY_MAX_ATTEMPTS`: delayed retries (through the retry queues) before
    /// a message that keeps failing is dead-lettered.
    pub retry_max_attempts: u32,
    /// `DIGITAL_LEAD_DUPLICATE_WINDOW_SECS`: a CarDekho or CarWale lead with
    /// the same platform and phone as one within this window is a duplicate.
    pub duplicate_window: Duration,
    /// `DATABASE_TIMEOUT_SECS`: how long one database step may take (a
    /// batch's transaction, connecting, the migration lock) before it is
    /// abandoned and tried again, so a connection that died silently never
    /// holds a delivery forever.
    pub database_timeout: Duration,
    /// `WORKER_STALL_SECS`: readiness turns false when messages wait in the
    /// worker's queues and it has neither received nor settled one for this
    /// long; twice this long and the worker drops its broker session and
    /// reconnects.
    pub stall_timeout: Duration,
    /// `WORKER_WATCHDOG_SECS`: if the worker's own loop (start-up, consuming,
    /// reconnecting) makes no progress for this long, it is wedged: `run`
    /// returns an error naming where it stood, and the binary exits non-zero
    /// so its supervisor restarts it.
    pub watchdog_timeout: Duration,
    /// `DEALER_NUMBERS`: the dealer's own lines and WhatsApp business
    /// numbers (E.164). A captured call's customer is its number that is
    /// not one of these; a dealer's number is never a lead.
    pub dealer_numbers: Vec<String>,
    /// `TATA_WHATSAPP_API_URL` and `TATA_WHATSAPP_API_KEY`: where replies
    /// from the console are sent. Unset: replies wait in their retry queue.
    pub tata_whatsapp: Option<TataWhatsappApi>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `ADMIN_ADDR` (default `127.0.0.1:9100`) and `ADMIN_TOKEN`: health,
    /// readiness, metrics and the webhook log.
    pub admin: AdminConfig,
}

/// `DEALER_NUMBERS`, each in E.164 (any common spelling accepted).
fn dealer_numbers(env: &Env) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = env.get("DEALER_NUMBERS") else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            crate::phone::to_e164(n).ok_or_else(|| ConfigError {
                name: "DEALER_NUMBERS",
                message: "expected comma-separated phone numbers, such as +919355421616".into(),
                value: n.to_owned(),
            })
        })
        .collect()
}

/// Tata's WhatsApp send API for one dealer account.
#[derive(Debug, Clone)]
pub struct TataWhatsappApi {
    /// `TATA_WHATSAPP_API_URL`: the base URL; requests go to
    /// `{base}/v1/whatsapp/messages`.
    pub base_url: String,
    /// `TATA_WHATSAPP_API_KEY`: sent as the `Authorization` header.
    pub api_key: Secret<String>,
    /// `TATA_WHATSAPP_TIMEOUT_MS` (default 15000): one call's limit,
    /// connecting included; past it the reply is retried.
    pub timeout: Duration,
}

impl TataWhatsappApi {
    fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let url = env.get("TATA_WHATSAPP_API_URL");
        let key = env.get("TATA_WHATSAPP_API_KEY");
        match (url, key) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError {
                name: "TATA_WHATSAPP_API_KEY",
                message: "must be set when TATA_WHATSAPP_API_URL is".into(),
                value: String::new(),
            }),
            (None, Some(_)) => Err(ConfigError {
                name: "TATA_WHATSAPP_API_URL",
                message: "must be set when TATA_WHATSAPP_API_KEY is".into(),
                value: String::new(),
            }),
            (Some(url), Some(key)) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ConfigError {
                        name: "TATA_WHATSAPP_API_URL",
                        message: "expected an https:// URL (http:// only for tests on loopback)"
                            .into(),
                        value: url,
                    });
                }
                Ok(Some(Self {
                    base_url: url,
                    api_key: Secret::new(key.trim().to_owned()),
                    timeout: env.millis("TATA_WHATSAPP_TIMEOUT_MS", 15_000)?,
                }))
            }
        }
    }
}

impl WorkerConfig {
    /// How long in-flight batches may take to finish once a session ends
    /// (shutdown or a lost connection): one database step and one settle.
    pub fn drain_timeout(&self) -> Duration {
        self.database_timeout + crate::broker::OPERATION_TIMEOUT
    }
}

impl WorkerConfig {
    /// Reads and validates the worker's variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let database_url = database_url(env)?;
        let batch_size: usize = env.ranged("WORKER_BATCH_SIZE", 64, 1..=1000)?;
        let batches_in_flight: usize = env.ranged("WORKER_BATCHES_IN_FLIGHT", 4, 1..=64)?;
        let filling = u16::try_from(batch_size * batches_in_flight).unwrap_or(u16::MAX);
        let prefetch: u16 = env.ranged("WORKER_PREFETCH", filling, 1..=u16::MAX)?;
        let database_max_connections: u32 = env.ranged("DATABASE_MAX_CONNECTIONS", 10, 1..=500)?;
        let retry_max_attempts: u32 =
            env.parse("RETRY_MAX_ATTEMPTS", 8, "a whole number of attempts")?;
        let database_timeout: u64 = env.ranged("DATABASE_TIMEOUT_SECS", 30, 1..=3_600)?;
        let stall_timeout: u64 = env.ranged("WORKER_STALL_SECS", 60, 1..=86_400)?;
        let watchdog_timeout: u64 = env.ranged("WORKER_WATCHDOG_SECS", 300, 10..=86_400)?;
        // The loop's longest legitimate silence: a drain (one database step
        // and one broker operation) followed by the longest reconnect pause.
        let longest_pause = database_timeout + crate::broker::OPERATION_TIMEOUT.as_secs() + 30;
        if watchdog_timeout <= longest_pause {
            return Err(ConfigError {
                name: "WORKER_WATCHDOG_SECS",
                message: format!(
                    "must exceed DATABASE_TIMEOUT_SECS + 40 ({longest_pause}), or a healthy worker waiting out an outage would be taken for a wedged one"
                ),
                value: watchdog_timeout.to_string(),
            });
        }
        Ok(Self {
            broker: BrokerConfig::from_env(env)?,
            database_url,
            prefetch,
            batch_size,
            batches_in_flight,
            database_max_connections,
            retry_max_attempts,
            duplicate_window: Duration::from_secs(env.ranged(
                "DIGITAL_LEAD_DUPLICATE_WINDOW_SECS",
                60,
                0..=86_400,
            )?),
            database_timeout: Duration::from_secs(database_timeout),
            stall_timeout: Duration::from_secs(stall_timeout),
            watchdog_timeout: Duration::from_secs(watchdog_timeout),
            dealer_numbers: dealer_numbers(env)?,
            tata_whatsapp: TataWhatsappApi::from_env(env)?,
            log_format: log_format(env)?,
            admin: AdminConfig::from_env(env, "127.0.0.1:9100")?,
        })
    }
}

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
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_are_documented_values() {
        let ingest = IngestConfig::from_env(&env(&[])).unwrap();
        assert_eq!(ingest.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(ingest.broker.urls[0].expose(), DEFAULT_AMQP_URL);
        assert_eq!(ingest.max_body_bytes, 1024 * 1024);
        let worker = WorkerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(worker.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(worker.prefetch, 256, "batch size 64 × 4 batches in flight");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = IngestConfig::from_env(&env(&[("INGEST_ADDR", "localhost")])).unwrap_err();
        assert_eq!(err.name, "INGEST_ADDR");
        let err = WorkerConfig::from_env(&env(&[("WORKER_PREFETCH", "0")])).unwrap_err();
        assert_eq!(err.name, "WORKER_PREFETCH");
        let err = WorkerConfig::from_env(&env(&[
            ("DATABASE_TIMEOUT_SECS", "60"),
            ("WORKER_WATCHDOG_SECS", "90"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "WORKER_WATCHDOG_SECS");
        assert!(err.to_string().contains("DATABASE_TIMEOUT_SECS"), "{err}");
        let err =
            IngestConfig::from_env(&env(&[("PUBLISH_CONFIRM_TIMEOUT_MS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("milliseconds"), "{err}");
    }

    #[test]
    fn secrets_have_no_defaults_rotate_and_must_be_long_enough() {
        let config = IngestConfig::from_env(&env(&[])).unwrap();
        assert!(config.secrets.cardekho.is_none() && config.secrets.crm.is_none());
        let config = IngestConfig::from_env(&env(&[(
            "LEAD_API_KEY_CARDEKHO",
            "old-cardekho-key-0001,new-cardekho-key-0002",
        )]))
        .unwrap();
        let keys = config.secrets.cardekho.unwrap();
        assert!(keys.matches(b"old-cardekho-key-0001") && keys.matches(b"new-cardekho-key-0002"));
        let err = IngestConfig::from_env(&env(&[("CALL_CAPTURE_API_KEYS", "short")])).unwrap_err();
        assert_eq!(err.name, "CALL_CAPTURE_API_KEYS");
        assert!(!err.to_string().contains("short"), "{err}");
    }

    #[test]
    fn the_admin_listener_is_loopback_by_default_and_can_be_switched_off() {
        let worker = WorkerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(worker.admin.addr.unwrap().to_string(), "127.0.0.1:9100");
        assert!(worker.admin.token.is_none());
        let ingest = IngestConfig::from_env(&env(&[("ADMIN_ADDR", "off")])).unwrap();
        assert!(ingest.admin.addr.is_none());
        // The edge serves nothing that needs the token: it does not read it.
        let ingest = IngestConfig::from_env(&env(&[("ADMIN_TOKEN", "tiny")])).unwrap();
        assert!(ingest.admin.token.is_none());
        let err = WorkerConfig::from_env(&env(&[("ADMIN_TOKEN", "tiny")])).unwrap_err();
        assert_eq!(err.name, "ADMIN_TOKEN");
        let err = WorkerConfig::from_env(&env(&[("ADMIN_ADDR", "nine")])).unwrap_err();
        assert_eq!(err.name, "ADMIN_ADDR");
    }

    #[test]
    fn the_console_and_tata_api_settings_are_checked() {
        let console = ConsoleConfig::from_env(&env(&[])).unwrap();
        assert_eq!(console.addr.to_string(), "127.0.0.1:8090");
        assert!(!console.secure_cookies());
        let https = ConsoleConfig::from_env(&env(&[("CONSOLE_PUBLIC_URL", "https://crm.example")]));
        assert!(https.unwrap().secure_cookies());
        let err = ConsoleConfig::from_env(&env(&[("CONSOLE_SESSION_HOURS", "0")])).unwrap_err();
        assert_eq!(err.name, "CONSOLE_SESSION_HOURS");
        let err =
            WorkerConfig::from_env(&env(&[("TATA_WHATSAPP_API_URL", "https://tata.example")]))
                .unwrap_err();
        assert_eq!(err.name, "TATA_WHATSAPP_API_KEY");
        let worker = WorkerConfig::from_env(&env(&[
            ("TATA_WHATSAPP_API_URL", "https://tata.example/"),
            ("TATA_WHATSAPP_API_KEY", "secret-account-key"),
        ]))
        .unwrap();
        let api = worker.tata_whatsapp.unwrap();
        assert_eq!(api.base_url, "https://tata.example");
        assert!(!format!("{api:?}").contains("secret-account-key"));
    }

    #[test]
    fn passwords_given_apart_are_encoded_into_the_urls() {
        let worker = WorkerConfig::from_env(&env(&[
            ("AMQP_URL", "amqp://leadpipe@rabbitmq:5672/%2f"),
            ("AMQP_PASSWORD", "p@ss/w:rd%1"),
            ("DATABASE_URL", "postgres://leadpipe@postgres:5432/leadpipe"),
            ("DATABASE_PASSWORD", "s3cr@t"),
        ]))
        .unwrap();
        assert_eq!(
            worker.broker.urls[0].expose(),
            "amqp://leadpipe:p%40ss%2Fw%3Ard%251@rabbitmq:5672/%2f"
        );
        assert_eq!(
            worker.database_url.expose(),
            "postgres://leadpipe:s3cr%40t@postgres:5432/leadpipe"
        );
        let err = WorkerConfig::from_env(&env(&[
            ("AMQP_URL", "amqp://rabbitmq:5672/%2f"),
            ("AMQP_PASSWORD", "secret"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "AMQP_PASSWORD");
        assert!(!err.to_string().contains("secret"));
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

    #[test]
    fn dealer_numbers_are_normalised_and_checked() {
        let worker =
            WorkerConfig::from_env(&env(&[("DEALER_NUMBERS", "+91 93554 21616, 09123456780")]))
                .unwrap();
        assert_eq!(worker.dealer_numbers, ["+919355421616", "+919123456780"]);
        let err =
            WorkerConfig::from_env(&env(&[("DEALER_NUMBERS", "+919355421616,12")])).unwrap_err();
        assert_eq!(err.name, "DEALER_NUMBERS");
        assert!(err.to_string().contains("\"12\""), "{err}");
    }

    #[test]
    fn secret_urls_are_not_echoed_in_errors() {
        let err =
            WorkerConfig::from_env(&env(&[("DATABASE_URL", "mysql://u:pw@h/db")])).unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        let config = WorkerConfig::from_env(&env(&[("AMQP_URL", "amqp://u:pw@h/v")])).unwrap();
        assert!(!format!("{config:?}").contains("pw"));
    }
}
