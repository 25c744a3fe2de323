//! CarDekho and CarWale leads, linked to the person's lead; the contract's
//! duplicate rule (same platform and phone within a window) applied.
//!
//! Three steps, driven by the worker's staging for a whole batch (a
//! message on its own is a batch of one): stage the person's lead (its
//! upsert locks the person's row until commit), [`judge`] the leads against
//! the window (one read for the batch), then stage the records judged new
//! with their timeline lines. The read cannot race: the lead upserts before
//! it hold each person's row locked (PostgreSQL), and SQLite has one writer
//! at a time, so two pushes for one phone are judged in turn.

use super::{Sighting, Touchpoint, Writes};
use crate::message::{Message, contract_reason};
use crate::process::Settings;
use crate::staging::Staging;
use chrono::Utc;
use sea_orm::sea_query::{Query, UnionType};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, IdenStatic};
use shared::Envelope;
use shared::contracts::digital_leads::DigitalLead;
use shared::contracts::digital_leads::{parse, portal};
use std::collections::BTreeMap;
use std::time::Duration;
use store::entities::digital_leads::{self, Column as C};
use uuid::Uuid;

/// Stages the sighting of the lead's person; returns their lead's id.
pub(crate) fn stage_sighting(writes: &mut Writes, envelope: &Envelope, lead: &DigitalLead) -> Uuid {
    writes.lead(&Sighting {
        phone: &lead.phone_number,
        name: Some(&lead.name),
        email: None,
        lead_quality: None,
        is_lead: None,
        source: lead.portal.source,
        at: envelope.received_at,
        crm_status: None,
        line: None,
        vehicle: lead.car_model.as_deref(),
    })
}

/// Stages a lead judged new: its record and its line on the person's
/// timeline.
pub(crate) fn stage_record(
    writes: &mut Writes,
    envelope: &Envelope,
    lead: &DigitalLead,
    lead_id: Uuid,
) {
    writes.digital_lead(
        envelope.ingest_id,
        digital_leads::ActiveModel {
            id: Set(envelope.ingest_id),
            platform: Set(lead.portal.label.to_owned()),
            name: Set(lead.name.clone()),
            phone: Set(lead.phone_number.clone()),
            car_model: Set(lead.car_model.clone()),
            lead_url: Set(lead.lead_url.clone()),
            campaign: Set(lead.campaign.clone()),
            partner_source: Set(lead.source.clone()),
            payload: Set(serde_json::Value::Object(lead.payload.clone())),
            received_at: Set(envelope.received_at),
            received_micros: Set(envelope.received_at.timestamp_micros()),
            lead_id: Set(lead_id),
            created_at: Set(Utc::now()),
        },
    );
    let mut summary = format!("{} enquiry", lead.portal.label);
    if let Some(model) = &lead.car_model {
        summary.push_str(&format!(" for {model}"));
    }
    writes.touchpoint(Touchpoint {
        lead: lead_id,
        source: lead.portal.source,
        key: envelope.ingest_id.to_string(),
        at: envelope.received_at,
        summary,
        ingest_id: envelope.ingest_id,
    });
}

/// A stored or just-accepted lead, as the window sees it.
struct Seen {
    id: Uuid,
    platform: String,
    phone: String,
    micros: i64,
}

