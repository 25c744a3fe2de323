//! Tata WhatsApp messages and statuses: `POST /webhook/`
//! (`docs/contracts/tata-whatsapp.md`).
//!
//! A body carries incoming messages (`contacts` + `messages`), status
//! updates (`statuses`), or both. `messages` is an object in the contract's
//! example and an array in WhatsApp's own API: both are accepted. Messages
//! of every type in `tata-whatsapp-media-and-templates.md` are read: the
//! type's member is kept whole, a quoted message's id (`context.id`) and a
//! failed status's error are read when they are there (never refused
//! when they are not).

use super::{
    ContractError, FieldErrors, FieldReader, MAX_ID_CHARS, MAX_STRING_CHARS, messages, parse_object,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Message types whose member names a media file Tata keeps for download
/// (`tata-whatsapp-media-and-templates.md`).
pub const MEDIA_KINDS: &[&str] = &["image", "video", "audio", "document", "sticker"];

/// Delivery statuses, in the order a message moves through them.
pub const STATUSES: &[&str] = &["sent", "delivered", "read", "failed"];

/// An incoming message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// WhatsApp message id (`wamid…`): the message's identity.
    pub id: String,
    /// Sender, E.164.
    pub from: String,
    /// Sender's profile name, from `contacts`.
    pub profile_name: Option<String>,
    /// When WhatsApp received it (epoch seconds on the wire), UTC.
    pub timestamp: DateTime<Utc>,
    /// `text`, `image`, `document`, `audio`, …
    pub kind: String,
    /// `text.body` for text messages (also a caption, when present).
    pub text: Option<String>,
    /// The member under the type's key for non-text messages (a media
    /// object, a location, the list of contacts, a reaction, …); for
    /// `unsupported`, `{"errors": [...]}`.
    pub media: Option<Value>,
    /// The message it quotes (`context.id`), when it is a reply to one.
    pub quoted: Option<String>,
}

/// A delivery status update for a message we sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// The message it is about (`wamid…`).
    pub id: String,
    /// One of [`STATUSES`].
    pub status: String,
    /// When, UTC.
    pub timestamp: DateTime<Utc>,
    /// The recipient, E.164 when it is a valid number.
    pub recipient_id: Option<String>,
    /// Why it failed, as Tata says (the first of `errors`).
    pub error: Option<StatusError>,
}

/// A failed status's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    /// WhatsApp's code (131047: outside the 24-hour window, …).
    pub code: i64,
    /// Its title.
    pub title: String,
}

/// The longest error title kept.
pub const MAX_ERROR_TITLE_CHARS: usize = 255;

