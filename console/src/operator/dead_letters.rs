//! Dead letters in the browser: by source and reason, then replay or purge
//! in two steps. The first (a GET, which changes nothing) is the dry run:
//! it lists exactly what would move. The second (a POST with the CSRF
//! token) acts on exactly those ingest ids, and only if the filters still
//! select them.

use super::log::{source_select, subnav};
use super::{Refusal, broker_unavailable, open_queues, parse_source};
use crate::auth::{Staff, form_csrf_refusal};
use crate::views::page;
use crate::{AppState, ist};
use ::dead_letters::{Filters, Progress, Summary, Tally};
use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use shared::broker::Disposition;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Most dead letters one confirmation covers (their ids travel in the
/// form); a larger selection is done in several rounds.
const MAX_PER_ACTION: usize = 1000;

/// Replay or purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Back onto the work queue, same ingest id and body.
    Replay,
    /// Deleted for good.
    Purge,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Replay => "replay",
            Action::Purge => "purge",
        }
    }

    fn disposition(self) -> Disposition {
        match self {
            Action::Replay => Disposition::Replay,
            Action::Purge => Disposition::Purge,
        }
    }
}

/// The selection, as the filter form and the links send it.
#[derive(Debug, Default, Deserialize)]
pub struct Selection {
    /// A source's name, or empty for all.
    source: Option<String>,
    /// Text the last reason contains (any case), or empty.
    reason: Option<String>,
    /// One dead letter by ingest id.
    id: Option<String>,
    /// For the confirmation page: what to do.
    action: Option<Action>,
}

impl Selection {
    /// The library's filters for this selection; a 400 for a bad source or id.
    fn filters(&self) -> Result<Filters, Refusal> {
        let source = parse_source(self.source.as_deref())?;
        let ids = match self.id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => vec![],
            Some(raw) => vec![
                Uuid::parse_str(raw)
                    .map_err(|_| Refusal::BadRequest("id must be an ingest id (a UUID)".into()))?,
            ],
        };
        Ok(Filters {
            sources: source.into_iter().collect(),
            reason: self.reason.clone().filter(|r| !r.trim().is_empty()),
            ids,
            ..Filters::default()
        })
    }
}

/// The selection a page was asked for, its filters, and the dead letters
/// they select; a 400 for a bad query, a 503 without the broker.
async fn select(
    state: &AppState,
    query: Result<Query<Selection>, QueryRejection>,
) -> Result<(Selection, Filters, Vec<Summary>), Refusal> {
    let Ok(Query(selection)) = query else {
        return Err(Refusal::BadRequest(
            "Unreadable selection: source, reason, id, and action (replay or purge).".into(),
        ));
    };
    let filters = selection.filters()?;
    let listed = async {
        let queues = open_queues(state).await?;
        let listed = ::dead_letters::list(&queues, &filters).await;
        queues.close().await;
        listed
    }
    .await;
    let letters = listed.map_err(|error| broker_unavailable(&error))?;
    Ok((selection, filters, letters))
}

/// `GET /operator/dead-letters`: counts by source and reason, then each
/// dead letter, with the filter form and the two actions.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    query: Result<Query<Selection>, QueryRejection>,
) -> Response {
    let (selection, filters, letters) = match select(&state, query).await {
        Ok(selected) => selected,
        Err(refusal) => return refusal.into_response(),
    };
    let mut by_reason: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for letter in &letters {
        *by_reason
            .entry((letter.source.name(), letter.reason.as_str()))
            .or_default() += 1;
    }
    let source = filters.sources.first().copied();
    let reason = filters.reason.as_deref().unwrap_or("");
    page(
        "Dead letters",
        &staff,
        "operator",
        html! {
            h1 { "Dead letters" }
            (subnav())
            form.search.filters #dead-letter-filters method="get" action="/operator/dead-letters" {
                (source_select(source))
                input name="reason" type="search" value=(reason) placeholder="Reason contains…";
                button type="submit" { "Filter" }
            }
            @if letters.is_empty() {
                p #no-dead-letters { "No dead letters match." }
            } @else {
                h2 { "By source and reason" }
                table #by-reason {
                    thead { tr { th { "Source" } th { "Reason" } th { "Dead letters" } } }
                    tbody {
                        @for ((source, reason), n) in &by_reason {
                            tr {
                                td { (source) }
                                td.reason { (shared::redact::mask_text(reason)) }
                                td { (n) }
                            }
                        }
                    }
                }
                div.actions {
                    (action_link(Action::Replay, &selection, letters.len()))
                    (action_link(Action::Purge, &selection, letters.len()))
                }
                h2 { "Each dead letter" }
                (table(&letters))
            }
        },
    )
    .into_response()
}

