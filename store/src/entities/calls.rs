//! One row per Tata call (`call_id`), merged from every event about it.

use sea_orm::entity::prelude::*;

/// A call as the dealer sees it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calls")]
pub struct Model {
    /// Assigned from the ingest id of the first event that created the row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The partner's call id (unique).
    #[sea_orm(unique)]
    pub call_id: String,
    pub call_sid: Option<String>,
    /// E.164.
    pub caller_number: String,
    pub caller_name: Option<String>,
    pub call_start_time: DateTimeUtc,
    pub call_end_time: Option<DateTimeUtc>,
    pub call_duration: Option<i64>,
    pub call_status: Option<String>,
    pub staff_name: Option<String>,
    pub staff_id: Option<String>,
    pub recording_url: Option<String>,
    pub disposition_code: Option<String>,
    pub disposition_name: Option<String>,
    pub disposition_category: Option<String>,
    pub disposition_notes: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub customer_address: Option<String>,
    pub vehicle_model: Option<String>,
    pub vehicle_variant: Option<String>,
    pub is_lead: Option<bool>,
    pub lead_quality: Option<String>,
    /// Unknown fields, as sent.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub extra: Option<Json>,
    /// Events merged into this row.
    pub event_count: i32,
    /// Edge receive time of the newest event applied, in microseconds.
    pub last_event_at: i64,
    pub last_ingest_id: Uuid,
    /// The caller's unified lead.
    pub lead_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
