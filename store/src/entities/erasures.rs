//! Each person erased, by request (never with their number).

use sea_orm::entity::prelude::*;

/// One erasure, under the id of the request that asked for it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "erasures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// A hash of the number (`store::access_log::number_subject`).
    pub subject: String,
    /// The staff member (or command line) who asked.
    pub requested_by: String,
    pub requested_at: DateTimeUtc,
    pub erased_at: DateTimeUtc,
    /// Rows each table lost: `{"leads": 1, …}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub counts: Json,
    /// Dead letters about the person purged (none yet: that step is not
    /// done).
    pub dead_letters_purged: Option<i64>,
    /// The erased person's lead id (a hash of the number, like
    /// `subject`): what a batch looks up to refuse a message received
    /// before the erasure.
    pub lead_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
