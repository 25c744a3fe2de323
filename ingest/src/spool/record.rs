//! How a spooled webhook is laid out on disk: a version byte, the envelope
//! as JSON with its length, then the partner's body bytes unchanged.
//!
//! The envelope is written field by field here rather than by deriving serde
//! on [`Envelope`]: the envelope travels as AMQP properties, and this file
//! alone decides what the spool's format is (and keeps reading old ones).

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{Envelope, Source};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The layout written today.
const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct SpooledEnvelope {
    ingest_id: Uuid,
    source: String,
    received_at: DateTime<Utc>,
    request_headers: Vec<(String, String)>,
    path_params: BTreeMap<String, String>,
    assigned_ids: BTreeMap<String, String>,
}

/// The bytes stored for one webhook.
pub(crate) fn encode(envelope: &Envelope, body: &[u8]) -> Vec<u8> {
    let head = SpooledEnvelope {
        ingest_id: envelope.ingest_id,
        source: envelope.source.name().to_owned(),
        received_at: envelope.received_at,
        request_headers: envelope.request_headers.clone(),
        path_params: envelope.path_params.clone(),
        assigned_ids: envelope.assigned_ids.clone(),
    };
    // Plain data with string keys: serialising it cannot fail.
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let mut record = Vec::with_capacity(1 + 4 + head.len() + body.len());
    record.push(VERSION);
    record.extend_from_slice(&(head.len() as u32).to_le_bytes());
    record.extend_from_slice(&head);
    record.extend_from_slice(body);
    record
}

/// The envelope and body back from stored bytes.
pub(crate) fn decode(record: &[u8]) -> anyhow::Result<(Envelope, Vec<u8>)> {
    let (&version, rest) = record.split_first().context("an empty record")?;
    if version != VERSION {
        bail!("unknown spool record version {version}");
    }
    let (length, rest) = rest
        .split_first_chunk::<4>()
        .context("a record cut short before its envelope")?;
    let length = u32::from_le_bytes(*length) as usize;
    if rest.len() < length {
        bail!("a record cut short inside its envelope");
    }
    let (head, body) = rest.split_at(length);
    let head: SpooledEnvelope =
        serde_json::from_slice(head).context("the envelope is not readable")?;
    let source: Source = head
        .source
        .parse()
        .map_err(|_| anyhow!("unknown source {:?}", head.source))?;
    let envelope = Envelope {
        ingest_id: head.ingest_id,
        source,
        received_at: head.received_at,
        request_headers: head.request_headers,
        path_params: head.path_params,
        assigned_ids: head.assigned_ids,
        retry_attempt: 0,
    };
    Ok((envelope, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let mut envelope = Envelope::new(
            Source::CrmEvents,
            vec![("user-agent".into(), "crm/1.0".into())],
        );
        envelope.path_params.insert("lead_id".into(), "42".into());
        envelope
            .assigned_ids
            .insert("call_history_id".into(), "abc".into());
        let body = br#"{"event":"lead.updated"}"#;
        let (read, read_body) = decode(&encode(&envelope, body)).unwrap();
        assert_eq!(read, envelope);
        assert_eq!(read_body, body);
    }

    #[test]
    fn damaged_records_are_refused_not_misread() {
        let record = encode(&Envelope::new(Source::TataCalls, vec![]), b"{}");
        assert!(decode(&[]).is_err());
        assert!(decode(&record[..3]).is_err());
        assert!(decode(&record[..10]).is_err());
        let mut other_version = record.clone();
        other_version[0] = 9;
        assert!(decode(&other_version).is_err());
    }
}
