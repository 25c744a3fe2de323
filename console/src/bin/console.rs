//! The `console` binary: `console` (or `console serve`) runs the web app;
//! `console user …` and `console team …` manage staff accounts and teams,
//! so a dealer can script the set-up.

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
    /// Manage teams.
    #[command(subcommand)]
    Team(TeamCommand),
}

#[derive(Subcommand)]
enum TeamCommand {
    /// Create a team.
    Add {
        /// The team's name ("MG sales").
        name: String,
        /// Leads no routing rule matches go to this team.
        #[arg(long)]
        default: bool,
        /// Skip members who own this many open leads.
        #[arg(long)]
        max_open: Option<i32>,
    },
    /// List teams.
    List,
    /// Change a team.
    Change {
        /// The team's name.
        name: String,
        /// Make it the default team.
        #[arg(long)]
        default: bool,
        /// A cap on open leads per member, or `none`.
        #[arg(long)]
        max_open: Option<String>,
    },
    /// Remove a team (its members stay; its leads keep their owners).
    Remove {
        /// The team's name.
        name: String,
    },
}

/// Team names from `--team A,B`.
fn team_names(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
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
        /// `sales` (default), `manager` or `operator`.
        #[arg(long, default_value = "sales")]
        role: String,
        /// Teams, comma-separated (each must exist).
        #[arg(long, default_value = "")]
        team: String,
    },
    /// Change an account's role, teams or partner ids.
    Change {
        /// The sign-in name.
        name: String,
        /// `sales`, `manager` or `operator`.
        #[arg(long)]
        role: Option<String>,
        /// Exactly these teams, comma-separated (empty: none).
        #[arg(long)]
        team: Option<String>,
        /// Tata calls' `staff_id` for them (empty clears it).
        #[arg(long)]
        tata_staff_id: Option<String>,
        /// Call capture's `employee_id` for them (empty clears it).
        #[arg(long)]
        employee_id: Option<String>,
        /// The CRM's `assigned_to` for them (empty clears it).
        #[arg(long)]
        crm_user_id: Option<String>,
        /// `true` or `false`: whether new leads may be assigned to them.
        #[arg(long)]
        on_duty: Option<bool>,
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
        UserCommand::Add {
            name, role, team, ..
        } => {
            let role = parse_role(&role)?;
            console::users::add(&db, &name, &read_password()?, role, &team_names(&team)).await?;
            println!("created {name} ({})", role.name());
        }
        UserCommand::List => {
            for account in console::users::list(&db).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    account.username,
                    account.role,
                    account.teams.join(","),
                    if account.on_duty {
                        "on duty"
                    } else {
                        "off duty"
                    },
                    console::ist(account.created_at)
                );
            }
        }
        UserCommand::Change {
            name,
            role,
            team,
            tata_staff_id,
            employee_id,
            crm_user_id,
            on_duty,
        } => {
            let change = console::users::Change {
                role: role.as_deref().map(parse_role).transpose()?,
                teams: team.as_deref().map(team_names),
                tata_staff_id,
                employee_id,
                crm_user_id,
                on_duty,
            };
            console::users::change(&db, &name, change).await?;
            println!("changed {name}");
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

fn parse_role(role: &str) -> anyhow::Result<Role> {
    Role::parse(role)
        .ok_or_else(|| anyhow::anyhow!("--role is sales, manager or operator, not {role:?}"))
}

async fn teams(config: &ConsoleConfig, command: TeamCommand) -> anyhow::Result<()> {
    let db = console::open_database(config.database_url.expose()).await?;
    match command {
        TeamCommand::Add {
            name,
            default,
            max_open,
        } => {
            console::teams::add(&db, &name, default, max_open).await?;
            println!(
                "created team {name}{}",
                if default { " (default)" } else { "" }
            );
        }
        TeamCommand::List => {
            for team in console::teams::list(&db).await? {
                println!(
                    "{}\t{}\t{}",
                    team.name,
                    if team.is_default { "default" } else { "" },
                    team.max_open_leads
                        .map_or_else(|| "no cap".to_owned(), |cap| format!("at most {cap} open"))
                );
            }
        }
        TeamCommand::Change {
            name,
            default,
            max_open,
        } => {
            let max_open_leads = match max_open.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some(cap) => Some(Some(cap.parse::<i32>().map_err(|_| {
                    anyhow::anyhow!("--max-open is a number or none, not {cap:?}")
                })?)),
            };
            let change = console::teams::Change {
                default,
                max_open_leads,
            };
            console::teams::change(&db, &name, change).await?;
            println!("changed team {name}");
        }
        TeamCommand::Remove { name } => {
            console::teams::remove(&db, &name).await?;
            println!("removed team {name}");
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
        Command::Team(command) => match teams(&config, command).await {
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
