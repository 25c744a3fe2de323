//! "Send again" on a reply that failed or whose fate is unknown: `POST
//! /ajax/tata-conversations/{phone}/replies/{id}/again` queues the same
//! request again, as a new reply, as it was first asked for: a template
//! with its fields, a reaction on its message, a quote with its context,
//! a file, or free text. A template goes out whatever the window; the
//! others only inside it, as when first sent.

use crate::AppState;
use crate::auth::Staff;
use crate::chat::queue_request;
use crate::conversation::{phone_param, require_window, visible_conversation};
use crate::refusal::{JsonRefusal, Refusal};
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use shared::replies::SendRequest;
use shared::templates::TemplateSend;
use std::sync::Arc;
use store::entities::whatsapp_replies::{self, state};
use uuid::Uuid;

fn unavailable(error: impl std::fmt::Display) -> JsonRefusal {
    Refusal::database("sending a reply again", error).into()
}

/// 202 with the new reply's id once the broker has it; 404 for a reply
/// not in this conversation (or a conversation not the caller's), 409 for
/// one that did not fail or for free text outside the window.
pub async fn send_again(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path((phone, id)): Path<(String, String)>,
) -> Result<Response, JsonRefusal> {
    let phone = phone_param(&phone)?;
    let not_found = || {
        JsonRefusal(Refusal::NotFound(
            "no such reply in this conversation".into(),
        ))
    };
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    visible_conversation(&state.db, &staff, &phone).await?;
    let reply = whatsapp_replies::Entity::find_by_id(id)
        .filter(whatsapp_replies::Column::Phone.eq(phone.as_str()))
        .one(&state.db)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    if reply.state != state::FAILED && reply.state != state::UNKNOWN {
        return Err(JsonRefusal(Refusal::Conflict(format!(
            "this reply is {}: only one that failed, or whose fate is unknown, is sent again",
            reply.state
        ))));
    }
    // As stored by the worker; unreadable is an error, never free text.
    let template = reply
        .template
        .map(serde_json::from_value::<TemplateSend>)
        .transpose()
        .map_err(|error| unavailable(format!("reply {id}'s template is unreadable: {error}")))?;
    if template.is_none() {
        require_window(&state.db, &phone).await?;
    }
    let file = match reply.file_id {
        Some(id) => Some(crate::outbound_files::to_send(&state, id, &phone).await?),
        None => None,
    };
    queue_request(
        &state,
        SendRequest {
            reply_id: Uuid::now_v7(),
            phone,
            message: reply.body,
            requested_by: staff.username.clone(),
            template,
            quote: reply.quoted_wamid,
            reaction_to: reply.reaction_to,
            file,
        },
    )
    .await
}
