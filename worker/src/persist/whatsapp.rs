//! Tata WhatsApp: each inbound message stored once (its `wamid`), linked to
//! the sender's lead with a touchpoint; status updates applied only when
//! they move a message forward, whatever order they arrive in, even before
//! the message itself.

use super::{Sighting, Touchpoint, Writes};
use crate::message::{Message, contract_reason};
use crate::process::Settings;
use crate::staging::Staging;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use shared::contracts::tata_whatsapp;
use shared::contracts::tata_whatsapp::{InboundMessage, StatusUpdate, WhatsappWebhook};
use shared::{Envelope, Source};
use store::entities::whatsapp_messages::{self, Column as C};

/// sent 1 < delivered 2 < read 3 < failed 4 (terminal).
pub fn status_rank(status: &str) -> i32 {
    match status {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => 0,
    }
}

fn empty(wamid: &str) -> whatsapp_messages::ActiveModel {
    let now = Utc::now();
    whatsapp_messages::ActiveModel {
        wamid: Set(wamid.to_owned()),
        lead_id: Set(None),
        direction: Set(None),
        from_number: Set(None),
        profile_name: Set(None),
        kind: Set(None),
        text: Set(None),
        media: Set(None),
        business_number: Set(None),
        sent_at: Set(None),
        status: Set(None),
        status_rank: Set(0),
        status_at: Set(None),
        recipient: Set(None),
        ingest_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        quoted_wamid: Set(None),
        error_code: Set(None),
        error_title: Set(None),
    }
}

/// A line for the lead's timeline.
fn summary(message: &InboundMessage) -> String {
    match (&message.text, message.kind.as_str()) {
        (Some(text), "text") => format!("WhatsApp: {text}"),
        (Some(caption), kind) => format!("WhatsApp {kind}: {caption}"),
        (None, kind) => format!("WhatsApp {kind}"),
    }
}

fn inbound(
    writes: &mut Writes,
    envelope: &Envelope,
    hook: &WhatsappWebhook,
    m: &InboundMessage,
    dealer_numbers: &std::collections::HashSet<String>,
) {
    // The dealer's own numbers (the business number, DEALER_NUMBERS) are
    // never a lead: their messages are stored, linked to nobody.
    let business = hook
        .business_phone_number
        .as_deref()
        .and_then(shared::phone::to_e164);
    let dealer = dealer_numbers.contains(&m.from) || business.as_deref() == Some(m.from.as_str());
    let lead = (!dealer).then(|| {
        writes.lead(&Sighting {
            phone: &m.from,
            name: m.profile_name.as_deref(),
            email: None,
            lead_quality: None,
            is_lead: None,
            source: Source::TataWhatsapp,
            at: m.timestamp,
            crm_status: None,
            line: business.as_deref(),
            vehicle: None,
        })
    });
    let mut row = empty(&m.id);
    row.lead_id = Set(lead);
    row.direction = Set(Some("inbound".into()));
    row.from_number = Set(Some(m.from.clone()));
    row.profile_name = Set(m.profile_name.clone());
    row.kind = Set(Some(m.kind.clone()));
    row.text = Set(m.text.clone());
    row.media = Set(m.media.clone());
    row.business_number = Set(hook.business_phone_number.clone());
    row.sent_at = Set(Some(m.timestamp));
    row.ingest_id = Set(Some(envelope.ingest_id));
    row.quoted_wamid = Set(m.quoted.clone());
    writes.whatsapp_inbound(row, m.id.clone());
    if let Some((media_id, file)) = crate::media::pending_row(&m.id, &m.kind, m.media.as_ref()) {
        writes.whatsapp_media(file, media_id);
    }
    if let Some(lead) = lead {
        writes.change(store::live::ChangeKind::Message, lead);
        writes.touchpoint(Touchpoint {
            lead,
            source: Source::TataWhatsapp,
            key: m.id.clone(),
            at: m.timestamp,
            summary: summary(m),
            ingest_id: envelope.ingest_id,
        });
    }
}

