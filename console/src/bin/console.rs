//! The `console` binary: `console` (or `console serve`) runs the web app;
//! `console user …` manages staff accounts.

use clap::{Parser, Subcommand};
use console::auth::Role;
use console::config::ConsoleConfig;
use shared::config::Env;
use std::io::Read as _;
use std::process::ExitCode;

/// The dealer console.
#[derive(Parser)]
#[command(name = "console", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the console on CONSOLE_ADDR (the default).
    Serve,
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from standard input.
    Add {
        /// The sign-in name.
        name: String,
        /// Read the password from standard input (the only way: never an argument).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// `sales` (default) or `operator`.
        #[arg(long, default_value = "sales")]
        role: String,
    },
    /// List accounts.
    List,
    /// Remove an account (and sign it out).
    Remove {
        /// The sign-in name.
        name: String,
    },
    /// Change a password (read from standard input) and sign the account out.
    SetPassword {
        /// The sign-in name.
        name: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn read_password() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin().take(1024).read_to_string(&mut password)?;
    Ok(password.trim_end_matches(['\n', '\r']).to_owned())
}

async fn users(config: &ConsoleConfig, command: UserCommand) -> anyhow::Result<()> {
    let db = console::open_database(config.database_url.expose()).await?;
    match command {
        UserCommand::Add { name, role, .. } => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role is sales or operator, not {role:?}"))?;
            console::users::add(&db, &name, &read_password()?, role).await?;
            println!("created {name} ({})", role.name());
        }
        UserCommand::List => {
            for (name, role, created) in console::users::list(&db).await? {
                println!("{name}\t{role}\t{}", console::ist(created));
            }
        }
        UserCommand::Remove { name } => {
            console::users::remove(&db, &name).await?;
            println!("removed {name}");
        }
        UserCommand::SetPassword { name, .. } => {
            console::users::set_password(&db, &name, &read_password()?).await?;
            println!("password changed for {name}; their sessions are signed out");
        }
    }
    db.close().await.ok();
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ConsoleConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("console: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::User(command) => match users(&config, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("console: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => {
            shared::telemetry::init(config.log_format);
            let listener = match tokio::net::TcpListener::bind(config.addr).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(
                        "console: cannot listen on CONSOLE_ADDR={}: {error}; free that port or set CONSOLE_ADDR to another address",
                        config.addr
                    );
                    return ExitCode::FAILURE;
                }
            };
            let shutdown = shared::shutdown::on_signal();
            match console::run(config, listener, shutdown).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "console stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
