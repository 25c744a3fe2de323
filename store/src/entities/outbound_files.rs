//! Files staff send on WhatsApp: uploaded in the console, offered to Tata
//! at an unguessable link until they expire (see the migration that made
//! the table).

use sea_orm::entity::prelude::*;

/// One uploaded file.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbound_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The secret part of its public link (256 random bits, URL-safe).
    pub token: String,
    /// The customer it is for (E.164).
    pub phone: String,
    pub lead_id: Option<Uuid>,
    /// The staff member who uploaded it.
    pub uploaded_by: String,
    /// The name it was uploaded with.
    pub file_name: String,
    /// `image/jpeg`, `image/png` or `application/pdf`, as its bytes say.
    pub content_type: String,
    pub size: i64,
    #[sea_orm(column_type = "Blob")]
    pub bytes: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// After this its public link answers 404.
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
