//! The console's change feed: what open pages should hear of, in order
//! (see `store::live`).

use sea_orm::entity::prelude::*;

/// One change.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "live_changes")]
pub struct Model {
    /// Increasing; the Server-Sent Event's id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `message`, `reply`, `lead` or `notification`.
    pub kind: String,
    pub lead_id: Option<Uuid>,
    /// The one staff member it is for (a notification).
    pub user_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
