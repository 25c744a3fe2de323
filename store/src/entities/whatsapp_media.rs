//! The files of inbound WhatsApp media, fetched from Tata by the workers
//! (see the migration that made the table for why the database keeps
//! them).

use sea_orm::entity::prelude::*;

/// One media file, by Tata's media id.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "whatsapp_media")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub media_id: String,
    /// The message that carried it.
    pub wamid: String,
    /// `image`, `video`, `audio`, `document` or `sticker`.
    pub kind: String,
    /// The `mime_type` the webhook declared.
    pub declared_mime_type: Option<String>,
    /// `pending`, `stored`, `expired`, `too_large` or `failed`.
    pub state: String,
    /// The `Content-Type` Tata answered with.
    pub content_type: Option<String>,
    /// The file's size in bytes, once stored (or as Tata announced it,
    /// when too large).
    pub size: Option<i64>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub bytes: Option<Vec<u8>>,
    /// Fetches tried so far.
    pub attempts: i32,
    /// When a worker may try (again); while one fetches, the end of its
    /// claim.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// Why it is not stored (expired, too large, refused), in plain words.
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub fetched_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
