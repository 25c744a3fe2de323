//! WhatsApp replies staff sent from the console, and what became of them.

use sea_orm::entity::prelude::*;

/// One reply. Written by the worker that sends it (the console only asks,
/// through the broker); its delivery state after `sent` comes from Tata's
/// status webhooks on the `whatsapp_messages` row with the same `wamid`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "whatsapp_replies")]
pub struct Model {
    /// Chosen by the console, returned in its 202.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The customer, E.164.
    pub phone: String,
    pub lead_id: Option<Uuid>,
    pub body: String,
    /// See [`state`].
    pub state: String,
    /// Tata's message id, once it accepted the message.
    pub wamid: Option<String>,
    pub failure_reason: Option<String>,
    /// Calls made to Tata's API for it.
    pub attempts: i32,
    pub requested_by: String,
    pub requested_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The template it was sent as (`name`, `language`, `parameters`);
    /// `body` is then the template's body with the fields filled.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub template: Option<Json>,
    /// The message it quotes (its `wamid`), if any.
    pub quoted_wamid: Option<String>,
    /// For a reaction: the customer's message (its `wamid`) that `body`,
    /// an emoji, reacts to.
    pub reaction_to: Option<String>,
    /// The file it sends ([`super::outbound_files`]); `body` is then its
    /// caption.
    pub file_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The `state` values of a reply.
pub mod state {
    /// Recorded, not yet sent to Tata.
    pub const QUEUED: &str = "queued";
    /// A call to Tata is under way (recorded before the call).
    pub const SENDING: &str = "sending";
    /// The last call failed in a way that may pass; it will be tried again.
    pub const RETRYING: &str = "retrying";
    /// Tata accepted it (`wamid` set); status webhooks take it further.
    pub const SENT: &str = "sent";
    /// Tata refused it, or every retry was spent (`failure_reason` says why).
    pub const FAILED: &str = "failed";
    /// A call was under way when its worker died: Tata may or may not have
    /// it. Never sent again by itself; staff can send it again.
    pub const UNKNOWN: &str = "unknown";
}
