//! The webhook log: every delivery the workers settled, with filters, and
//! one delivery's outcome, reason history and masked body.

use super::{database_unavailable, open_queues, parse_source};
use crate::auth::Staff;
use crate::refusal::Refusal;
use crate::views::page;
use crate::{AppState, ist};
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use shared::Source;
use std::sync::Arc;
use store::delivery_log::LogStatus;
use store::entities::webhook_log;
use store::entities::webhook_log_events;
use store::log_search::{LogPage, LogSearch};
use uuid::Uuid;

/// Rows per page.
const PAGE_SIZE: u64 = 50;

/// The log's filters, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    /// A source's name, or empty for all.
    source: Option<String>,
    /// An outcome, or empty for all.
    status: Option<String>,
    /// An ingest id, or the partner's own id (`call_id`, `wamid`, …).
    id: Option<String>,
    /// From 1.
    page: Option<u64>,
}

/// `GET /operator/log`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return Refusal::BadRequest("page must be a whole number from 1".into()).into_response();
    };
    let source = match parse_source(query.source.as_deref()) {
        Ok(source) => source,
        Err(refusal) => return refusal.into_response(),
    };
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match LogStatus::parse(raw) {
            Some(status) => Some(status),
            None => {
                let names = LogStatus::NAMES.join(", ");
                return Refusal::BadRequest(format!("status must be one of {names}"))
                    .into_response();
            }
        },
    };
    let id = query.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let page_number = query.page.unwrap_or(1).max(1);

    let search = LogSearch {
        source,
        status,
        any_id: id.map(str::to_owned),
        ..LogSearch::default()
    };
    let LogPage { total, rows } = match search.page(&state.db, page_number, PAGE_SIZE).await {
        Ok(found) => found,
        Err(error) => return database_unavailable(error).into_response(),
    };
    let last_page = total.div_ceil(PAGE_SIZE).max(1);
    let link = |to: u64| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("source", source.map(Source::name).unwrap_or(""))
            .append_pair("status", status.map(LogStatus::as_str).unwrap_or(""))
            .append_pair("id", id.unwrap_or(""))
            .append_pair("page", &to.to_string())
            .finish();
        format!("/operator/log?{query}")
    };
    page(
        "Webhook log",
        &staff,
        "operator",
        html! {
            h1 { "Webhook log" }
            (subnav())
            form.search.filters #log-filters method="get" action="/operator/log" {
                (source_select(source))
                select name="status" aria-label="Outcome" {
                    option value="" { "All outcomes" }
                    @for each in LogStatus::NAMES {
                        option value=(each) selected[status.map(LogStatus::as_str) == Some(each)] { (each.replace('_', " ")) }
                    }
                }
                input name="id" type="search" value=(id.unwrap_or("")) placeholder="Ingest id or partner's id (call_id, wamid, …)";
                button type="submit" { "Filter" }
            }
            p.muted #log-total { (total) " deliveries" @if last_page > 1 { ", page " (page_number) " of " (last_page) } }
            table #log {
                thead { tr { th { "Received (IST)" } th { "Source" } th { "Outcome" } th { "Attempts" } th { "Partner's id" } th { "Reason" } } }
                tbody {
                    @for row in &rows {
                        tr data-id=(row.ingest_id) data-status=(row.status) {
                            td { a href={ "/operator/log/" (row.ingest_id) } { (ist(row.received_at)) } }
                            td { (row.source) }
                            td { span class={ "badge status " (row.status) } { (row.status.replace('_', " ")) } }
                            td { (row.attempts) }
                            td { (row.partner_ref.as_deref().unwrap_or("—")) }
                            td.reason { (shared::redact::mask_text(row.reason.as_deref().unwrap_or(""))) }
                        }
                    }
                }
            }
            nav.pages {
                @if page_number > 1 { a href=(link(page_number - 1)) { "← Newer" } }
                @if page_number < last_page { a href=(link(page_number + 1)) { "Older →" } }
            }
        },
    )
    .into_response()
}

