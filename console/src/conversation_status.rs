//! A WhatsApp conversation's status, set by staff in the inbox:
//! `POST /ajax/tata-conversations/{phone}/status` with `{"status": "open" |
//! "pending" | "resolved" | "snoozed", "snoozed_until": RFC 3339}` (a
//! snooze with no time lasts until the customer writes). A customer's new
//! message reopens a resolved or snoozed conversation (the worker, see
//! [`store::conversations::reopen`]).

use crate::AppState;
use crate::auth::Staff;
use crate::chat::status_param;
use crate::conversation::{phone_param, visible_conversation};
use crate::refusal::{JsonRefusal, Refusal};
use axum::Json;
use axum::extract::{Extension, Path, State};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use store::conversations::SNOOZED;
use store::entities::conversation_states::{self, Column as C};

/// The body of the status change.
#[derive(Deserialize)]
pub struct StatusBody {
    status: Option<String>,
    snoozed_until: Option<String>,
}

/// `POST /ajax/tata-conversations/{phone}/status`.
pub async fn set(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(phone): Path<String>,
    body: Result<Json<StatusBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, JsonRefusal> {
    let bad = |message: String| JsonRefusal(Refusal::BadRequest(message));
    let Json(body) = body.map_err(|rejection| {
        bad(format!(
            "expected a JSON body {{\"status\": …}}: {}",
            rejection.body_text()
        ))
    })?;
    let phone = phone_param(&phone)?;
    let status = status_param(&body.status.unwrap_or_default())?;
    let now = Utc::now();
    let until = match (status, body.snoozed_until.as_deref()) {
        (SNOOZED, None | Some("")) => None,
        (SNOOZED, Some(raw)) => {
            let until = DateTime::parse_from_rfc3339(raw)
                .map_err(|_| bad("snoozed_until must be an RFC 3339 time".into()))?
                .with_timezone(&Utc);
            if until <= now {
                return Err(bad("snoozed_until must be in the future".into()));
            }
            Some(until)
        }
        (_, None | Some("")) => None,
        (_, Some(_)) => return Err(bad("snoozed_until goes with status snoozed only".into())),
    };
    let lead = visible_conversation(&state.db, &staff, &phone).await?;
    let row = conversation_states::ActiveModel {
        phone: Set(phone.clone()),
        status: Set(status.to_owned()),
        snoozed_until: Set(until),
        changed_by: Set(Some(staff.username.chars().take(64).collect())),
        changed_at: Set(now),
    };
    conversation_states::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::Phone)
                .update_columns([C::Status, C::SnoozedUntil, C::ChangedBy, C::ChangedAt])
                .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await
        .map_err(|error| JsonRefusal(Refusal::database("a conversation's status", error)))?;
    if let Some(lead) = lead {
        // Other open inboxes redraw.
        store::live::record(
            &state.db,
            [store::live::Change::lead(
                store::live::ChangeKind::Lead,
                lead.id,
            )],
        )
        .await
        .map_err(|error| JsonRefusal(Refusal::database("a conversation's status", error)))?;
    }
    tracing::info!(staff = %staff.username, status, "conversation status set");
    Ok(Json(json!({"status": status, "snoozed_until": until})))
}