/// The first well-formed `{code, title}` of a status's `errors`.
fn status_error(object: &Map<String, Value>) -> Option<StatusError> {
    object.get("errors")?.as_array()?.iter().find_map(|e| {
        let code = match e.get("code")? {
            Value::Number(n) => n.as_i64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        let title = e
            .get("title")
            .or_else(|| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(MAX_ERROR_TITLE_CHARS)
            .collect();
        Some(StatusError { code, title })
    })
}

/// A validated body.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatsappWebhook {
    /// Incoming messages.
    pub messages: Vec<InboundMessage>,
    /// Status updates.
    pub statuses: Vec<StatusUpdate>,
    /// The business number the event concerns, as sent.
    pub business_phone_number: Option<String>,
    /// Tata's event id, when sent.
    pub event_id: Option<String>,
}

use crate::phone::from_wa_id as wa_phone;

/// Epoch seconds, as a string or a number.
fn epoch(
    r: &mut FieldReader<'_>,
    object: &Map<String, Value>,
    field: &str,
) -> Option<DateTime<Utc>> {
    let seconds = match object.get(field) {
        None | Some(Value::Null) => {
            r.errors.add(field, messages::REQUIRED);
            return None;
        }
        Some(value) => super::epoch_seconds(value),
    };
    let parsed = seconds.and_then(|s| DateTime::from_timestamp(s, 0));
    if parsed.is_none() {
        r.errors.add(field, "Must be a Unix timestamp in seconds.");
    }
    parsed
}

/// Items of an array field (or a single object, for `messages`).
fn items(value: &Value) -> Option<Vec<&Map<String, Value>>> {
    match value {
        Value::Array(items) => items.iter().map(Value::as_object).collect(),
        Value::Object(object) => Some(vec![object]),
        _ => None,
    }
}

fn parse_message(
    object: &Map<String, Value>,
    names: &[(String, String)],
) -> Result<InboundMessage, FieldErrors> {
    let mut r = FieldReader::new(object);
    let id = r.required_str("id", MAX_ID_CHARS);
    let from_raw = r.required_str("from", 32);
    let from = from_raw.as_deref().and_then(|raw| {
        let phone = wa_phone(raw);
        if phone.is_none() {
            r.errors.add("from", messages::PHONE);
        }
        phone
    });
    let timestamp = epoch(&mut r, object, "timestamp");
    let kind = r.required_str("type", 64);
    let mut text = None;
    let mut media = None;
    if let Some(kind) = kind.as_deref() {
        match object.get(kind) {
            Some(Value::Object(content)) if kind == "text" => match content.get("body") {
                Some(Value::String(body)) if body.chars().count() <= MAX_STRING_CHARS => {
                    text = Some(body.clone())
                }
                _ => r
                    .errors
                    .add("text.body", "A text message needs its body as a string."),
            },
            Some(Value::Object(content)) => {
                text = content
                    .get("caption")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                media = Some(Value::Object(content.clone()));
            }
            // `contacts` is a list of cards.
            Some(list @ Value::Array(_)) if kind != "text" => media = Some(list.clone()),
            // `unsupported` says why in `errors`.
            None if kind == "unsupported" => {
                media = object
                    .get("errors")
                    .map(|errors| serde_json::json!({ "errors": errors }));
            }
            None | Some(Value::Null) if kind == "text" => r.errors.add("text", messages::REQUIRED),
            Some(_) if kind == "text" => r.errors.add("text", messages::OBJECT),
            _ => {}
        }
    }
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    let (id, from, timestamp, kind) = match (id, from, timestamp, kind) {
        (Some(id), Some(from), Some(timestamp), Some(kind)) => (id, from, timestamp, kind),
        _ => return Err(r.errors),
    };
    let profile_name = names
        .iter()
        .find(|(wa, _)| wa_phone(wa).as_deref() == Some(&from))
        .map(|(_, n)| n.clone());
    let quoted = object
        .get("context")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.chars().count() <= MAX_ID_CHARS)
        .map(str::to_owned);
    Ok(InboundMessage {
        id,
        from,
        profile_name,
        timestamp,
        kind,
        text,
        media,
        quoted,
    })
}

fn parse_status(object: &Map<String, Value>) -> Result<StatusUpdate, FieldErrors> {
    let mut r = FieldReader::new(object);
    let id = r.required_str("id", MAX_ID_CHARS);
    let status = r.required_choice("status", STATUSES);
    let timestamp = epoch(&mut r, object, "timestamp");
    let recipient_id = r
        .optional_str("recipient_id", 32)
        .and_then(|raw| wa_phone(&raw));
    match (id, status, timestamp) {
        (Some(id), Some(status), Some(timestamp)) if r.errors.is_empty() => Ok(StatusUpdate {
            id,
            status,
            timestamp,
            recipient_id,
            error: status_error(object),
        }),
        _ => Err(r.errors),
    }
}

/// Parses and validates a WhatsApp webhook body.
pub fn parse(body: &[u8]) -> Result<WhatsappWebhook, ContractError> {
    let object = parse_object(body)?;
    let mut errors = FieldErrors::default();
    let mut r = FieldReader::new(&object);
    let business_phone_number = r.optional_str("businessPhoneNumber", 32);
    let event_id = r.optional_str("id", MAX_ID_CHARS);
    errors.absorb("", std::mem::take(&mut r.errors));

    let names: Vec<(String, String)> = match object.get("contacts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(contacts)) => contacts
            .iter()
            .filter_map(|c| {
                let wa_id = c.get("wa_id")?.as_str()?;
                let name = c.get("profile")?.get("name")?.as_str()?;
                Some((wa_id.to_owned(), name.to_owned()))
            })
            .collect(),
        Some(_) => {
            errors.add("contacts", "Expected a list of contacts.");
            Vec::new()
        }
    };

    let mut messages_out = Vec::new();
    let mut statuses_out = Vec::new();
    let has_messages = object.get("messages").is_some_and(|v| !v.is_null());
    let has_statuses = object.get("statuses").is_some_and(|v| !v.is_null());
    if !has_messages && !has_statuses {
        errors.add("non_field_errors", "Expected messages or statuses.");
    }
    if let Some(value) = object.get("messages").filter(|v| !v.is_null()) {
        match items(value) {
            Some(list) => {
                for (i, item) in list.into_iter().enumerate() {
                    match parse_message(item, &names) {
                        Ok(message) => messages_out.push(message),
                        Err(e) => errors.absorb(&format!("messages[{i}]"), e),
                    }
                }
            }
            None => errors.add("messages", "Expected a message object or a list of them."),
        }
    }
    if let Some(value) = object.get("statuses").filter(|v| !v.is_null()) {
        match value.as_array().and_then(|_| items(value)) {
            Some(list) => {
                for (i, item) in list.into_iter().enumerate() {
                    match parse_status(item) {
                        Ok(status) => statuses_out.push(status),
                        Err(e) => errors.absorb(&format!("statuses[{i}]"), e),
                    }
                }
            }
            None => errors.add("statuses", "Expected a list of status objects."),
        }
    }
    if !errors.is_empty() {
        return Err(ContractError::Fields(errors));
    }
    Ok(WhatsappWebhook {
        messages: messages_out,
        statuses: statuses_out,
        business_phone_number,
        event_id,
    })
}

