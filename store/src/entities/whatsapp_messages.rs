//! WhatsApp messages, one row per `wamid`, with their delivery status.

use sea_orm::entity::prelude::*;

/// A message (inbound, or outbound known only from its statuses).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "whatsapp_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub wamid: String,
    pub lead_id: Option<Uuid>,
    /// `inbound` for messages customers sent; `None` for ones known only
    /// from status updates.
    pub direction: Option<String>,
    /// E.164.
    pub from_number: Option<String>,
    pub profile_name: Option<String>,
    pub kind: Option<String>,
    pub text: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub media: Option<Json>,
    pub business_number: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub status: Option<String>,
    /// 0 none, 1 sent, 2 delivered, 3 read, 4 failed.
    pub status_rank: i32,
    pub status_at: Option<DateTimeUtc>,
    pub recipient: Option<String>,
    pub ingest_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The message this one quotes (`context.id`).
    pub quoted_wamid: Option<String>,
    /// Why a message we sent failed: WhatsApp's code (131047, …) ...
    pub error_code: Option<i64>,
    /// ... and its title.
    pub error_title: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