/// `GET /operator/log/{id}`: one delivery. A dead-lettered one also shows
/// its failure history from the dead-letter queue, with replay and purge.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return Refusal::BadRequest("A delivery's id is its ingest id, a UUID.".into())
            .into_response();
    };
    let row = match webhook_log::Entity::find_by_id(id).one(&state.db).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            return Refusal::NotFound("No delivery with that ingest id in the webhook log.".into())
                .into_response();
        }
        Err(error) => return database_unavailable(error).into_response(),
    };
    let events = match webhook_log_events::Entity::find()
        .filter(webhook_log_events::Column::IngestId.eq(id))
        .order_by_asc(webhook_log_events::Column::At)
        .order_by_asc(webhook_log_events::Column::Id)
        .all(&state.db)
        .await
    {
        Ok(events) => events,
        Err(error) => return database_unavailable(error).into_response(),
    };
    let source = row.source.parse::<Source>().ok();
    // Only a dead-lettered delivery waits in a dead-letter queue.
    let dead_letter = match source {
        Some(source) if row.status == LogStatus::DeadLettered.as_str() => {
            Some(find_dead_letter(&state, source, id).await)
        }
        _ => None,
    };
    page(
        "Delivery",
        &staff,
        "operator",
        html! {
            h1 { "Delivery " code { (id) } }
            (subnav())
            dl.facts #delivery {
                dt { "Source" } dd { (row.source) }
                dt { "Outcome" } dd #outcome { span class={ "badge status " (row.status) } { (row.status.replace('_', " ")) } }
                dt { "Attempts" } dd { (row.attempts) }
                dt { "Received" } dd { (ist(row.received_at)) }
                dt { "Last changed" } dd { (ist(row.updated_at)) }
                dt { "Partner's id" } dd { (row.partner_ref.as_deref().unwrap_or("—")) }
                dt { "Idempotency key" } dd { (row.idempotency_key.as_deref().unwrap_or("—")) }
                dt { "Last reason" } dd #reason { (shared::redact::mask_text(row.reason.as_deref().unwrap_or("—"))) }
            }
            h2 { "Reason history" }
            @if events.is_empty() {
                p.muted #no-history { "No failures: it succeeded the first time." }
            } @else {
                ol.timeline.history #history {
                    @for event in &events {
                        li {
                            time { (ist(event.at)) }
                            span class={ "source " (event.status) } { (event.status.replace('_', " ")) }
                            span { (shared::redact::mask_text(&event.reason)) }
                        }
                    }
                    @if row.status == LogStatus::Processed.as_str() {
                        li {
                            time { (ist(row.updated_at)) }
                            span.source.processed { "processed" }
                            span { "after " (row.attempts) " attempts" }
                        }
                    }
                }
            }
            @match dead_letter {
                None => {},
                Some(Err(message)) => p.error role="alert" { (message) },
                Some(Ok(None)) => p.muted { "Not in the dead-letter queue any more (replayed or purged since)." },
                Some(Ok(Some(summary))) => {
                    p #waiting {
                        "Waiting in the " (row.source) " dead-letter queue"
                        @if let Some(at) = summary.last_failed_at { " since " (ist(at)) }
                        " after " (summary.attempts) " failures."
                    }
                    div.actions {
                        a.button #replay href={ "/operator/dead-letters/confirm?action=replay&id=" (id) } { "Replay…" }
                        a.button.danger #purge href={ "/operator/dead-letters/confirm?action=purge&id=" (id) } { "Purge…" }
                    }
                },
            }
            @if let Some(dropped) = row.body_dropped_at {
                h2 { "Body" }
                p.muted #body-dropped {
                    "Dropped on " (ist(dropped)) ", past the days raw bodies are kept (RAW_BODY_RETENTION_DAYS)."
                }
            } @else {
                h2 { "Body " small.muted { "(phone numbers and e-mail addresses masked)" } }
                pre.body #body { (masked_body(&row.body)) }
            }
        },
    )
    .into_response()
}

/// The dead letter with this ingest id in its source's queue; a message for
/// the page when the broker cannot be read.
async fn find_dead_letter(
    state: &AppState,
    source: Source,
    id: Uuid,
) -> Result<Option<::dead_letters::Summary>, String> {
    let found = async {
        let queues = open_queues(state).await?;
        let found = ::dead_letters::show(&queues, &[source], id).await;
        queues.close().await;
        found
    }
    .await;
    match found {
        Ok(found) => Ok(found.map(|(_, summary)| summary)),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "cannot read a dead letter");
            Err("RabbitMQ is unavailable: the failure history cannot be read right now.".into())
        }
    }
}

/// A body with phone numbers and e-mail addresses masked, indented when it
/// is JSON.
pub fn masked_body(body: &str) -> String {
    let masked = shared::redact::mask_body(body);
    serde_json::from_str::<serde_json::Value>(&masked)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or(masked)
}

/// The source filter of the log and dead-letter forms.
pub fn source_select(selected: Option<Source>) -> Markup {
    html! {
        select name="source" aria-label="Source" {
            option value="" { "All sources" }
            @for &each in Source::ALL {
                option value=(each.name()) selected[selected == Some(each)] { (each.name()) }
            }
        }
    }
}

/// Links between the operator's pages.
pub fn subnav() -> Markup {
    html! {
        nav.subnav {
            a href="/operator/" { "Overview" }
            a href="/operator/log" { "Webhook log" }
            a href="/operator/dead-letters" { "Dead letters" }
            a href="/operator/access" { "Access audit" }
            a href="/operator/person" { "A person's data" }
        }
    }
}
