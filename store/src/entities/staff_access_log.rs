//! The audit of staff access to personal data (see `store::access_log`).

use sea_orm::entity::prelude::*;

/// One access.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_access_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub at: DateTimeUtc,
    /// The account (empty: the command line).
    pub user_id: Option<Uuid>,
    pub username: String,
    /// What they did (see `store::access_log::Action`).
    pub action: String,
    /// A lead or delivery id, or `sha256:` of a number.
    pub subject: Option<String>,
    /// The client's address.
    pub address: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
