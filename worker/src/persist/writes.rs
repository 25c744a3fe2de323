//! Rows staged by messages, written with a few multi-row statements per
//! table instead of one statement per message.
//!
//! Per message, a batch used to cost about six round trips to the database
//! (a savepoint, the log claim, the lead, the record, the touchpoint, the
//! release): that, not the CPU, bounded the worker. Tata calls, WhatsApp,
//! digital leads and captured calls now stage their rows here, and
//! [`Writes::flush`]
//! writes each table's rows with `INSERT … VALUES (…), (…) ON CONFLICT …`.
//!
//! Three rules keep this equal to writing the messages one after another:
//! - **Rounds.** A statement must not touch one row twice (PostgreSQL
//!   refuses `ON CONFLICT DO UPDATE` on a row the same statement inserted),
//!   so a table's rows go out in rounds: the first sighting of every key in
//!   the first statement, the second in the next, and so on, in message
//!   order. Each round applies the same merge expressions as the
//!   one-message path, so the result is the same row.
//! - **Lock order.** Every table is written in the same order (a batch's
//!   CRM creations, whose people come from the records as stored; then
//!   leads, the partners' records, touchpoints), and each statement's rows
//!   are sorted by their key: two workers' batches take row locks in the
//!   same order and cannot deadlock each other.
//! - **Stable SQL text.** A statement's text depends on its row count, and
//!   the driver caches prepared statements by text; chunks are powers of
//!   two up to [`MAX_ROWS`], so a table has at most eight texts whatever
//!   the batch size, and the cache keeps hitting.

use super::{Sighting, Touchpoint, lead_merge, lead_row, touchpoint_merge, touchpoint_row};
use crate::desk::Desk;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait};
use std::collections::HashMap;
use std::hash::Hash;
use store::entities::{
    calls, digital_leads, lead_touchpoints, leads, whatsapp_media, whatsapp_messages,
};
use uuid::Uuid;

/// The most rows one statement carries: the widest table (calls, about 30
/// columns) stays far under SQLite's and PostgreSQL's bind-parameter limits.
pub(crate) const MAX_ROWS: usize = 64;

/// One table's staged rows, each with its conflict key, in message order.
struct Staged<K, A>(Vec<(K, A)>);

impl<K, A> Default for Staged<K, A> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// The rows a batch's messages write, table by table.
#[derive(Default)]
pub(crate) struct Writes {
    leads: Staged<Uuid, leads::ActiveModel>,
    calls: Staged<String, calls::ActiveModel>,
    whatsapp_inbound: Staged<String, whatsapp_messages::ActiveModel>,
    whatsapp_statuses: Staged<String, whatsapp_messages::ActiveModel>,
    whatsapp_media: Staged<String, whatsapp_media::ActiveModel>,
    digital_leads: Staged<Uuid, digital_leads::ActiveModel>,
    call_records: Vec<super::call_capture::StagedRecord>,
    touchpoints: Staged<Uuid, lead_touchpoints::ActiveModel>,
    /// What the batch asks of the lead desk.
    desk: crate::desk::DeskWork,
    /// When the edge received the batch's oldest message: a person erased
    /// after it refuses the batch (see [`super::ERASED`]).
    oldest_received: Option<chrono::DateTime<chrono::Utc>>,
    /// The status updates' recipients: (index of the staged status, the
    /// recipient's lead id).
    recipients: Vec<(usize, Uuid)>,
}

impl Writes {
    /// Notes that a message the edge received at `at` is staged.
    pub(crate) fn received(&mut self, at: chrono::DateTime<chrono::Utc>) {
        self.oldest_received = Some(self.oldest_received.map_or(at, |oldest| oldest.min(at)));
    }

    /// Stages a sighting of a person; returns their lead's id.
    pub(crate) fn lead(&mut self, seen: &Sighting<'_>) -> Uuid {
        let (id, row) = lead_row(seen);
        self.leads.0.push((id, row));
        id
    }

    /// Stages a line on a lead's timeline.
    pub(crate) fn touchpoint(&mut self, line: Touchpoint) {
        self.touchpoints.0.push(touchpoint_row(line));
    }

