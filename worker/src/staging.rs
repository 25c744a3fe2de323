//! A batch's writes as they are gathered: every message that can share the
//! batch's multi-row statements is staged here, and [`Staging::flush`]
//! writes them all in the order the tables need. A message applied on its
//! own is a batch of one, so both paths run this same code.

use crate::claim::mark_duplicate;
use crate::persist::{self, Writes};
use crate::process::Settings;
use sea_orm::{DatabaseTransaction, DbErr};
use shared::Envelope;
use shared::contracts::{crm_events::CrmWebhook, digital_leads::DigitalLead};
use uuid::Uuid;

/// What a batch will write, gathered message by message.
#[derive(Default)]
pub(crate) struct Staging<'a> {
    /// Upserts, folded and sorted per table.
    writes: Writes,
    /// Digital leads waiting for the duplicate window: (message's index,
    /// envelope, lead, its person's lead id).
    digital: Vec<(usize, &'a Envelope, &'a DigitalLead, Uuid)>,
    /// CRM records to create before their people are written.
    creations: Vec<(&'a Envelope, &'a CrmWebhook)>,
}

impl<'a> Staging<'a> {
    /// The batch's upserts, for a message whose rows need nothing else.
    pub(crate) fn writes(&mut self) -> &mut Writes {
        &mut self.writes
    }

    /// A digital lead: its person now, its record once the duplicate
    /// window has been read for the whole batch.
    pub(crate) fn digital_lead(
        &mut self,
        index: usize,
        envelope: &'a Envelope,
        lead: &'a DigitalLead,
    ) {
        let lead_id = persist::digital_leads::stage_sighting(&mut self.writes, envelope, lead);
        self.digital.push((index, envelope, lead, lead_id));
    }

    /// A CRM record's creation (see [`persist::crm::create_batch`]).
    pub(crate) fn crm_creation(&mut self, envelope: &'a Envelope, hook: &'a CrmWebhook) {
        self.creations.push((envelope, hook));
    }

    /// Writes everything staged, in `txn`: CRM records first (their
    /// people's sightings come from them as stored), then the people
    /// (locked until commit), then the duplicate window read for every
    /// digital lead at once, then every other table. Returns the indexes
    /// of the digital leads found to repeat one inside the window, each
    /// with its reason, already marked so in the webhook log.
    pub(crate) async fn flush(
        mut self,
        txn: &DatabaseTransaction,
        settings: &Settings,
    ) -> Result<Vec<(usize, String)>, DbErr> {
        let window = settings.duplicate_window;
        persist::crm::create_batch(txn, &mut self.writes, &self.creations).await?;
        self.writes.flush_leads(txn, &settings.desk).await?;
        let judged: Vec<_> = self
            .digital
            .iter()
            .map(|&(_, e, lead, _)| (e, lead))
            .collect();
        let verdicts = persist::digital_leads::judge(txn, &judged, window).await?;
        let mut repeats = Vec::new();
        for ((index, envelope, lead, lead_id), verdict) in self.digital.into_iter().zip(verdicts) {
            match verdict {
                None => {
                    persist::digital_leads::stage_record(&mut self.writes, envelope, lead, lead_id)
                }
                Some(reason) => {
                    mark_duplicate(txn, envelope.ingest_id, &reason).await?;
                    repeats.push((index, reason));
                }
            }
        }
        self.writes.flush(txn, &settings.desk).await?;
        Ok(repeats)
    }
}
