//! Staff notifications: a lead assigned to them, a mention in a note, a
//! follow-up given to them, an escalation of their team's unanswered lead.
//! Stored by whoever raised them (worker or console), listed here, counted
//! in every page's header.

use crate::auth::{Staff, form_csrf_refusal};
use crate::refusal::{JsonRefusal, Refusal};
use crate::views::page;
use crate::{AppState, ist};
use axum::Form;
use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::html;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use std::sync::Arc;
use store::entities::staff_notifications;

/// Most notifications listed.
const MAX_LISTED: u64 = 100;

fn unavailable(error: impl std::fmt::Display) -> Refusal {
    Refusal::database("notifications", error)
}

async fn newest(
    db: &DatabaseConnection,
    staff: &Staff,
) -> Result<Vec<staff_notifications::Model>, Refusal> {
    staff_notifications::Entity::find()
        .filter(staff_notifications::Column::UserId.eq(staff.user_id))
        .order_by_desc(staff_notifications::Column::CreatedAt)
        .limit(MAX_LISTED)
        .all(db)
        .await
        .map_err(unavailable)
}

/// `GET /notifications/`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let found = match newest(&state.db, &staff).await {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    page(
        "Notifications",
        &staff,
        "notifications",
        html! {
            h1 { "Notifications" }
            // Drawn and worked by live.js (the browser's permission and
            // this device's choice are the browser's, not the server's).
            p { button #browser-notifications type="button" { "Browser notifications" } }
            @if staff.unread > 0 {
                form method="post" action="/notifications/read" {
                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                    button #mark-read type="submit" { "Mark all read" }
                }
            }
            @if found.is_empty() { p #no-notifications { "Nothing yet." } }
            ul.notifications #notifications {
                @for n in &found {
                    li class=[n.read_at.is_none().then_some("unread")] data-kind=(n.kind) {
                        span.meta { (ist(n.created_at)) }
                        " "
                        @match n.lead_id {
                            Some(lead) => a href={ "/leads/" (lead) } { (n.text) },
                            None => span { (n.text) },
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

/// `GET /ajax/notifications/`: `{"unread": N, "notifications": [...]}`.
pub async fn list_json(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Result<Json<Value>, JsonRefusal> {
    let found = newest(&state.db, &staff).await?;
    let unread = crate::auth::unread_count(&state.db, staff.user_id)
        .await
        .map_err(|e| unavailable(format!("{e:#}")))?;
    let items: Vec<Value> = found
        .into_iter()
        .map(|n| {
            json!({
                "id": n.id, "kind": n.kind, "text": n.text, "lead_id": n.lead_id,
                "at": n.created_at, "read": n.read_at.is_some(),
            })
        })
        .collect();
    Ok(Json(json!({"unread": unread, "notifications": items})))
}

/// `POST /notifications/read`: marks every notification read.
pub async fn mark_read(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Form(form): Form<crate::auth::CsrfForm>,
) -> Response {
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    let updated = staff_notifications::Entity::update_many()
        .col_expr(staff_notifications::Column::ReadAt, Expr::value(Utc::now()))
        .filter(staff_notifications::Column::UserId.eq(staff.user_id))
        .filter(staff_notifications::Column::ReadAt.is_null())
        .exec(&state.db)
        .await;
    match updated {
        Ok(_) => Redirect::to("/notifications/").into_response(),
        Err(error) => unavailable(error).into_response(),
    }
}