    /// Stages an action that reached a customer (their lead's first
    /// response, if it is the first).
    pub(crate) fn response(&mut self, response: crate::desk::Response) {
        self.desk.responses.push(response);
    }

    /// Stages a change open pages should hear of once the batch commits.
    pub(crate) fn change(&mut self, kind: store::live::ChangeKind, lead: Uuid) {
        self.desk
            .changes
            .push(store::live::Change::lead(kind, lead));
    }

    /// Stages a CRM status to carry onto the lead's stage.
    pub(crate) fn crm_status(&mut self, status: crate::desk::CrmStatus) {
        self.desk.crm_statuses.push(status);
    }

    /// Stages a Tata call event's row (merged on `call_id`).
    pub(crate) fn call(&mut self, row: calls::ActiveModel, call_id: String) {
        self.calls.0.push((call_id, row));
    }

    /// Stages an inbound WhatsApp message's row (merged on its `wamid`).
    pub(crate) fn whatsapp_inbound(&mut self, row: whatsapp_messages::ActiveModel, wamid: String) {
        self.whatsapp_inbound.0.push((wamid, row));
    }

    /// Stages the `pending` row of an inbound message's media file, for
    /// the workers to fetch (see [`crate::media`]); one there already is
    /// left as it is.
    pub(crate) fn whatsapp_media(&mut self, row: whatsapp_media::ActiveModel, media_id: String) {
        self.whatsapp_media.0.push((media_id, row));
    }

    /// Stages a WhatsApp status update's row (merged on its `wamid`), with
    /// its recipient's lead id when the recipient is a number: whether
    /// they were erased is read with the batch's people.
    pub(crate) fn whatsapp_status(
        &mut self,
        row: whatsapp_messages::ActiveModel,
        wamid: String,
        recipient: Option<Uuid>,
    ) {
        if let Some(person) = recipient {
            self.recipients
                .push((self.whatsapp_statuses.0.len(), person));
        }
        self.whatsapp_statuses.0.push((wamid, row));
    }

    /// Stages a CarDekho or CarWale lead judged new (keyed by its ingest
    /// id; a row already there is left as it is).
    pub(crate) fn digital_lead(&mut self, id: Uuid, row: digital_leads::ActiveModel) {
        self.digital_leads.0.push((id, row));
    }

    /// Stages a captured call's record (its alias and follow-up follow from
    /// how it merges: see [`super::call_capture::flush`]).
    pub(crate) fn call_record(&mut self, staged: super::call_capture::StagedRecord) {
        self.call_records.push(staged);
    }

    /// Writes the staged leads now, ahead of the rest: their upserts lock
    /// each person's row until commit, which makes a read that follows
    /// (the digital leads' duplicate window) safe from concurrent workers.
    /// New leads are routed and assigned first, so each is written once
    /// with its team, owner and deadlines (see [`crate::desk::new_leads`]).
    pub(crate) async fn flush_leads(
        &mut self,
        txn: &impl ConnectionTrait,
        desk: &Desk,
    ) -> Result<(), DbErr> {
        let mut rows = std::mem::take(&mut self.leads).0;
        let recipients = std::mem::take(&mut self.recipients);
        let people = crate::desk::new_leads::route(
            txn,
            desk,
            &mut rows,
            recipients.iter().map(|(_, person)| *person).collect(),
            &self.desk.crm_statuses,
            self.oldest_received,
        )
        .await?;
        // Receipts about people erased (and not back since) keep no number.
        for (index, person) in recipients {
            if people.gone.contains(&person)
                && let Some((_, row)) = self.whatsapp_statuses.0.get_mut(index)
            {
                row.recipient = sea_orm::Set(None);
            }
        }
        let routed = people.routed;
        upsert_in_rounds(txn, rows, lead_merge()).await?;
        self.desk
            .assigned
            .extend(routed.iter().filter(|r| r.owner.is_some()).map(|r| r.id));
        // Written with the batch's other changes and notices, in one
        // statement each ([`crate::desk::apply`]).
        let (changes, notices) = crate::desk::route::announcements(&routed);
        self.desk.changes.extend(changes);
        self.desk.notices.extend(notices);
        Ok(())
    }

