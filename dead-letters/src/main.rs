//! `dead-letters`: list, show, replay and purge dead-lettered webhooks on
//! the running broker. Reads `AMQP_URL` and `AMQP_PREFIX` like the services.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use dead_letters::{Filters, Progress, Summary, Tally, apply, list, parse_time, show};
use indicatif::{ProgressBar, ProgressStyle};
use shared::Source;
use shared::broker::{DeadLetterQueues, Disposition};
use shared::config::{BrokerConfig, Env};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "dead-letters",
    version,
    about = "List, show, replay and purge dead-lettered webhooks",
    long_about = "List, show, replay and purge dead-lettered webhooks on the running broker \
                  (AMQP_URL, AMQP_PREFIX). Listing leaves every message in place; replay moves \
                  a message back onto its source's work queue with the same ingest id and body, \
                  and removes it from the dead-letter queue only once the broker has confirmed \
                  the copy. Any command can be interrupted and run again."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Dead letters with their reason, attempts and failure times.
    List {
        #[command(flatten)]
        filters: FilterArgs,
        /// A JSON array (`[]` when there are none) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One dead letter: headers, failure history and raw body.
    Show {
        /// Its ingest id.
        id: Uuid,
        /// Only look in this source's queue.
        #[arg(long)]
        source: Option<Source>,
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back on their work queue: one by id, those matching
    /// the filters, or --all.
    Replay {
        /// Only this ingest id.
        id: Option<Uuid>,
        #[command(flatten)]
        filters: FilterArgs,
        /// Every dead letter (of --source, if given).
        #[arg(long)]
        all: bool,
        /// Say what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON object per message and a JSON summary, instead of a progress bar.
        #[arg(long)]
        json: bool,
    },
    /// Delete dead letters for good: one by id, those matching the filters, or --all.
    Purge {
        /// Only this ingest id.
        id: Option<Uuid>,
        #[command(flatten)]
        filters: FilterArgs,
        /// Every dead letter (of --source, if given).
        #[arg(long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Clone, Default)]
struct FilterArgs {
    /// Only these sources (repeat or comma-separate): tata_calls, tata_whatsapp,
    /// cardekho, carwale, call_capture, crm_events.
    #[arg(long, value_delimiter = ',')]
    source: Vec<Source>,
    /// Only messages whose last reason contains this text (any case).
    #[arg(long)]
    reason: Option<String>,
    /// Only messages that last failed at or after this time (RFC 3339, or a duration ago: 2h, 7d).
    #[arg(long, value_parser = parse_time)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only messages that last failed before this time (RFC 3339, or a duration ago).
    #[arg(long, value_parser = parse_time)]
    until: Option<chrono::DateTime<chrono::Utc>>,
}

impl FilterArgs {
    fn selects_something(&self) -> bool {
        !self.source.is_empty()
            || self.reason.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }

    fn into_filters(self, id: Option<Uuid>) -> Filters {
        Filters {
            sources: self.source,
            reason: self.reason,
            since: self.since,
            until: self.until,
            ids: id.into_iter().collect(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match BrokerConfig::from_env(&Env::process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("dead-letters: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command, &config).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dead-letters: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: &BrokerConfig) -> anyhow::Result<ExitCode> {
    let queues = DeadLetterQueues::connect(config)
        .await
        .context("connecting to the broker (AMQP_URL)")?;
    let code = match command {
        Command::List { filters, json } => {
            let summaries = list(&queues, &filters.into_filters(None)).await?;
            if json {
                println!("{}", serde_json::to_string(&summaries)?);
            } else {
                print_table(&summaries);
            }
            ExitCode::SUCCESS
        }
        Command::Show { id, source, json } => {
            let sources: Vec<Source> = source.map_or_else(|| Source::ALL.to_vec(), |s| vec![s]);
            match show(&queues, &sources, id).await? {
                None => {
                    eprintln!("no dead letter with ingest id {id}");
                    ExitCode::from(3)
                }
                Some((message, summary)) => {
                    let body = String::from_utf8_lossy(&message.body);
                    if json {
                        let out = serde_json::json!({
                            "summary": summary,
                            "headers": message.headers,
                            "body": body,
                        });
                        println!("{}", serde_json::to_string_pretty(&out)?);
                    } else {
                        print_message(&summary, &message.headers, &body);
                    }
                    ExitCode::SUCCESS
                }
            }
        }
        Command::Replay {
            id,
            filters,
            all,
            dry_run,
            json,
        } => {
            let filters = selection("replay", id, filters, all)?;
            move_messages(&queues, &filters, Disposition::Replay, dry_run, true, json).await?
        }
        Command::Purge {
            id,
            filters,
            all,
            yes,
            dry_run,
            json,
        } => {
            let filters = selection("purge", id, filters, all)?;
            move_messages(&queues, &filters, Disposition::Purge, dry_run, yes, json).await?
        }
    };
    queues.close().await;
    Ok(code)
}

/// What a replay or purge applies to; it must be said, never assumed.
fn selection(
    verb: &str,
    id: Option<Uuid>,
    filters: FilterArgs,
    all: bool,
) -> anyhow::Result<Filters> {
    if id.is_none() && !all && !filters.selects_something() {
        anyhow::bail!(
            "say what to {verb}: an ingest id, filters (--source, --reason, --since, --until), or --all"
        );
    }
    Ok(filters.into_filters(id))
}

/// Replays or purges what `filters` selects, after confirmation if asked.
async fn move_messages(
    queues: &DeadLetterQueues,
    filters: &Filters,
    disposition: Disposition,
    dry_run: bool,
    confirmed: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let verb = if disposition == Disposition::Purge {
        "purge"
    } else {
        "replay"
    };
    let selected = list(queues, filters).await?;
    if selected.is_empty() {
        if json {
            report(verb, Tally::default(), false, json);
        } else {
            println!("no dead letters match; nothing to {verb}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        if json {
            for summary in &selected {
                println!("{}", serde_json::json!({"would": verb, "message": summary}));
            }
        } else {
            print_table(&selected);
            println!(
                "dry run: would {verb} {} message(s); nothing moved",
                selected.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Only what the operator was shown is touched, not what arrived since.
    let ids: HashSet<Uuid> = selected.iter().filter_map(|s| s.ingest_id).collect();
    if !confirmed
        && !confirm(&format!(
            "Permanently delete {} dead letter(s)?",
            selected.len()
        ))?
    {
        eprintln!("nothing deleted");
        return Ok(ExitCode::from(1));
    }
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(selected.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let stop = shared::shutdown::on_signal();
    let tally = apply(
        queues,
        filters,
        disposition,
        Some(&ids),
        |progress| match progress {
            Progress::Skipped => {}
            Progress::Moved(summary) => {
                bar.inc(1);
                if json {
                    println!("{}", serde_json::json!({"result": "moved", "ingest_id": summary.ingest_id, "source": summary.source.name()}));
                }
            }
            Progress::Failed(summary, error) => {
                bar.inc(1);
                if json {
                    println!("{}", serde_json::json!({"result": "failed", "ingest_id": summary.ingest_id, "source": summary.source.name(), "error": error}));
                } else {
                    bar.println(format!("failed {}: {error}", display_id(summary)));
                }
            }
        },
        &stop,
    )
    .await?;
    bar.finish_and_clear();
    report(verb, tally, stop.is_cancelled(), json);
    Ok(if tally.failed > 0 || stop.is_cancelled() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn report(verb: &str, tally: Tally, interrupted: bool, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"summary": tally, "interrupted": interrupted})
        );
        return;
    }
    let done = if verb == "purge" {
        "deleted"
    } else {
        "replayed"
    };
    println!(
        "{done} {}, skipped {}, failed {}",
        tally.moved, tally.skipped, tally.failed
    );
    if interrupted {
        println!("interrupted: nothing was lost; run the same command again to finish");
    }
    if tally.failed > 0 {
        println!("failed messages are still in their dead-letter queue");
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} Type yes to confirm: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn display_id(summary: &Summary) -> String {
    summary
        .ingest_id
        .map_or_else(|| "(no ingest id)".into(), |id| id.to_string())
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn print_table(summaries: &[Summary]) {
    let mut per_source: Vec<(Source, usize)> = Vec::new();
    for summary in summaries {
        match per_source.iter_mut().find(|(s, _)| *s == summary.source) {
            Some((_, n)) => *n += 1,
            None => per_source.push((summary.source, 1)),
        }
    }
    if summaries.is_empty() {
        println!("no dead letters match");
        return;
    }
    for (source, n) in &per_source {
        println!("{source}: {n} dead letter(s)");
    }
    println!();
    println!(
        "{:<36}  {:<13}  {:>3}  {:<19}  {:<19}  REASON",
        "INGEST ID", "SOURCE", "TRY", "FIRST FAILURE (UTC)", "LAST FAILURE (UTC)"
    );
    for s in summaries {
        let reason: String = s.reason.chars().take(80).collect();
        println!(
            "{:<36}  {:<13}  {:>3}  {:<19}  {:<19}  {reason}",
            display_id(s),
            s.source.name(),
            s.attempts,
            time(s.first_failed_at),
            time(s.last_failed_at),
        );
    }
}

fn print_message(
    summary: &Summary,
    headers: &serde_json::Map<String, serde_json::Value>,
    body: &str,
) {
    println!("ingest id:     {}", display_id(summary));
    println!("source:        {}", summary.source);
    println!("received at:   {}", time(summary.received_at));
    println!("attempts:      {}", summary.attempts);
    println!("last reason:   {}", summary.reason);
    println!();
    println!("history:");
    for entry in &summary.history {
        let event = serde_json::to_value(entry.event).unwrap_or_default();
        println!(
            "  {}  {:<14} {}",
            entry.at,
            event.as_str().unwrap_or("?"),
            entry.reason
        );
    }
    println!();
    println!("headers:");
    for (name, value) in headers {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {name}: {value}");
    }
    println!();
    println!("body:");
    println!("{body}");
}
