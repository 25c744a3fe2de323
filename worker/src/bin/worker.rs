//! The `worker` binary: configuration, telemetry, then [`worker::run`].

use shared::config::{Env, WorkerConfig};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match WorkerConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("worker: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    shared::telemetry::init(config.log_format);
    let admin = match shared::admin::bind(config.admin.addr).await {
        Ok(admin) => admin,
        Err(error) => {
            tracing::error!(%error, "cannot listen on ADMIN_ADDR");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = shared::shutdown::on_signal();
    match worker::run(config, admin, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "worker stopped");
            ExitCode::FAILURE
        }
    }
}
