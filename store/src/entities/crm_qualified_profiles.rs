//! A CRM lead's qualified profile: one per lead, created or updated.

use sea_orm::entity::prelude::*;

/// One profile.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_qualified_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub lead_id: String,
    /// Every field sent, merged over time.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    /// When `data` last changed, in microseconds (event time).
    pub data_event_at: Option<i64>,
    pub profile_type: Option<String>,
    pub company: Option<String>,
    pub industry: Option<String>,
    pub contact_name: Option<String>,
    pub designation: Option<String>,
    /// E.164, when the CRM sent a valid number.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub need_type: Option<String>,
    pub current_solution: Option<String>,
    pub pain_point: Option<String>,
    pub budget: Option<f64>,
    pub decision_timeline: Option<String>,
    pub decision_maker: Option<String>,
    pub competitor_info: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
