//! CarDekho and CarWale leads, linked to the person's lead; the contract's
//! duplicate rule (same platform and phone within a window) applied.

use super::{Applied, Sighting, touchpoint, upsert_lead};
use crate::entities::digital_leads::{self, Column as C};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use shared::contracts::digital_leads::{DigitalLead, Platform};
use shared::{Envelope, Source};
use std::time::Duration;

/// Stores the lead unless the same platform sent the same phone within
/// `window` (either side: messages may arrive out of order).
///
/// The window check reads, but it cannot race: the lead upsert before it
/// holds the person's lead row locked until commit (PostgreSQL), and SQLite
/// has one writer at a time, so two pushes for one phone are judged in turn.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    lead: &DigitalLead,
    window: Duration,
) -> Result<Applied, DbErr> {
    let source = match lead.platform {
        Platform::CarDekho => Source::Cardekho,
        Platform::CarWale => Source::Carwale,
    };
    let lead_id = upsert_lead(
        txn,
        &Sighting {
            phone: &lead.phone_number,
            name: Some(&lead.name),
            email: None,
            lead_quality: None,
            is_lead: None,
            source,
            at: envelope.received_at,
        },
    )
    .await?;
    let at = envelope.received_at.timestamp_micros();
    let window = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
    let earlier = digital_leads::Entity::find()
        .filter(C::Platform.eq(lead.platform.label()))
        .filter(C::Phone.eq(lead.phone_number.as_str()))
        .filter(C::ReceivedMicros.gt(at.saturating_sub(window)))
        .filter(C::ReceivedMicros.lt(at.saturating_add(window)))
        .filter(C::Id.ne(envelope.ingest_id))
        .count(txn)
        .await?;
    if earlier > 0 {
        return Ok(Applied::PartnerDuplicate(format!(
            "{} sent this phone number within {} s already",
            lead.platform.label(),
            window / 1_000_000
        )));
    }
    let row = digital_leads::ActiveModel {
        id: Set(envelope.ingest_id),
        platform: Set(lead.platform.label().to_owned()),
        name: Set(lead.name.clone()),
        phone: Set(lead.phone_number.clone()),
        car_model: Set(lead.car_model.clone()),
        lead_url: Set(lead.lead_url.clone()),
        campaign: Set(lead.campaign.clone()),
        partner_source: Set(lead.source.clone()),
        payload: Set(serde_json::Value::Object(lead.payload.clone())),
        received_at: Set(envelope.received_at),
        received_micros: Set(at),
        lead_id: Set(lead_id),
        created_at: Set(Utc::now()),
    };
    digital_leads::Entity::insert(row)
        .on_conflict(OnConflict::column(C::Id).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    let mut summary = format!("{} enquiry", lead.platform.label());
    if let Some(model) = &lead.car_model {
        summary.push_str(&format!(" for {model}"));
    }
    touchpoint(
        txn,
        lead_id,
        source,
        &envelope.ingest_id.to_string(),
        envelope.received_at,
        summary,
        envelope.ingest_id,
    )
    .await?;
    Ok(Applied::Written)
}