/// How an inbound message merges into its row: a row may exist already,
/// made by a status that overtook its message, so it fills in what the row
/// lacks; a repeated message changes nothing.
pub(crate) fn inbound_merge() -> OnConflict {
    let fill = |c: C| {
        let name = sea_orm::IdenStatic::as_str(&c);
        (
            c,
            Expr::cust(format!(
                "COALESCE(whatsapp_messages.{name}, excluded.{name})"
            )),
        )
    };
    OnConflict::column(C::Wamid)
        .values(
            [
                C::LeadId,
                C::Direction,
                C::FromNumber,
                C::ProfileName,
                C::Kind,
                C::Text,
                C::Media,
                C::BusinessNumber,
                C::SentAt,
                C::IngestId,
                C::QuotedWamid,
            ]
            .map(fill),
        )
        .to_owned()
}

fn status(writes: &mut Writes, hook: &WhatsappWebhook, s: &StatusUpdate) {
    let mut row = empty(&s.id);
    row.status = Set(Some(s.status.clone()));
    row.status_rank = Set(status_rank(&s.status));
    row.status_at = Set(Some(s.timestamp));
    row.recipient = Set(s.recipient_id.clone());
    row.business_number = Set(hook.business_phone_number.clone());
    row.error_code = Set(s.error.as_ref().map(|e| e.code));
    row.error_title = Set(s.error.as_ref().map(|e| e.title.clone()));
    // A receipt for a reply: its conversation's open pages show it.
    let person = s
        .recipient_id
        .as_deref()
        .and_then(shared::phone::to_e164)
        .map(|phone| super::lead_id(&phone));
    if let Some(lead) = person {
        writes.change(store::live::ChangeKind::Reply, lead);
    }
    writes.whatsapp_status(row, s.id.clone(), person);
}

/// How a status merges: only one that moves the message forward applies.
pub(crate) fn status_merge() -> OnConflict {
    let forward = "excluded.status_rank > whatsapp_messages.status_rank";
    OnConflict::column(C::Wamid)
        .values([
            (C::Status, Expr::cust(format!("CASE WHEN {forward} THEN excluded.status ELSE whatsapp_messages.status END"))),
            (C::StatusAt, Expr::cust(format!("CASE WHEN {forward} THEN excluded.status_at ELSE whatsapp_messages.status_at END"))),
            (C::StatusRank, Expr::cust(format!("CASE WHEN {forward} THEN excluded.status_rank ELSE whatsapp_messages.status_rank END"))),
            (C::ErrorCode, Expr::cust(format!("CASE WHEN {forward} THEN excluded.error_code ELSE whatsapp_messages.error_code END"))),
            (C::ErrorTitle, Expr::cust(format!("CASE WHEN {forward} THEN excluded.error_title ELSE whatsapp_messages.error_title END"))),
            (C::Recipient, Expr::cust("COALESCE(whatsapp_messages.recipient, excluded.recipient)")),
            (C::UpdatedAt, Expr::cust("excluded.updated_at")),
        ])
        .to_owned()
}

/// Stages every message and status of one webhook.
pub(crate) fn stage(
    writes: &mut Writes,
    envelope: &Envelope,
    hook: &WhatsappWebhook,
    dealer_numbers: &std::collections::HashSet<String>,
) {
    for message in &hook.messages {
        inbound(writes, envelope, hook, message, dealer_numbers);
    }
    for update in &hook.statuses {
        status(writes, hook, update);
    }
}

/// Reads a Tata WhatsApp webhook (messages and statuses).
pub(crate) fn read(envelope: &Envelope, body: &[u8]) -> Result<Box<dyn Message>, String> {
    let hook = tata_whatsapp::parse(body).map_err(|e| contract_reason(envelope, e))?;
    Ok(Box::new(hook))
}

impl Message for WhatsappWebhook {
    fn partner_ref(&self) -> Option<String> {
        self.messages
            .first()
            .map(|m| m.id.clone())
            .or_else(|| self.statuses.first().map(|s| s.id.clone()))
    }

    fn stage<'a>(
        &'a self,
        staging: &mut Staging<'a>,
        _: usize,
        envelope: &'a Envelope,
        settings: &Settings,
    ) {
        stage(staging.writes(), envelope, self, &settings.dealer_numbers);
    }
}
