//! Notifications for staff: a lead assigned to them, a mention, an
//! escalation. Stored, so none is lost while nobody is looking.

use sea_orm::entity::prelude::*;

/// One notification.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub lead_id: Option<Uuid>,
    /// `assigned`, `mention`, `overdue`, `escalated`.
    pub kind: String,
    pub text: String,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