/// The JSON Schemas of a body and of its message and status objects: what
/// [`parse`] accepts (see [`super::schema`]), as (name, schema), the body
/// first. `refs` is where the named schemas live in the document.
pub fn schemas(refs: &str) -> Vec<(&'static str, Value)> {
    use super::schema::{epoch, object, required_choice, required_text, text, whatsapp_id};
    use serde_json::json;
    let mut message = object(
        &[
            ("id", required_text(MAX_ID_CHARS)),
            ("from", whatsapp_id()),
            ("timestamp", epoch()),
            ("type", required_text(64)),
        ],
        &["id", "from", "timestamp", "type"],
    );
    // A text message carries its text; other types their object, if any.
    message["if"] = json!({"properties": {"type": {"pattern": r"^\s*text\s*$"}}});
    message["then"] = json!({
        "required": ["text"],
        "properties": {"text": {
            "type": "object",
            "properties": {"body": {"type": "string", "maxLength": MAX_STRING_CHARS}},
            "required": ["body"],
        }},
    });
    let status = object(
        &[
            ("id", required_text(MAX_ID_CHARS)),
            ("status", required_choice(STATUSES)),
            ("timestamp", epoch()),
            ("recipient_id", text(32)),
        ],
        &["id", "status", "timestamp"],
    );
    let message_ref = json!({"$ref": format!("{refs}WhatsappMessage")});
    let mut webhook = object(
        &[
            (
                "contacts",
                json!({"type": ["array", "null"], "description": "Senders' profiles: `{\"profile\": {\"name\"}, \"wa_id\"}`; read when they fit, never refused."}),
            ),
            (
                "messages",
                json!({"anyOf": [message_ref, {"type": "array", "items": message_ref}, {"type": "null"}]}),
            ),
            (
                "statuses",
                json!({"type": ["array", "null"], "items": {"$ref": format!("{refs}WhatsappStatus")}}),
            ),
            ("businessPhoneNumber", text(32)),
            ("id", text(MAX_ID_CHARS)),
        ],
        &[],
    );
    webhook["anyOf"] = json!([
        {"required": ["messages"], "properties": {"messages": {"not": {"type": "null"}}}},
        {"required": ["statuses"], "properties": {"statuses": {"not": {"type": "null"}}}},
    ]);
    webhook["description"] =
        Value::from("Messages (an object or a list, with contacts), statuses, or both.");
    vec![
        ("WhatsappWebhook", webhook),
        ("WhatsappMessage", message),
        ("WhatsappStatus", status),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const MESSAGE: &str = r#"{"contacts":[{"profile":{"name":"User Name"},"wa_id":"919999999999"}],
        "messages":{"from":"919999999999","id":"wamid.X","timestamp":"1744109205","text":{"body":"hi"},"type":"text"},
        "businessPhoneNumber":"+919355421616","id":"268e8b65-59a2-45df-9006-bd4b2aedbfdc"}"#;

    #[test]
    fn the_contracts_message_example_is_read() {
        let hook = parse(MESSAGE.as_bytes()).unwrap();
        let m = &hook.messages[0];
        assert_eq!(m.from, "+919999999999");
        assert_eq!(m.profile_name.as_deref(), Some("User Name"));
        assert_eq!(m.text.as_deref(), Some("hi"));
        assert_eq!(m.timestamp.to_rfc3339(), "2025-04-08T10:46:45+00:00");
    }

    #[test]
    fn the_contracts_status_example_is_read() {
        let hook = parse(br#"{"statuses":[{"id":"wamid.Y","status":"sent","timestamp":"1729161280","recipient_id":"919999999999"}],"businessPhoneNumber":"+919355421616"}"#).unwrap();
        assert_eq!(hook.statuses[0].status, "sent");
        assert_eq!(
            hook.statuses[0].recipient_id.as_deref(),
            Some("+919999999999")
        );
    }

    #[test]
    fn a_text_message_needs_its_text_as_an_object() {
        for text in [r#""hi""#, "null", "[]"] {
            let body = MESSAGE.replace(r#"{"body":"hi"}"#, text);
            match parse(body.as_bytes()) {
                Err(ContractError::Fields(errors)) => {
                    assert!(
                        errors.get("messages[0].text").is_some(),
                        "{text}: {errors:?}"
                    )
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn non_text_messages_keep_their_media_reference() {
        let hook = parse(br#"{"messages":[{"from":"14155552671","id":"wamid.Z","timestamp":1744109205,"type":"image","image":{"id":"media-1","caption":"my car"}}]}"#).unwrap();
        let m = &hook.messages[0];
        assert_eq!(m.from, "+14155552671");
        assert_eq!(m.text.as_deref(), Some("my car"));
        assert_eq!(m.media.as_ref().unwrap()["id"], "media-1");
    }

    #[test]
    fn every_message_type_keeps_its_member_and_a_quote_its_id() {
        let body = r#"{"messages":[
            {"from":"919999999999","id":"wamid.L","timestamp":1,"type":"location","location":{"latitude":19.07,"longitude":72.87,"name":"Showroom"},"context":{"id":"wamid.Q"}},
            {"from":"919999999999","id":"wamid.C","timestamp":1,"type":"contacts","contacts":[{"name":{"formatted_name":"Ravi"},"phones":[{"phone":"+919800000001","type":"CELL"}]}]},
            {"from":"919999999999","id":"wamid.R","timestamp":1,"type":"reaction","reaction":{"message_id":"wamid.Q","emoji":"👍"}},
            {"from":"919999999999","id":"wamid.U","timestamp":1,"type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]}]}"#;
        let hook = parse(body.as_bytes()).unwrap();
        let [location, contacts, reaction, unsupported] = &hook.messages[..] else {
            panic!("four messages: {:?}", hook.messages)
        };
        assert_eq!(location.media.as_ref().unwrap()["latitude"], 19.07);
        assert_eq!(location.quoted.as_deref(), Some("wamid.Q"));
        assert_eq!(
            contacts.media.as_ref().unwrap()[0]["name"]["formatted_name"],
            "Ravi"
        );
        assert_eq!(contacts.quoted, None);
        assert_eq!(reaction.media.as_ref().unwrap()["emoji"], "👍");
        assert_eq!(
            unsupported.media.as_ref().unwrap()["errors"][0]["code"],
            131051
        );
    }

    #[test]
    fn a_failed_status_keeps_its_first_error() {
        let hook = parse(br#"{"statuses":[{"id":"wamid.F","status":"failed","timestamp":"1729161280","recipient_id":"919999999999","errors":[{"code":131047,"title":"Re-engagement message","message":"More than 24 hours"}]}]}"#).unwrap();
        assert_eq!(
            hook.statuses[0].error,
            Some(StatusError {
                code: 131047,
                title: "Re-engagement message".into()
            })
        );
        // Malformed errors are not a reason to refuse the receipt.
        let hook = parse(br#"{"statuses":[{"id":"wamid.F","status":"failed","timestamp":"1729161280","errors":"oops"}]}"#).unwrap();
        assert_eq!(hook.statuses[0].error, None);
    }

    #[test]
    fn problems_are_reported_per_item() {
        let Err(ContractError::Fields(errors)) =
            parse(br#"{"statuses":[{"id":"w","status":"seen","timestamp":"soon"}]}"#)
        else {
            panic!("expected field errors")
        };
        assert!(errors.get("statuses[0].status").is_some());
        assert!(errors.get("statuses[0].timestamp").is_some());
        assert!(matches!(parse(b"{}"), Err(ContractError::Fields(_))));
    }
}
