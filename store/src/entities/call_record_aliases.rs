//! Later `call_history_id`s of a repeated external call, each resolving to
//! the one record (which keeps its first id), and the lookup that resolves
//! any returned id.

use super::call_records;
use sea_orm::entity::prelude::*;

/// One returned id that is not the record's own.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "call_record_aliases")]
pub struct Model {
    /// The `call_history_id` the edge returned.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The record's own id (`call_records.id`).
    pub call_record_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The call record a returned `call_history_id` stands for: the record's
/// own id, or an alias from a repeated external call.
pub async fn resolve(
    db: &impl ConnectionTrait,
    call_history_id: Uuid,
) -> Result<Option<call_records::Model>, DbErr> {
    if let Some(record) = call_records::Entity::find_by_id(call_history_id)
        .one(db)
        .await?
    {
        return Ok(Some(record));
    }
    let Some(alias) = Entity::find_by_id(call_history_id).one(db).await? else {
        return Ok(None);
    };
    call_records::Entity::find_by_id(alias.call_record_id)
        .one(db)
        .await
}

/// The webhook log's `partner_ref` for a call record's deliveries: its
/// `external_call_id`, or its id when the partner sent none.
pub fn log_ref(record: &call_records::Model) -> String {
    record
        .external_call_id
        .clone()
        .unwrap_or_else(|| record.id.to_string())
}
