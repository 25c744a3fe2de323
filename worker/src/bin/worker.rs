//! The `worker` binary: configuration, telemetry, then [`worker::run`].

use shared::config::Env;
use std::process::ExitCode;
use std::time::Duration;
use worker::config::WorkerConfig;

/// How long the runtime may take to wind down once `run` has returned:
/// a task stuck in a blocking call must not keep a finished process alive.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let config = match WorkerConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("worker: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("worker: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(config));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

async fn serve(config: WorkerConfig) -> ExitCode {
    shared::telemetry::init(config.log_format);
    let admin = match shared::admin::bind(config.admin.addr).await {
        Ok(admin) => admin,
        Err(error) => {
            tracing::error!(
                "worker: {}",
                shared::admin::bind_refusal(config.admin.addr, &error)
            );
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
