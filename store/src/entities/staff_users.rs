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
    /// `sales`, `manager` or `operator`.
    pub role: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Whether new leads may be assigned to them now.
    pub on_duty: bool,
    /// Tata calls' `staff_id` for them.
    pub tata_staff_id: Option<String>,
    /// Call capture's `employee_id` for them.
    pub employee_id: Option<String>,
    /// The CRM's `assigned_to` for them.
    pub crm_user_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
