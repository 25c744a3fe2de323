//! A team's canned WhatsApp replies.

use sea_orm::entity::prelude::*;

/// One shared answer: staff of `team_id` insert `text` by typing
/// `/shortcut` in the chat panel. Kept by the team's managers.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "canned_replies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub team_id: Uuid,
    /// Lower-case letters, digits, `-` and `_`; unique within the team.
    pub shortcut: String,
    /// May hold `{name}` and `{vehicle}`, filled from the lead.
    pub text: String,
    /// The manager who added it.
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
