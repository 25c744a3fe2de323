//! A delivery's failures, one row each, oldest first by `at`: its reason
//! history, kept after it is processed.

use sea_orm::entity::prelude::*;

/// One failure of one delivery.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_log_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The delivery's ingest id (its webhook-log row).
    pub ingest_id: Uuid,
    pub at: DateTimeUtc,
    /// `retrying` or `dead_lettered`.
    pub status: String,
    pub reason: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
