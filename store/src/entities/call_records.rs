//! Call-capture records, under the `call_history_id` the edge returned.

use sea_orm::entity::prelude::*;

/// One call record.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "call_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    /// The partner's `lead_id`.
    pub partner_lead_id: Option<Uuid>,
    pub employee_id: Option<Uuid>,
    pub outcome: Option<String>,
    pub notes: Option<String>,
    /// `call_date`, or the receive time when the partner sent none.
    pub call_date: DateTimeUtc,
    /// As sent.
    pub caller_number: Option<String>,
    /// As sent.
    pub recipient_number: Option<String>,
    pub duration_seconds: Option<i64>,
    pub recording_url: Option<String>,
    pub call_status: Option<String>,
    pub start_time: Option<DateTimeUtc>,
    pub end_time: Option<DateTimeUtc>,
    pub external_call_id: Option<String>,
    pub external_system: Option<String>,
    /// `external_system` + `external_call_id` (unique when present).
    #[sea_orm(unique)]
    pub external_key: Option<String>,
    pub next_follow_up: Option<Date>,
    pub next_follow_up_time: Option<Time>,
    pub auto_call_followup: Option<bool>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub call_details: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub extra: Option<Json>,
    /// The unified lead of the caller, when the number is valid.
    pub lead_id: Option<Uuid>,
    pub event_count: i32,
    /// Edge receive time of the newest event applied, in microseconds.
    pub last_event_at: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