/// The link to an action's dry run, for the current selection.
fn action_link(action: Action, selection: &Selection, count: usize) -> Markup {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("action", action.name())
        .append_pair("source", selection.source.as_deref().unwrap_or(""))
        .append_pair("reason", selection.reason.as_deref().unwrap_or(""))
        .finish();
    let label = match action {
        Action::Replay => format!("Replay all {count}…"),
        Action::Purge => format!("Purge all {count}…"),
    };
    html! {
        a id={ "dry-run-" (action.name()) } class={ "button" @if action == Action::Purge { " danger" } }
            href={ "/operator/dead-letters/confirm?" (query) } { (label) }
    }
}

/// Dead letters as a table, each linked to its delivery.
fn table(letters: &[Summary]) -> Markup {
    html! {
        table #dead-letters {
            thead { tr { th { "Last failed (IST)" } th { "Source" } th { "Ingest id" } th { "Attempts" } th { "Reason" } } }
            tbody {
                @for letter in letters {
                    tr data-id=[letter.ingest_id] {
                        td { (letter.last_failed_at.map(ist).unwrap_or_default()) }
                        td { (letter.source.name()) }
                        td {
                            @match letter.ingest_id {
                                Some(id) => a href={ "/operator/log/" (id) } { code { (id) } },
                                None => "(none)",
                            }
                        }
                        td { (letter.attempts) }
                        td.reason { (shared::redact::mask_text(&letter.reason)) }
                    }
                }
            }
        }
    }
}

/// `GET /operator/dead-letters/confirm?action=…`: the dry run. Lists what
/// the action would move, and asks for confirmation.
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    query: Result<Query<Selection>, QueryRejection>,
) -> Response {
    let (selection, _, mut letters) = match select(&state, query).await {
        Ok(selected) => selected,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(action) = selection.action else {
        return Refusal::BadRequest("action must be replay or purge".into()).into_response();
    };
    // Only what has an id can be named in the confirmation (the
    // command-line tool handles the rest).
    letters.retain(|letter| letter.ingest_id.is_some());
    let more = letters.len() > MAX_PER_ACTION;
    letters.truncate(MAX_PER_ACTION);
    let ids: Vec<String> = letters
        .iter()
        .filter_map(|l| l.ingest_id)
        .map(|id| id.to_string())
        .collect();
    let (title, warning, button) = match action {
        Action::Replay => (
            "Replay dead letters",
            "Each goes back onto its source's work queue with the same ingest id and body; the workers apply it at most once.",
            format!("Replay {} now", ids.len()),
        ),
        Action::Purge => (
            "Purge dead letters",
            "Each is deleted for good: its webhook is not processed, ever. Its raw body stays in the webhook log.",
            format!("Purge {} for good", ids.len()),
        ),
    };
    page(
        title,
        &staff,
        "operator",
        html! {
            h1 { (title) }
            (subnav())
            p.dry-run #dry-run {
                "Dry run: nothing has changed yet. " (ids.len()) " dead letter(s) would "
                (action.name()) "." @if more { " Only the first " (MAX_PER_ACTION) " are shown and included; run it again for the rest." }
            }
            @if ids.is_empty() {
                p { "Nothing to do." }
            } @else {
                p { (warning) }
                (table(&letters))
                form.confirm #confirm method="post" action="/operator/dead-letters/apply" {
                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                    input type="hidden" name="action" value=(action.name());
                    input type="hidden" name="source" value=(selection.source.as_deref().unwrap_or(""));
                    input type="hidden" name="reason" value=(selection.reason.as_deref().unwrap_or(""));
                    input type="hidden" name="ids" value=(ids.join(","));
                    button type="submit" class=[(action == Action::Purge).then_some("danger")] { (button) }
                    " "
                    a href="/operator/dead-letters" { "Cancel" }
                }
            }
        },
    )
    .into_response()
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct ApplyForm {
    csrf_token: Option<String>,
    action: Option<Action>,
    source: Option<String>,
    reason: Option<String>,
    /// The ingest ids the dry run listed, comma-separated.
    ids: Option<String>,
}

