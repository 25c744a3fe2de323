//! Every status change of a CRM pre-lead or lead, in event order.

use sea_orm::entity::prelude::*;

/// One change.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_status_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `pre_lead` or `lead`.
    pub subject_kind: String,
    pub subject_id: String,
    /// The status before, in event order (repaired when an older change
    /// arrives late).
    pub old_status: String,
    pub new_status: String,
    pub remarks: Option<String>,
    /// When the change happened, in microseconds: orders the history.
    pub event_at: i64,
    /// The delivery that brought it.
    pub ingest_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
