//! Each test's own broker prefix and environment, and logging.

use shared::config::{BrokerConfig, Env};
use std::collections::HashMap;

/// Logs from the code under test, shown for failing tests (`RUST_LOG`).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The broker URL tests use.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://127.0.0.1:5672/%2f".into())
}

/// A prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    format!("test-{test}-{}", uuid::Uuid::now_v7().simple())
}

/// Variables for a test's edge and worker: its own prefix, plus `extra`.
pub fn test_env(prefix: &str, database_url: Option<&str>, extra: &[(&str, &str)]) -> Env {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("AMQP_URL".into(), amqp_url());
    vars.insert("AMQP_PREFIX".into(), prefix.into());
    vars.insert("INGEST_ADDR".into(), "127.0.0.1:0".into());
    if let Some(url) = database_url {
        vars.insert("DATABASE_URL".into(), url.into());
    }
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Env::from_map(vars)
}

/// Variables for an edge that every partner reaches with `key` (the CRM's
/// HMAC secret too) and no rate limit stops: for tests that send many
/// requests to every route.
pub fn every_partner_keyed_env(prefix: &str, key: &str) -> Env {
    test_env(
        prefix,
        None,
        &[
            ("LEAD_API_KEY_CARDEKHO", key),
            ("LEAD_API_KEY_CARWALE", key),
            ("CALL_CAPTURE_API_KEYS", key),
            ("CRM_WEBHOOK_SECRET", key),
            ("LEAD_RATE_LIMIT_PER_MINUTE", "0"),
            ("CRM_RATE_LIMIT_PER_MINUTE", "0"),
        ],
    )
}

/// The broker configuration for a prefix.
pub fn broker_config(prefix: &str) -> BrokerConfig {
    BrokerConfig::from_env(&test_env(prefix, None, &[])).expect("test broker config")
}
