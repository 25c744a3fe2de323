//! When staff last read each WhatsApp conversation (for unread counts).

use sea_orm::entity::prelude::*;

/// The newest time a conversation was opened in the console.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_reads")]
pub struct Model {
    /// The customer, E.164.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone: String,
    pub read_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
