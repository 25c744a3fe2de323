//! Activities (calls, meetings, visits) the CRM logged on a lead.

use sea_orm::entity::prelude::*;

/// One activity.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_activities")]
pub struct Model {
    /// Assigned by the edge (`activity_id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `lead`.
    pub subject_kind: String,
    pub subject_id: String,
    /// The CRM's `activity_type`.
    pub kind: Option<String>,
    /// Every field sent.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub title: Option<String>,
    pub description: Option<String>,
    pub scheduled_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub outcome: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
