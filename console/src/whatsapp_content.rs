//! What an incoming WhatsApp message shows in the chat panel, by its type
//! (`docs/contracts/tata-whatsapp-media-and-templates.md`): read from the
//! stored type and the type's member, into a shape the panel's script
//! draws (always as text). A member that does not hold what its type
//! promises is shown as unreadable, never as something else. Also the
//! plain words for WhatsApp's failure codes on a reply.

use serde::Serialize;
use serde_json::Value;

/// A contact card a customer shared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Card {
    pub name: String,
    pub phones: Vec<String>,
}

/// An incoming message's content, by type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Text (the message's `text`).
    Text,
    /// A photo, sticker, video, voice note or other audio, or a document,
    /// with its file as the workers fetched it (none: no file row yet).
    Media {
        kind: String,
        mime_type: Option<String>,
        filename: Option<String>,
        voice: bool,
        file: Option<crate::media_files::MediaFile>,
    },
    /// A shared location, with a map link.
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
        map_url: String,
    },
    /// Shared contact cards.
    Contacts { cards: Vec<Card> },
    /// A template's quick-reply button, or a list or button reply: the
    /// text the customer pressed.
    Pressed { text: String },
    /// A reaction to an earlier message (an empty emoji removes it).
    Reaction { emoji: String, to: String },
    /// A message WhatsApp could not show us.
    Unsupported { reason: Option<String> },
    /// A type the panel does not know, or a member it cannot read.
    Unreadable { kind: String },
}

fn text(value: &Value, field: &str) -> Option<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn number(value: &Value, field: &str) -> Option<f64> {
    match value.get(field)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// The content of a message of type `kind` whose member is `media`.
pub fn content(kind: &str, media: Option<&Value>) -> Content {
    let unreadable = || Content::Unreadable {
        kind: kind.to_owned(),
    };
    match (kind, media) {
        ("text", _) => Content::Text,
        (kind, Some(m)) if shared::contracts::tata_whatsapp::MEDIA_KINDS.contains(&kind) => {
            Content::Media {
                kind: kind.to_owned(),
                mime_type: text(m, "mime_type"),
                filename: text(m, "filename"),
                voice: m.get("voice").and_then(Value::as_bool).unwrap_or(false),
                file: None,
            }
        }
        ("location", Some(m)) => {
            let (Some(latitude), Some(longitude)) = (number(m, "latitude"), number(m, "longitude"))
            else {
                return unreadable();
            };
            if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
                return unreadable();
            }
            Content::Location {
                latitude,
                longitude,
                name: text(m, "name"),
                address: text(m, "address"),
                map_url: format!(
                    "https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}#map=17/{latitude}/{longitude}"
                ),
            }
        }
        ("contacts", Some(Value::Array(list))) => {
            let cards: Vec<Card> = list
                .iter()
                .map(|c| Card {
                    name: c
                        .get("name")
                        .and_then(|n| text(n, "formatted_name"))
                        .unwrap_or_else(|| "(no name)".into()),
                    phones: c
                        .get("phones")
                        .and_then(Value::as_array)
                        .map(|p| p.iter().filter_map(|p| text(p, "phone")).collect())
                        .unwrap_or_default(),
                })
                .collect();
            if cards.is_empty() {
                unreadable()
            } else {
                Content::Contacts { cards }
            }
        }
        ("button", Some(m)) => match text(m, "text") {
            Some(text) => Content::Pressed { text },
            None => unreadable(),
        },
        ("interactive", Some(m)) => {
            let reply = m.get("button_reply").or_else(|| m.get("list_reply"));
            match reply.and_then(|r| text(r, "title")) {
                Some(text) => Content::Pressed { text },
                None => unreadable(),
            }
        }
        ("reaction", Some(m)) => match text(m, "message_id") {
            Some(to) => Content::Reaction {
                emoji: m
                    .get("emoji")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                to,
            },
            None => unreadable(),
        },
        ("unsupported", m) => Content::Unsupported {
            reason: m
                .and_then(|m| m.get("errors"))
                .and_then(Value::as_array)
                .and_then(|e| e.first())
                .and_then(|e| text(e, "title")),
        },
        _ => unreadable(),
    }
}

/// What a message of type `kind` is, in a word or two (`None`: text, or a
/// type this panel does not know). For lists that have only the type.
pub fn kind_label(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "image" => "Photo",
        "sticker" => "Sticker",
        "video" => "Video",
        "audio" => "Audio",
        "document" => "Document",
        "location" => "Location",
        "contacts" => "Contact",
        "reaction" => "Reaction",
        "button" | "interactive" => "Button reply",
        "unsupported" => "A message WhatsApp could not show",
        _ => return None,
    })
}

