//! Leads: search by number or name, and one person's timeline across every
//! partner (Tata calls, WhatsApp messages and replies, CarDekho and CarWale,
//! captured calls, CRM events), in time order.

use crate::auth::Staff;
use crate::refusal::Refusal;
use crate::views::page;
use crate::{AppState, ist};
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use std::sync::Arc;
use store::entities::{follow_ups, lead_touchpoints, leads, whatsapp_replies};
use uuid::Uuid;

/// Most leads a search lists.
const MAX_RESULTS: u64 = 50;
/// Most timeline entries shown.
const MAX_TIMELINE: u64 = 500;

fn source_label(source: &str) -> &str {
    match source {
        "tata_calls" => "Tata call",
        "tata_whatsapp" => "WhatsApp",
        "cardekho" => "CarDekho",
        "carwale" => "CarWale",
        "call_capture" => "Captured call",
        "crm_events" => "CRM",
        "whatsapp_replies" => "WhatsApp reply",
        other => other,
    }
}

fn unavailable(error: impl std::fmt::Display) -> Response {
    Refusal::database("a lead page", error).into_response()
}

/// `?q=` on the lead search.
#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /leads/`: search by phone number (any spelling) or name.
pub async fn search(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = query.q.unwrap_or_default();
    let q = q.trim();
    let mut select = leads::Entity::find()
        .order_by_desc(leads::Column::LastSeenAt)
        .limit(MAX_RESULTS);
    if !q.is_empty() {
        select = match shared::phone::to_e164(q) {
            Some(phone) => select.filter(leads::Column::Phone.eq(phone)),
            None => select.filter(leads::Column::Name.contains(q)),
        };
    }
    let found = match select.all(&state.db).await {
        Ok(found) => found,
        Err(error) => return unavailable(error),
    };
    page(
        "Leads",
        &staff,
        "leads",
        html! {
            h1 { "Leads" }
            form.search method="get" action="/leads/" {
                input name="q" type="search" value=(q) placeholder="Number or name";
                button type="submit" { "Search" }
            }
            table.leads {
                thead { tr { th { "Name" } th { "Phone" } th { "First from" } th { "Last seen (IST)" } th { "CRM status" } } }
                tbody {
                    @for lead in &found {
                        tr {
                            td { a href={ "/leads/" (lead.id) } { (lead.name.as_deref().unwrap_or("(no name)")) } }
                            td { (lead.phone) }
                            td { (source_label(&lead.first_source)) }
                            td { (ist(lead.last_seen_at)) }
                            td { (lead.crm_status.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
            @if found.is_empty() { p { "No lead matches." } }
        },
    )
    .into_response()
}

/// One line of a timeline.
struct Entry {
    at: chrono::DateTime<chrono::Utc>,
    source: String,
    text: String,
}

/// `GET /leads/{id}`: the person and their timeline.
pub async fn timeline(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return Refusal::BadRequest("A lead id is a UUID.".into()).into_response();
    };
    let lead = match leads::Entity::find_by_id(id).one(&state.db).await {
        Ok(Some(lead)) => lead,
        Ok(None) => return Refusal::NotFound("No such lead.".into()).into_response(),
        Err(error) => return unavailable(error),
    };
    let touchpoints = lead_touchpoints::Entity::find()
        .filter(lead_touchpoints::Column::LeadId.eq(id))
        .order_by_desc(lead_touchpoints::Column::OccurredAt)
        .limit(MAX_TIMELINE)
        .all(&state.db)
        .await;
    let replies = whatsapp_replies::Entity::find()
        .filter(whatsapp_replies::Column::Phone.eq(lead.phone.as_str()))
        .order_by_desc(whatsapp_replies::Column::RequestedAt)
        .limit(MAX_TIMELINE)
        .all(&state.db)
        .await;
    let tasks = follow_ups::Entity::find()
        .filter(follow_ups::Column::LeadId.eq(id))
        .order_by_asc(follow_ups::Column::DueAt)
        .all(&state.db)
        .await;
    let (touchpoints, replies, tasks) = match (touchpoints, replies, tasks) {
        (Ok(t), Ok(r), Ok(f)) => (t, r, f),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return unavailable(e),
    };
    let receipts = match crate::chat::receipts(&state.db, &replies).await {
        Ok(receipts) => receipts,
        Err(error) => return unavailable(error),
    };
    let mut entries: Vec<Entry> = touchpoints
        .into_iter()
        .map(|t| Entry {
            at: t.occurred_at,
            source: source_label(&t.source).to_owned(),
            text: t.summary,
        })
        .chain(replies.iter().map(|r| {
            let receipt = r.wamid.as_ref().and_then(|w| receipts.get(w));
            Entry {
                at: r.requested_at,
                source: "WhatsApp reply".to_owned(),
                text: format!(
                    "{} ({}, by {})",
                    r.body,
                    crate::chat::reply_state(r, receipt.map(String::as_str)),
                    r.requested_by
                ),
            }
        }))
        .collect();
    entries.sort_by_key(|e| e.at);
    let name = lead.name.clone().unwrap_or_else(|| "(no name)".into());
    page(
        &name,
        &staff,
        "leads",
        html! {
            article.lead {
                h1 { (name) }
                dl.facts {
                    dt { "Phone" } dd #lead-phone { (lead.phone) }
                    dt { "E-mail" } dd { (lead.email.as_deref().unwrap_or("—")) }
                    dt { "Quality" } dd { (lead.lead_quality.as_deref().unwrap_or("—")) }
                    dt { "CRM status" } dd #crm-status { (lead.crm_status.as_deref().unwrap_or("—")) }
                    dt { "First from" } dd { (source_label(&lead.first_source)) ", " (ist(lead.first_seen_at)) }
                }
                p { a href={ "/tata-chat/#" (lead.phone) } { "Open the WhatsApp conversation" } }
                @if !tasks.is_empty() {
                    h2 { "Follow-ups" }
                    ul.follow-ups {
                        @for task in &tasks {
                            li { (ist(task.due_at)) @if task.done_at.is_some() { " — done" } @if let Some(notes) = &task.notes { ": " (notes) } }
                        }
                    }
                }
                h2 { "Timeline" }
                ol.timeline #timeline {
                    @for entry in &entries {
                        li data-source=(entry.source) {
                            time { (ist(entry.at)) }
                            span.source { (entry.source) }
                            span.text { (entry.text) }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
