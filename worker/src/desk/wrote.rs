//! A customer wrote on a lead someone owns: the owner is told (a staff
//! notification, which their open pages hear of at once). Once while
//! unread: ten messages in a row are one notice until they read it (the
//! console marks it read when they open the conversation).

use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashSet;
use store::desk::Notice;
use store::entities::{leads, staff_notifications};
use uuid::Uuid;

/// The notification's kind.
const KIND: &str = store::desk::CUSTOMER_WROTE;

/// Most ids per `IN (…)` list; fewer go in power-of-two chunks, so the
/// statements' texts are few and stay prepared ([`store::chunks`]).
const CHUNK: usize = 256;

/// The notices telling the owners of `leads` (those owned) that their
/// customer wrote, for the batch to store with its others.
pub(crate) async fn notices(
    txn: &DatabaseTransaction,
    mut leads: Vec<Uuid>,
) -> Result<Vec<Notice<'static>>, DbErr> {
    leads.sort_unstable();
    leads.dedup();
    let mut owned: Vec<(Uuid, Uuid)> = Vec::new();
    for chunk in store::chunks::split(&leads, CHUNK) {
        let found: Vec<(Uuid, Option<Uuid>)> = leads::Entity::find()
            .select_only()
            .columns([leads::Column::Id, leads::Column::OwnerId])
            .filter(leads::Column::Id.is_in(chunk.iter().copied()))
            .filter(leads::Column::OwnerId.is_not_null())
            .into_tuple()
            .all(txn)
            .await?;
        owned.extend(
            found
                .into_iter()
                .filter_map(|(lead, owner)| Some((lead, owner?))),
        );
    }
    if owned.is_empty() {
        return Ok(Vec::new());
    }
    let mut unread: HashSet<(Uuid, Uuid)> = HashSet::new();
    for chunk in store::chunks::split(&owned, CHUNK) {
        let found: Vec<(Uuid, Option<Uuid>)> = staff_notifications::Entity::find()
            .select_only()
            .columns([
                staff_notifications::Column::UserId,
                staff_notifications::Column::LeadId,
            ])
            .filter(staff_notifications::Column::Kind.eq(KIND))
            .filter(staff_notifications::Column::ReadAt.is_null())
            .filter(staff_notifications::Column::LeadId.is_in(chunk.iter().map(|(lead, _)| *lead)))
            .into_tuple()
            .all(txn)
            .await?;
        unread.extend(
            found
                .into_iter()
                .filter_map(|(user, lead)| Some((user, lead?))),
        );
    }
    Ok(owned
        .into_iter()
        .filter(|(lead, owner)| !unread.contains(&(*owner, *lead)))
        .map(|(lead, owner)| Notice {
            user: owner,
            lead: Some(lead),
            kind: KIND,
            text: "A customer wrote on your lead.".into(),
        })
        .collect())
}
