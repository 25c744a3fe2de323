//! Teams of staff that leads are routed to.

use sea_orm::entity::prelude::*;

/// One team ("MG sales").
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "teams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    /// Where a lead no routing rule matches goes.
    pub is_default: bool,
    /// The round-robin's clock: bumped by every assignment to the team.
    pub assign_seq: i64,
    /// Members owning this many open leads are skipped.
    pub max_open_leads: Option<i32>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
