//! Memos the CRM added to a pre-lead or lead.

use sea_orm::entity::prelude::*;

/// One memo.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_memos")]
pub struct Model {
    /// Assigned by the edge (`memo_id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `pre_lead` or `lead`.
    pub subject_kind: String,
    pub subject_id: String,
    /// The CRM's `memo_type`.
    pub kind: Option<String>,
    /// Every field sent.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub title: Option<String>,
    pub content: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
