//! A lead's timeline: every call, message and enquiry about them.

use sea_orm::entity::prelude::*;

/// One touchpoint.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_touchpoints")]
pub struct Model {
    /// Derived from what it records, so redelivery cannot add a second.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub lead_id: Uuid,
    /// The source name (`tata_calls`, `tata_whatsapp`, …).
    pub source: String,
    pub occurred_at: DateTimeUtc,
    /// A line a dealer can read.
    pub summary: String,
    pub ingest_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
