//! The `ingest` binary: configuration, telemetry, then [`ingest::run`].

use ingest::config::IngestConfig;
use shared::config::Env;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match IngestConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ingest: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    shared::telemetry::init(config.log_format);
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(
                "ingest: cannot listen on INGEST_ADDR={}: {error}; free that port or set INGEST_ADDR to another address",
                config.addr
            );
            return ExitCode::FAILURE;
        }
    };
    let admin = match shared::admin::bind(config.admin.addr).await {
        Ok(admin) => admin,
        Err(error) => {
            tracing::error!(
                "ingest: {}",
                shared::admin::bind_refusal(config.admin.addr, &error)
            );
            return ExitCode::FAILURE;
        }
    };
    let shutdown = shared::shutdown::on_signal();
    let listeners = ingest::Listeners {
        partner: listener,
        admin,
    };
    match ingest::run(config, listeners, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "ingest stopped");
            ExitCode::FAILURE
        }
    }
}
