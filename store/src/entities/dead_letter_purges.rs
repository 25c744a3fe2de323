//! What retention purged from the dead-letter queues.

use sea_orm::entity::prelude::*;

/// Dead letters of one source and reason purged in one round.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letter_purges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub purged_at: DateTimeUtc,
    /// The source whose dead-letter queue they were in.
    pub source: String,
    /// Their last failure's reason (as masked in the queue).
    pub reason: String,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
