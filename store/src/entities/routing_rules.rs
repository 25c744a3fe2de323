//! Routing rules: which team a new lead goes to.

use sea_orm::entity::prelude::*;

/// One rule; the first that matches (by `position`) wins.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "routing_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub position: i32,
    /// The lead's first source (`shared::Source` name), or any.
    pub source: Option<String>,
    /// The business number or line (E.164), or any.
    pub line: Option<String>,
    pub team_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
