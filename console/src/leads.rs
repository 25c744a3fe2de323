//! A lead's page: the desk panel (owner, stage, response clock, notes,
//! follow-ups; see [`crate::desk`]) above the person's timeline across
//! every partner (Tata calls, WhatsApp messages and replies, CarDekho and
//! CarWale, captured calls, CRM events), in time order.

use crate::auth::Staff;
use crate::desk;
use crate::refusal::Refusal;
use crate::views::page;
use crate::{AppState, ist};
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::sync::Arc;
use store::entities::{lead_touchpoints, leads, team_members, whatsapp_replies};
/// Most timeline entries shown.
const MAX_TIMELINE: u64 = 500;

fn unavailable(error: impl std::fmt::Display) -> Response {
    Refusal::database("a lead page", error).into_response()
}

/// One line of a timeline.
struct Entry {
    at: chrono::DateTime<chrono::Utc>,
    source: String,
    text: String,
}

/// `GET /leads/{id}`: the person, their desk panel and their timeline
/// (404 for a lead the staff member may not see).
pub async fn timeline(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let lead = match desk::lead_id(&id) {
        Ok(id) => desk::visible_lead(&state.db, &staff, id).await,
        Err(refusal) => Err(refusal),
    };
    let lead = match lead {
        Ok(lead) => lead,
        Err(refusal) => return refusal.into_response(),
    };
    let id = lead.id;
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
    let (touchpoints, replies) = match (touchpoints, replies) {
        (Ok(t), Ok(r)) => (t, r),
        (Err(e), _) | (_, Err(e)) => return unavailable(e),
    };
    let assignable = match assignable(&state, &lead).await {
        Ok(names) => names,
        Err(refusal) => return refusal.into_response(),
    };
    let facts = lead.clone();
    let detail = match desk::detail::read(&state.db, lead).await {
        Ok(detail) => detail,
        Err(refusal) => return refusal.into_response(),
    };
    let receipts = match crate::chat::receipts(&state.db, &replies).await {
        Ok(receipts) => receipts,
        Err(error) => return unavailable(error),
    };
    let mut entries: Vec<Entry> = touchpoints
        .into_iter()
        .map(|t| Entry {
            at: t.occurred_at,
            source: desk::source_label(&t.source).to_owned(),
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
                    crate::chat::reply_state(r, receipt.map(|c| c.status.as_str())),
                    r.requested_by
                ),
            }
        }))
        .collect();
    entries.sort_by_key(|e| e.at);
    let lead = facts;
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
                    dt { "First from" } dd { (desk::source_label(&lead.first_source)) ", " (ist(lead.first_seen_at)) }
                }
                (desk::pages::panel(&staff, &detail, &assignable))
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

/// Who the lead may be assigned to or given a follow-up for: its team's
/// members, or everyone when it has no team.
async fn assignable(state: &AppState, lead: &leads::Model) -> Result<Vec<String>, Refusal> {
    let users = desk::usernames(&state.db).await?;
    let mut names: Vec<String> = match lead.team_id {
        Some(team) => team_members::Entity::find()
            .filter(team_members::Column::TeamId.eq(team))
            .all(&state.db)
            .await
            .map_err(desk::unavailable)?
            .into_iter()
            .filter_map(|m| users.get(&m.user_id).cloned())
            .collect(),
        None => users.into_values().collect(),
    };
    names.sort();
    Ok(names)
}