/// Judges `leads`, in order, against the window (either side: messages may
/// arrive out of order): `None` for a new lead, or why it is a duplicate.
/// Each lead judged new counts for the ones after it, exactly as if they
/// were applied one after another. Call it after the sightings are written
/// (their row locks make the read safe).
pub(crate) async fn judge(
    db: &impl ConnectionTrait,
    leads: &[(&Envelope, &DigitalLead)],
    window: Duration,
) -> Result<Vec<Option<String>>, DbErr> {
    if leads.is_empty() {
        return Ok(Vec::new());
    }
    let window = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
    // Each (platform, phone) once, with the span of its leads' times.
    let mut spans: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for (envelope, lead) in leads {
        let at = envelope.received_at.timestamp_micros();
        let (first, last) = spans
            .entry((lead.portal.label, lead.phone_number.as_str()))
            .or_insert((at, at));
        *first = (*first).min(at);
        *last = (*last).max(at);
    }
    let spans: Vec<_> = spans.into_iter().collect();
    // One branch per phone, all its conditions on the index (platform,
    // phone, time), joined with UNION ALL: the plan cannot be anything but
    // one index seek per phone. (An `IN` list of phones let PostgreSQL, with
    // no statistics yet on a new table, seek the time range alone and
    // filter the phones: a scan of every lead in the range, 20 to 40 ms a
    // batch, for as long as its cached plan lived.)
    let mut seen = Vec::new();
    let mut remaining = spans.as_slice();
    for size in super::writes::chunk_sizes(remaining.len()) {
        let (chunk, rest) = remaining.split_at(size);
        remaining = rest;
        let mut branches = chunk.iter().map(|&((platform, phone), (first, last))| {
            Query::select()
                .columns([C::Id, C::Platform, C::Phone, C::ReceivedMicros])
                .from(digital_leads::Entity)
                .and_where(C::Platform.eq(platform))
                .and_where(C::Phone.eq(phone))
                .and_where(C::ReceivedMicros.gt(first.saturating_sub(window)))
                .and_where(C::ReceivedMicros.lt(last.saturating_add(window)))
                .to_owned()
        });
        let Some(mut query) = branches.next() else {
            continue;
        };
        query.unions(branches.map(|branch| (UnionType::All, branch)));
        for row in db.query_all(&query).await? {
            seen.push(Seen {
                id: row.try_get("", C::Id.as_str())?,
                platform: row.try_get("", C::Platform.as_str())?,
                phone: row.try_get("", C::Phone.as_str())?,
                micros: row.try_get("", C::ReceivedMicros.as_str())?,
            });
        }
    }
    let judged: Vec<Seen> = leads
        .iter()
        .map(|(envelope, lead)| Seen {
            id: envelope.ingest_id,
            platform: lead.portal.label.to_owned(),
            phone: lead.phone_number.clone(),
            micros: envelope.received_at.timestamp_micros(),
        })
        .collect();
    Ok(verdicts(seen, judged, window))
}

/// The window rule over `leads` in order, given what is `seen` already:
/// each lead judged new counts for those after it.
fn verdicts(mut seen: Vec<Seen>, leads: Vec<Seen>, window: i64) -> Vec<Option<String>> {
    let mut verdicts = Vec::with_capacity(leads.len());
    for lead in leads {
        let duplicate = seen.iter().any(|other| {
            other.id != lead.id
                && other.platform == lead.platform
                && other.phone == lead.phone
                && other.micros > lead.micros.saturating_sub(window)
                && other.micros < lead.micros.saturating_add(window)
        });
        verdicts.push(if duplicate {
            Some(format!(
                "{} sent this phone number within {} s already",
                lead.platform,
                window / 1_000_000
            ))
        } else {
            seen.push(lead);
            None
        });
    }
    verdicts
}

/// Reads a lead portal's lead, by the portal its source names.
pub(crate) fn read(envelope: &Envelope, body: &[u8]) -> Result<Box<dyn Message>, String> {
    let source = envelope.source;
    let portal = portal(source).ok_or_else(|| format!("{source} is not a lead portal"))?;
    let lead = parse(portal, body).map_err(|e| contract_reason(envelope, e))?;
    Ok(Box::new(lead))
}

impl Message for DigitalLead {
    fn partner_ref(&self) -> Option<String> {
        None
    }

    fn stage<'a>(
        &'a self,
        staging: &mut Staging<'a>,
        index: usize,
        envelope: &'a Envelope,
        _: &Settings,
    ) {
        staging.digital_lead(index, envelope, self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn lead(id: u128, platform: &str, phone: &str, at_secs: i64) -> Seen {
        Seen {
            id: Uuid::from_u128(id),
            platform: platform.into(),
            phone: phone.into(),
            micros: at_secs * SECOND,
        }
    }

    #[test]
    fn leads_judged_new_count_for_the_ones_after_them() {
        let stored = vec![lead(100, "CarWale", "+913", 0)];
        let batch = vec![
            lead(1, "CarWale", "+911", 0),
            lead(2, "CarWale", "+911", 30),  // within 60 s of 1
            lead(3, "CarWale", "+911", -20), // late, within 60 s of 1
            lead(4, "CarWale", "+911", 90),  // 90 s after 1: new
            lead(5, "CarDekho", "+911", 0),  // other platform
            lead(6, "CarWale", "+913", 10),  // within 60 s of the stored one
            lead(7, "CarWale", "+913", 60),  // exactly 60 s: outside
            lead(100, "CarWale", "+913", 0), // itself, already stored
        ];
        let new: Vec<bool> = verdicts(stored, batch, 60 * SECOND)
            .iter()
            .map(Option::is_none)
            .collect();
        assert_eq!(new, [true, false, false, true, true, false, true, true]);
    }

    #[test]
    fn a_duplicate_says_which_partner_and_window() {
        let verdict = verdicts(
            vec![lead(1, "CarDekho", "+911", 0)],
            vec![lead(2, "CarDekho", "+911", 1)],
            60 * SECOND,
        );
        assert_eq!(
            verdict[0].as_deref(),
            Some("CarDekho sent this phone number within 60 s already")
        );
    }
}
