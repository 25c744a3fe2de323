//! Reactions from staff (issue 23): `POST
//! /ajax/tata-conversations/{phone}/reactions` with `{"message_id":
//! "wamid.…", "emoji": "👍"}` puts an emoji on one of the customer's
//! messages. It goes out like a reply (recorded before Tata is called,
//! sent once, retried only when Tata did not take it), as a WhatsApp
//! reaction, and the thread shows it on that message with its state.
//! WhatsApp takes reactions inside the 24-hour window only. An empty
//! emoji takes the team's reaction off the message.

use crate::AppState;
use crate::auth::Staff;
use crate::chat::queue_request;
use crate::conversation::{last_inbound_at, phone_param, visible_conversation};
use crate::refusal::{JsonRefusal, Refusal};
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use shared::replies::{REPLY_WINDOW, SendRequest, is_reaction};
use std::sync::Arc;
use store::entities::whatsapp_messages;
use uuid::Uuid;

/// The body of a reaction.
#[derive(Deserialize)]
pub struct ReactionBody {
    message_id: Option<String>,
    emoji: Option<String>,
}

/// `POST /ajax/tata-conversations/{phone}/reactions`: 202 with the
/// reaction's id once the broker has it; 400 for something that is not one
/// emoji (or none) or a message not the customer's in this conversation, 409
/// outside the window.
pub async fn react(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(phone): Path<String>,
    body: Result<Json<ReactionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, JsonRefusal> {
    let bad = |message: &str| JsonRefusal(Refusal::BadRequest(message.into()));
    let Json(body) = body.map_err(|rejection| {
        JsonRefusal(Refusal::BadRequest(format!(
            "expected a JSON body {{\"message_id\": …, \"emoji\": …}}: {}",
            rejection.body_text()
        )))
    })?;
    let phone = phone_param(&phone)?;
    // Missing is a mistake; empty, a reaction taken off.
    let Some(emoji) = body.emoji else {
        return Err(bad(
            "emoji is missing: one emoji, such as 👍, or \"\" to take the reaction off",
        ));
    };
    if !emoji.is_empty() && !is_reaction(&emoji) {
        return Err(bad(
            "emoji must be one emoji, such as 👍, or empty to take the reaction off",
        ));
    }
    let message_id = body.message_id.unwrap_or_default();
    visible_conversation(&state.db, &staff, &phone).await?;
    let unavailable = |error| JsonRefusal::from(Refusal::database("a reaction", error));
    let theirs = whatsapp_messages::Entity::find_by_id(message_id.clone())
        .filter(whatsapp_messages::Column::FromNumber.eq(phone.as_str()))
        .filter(whatsapp_messages::Column::Direction.eq("inbound"))
        .one(&state.db)
        .await
        .map_err(unavailable)?;
    if theirs.is_none() {
        return Err(bad(
            "message_id must be one of the customer's messages in this conversation",
        ));
    }
    let last = last_inbound_at(&state.db, &phone)
        .await
        .map_err(unavailable)?;
    if last.is_none_or(|last| last + REPLY_WINDOW <= Utc::now()) {
        return Err(JsonRefusal(Refusal::Conflict(
            "outside WhatsApp's 24-hour window: reactions cannot be sent now".into(),
        )));
    }
    queue_request(
        &state,
        SendRequest {
            reply_id: Uuid::now_v7(),
            phone,
            message: emoji,
            requested_by: staff.username.clone(),
            template: None,
            quote: None,
            reaction_to: Some(message_id),
            file: None,
        },
    )
    .await
}
