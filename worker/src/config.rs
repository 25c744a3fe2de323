//! A worker's configuration: the database, batches, retries, the dealer's
//! own numbers, Tata's send API, read from environment variables at start-up.

use shared::config::{
    AdminConfig, BrokerConfig, ConfigError, DeskConfig, Env, database_url, log_format,
};
use shared::secret::Secret;
use shared::telemetry::LogFormat;
use std::time::Duration;

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
    /// The lead desk's response target, escalation and business hours
    /// (`DESK_*`).
    pub desk: DeskConfig,
    /// `DESK_SWEEP_MILLIS` (default 5000): how often the worker looks for
    /// leads past their escalation deadline.
    pub desk_sweep_every: Duration,
    /// `DESK_ROUTE_MILLIS` (default 250): how often the worker routes and
    /// assigns new leads.
    pub desk_route_every: Duration,
    /// How long the webhook log keeps bodies and entries.
    pub retention: Retention,
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
            shared::phone::to_e164(n).ok_or_else(|| ConfigError {
                name: "DEALER_NUMBERS",
                message: "expected comma-separated phone numbers, such as +919355421616".into(),
                value: n.to_owned(),
            })
        })
        .collect()
}

/// How long personal data in the webhook log is kept (issue 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `RAW_BODY_RETENTION_DAYS` (default 90): a delivery's raw body is
    /// dropped once it is this old; its entry (source, times, status,
    /// reasons) stays.
    pub raw_body_days: u32,
    /// `LOG_RETENTION_DAYS` (default 365, at least the bodies' limit): an
    /// entry and its reason history are removed once this old. Past it a
    /// redelivery of that message is no longer recognised as a duplicate.
    pub log_days: u32,
    /// `RETENTION_EVERY_SECS` (default 600): how often a worker looks for
    /// what has grown too old.
    pub every: Duration,
    /// `DEAD_LETTER_RETENTION_DAYS` (default 30): a dead letter whose last
    /// failure is older is purged, with a record of how many went by
    /// source and reason (no bodies). 0 purges every dead letter at the
    /// next round.
    pub dead_letter_days: u32,
    /// `LEAD_RETENTION_DAYS` (default off): a lead with no activity for
    /// this long, and not won, is erased with everything held about its
    /// person (as an operator's erasure). At least
    /// `DEAD_LETTER_RETENTION_DAYS`: dead letters about them are gone by
    /// then.
    pub lead_days: Option<u32>,
}

impl Retention {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let raw_body_days: u32 = env.ranged("RAW_BODY_RETENTION_DAYS", 90, 1..=36_500)?;
        let log_days: u32 = env.ranged("LOG_RETENTION_DAYS", 365, 1..=36_500)?;
        if log_days < raw_body_days {
            return Err(ConfigError {
                name: "LOG_RETENTION_DAYS",
                message: format!(
                    "must be at least RAW_BODY_RETENTION_DAYS ({raw_body_days}): an entry cannot go before its body"
                ),
                value: log_days.to_string(),
            });
        }
        let every: u64 = env.ranged("RETENTION_EVERY_SECS", 600, 1..=86_400)?;
        let dead_letter_days: u32 = env.ranged("DEAD_LETTER_RETENTION_DAYS", 30, 0..=36_500)?;
        let lead_days = match env.get("LEAD_RETENTION_DAYS").as_deref().map(str::trim) {
            None | Some("" | "off") => None,
            Some(_) => Some(env.ranged("LEAD_RETENTION_DAYS", 0, 1..=36_500)?),
        };
        if let Some(days) = lead_days
            && days < dead_letter_days
        {
            return Err(ConfigError {
                name: "LEAD_RETENTION_DAYS",
                message: format!(
                    "must be at least DEAD_LETTER_RETENTION_DAYS ({dead_letter_days}): a lead erased by retention leaves its dead letters to their own retention"
                ),
                value: days.to_string(),
            });
        }
        Ok(Self {
            raw_body_days,
            log_days,
            every: Duration::from_secs(every),
            dead_letter_days,
            lead_days,
        })
    }
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
    /// `TATA_TEMPLATES_REFRESH_SECS` (default 600): how often the worker
    /// fetches the account's WhatsApp templates (also at start).
    pub templates_refresh: Duration,
    /// `TATA_MEDIA_RETRY_SECS` (default 10): the pause before a media
    /// download that failed for a reason that may pass is tried again;
    /// each next pause doubles, up to an hour.
    pub media_retry: Duration,
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
                    templates_refresh: Duration::from_secs(env.ranged(
                        "TATA_TEMPLATES_REFRESH_SECS",
                        600,
                        10..=86_400,
                    )?),
                    media_retry: Duration::from_secs(env.ranged(
                        "TATA_MEDIA_RETRY_SECS",
                        10,
                        1..=3_600,
                    )?),
                }))
            }
        }
    }
}

