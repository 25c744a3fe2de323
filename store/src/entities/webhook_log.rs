//! What became of every delivery, against its ingest id.

use sea_orm::entity::prelude::*;

/// One delivery's record.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ingest_id: Uuid,
    pub source: String,
    pub received_at: DateTimeUtc,
    /// `processed`, `duplicate`, `retrying` or `dead_lettered`.
    pub status: String,
    pub reason: Option<String>,
    /// Deliveries of this message that reached an outcome.
    pub attempts: i32,
    /// The partner's `Idempotency-Key` or `webhook-id` (unique per source).
    pub idempotency_key: Option<String>,
    /// The partner's id for the record (`call_id`, `wamid`, …).
    pub partner_ref: Option<String>,
    /// The raw body, as the partner sent it; empty once dropped.
    pub body: String,
    /// When the body was dropped for being older than
    /// `RAW_BODY_RETENTION_DAYS`.
    pub body_dropped_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