/// A one-line summary for lists and quotes: the text, or what it is.
pub fn summary(content: &Content, text: Option<&str>) -> String {
    let caption = text.map(str::trim).filter(|t| !t.is_empty());
    let what = match content {
        Content::Text => return caption.unwrap_or("").to_owned(),
        Content::Media { voice: true, .. } => "Voice note".to_owned(),
        Content::Media { kind, .. } => kind_label(kind).unwrap_or("Document").to_owned(),
        Content::Location { name, .. } => match name {
            Some(name) => format!("Location: {name}"),
            None => "Location".to_owned(),
        },
        Content::Contacts { cards } => format!("Contact: {}", cards[0].name),
        Content::Pressed { text } => return text.clone(),
        Content::Reaction { emoji, .. } if emoji.is_empty() => "Removed a reaction".to_owned(),
        Content::Reaction { emoji, .. } => format!("Reacted {emoji}"),
        Content::Unsupported { .. } => "A message WhatsApp could not show".to_owned(),
        Content::Unreadable { kind } => format!("[{kind}]"),
    };
    match caption {
        Some(caption) => format!("{what}: {caption}"),
        None => what,
    }
}

/// Why WhatsApp did not deliver a reply, in plain words, from its error
/// code and title.
pub fn failure(code: i64, title: Option<&str>) -> String {
    let plain = match code {
        131047 => {
            "More than 24 hours since the customer last wrote: only an approved template can be sent now."
        }
        131026 => {
            "WhatsApp could not deliver it (the number may not use WhatsApp, or has not accepted the latest terms)."
        }
        131049 => "WhatsApp held it back to keep the customer's experience good; try again later.",
        131051 => "WhatsApp does not support this kind of message.",
        131053 => "The attached file could not be sent.",
        130429 | 131048 | 131056 => "Too many messages sent too fast; it will work again shortly.",
        _ => "",
    };
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    match (plain.is_empty(), title) {
        (false, _) => format!("{plain} (WhatsApp {code})"),
        (true, Some(title)) => format!("WhatsApp: {title} ({code})"),
        (true, None) => format!("WhatsApp refused it (code {code})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_type_reads_into_what_the_panel_shows() {
        let location = content(
            "location",
            Some(&json!({"latitude": 19.07, "longitude": "72.87", "name": "Showroom"})),
        );
        assert!(
            matches!(&location, Content::Location { name: Some(n), map_url, .. }
            if n == "Showroom" && map_url.starts_with("https://www.openstreetmap.org/?mlat=19.07&mlon=72.87"))
        );
        assert_eq!(summary(&location, None), "Location: Showroom");
        let voice = content(
            "audio",
            Some(&json!({"id": "m1", "mime_type": "audio/ogg", "voice": true})),
        );
        assert_eq!(summary(&voice, None), "Voice note");
        let photo = content("image", Some(&json!({"id": "m2"})));
        assert_eq!(summary(&photo, Some("my car")), "Photo: my car");
        let cards = content(
            "contacts",
            Some(
                &json!([{"name": {"formatted_name": "Ravi"}, "phones": [{"phone": "+919800000001"}]}]),
            ),
        );
        assert_eq!(
            cards,
            Content::Contacts {
                cards: vec![Card {
                    name: "Ravi".into(),
                    phones: vec!["+919800000001".into()]
                }]
            }
        );
        assert_eq!(
            content(
                "interactive",
                Some(
                    &json!({"type": "list_reply", "list_reply": {"id": "1", "title": "Book a test drive"}})
                )
            ),
            Content::Pressed {
                text: "Book a test drive".into()
            }
        );
        assert_eq!(
            content(
                "reaction",
                Some(&json!({"message_id": "wamid.Q", "emoji": "👍"}))
            ),
            Content::Reaction {
                emoji: "👍".into(),
                to: "wamid.Q".into()
            }
        );
        assert_eq!(
            content(
                "unsupported",
                Some(&json!({"errors": [{"code": 131051, "title": "Message type unknown"}]}))
            ),
            Content::Unsupported {
                reason: Some("Message type unknown".into())
            }
        );
    }

    #[test]
    fn a_member_that_does_not_hold_its_type_is_unreadable() {
        for (kind, media) in [
            ("location", json!({"latitude": "north"})),
            ("location", json!({"latitude": 91, "longitude": 0})),
            ("contacts", json!([])),
            ("button", json!({})),
            ("reaction", json!({"emoji": "👍"})),
            ("carousel", json!({})),
        ] {
            assert_eq!(
                content(kind, Some(&media)),
                Content::Unreadable { kind: kind.into() },
                "{kind} {media}"
            );
        }
    }

    #[test]
    fn failures_are_said_in_plain_words() {
        assert!(failure(131047, Some("Re-engagement message")).starts_with("More than 24 hours"));
        assert_eq!(
            failure(470, Some("Something new")),
            "WhatsApp: Something new (470)"
        );
        assert_eq!(failure(1, None), "WhatsApp refused it (code 1).");
    }
}
