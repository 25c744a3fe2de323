//! One WhatsApp conversation, as every handler that touches it asks: the
//! number in the path, whether the staff member may see it, and whether
//! WhatsApp's 24-hour window is open. Shared by the chat panel, reactions,
//! files, statuses, media and "Send again".

use crate::auth::Staff;
use crate::ist;
use crate::refusal::{JsonRefusal, Refusal};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use shared::replies::REPLY_WINDOW;
use store::entities::{leads, whatsapp_messages};

fn unavailable(error: impl std::fmt::Display) -> JsonRefusal {
    Refusal::database("a conversation", error).into()
}

/// The number in a path or a body, as E.164; 400 when it is not one.
pub(crate) fn phone_param(raw: &str) -> Result<String, JsonRefusal> {
    shared::phone::to_e164(raw).ok_or_else(|| {
        JsonRefusal(Refusal::BadRequest(
            "phone must be a valid phone number, such as +919876543210".into(),
        ))
    })
}

/// The lead of the conversation with `phone`, when `staff` may see the
/// conversation; 404 otherwise (someone else's customer looks like no
/// conversation at all).
pub(crate) async fn visible_conversation(
    db: &DatabaseConnection,
    staff: &Staff,
    phone: &str,
) -> Result<Option<leads::Model>, JsonRefusal> {
    let lead = leads::Entity::find()
        .filter(leads::Column::Phone.eq(phone))
        .one(db)
        .await
        .map_err(unavailable)?;
    let visible = match &lead {
        Some(lead) => crate::desk::visibility::may_see(db, staff, lead).await?,
        None => staff.role.sees_all_leads(),
    };
    if visible {
        Ok(lead)
    } else {
        Err(JsonRefusal(Refusal::NotFound(
            "No such conversation.".into(),
        )))
    }
}

/// When the customer last wrote, if ever.
pub(crate) async fn last_inbound_at(
    db: &DatabaseConnection,
    phone: &str,
) -> Result<Option<DateTime<Utc>>, sea_orm::DbErr> {
    Ok(whatsapp_messages::Entity::find()
        .filter(whatsapp_messages::Column::FromNumber.eq(phone))
        .filter(whatsapp_messages::Column::Direction.eq("inbound"))
        .order_by_desc(whatsapp_messages::Column::SentAt)
        .one(db)
        .await?
        .and_then(|m| m.sent_at))
}

/// Free text and files go only inside WhatsApp's 24-hour window: 404 when
/// the customer never wrote, 409 when they last wrote too long ago.
pub(crate) async fn require_window(
    db: &DatabaseConnection,
    phone: &str,
) -> Result<(), JsonRefusal> {
    let Some(last) = last_inbound_at(db, phone).await.map_err(unavailable)? else {
        return Err(JsonRefusal(Refusal::NotFound(
            "no WhatsApp conversation with this number: a customer must write first".into(),
        )));
    };
    if last + REPLY_WINDOW <= Utc::now() {
        return Err(JsonRefusal(Refusal::Conflict(format!(
            "outside WhatsApp's 24-hour window: the customer last wrote on {}; only approved templates can be sent now",
            ist(last)
        ))));
    }
    Ok(())
}