    /// Writes everything staged, table by table in a fixed order (leads
    /// first: the records and touchpoints refer to them; then the partners'
    /// records; the timeline; then the desk's responses and stages, which
    /// read the leads as written).
    pub(crate) async fn flush(
        mut self,
        txn: &DatabaseTransaction,
        desk: &Desk,
    ) -> Result<(), DbErr> {
        self.flush_leads(txn, desk).await?;
        upsert_in_rounds(txn, self.calls.0, super::calls::merge()).await?;
        // Customers who wrote: their resolved or snoozed conversations
        // reopen (the newest message per customer decides).
        let mut wrote: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
        for (_, row) in &self.whatsapp_inbound.0 {
            if let (Some(Some(phone)), Some(Some(at))) =
                (row.from_number.try_as_ref(), row.sent_at.try_as_ref())
            {
                let newest = wrote.entry(phone.clone()).or_insert(*at);
                *newest = (*newest).max(*at);
            }
        }
        upsert_in_rounds(
            txn,
            self.whatsapp_inbound.0,
            super::whatsapp::inbound_merge(),
        )
        .await?;
        let mut wrote: Vec<_> = wrote.into_iter().collect();
        wrote.sort();
        store::conversations::reopen(txn, &wrote).await?;
        let media_once = OnConflict::column(whatsapp_media::Column::MediaId)
            .do_nothing()
            .to_owned();
        upsert_in_rounds(txn, self.whatsapp_media.0, media_once).await?;
        upsert_in_rounds(
            txn,
            self.whatsapp_statuses.0,
            super::whatsapp::status_merge(),
        )
        .await?;
        let keep_first = OnConflict::column(digital_leads::Column::Id)
            .do_nothing()
            .to_owned();
        upsert_in_rounds(txn, self.digital_leads.0, keep_first).await?;
        super::call_capture::flush(txn, self.call_records).await?;
        upsert_in_rounds(txn, self.touchpoints.0, touchpoint_merge()).await?;
        crate::desk::apply(txn, self.desk, &desk.config).await
    }
}

/// Splits `rows` into rounds in which no key appears twice: round `n` holds
/// the `n`-th sighting of each key, in message order; each round is sorted
/// by key.
pub(crate) fn rounds<K: Ord + Hash + Clone, A>(rows: Vec<(K, A)>) -> Vec<Vec<(K, A)>> {
    let mut seen: HashMap<K, usize> = HashMap::with_capacity(rows.len());
    let mut rounds: Vec<Vec<(K, A)>> = Vec::new();
    for (key, row) in rows {
        let n = seen.entry(key.clone()).or_default();
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push((key, row));
        *n += 1;
    }
    for round in &mut rounds {
        // Stable: rows with equal keys cannot share a round anyway.
        round.sort_by(|a, b| a.0.cmp(&b.0));
    }
    rounds
}

/// The sizes, powers of two and at most [`MAX_ROWS`], that `rows` rows are
/// written in (see [`store::chunks`]).
pub(crate) fn chunk_sizes(rows: usize) -> impl Iterator<Item = usize> {
    store::chunks::sizes(rows, MAX_ROWS)
}

/// Upserts a table's staged rows (each with its conflict key, in message
/// order), round by round, chunk by chunk.
pub(crate) async fn upsert_in_rounds<K, A>(
    txn: &impl ConnectionTrait,
    staged: Vec<(K, A)>,
    merge: OnConflict,
) -> Result<(), DbErr>
where
    K: Ord + Hash + Clone,
    A: ActiveModelTrait + Send,
{
    for round in rounds(staged) {
        let mut rows = round.into_iter().map(|(_, row)| row);
        for size in chunk_sizes(rows.len()) {
            let chunk: Vec<A> = rows.by_ref().take(size).collect();
            <A::Entity as EntityTrait>::insert_many(chunk)
                .on_conflict(merge.clone())
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_appears_once_per_round_in_message_order() {
        let rows = vec![("b", 1), ("a", 2), ("b", 3), ("c", 4), ("b", 5), ("a", 6)];
        let rounds = rounds(rows);
        assert_eq!(
            rounds,
            vec![
                vec![("a", 2), ("b", 1), ("c", 4)],
                vec![("a", 6), ("b", 3)],
                vec![("b", 5)],
            ]
        );
    }
}
