//! Contact people of CRM pre-leads and leads.

use sea_orm::entity::prelude::*;

/// One contact.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `pre_lead` or `lead`.
    pub subject_kind: String,
    pub subject_id: String,
    pub kind: Option<String>,
    /// Every field sent.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// E.164, when the CRM sent a valid number.
    pub phone: Option<String>,
    pub designation: Option<String>,
    pub department: Option<String>,
    pub is_primary: Option<bool>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