impl WorkerConfig {
    /// How long in-flight batches may take to finish once a session ends
    /// (shutdown or a lost connection): one database step and one settle.
    pub fn drain_timeout(&self) -> Duration {
        self.database_timeout + shared::broker::OPERATION_TIMEOUT
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
        // On PostgreSQL a batch may hold a second connection while it takes
        // its new leads' turns, and the desk's timers hold one: fewer would
        // leave batches waiting for connections held by each other.
        let needed = u32::try_from(2 * batches_in_flight + 1).unwrap_or(u32::MAX);
        if !database_url.expose().starts_with("sqlite:") && database_max_connections < needed {
            return Err(ConfigError {
                name: "DATABASE_MAX_CONNECTIONS",
                message: format!(
                    "must be at least 2 × WORKER_BATCHES_IN_FLIGHT + 1 ({needed}) on PostgreSQL: each batch in flight may use two connections, and the desk's timers one"
                ),
                value: database_max_connections.to_string(),
            });
        }
        let retry_max_attempts: u32 =
            env.parse("RETRY_MAX_ATTEMPTS", 8, "a whole number of attempts")?;
        let database_timeout: u64 = env.ranged("DATABASE_TIMEOUT_SECS", 30, 1..=3_600)?;
        let stall_timeout: u64 = env.ranged("WORKER_STALL_SECS", 60, 1..=86_400)?;
        let watchdog_timeout: u64 = env.ranged("WORKER_WATCHDOG_SECS", 300, 10..=86_400)?;
        // The loop's longest legitimate silence: a drain (one database step
        // and one broker operation) followed by the longest reconnect pause.
        let longest_pause = database_timeout + shared::broker::OPERATION_TIMEOUT.as_secs() + 30;
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
            desk: DeskConfig::from_env(env)?,
            desk_sweep_every: env.millis("DESK_SWEEP_MILLIS", 5000)?,
            desk_route_every: env.millis("DESK_ROUTE_MILLIS", 250)?,
            retention: Retention::from_env(env)?,
            log_format: log_format(env)?,
            admin: AdminConfig::from_env(env, "127.0.0.1:9100")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::DEFAULT_DATABASE_URL;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
    }

    #[test]
    fn retention_defaults_and_an_entry_never_outlives_its_body_limit() {
        let config = WorkerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(
            (config.retention.raw_body_days, config.retention.log_days),
            (90, 365)
        );
        let err = WorkerConfig::from_env(&env(&[
            ("RAW_BODY_RETENTION_DAYS", "400"),
            ("LOG_RETENTION_DAYS", "365"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "LOG_RETENTION_DAYS");
        let err = WorkerConfig::from_env(&env(&[("RAW_BODY_RETENTION_DAYS", "0")])).unwrap_err();
        assert_eq!(err.name, "RAW_BODY_RETENTION_DAYS");
    }

    #[test]
    fn a_postgres_pool_too_small_for_the_batches_in_flight_is_refused() {
        let postgres = ("DATABASE_URL", "postgres://leadpipe@127.0.0.1/leadpipe");
        let err = WorkerConfig::from_env(&env(&[
            postgres,
            ("WORKER_BATCHES_IN_FLIGHT", "8"),
            ("DATABASE_MAX_CONNECTIONS", "16"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "DATABASE_MAX_CONNECTIONS");
        assert!(err.message.contains("(17)"), "{}", err.message);
        let config = WorkerConfig::from_env(&env(&[
            postgres,
            ("WORKER_BATCHES_IN_FLIGHT", "8"),
            ("DATABASE_MAX_CONNECTIONS", "17"),
        ]))
        .unwrap();
        assert_eq!(config.database_max_connections, 17);
        // SQLite has one connection whatever the setting.
        WorkerConfig::from_env(&env(&[
            ("WORKER_BATCHES_IN_FLIGHT", "8"),
            ("DATABASE_MAX_CONNECTIONS", "1"),
        ]))
        .unwrap();
    }

    #[test]
    fn defaults_are_documented_values() {
        let worker = WorkerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(worker.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(worker.prefetch, 256, "batch size 64 × 4 batches in flight");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = WorkerConfig::from_env(&env(&[("WORKER_PREFETCH", "0")])).unwrap_err();
        assert_eq!(err.name, "WORKER_PREFETCH");
        let err = WorkerConfig::from_env(&env(&[
            ("DATABASE_TIMEOUT_SECS", "60"),
            ("WORKER_WATCHDOG_SECS", "90"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "WORKER_WATCHDOG_SECS");
        assert!(err.to_string().contains("DATABASE_TIMEOUT_SECS"), "{err}");
    }

    #[test]
    fn the_admin_listener_is_loopback_by_default_and_its_token_is_checked() {
        let worker = WorkerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(worker.admin.addr.unwrap().to_string(), "127.0.0.1:9100");
        assert!(worker.admin.token.is_none());
        let err = WorkerConfig::from_env(&env(&[("ADMIN_TOKEN", "tiny")])).unwrap_err();
        assert_eq!(err.name, "ADMIN_TOKEN");
        let err = WorkerConfig::from_env(&env(&[("ADMIN_ADDR", "nine")])).unwrap_err();
        assert_eq!(err.name, "ADMIN_ADDR");
    }

    #[test]
    fn the_tata_api_settings_are_checked() {
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
