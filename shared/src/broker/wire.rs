//! The wire format: how an envelope rides in AMQP properties and headers
//! (the body is never re-encoded), and how headers are read back and edited.

use crate::envelope::Envelope;
use crate::history;
use crate::source::Source;
use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use uuid::Uuid;

/// Header carrying the source name (also the routing key).
pub const HEADER_SOURCE: &str = "x-source";
/// Header carrying the edge's receive time, RFC 3339 with milliseconds.
pub const HEADER_RECEIVED_AT: &str = "x-received-at";
/// Header table carrying the audit request headers.
pub const HEADER_REQUEST: &str = "x-request-headers";
/// Header table carrying ids taken from the request path.
pub const HEADER_PATH_PARAMS: &str = "x-path-params";
/// Header table carrying ids the edge assigned.
pub const HEADER_ASSIGNED_IDS: &str = "x-assigned-ids";
/// Header counting delayed retries already spent.
pub const HEADER_RETRY_ATTEMPT: &str = "x-retry-attempt";
/// Header with the last reason a worker gave for retrying or dead-lettering.
pub const HEADER_REASON: &str = "x-failure-reason";
/// Header with the time the worker dead-lettered the message.
pub const HEADER_DEAD_LETTERED_AT: &str = "x-dead-lettered-at";
/// Header with the message's failure history (JSON, see [`crate::history`]).
pub const HEADER_HISTORY: &str = "x-failure-history";

/// AMQP delivery mode 2: the broker writes the message to disk.
pub(crate) const PERSISTENT: u8 = 2;
pub(crate) fn long_string(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

pub(crate) fn integer(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::LongLongInt(i) => Some(*i),
        AMQPValue::LongInt(i) => Some(i64::from(*i)),
        AMQPValue::LongUInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortUInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortShortInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortShortUInt(i) => Some(i64::from(*i)),
        _ => None,
    }
}

/// Times the quorum queue has handed this message out before
/// (`x-delivery-count`; 0 on the first delivery).
pub(crate) fn delivery_count(properties: &BasicProperties) -> i64 {
    properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count").and_then(integer))
        .unwrap_or(0)
}

/// A table of string values; names too long for AMQP (over 255 bytes) are skipped.
fn string_table<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in pairs {
        if let Ok(name) = ShortString::try_new(name) {
            table.insert(name, AMQPValue::LongString(value.into()));
        }
    }
    table
}

/// The string pairs of a header table (empty when absent).
fn read_string_table(
    headers: &std::collections::BTreeMap<ShortString, AMQPValue>,
    name: &str,
) -> Vec<(String, String)> {
    match headers.get(name) {
        Some(AMQPValue::FieldTable(table)) => table
            .inner()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), long_string(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The AMQP properties that carry an envelope.
pub(crate) fn envelope_properties(envelope: &Envelope) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        HEADER_SOURCE.into(),
        AMQPValue::LongString(envelope.source.name().into()),
    );
    headers.insert(
        HEADER_RECEIVED_AT.into(),
        AMQPValue::LongString(
            envelope
                .received_at
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .into(),
        ),
    );
    headers.insert(
        HEADER_REQUEST.into(),
        AMQPValue::FieldTable(string_table(
            envelope
                .request_headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )),
    );
    for (header, map) in [
        (HEADER_PATH_PARAMS, &envelope.path_params),
        (HEADER_ASSIGNED_IDS, &envelope.assigned_ids),
    ] {
        if !map.is_empty() {
            headers.insert(
                header.into(),
                AMQPValue::FieldTable(string_table(
                    map.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )),
            );
        }
    }
    if envelope.retry_attempt > 0 {
        headers.insert(
            HEADER_RETRY_ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(envelope.retry_attempt)),
        );
    }
    BasicProperties::default()
        // Persistent: written to disk, survives a broker restart.
        .with_delivery_mode(PERSISTENT)
        // The ingest id: lets consumers and operators name the message.
        .with_message_id(envelope.ingest_id.to_string().into())
        .with_timestamp(envelope.received_at.timestamp().max(0) as u64)
        .with_content_type("application/json".into())
        .with_type(envelope.source.name().into())
        .with_headers(headers)
}

