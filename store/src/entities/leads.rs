//! One lead per person (E.164 phone), however many partners told us.

use sea_orm::entity::prelude::*;

/// A unified lead.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    /// UUID v5 of the phone number.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// E.164. Unique through the id, which is derived from it.
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub lead_quality: Option<String>,
    pub is_lead: Option<bool>,
    /// The source that told us first.
    pub first_source: String,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    /// The CRM's status for this person's newest pre-lead or lead event.
    pub crm_status: Option<String>,
    /// When that status was set (the event's time).
    pub crm_status_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
