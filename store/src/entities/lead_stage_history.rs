//! Every change of a lead's stage: from, to, who or which event, when.

use sea_orm::entity::prelude::*;

/// One change.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_stage_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub lead_id: Uuid,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub lost_reason: Option<String>,
    /// The staff account that moved it.
    pub by_user: Option<Uuid>,
    /// Or the partner event that did.
    pub by_event: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