/// Reads the envelope back from a delivery's properties.
pub(crate) fn envelope_from_properties(properties: &BasicProperties) -> anyhow::Result<Envelope> {
    let ingest_id = properties
        .message_id()
        .as_ref()
        .context("message has no message_id (ingest id)")?;
    let ingest_id = Uuid::parse_str(ingest_id.as_str())
        .with_context(|| format!("message_id {ingest_id:?} is not a UUID"))?;
    let headers = properties
        .headers()
        .as_ref()
        .context("message has no headers")?;
    let headers = headers.inner();
    let source = headers
        .get(HEADER_SOURCE)
        .and_then(long_string)
        .context("message has no x-source header")?;
    let source: Source = source.parse()?;
    let received_at = headers
        .get(HEADER_RECEIVED_AT)
        .and_then(long_string)
        .context("message has no x-received-at header")?;
    let received_at = DateTime::parse_from_rfc3339(&received_at)
        .with_context(|| format!("x-received-at {received_at:?} is not RFC 3339"))?
        .with_timezone(&Utc);
    let request_headers = read_string_table(headers, HEADER_REQUEST);
    let path_params = read_string_table(headers, HEADER_PATH_PARAMS)
        .into_iter()
        .collect();
    let assigned_ids = read_string_table(headers, HEADER_ASSIGNED_IDS)
        .into_iter()
        .collect();
    let retry_attempt = headers
        .get(HEADER_RETRY_ATTEMPT)
        .and_then(integer)
        .unwrap_or(0)
        .clamp(0, i64::from(u32::MAX)) as u32;
    Ok(Envelope {
        ingest_id,
        source,
        received_at,
        request_headers,
        path_params,
        assigned_ids,
        retry_attempt,
    })
}

/// Appends `entry` to the message's failure history header.
pub(crate) fn add_to_history(headers: &mut FieldTable, entry: history::Entry) {
    let existing = headers.inner().get(HEADER_HISTORY).and_then(long_string);
    let updated = history::append(existing.as_deref(), entry);
    headers.insert(HEADER_HISTORY.into(), AMQPValue::LongString(updated.into()));
}

pub(crate) fn with_headers(
    properties: &BasicProperties,
    edit: impl FnOnce(&mut FieldTable),
) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    // The broker's own redelivery counter belongs to the old queue.
    let kept: std::collections::BTreeMap<ShortString, AMQPValue> = headers
        .inner()
        .iter()
        .filter(|(k, _)| k.as_str() != "x-delivery-count")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    headers = FieldTable::from(kept);
    edit(&mut headers);
    properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(PERSISTENT)
}

/// Every header of a message as JSON, for operators to read: strings as
/// strings, numbers as numbers, tables and arrays (such as the broker's
/// `x-death`) as objects and arrays, timestamps as RFC 3339.
pub(crate) fn headers_as_json(
    properties: &BasicProperties,
) -> serde_json::Map<String, serde_json::Value> {
    properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn amqp_to_json(value: &AMQPValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::Float(f) => serde_json::json!(f),
        AMQPValue::Double(f) => serde_json::json!(f),
        AMQPValue::DecimalValue(d) => {
            serde_json::json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::LongString(_) | AMQPValue::ShortString(_) => {
            Value::String(long_string(value).unwrap_or_default())
        }
        AMQPValue::FieldArray(array) => {
            Value::Array(array.as_slice().iter().map(amqp_to_json).collect())
        }
        AMQPValue::Timestamp(seconds) => i64::try_from(*seconds)
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
            .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
            .unwrap_or(Value::Null),
        AMQPValue::FieldTable(table) => Value::Object(
            table
                .inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
                .collect(),
        ),
        AMQPValue::ByteArray(bytes) => {
            Value::String(String::from_utf8_lossy(bytes.as_slice()).into_owned())
        }
        AMQPValue::Void => Value::Null,
        other => integer(other).map_or(Value::Null, Value::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_properties() {
        let mut envelope = Envelope::new(
            Source::TataCalls,
            vec![("user-agent".into(), "curl/8".into())],
        );
        envelope.retry_attempt = 3;
        envelope.path_params.insert("lead_id".into(), "789".into());
        envelope
            .assigned_ids
            .insert("contact_id".into(), uuid::Uuid::now_v7().to_string());
        let back = envelope_from_properties(&envelope_properties(&envelope)).unwrap();
        // The wire keeps milliseconds.
        assert_eq!(back.ingest_id, envelope.ingest_id);
        assert_eq!(back.source, envelope.source);
        assert_eq!(
            back.received_at.timestamp_millis(),
            envelope.received_at.timestamp_millis()
        );
        assert_eq!(back.request_headers, envelope.request_headers);
        assert_eq!(back.retry_attempt, 3);
        assert_eq!(back.path_params, envelope.path_params);
        assert_eq!(back.assigned_ids, envelope.assigned_ids);
    }

    #[test]
    fn a_message_without_an_ingest_id_is_refused() {
        let err = envelope_from_properties(&BasicProperties::default()).unwrap_err();
        assert!(err.to_string().contains("ingest id"), "{err}");
    }
}