/// `POST /operator/dead-letters/apply`: replays or purges exactly the
/// confirmed ids that the filters still select.
pub async fn apply(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    form: Result<Form<ApplyForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return Refusal::BadRequest("Unreadable form.".into()).into_response();
    };
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    let Some(action) = form.action else {
        return Refusal::BadRequest("action must be replay or purge".into()).into_response();
    };
    let selection = Selection {
        source: form.source,
        reason: form.reason,
        id: None,
        action: Some(action),
    };
    let mut filters = match selection.filters() {
        Ok(filters) => filters,
        Err(refusal) => return refusal.into_response(),
    };
    let ids: Result<Vec<Uuid>, _> = form
        .ids
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Uuid::parse_str)
        .collect();
    let Ok(ids) = ids else {
        return Refusal::BadRequest("ids must be ingest ids (UUIDs), comma-separated".into())
            .into_response();
    };
    if ids.is_empty() || ids.len() > MAX_PER_ACTION {
        return Refusal::BadRequest(format!("confirm between 1 and {MAX_PER_ACTION} ingest ids"))
            .into_response();
    }
    filters.ids = ids.clone();
    let only: HashSet<Uuid> = ids.into_iter().collect();
    // Run to the end even if the browser gives up: a sweep cut off halfway
    // is safe (whatever it had not finished stays in the queue), but the
    // operator would not know what happened.
    let worker_state = state.clone();
    let outcome = tokio::spawn(async move {
        let queues = open_queues(&worker_state).await?;
        let mut failures = Vec::new();
        let tally = ::dead_letters::apply(
            &queues,
            &filters,
            action.disposition(),
            Some(&only),
            |progress| {
                if let Progress::Failed(summary, why) = progress {
                    failures.push((summary.ingest_id, why));
                }
            },
            &CancellationToken::new(),
        )
        .await;
        queues.close().await;
        tally.map(|tally| (tally, failures))
    })
    .await;
    let (tally, failures): (Tally, _) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => return broker_unavailable(&error).into_response(),
        Err(error) => {
            tracing::error!(%error, "a dead-letter action stopped");
            return broker_unavailable(&anyhow::anyhow!("the action stopped: {error}"))
                .into_response();
        }
    };
    tracing::info!(
        username = %staff.username,
        action = action.name(),
        moved = tally.moved,
        failed = tally.failed,
        "dead letters {}", if action == Action::Replay { "replayed" } else { "purged" }
    );
    let done = match action {
        Action::Replay => "Replayed",
        Action::Purge => "Purged",
    };
    page(
        "Dead letters",
        &staff,
        "operator",
        html! {
            h1 { "Dead letters" }
            (subnav())
            p #result role="status" {
                (done) " " (tally.moved) "."
                @if tally.failed > 0 { " " (tally.failed) " could not be, and stay in the dead-letter queue." }
            }
            @if action == Action::Replay && tally.moved > 0 {
                p { "The workers process them now; each delivery's outcome shows in the " a href="/operator/log" { "webhook log" } "." }
            }
            @if !failures.is_empty() {
                ul #failures {
                    @for (id, why) in &failures {
                        li { code { (id.map(|id| id.to_string()).unwrap_or_default()) } ": " (why) }
                    }
                }
            }
            p { a href="/operator/dead-letters" { "Back to the dead letters" } }
        },
    )
    .into_response()
}
