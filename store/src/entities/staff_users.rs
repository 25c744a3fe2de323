//! Dealer staff who may sign in to the console.

use sea_orm::entity::prelude::*;

/// One staff account. There is no default account: the first is made with
/// `console user add`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub username: String,
    /// Argon2id, in the PHC string format (salt and parameters included).
    pub password_hash: String,
    /// `sales` or `operator`.
    pub role: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
