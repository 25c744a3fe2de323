//! The `console` binary: `console` (or `console serve`) runs the web app;
//! `console user …`, `console team …` and `console rule …` manage staff
//! accounts, teams and routing rules, so a dealer can script the set-up;
//! `console person export PHONE` prints what is held about one person.

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
    /// Manage the routing rules (which team a new lead goes to).
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Personal data: what is held about one person.
    #[command(subcommand)]
    Person(PersonCommand),
}

#[derive(Subcommand)]
enum PersonCommand {
    /// Print, as one JSON document, everything the database holds about
    /// the person with this phone number (any spelling).
    Export {
        /// Their number: +91 98765 43210, 09876543210, 919876543210, …
        phone: String,
    },
    /// Erase everything held about the person with this phone number:
    /// without `--yes`, only list what would go (a dry run).
    Erase {
        /// Their number, in any spelling.
        phone: String,
        /// Erase for real (a worker does it, through the broker).
        #[arg(long)]
        yes: bool,
        /// How long to wait for a worker to report the erasure done.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
    },
}

#[derive(Subcommand)]
enum RuleCommand {
    /// Add a rule: leads matching it go to the team.
    Add {
        /// The team's name.
        #[arg(long)]
        team: String,
        /// The lead's first source (tata_calls, tata_whatsapp, cardekho,
        /// carwale, call_capture, crm_events); any when left out.
        #[arg(long)]
        source: Option<String>,
        /// The business number or line it came in on; any when left out.
        #[arg(long)]
        line: Option<String>,
        /// Rules are tried by position, lowest first.
        #[arg(long, default_value_t = 100)]
        position: i32,
    },
    /// List the rules in the order they are tried.
    List,
    /// Remove a rule by its id (from `rule list`).
    Remove {
        /// The rule's id.
        id: uuid::Uuid,
    },
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

/// Who the audit and an erasure's record name for the command line: the
/// system user running it.
fn command_line_user() -> String {
    format!(
        "command line ({})",
        std::env::var("USER").unwrap_or_else(|_| "unknown user".into())
    )
}

async fn person(config: &ConsoleConfig, command: PersonCommand) -> anyhow::Result<()> {
    let phone = match command {
        PersonCommand::Export { phone } => phone,
        PersonCommand::Erase {
            phone,
            yes,
            wait_secs,
        } => return erase_person(config, &phone, yes, wait_secs).await,
    };
    let db = console::open_database(config.database_url.expose()).await?;
    let exported = console::person::export_everywhere(&db, &config.broker, &phone).await;
    // In the audit like an export from a page: who (the command line and
    // the system user running it), about whom (a hash of the number).
    let recorded = match &exported {
        Ok(document) => {
            let actor = store::access_log::Actor {
                user: None,
                username: command_line_user(),
                address: None,
            };
            let subject = document["phone"]
                .as_str()
                .map(store::access_log::number_subject);
            store::access_log::record(
                &db,
                &actor,
                store::access_log::Action::PersonExported,
                subject,
            )
            .await
            .map_err(|e| anyhow::anyhow!("recording the export in the audit: {e}"))
        }
        Err(_) => Ok(()),
    };
    db.close().await.ok();
    let document = exported?;
    recorded?;
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

/// `console person erase PHONE [--yes]`: lists what would go; with `--yes`
/// queues the erasure, records it in the audit, and waits for a worker to
/// report it done (the counts per table and the dead letters purged).
async fn erase_person(
    config: &ConsoleConfig,
    phone: &str,
    yes: bool,
    wait_secs: u64,
) -> anyhow::Result<()> {
    let db = console::open_database(config.database_url.expose()).await?;
    let document = console::person::export_everywhere(&db, &config.broker, phone).await?;
    let e164 = document["phone"].as_str().unwrap_or_default().to_owned();
    let would_go = console::person::what_would_go(&document);
    if !yes {
        println!("An erasure of {e164} would remove:");
        for (what, count) in &would_go {
            println!("  {what}: {count}");
        }
        if would_go.is_empty() {
            println!("  nothing: nothing is held about this number");
        }
        println!("Nothing was erased. Run again with --yes to erase.");
        db.close().await.ok();
        return Ok(());
    }
    let publisher = shared::broker::Publisher::start(config.broker.clone());
    if !publisher
        .wait_connected(std::time::Duration::from_secs(10))
        .await
    {
        publisher.close().await;
        anyhow::bail!("cannot reach the broker at AMQP_URL: nothing was erased");
    }
    let requested_by = command_line_user();
    let queued = console::person::request_erasure(&publisher, &e164, &requested_by).await;
    publisher.close().await;
    let id = queued?;
    store::access_log::record(
        &db,
        &store::access_log::Actor {
            user: None,
            username: requested_by,
            address: None,
        },
        store::access_log::Action::PersonErased,
        Some(store::access_log::number_subject(&e164)),
    )
    .await
    .map_err(|e| anyhow::anyhow!("recording the erasure in the audit: {e}"))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
    loop {
        let done = console::person::erasure(&db, id).await?;
        if let Some(done) = done.filter(|d| d.dead_letters_purged.is_some()) {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "erasure": id,
                    "erased_at": done.erased_at,
                    "rows": done.counts,
                    "dead_letters_purged": done.dead_letters_purged,
                }))?
            );
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            eprintln!(
                "erasure {id} is queued; no worker reported it done within {wait_secs} s (it stays queued until one does)"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    db.close().await.ok();
    Ok(())
}

async fn rules(config: &ConsoleConfig, command: RuleCommand) -> anyhow::Result<()> {
    let db = console::open_database(config.database_url.expose()).await?;
    match command {
        RuleCommand::Add {
            team,
            source,
            line,
            position,
        } => {
            let team = console::teams::ids(&db, std::slice::from_ref(&team)).await?[0];
            let rule = console::routing::NewRule {
                position,
                source,
                line,
                team,
            };
            let id = console::routing::add(&db, rule).await?;
            println!("added rule {id}");
        }
        RuleCommand::List => {
            let names = console::teams::names(&db).await?;
            for rule in console::routing::list(&db).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    rule.id,
                    rule.position,
                    rule.source.as_deref().unwrap_or("any source"),
                    rule.line.as_deref().unwrap_or("any line"),
                    names.get(&rule.team_id).map_or("(removed)", String::as_str)
                );
            }
        }
        RuleCommand::Remove { id } => {
            if !console::routing::remove(&db, id).await? {
                anyhow::bail!("no rule {id}");
            }
            println!("removed rule {id}");
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
    let admin = match cli.command.unwrap_or(Command::Serve) {
        Command::User(command) => users(&config, command).await,
        Command::Team(command) => teams(&config, command).await,
        Command::Rule(command) => rules(&config, command).await,
        Command::Person(command) => person(&config, command).await,
        Command::Serve => return serve(config).await,
    };
    match admin {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("console: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `console serve`: the web app until SIGTERM or Ctrl-C.
async fn serve(config: ConsoleConfig) -> ExitCode {
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
