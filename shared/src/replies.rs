//! The message the console publishes to ask a worker to send a WhatsApp
//! reply through Tata's API (source [`crate::Source::WhatsappReplies`]).
//! Its shape is ours, not a partner's, so it lives here for both sides.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest text WhatsApp accepts in one message (Tata's send API).
pub const MAX_REPLY_CHARS: usize = 4_096;

/// How long after the customer's last message free text may be sent
/// (WhatsApp's customer-service window).
pub const REPLY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// One reply to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// Chosen by the console and returned to staff: the reply's identity
    /// from the 202 to the delivery receipt.
    pub reply_id: Uuid,
    /// The customer, E.164.
    pub phone: String,
    /// The text, 1 to [`MAX_REPLY_CHARS`] characters.
    pub message: String,
    /// The staff member who sent it.
    pub requested_by: String,
    /// A template to send instead of free text (outside the 24-hour
    /// window, or to a number that never wrote); `message` is then its
    /// body with the fields filled, as the thread shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::templates::TemplateSend>,
    /// The message it quotes (a `wamid` of the conversation), sent as the
    /// send's `context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    /// For a reaction: the customer's message (its `wamid`) that
    /// `message`, one emoji, reacts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction_to: Option<String>,
    /// A file to send (a photo or a document); `message` is then its
    /// caption, which may be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSend>,
}

/// A file staff send: Tata fetches it from `link` (the console's public
/// address for it, unguessable and expiring).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSend {
    /// The stored file (`outbound_files`), so the thread can show it.
    pub id: Uuid,
    /// `image` or `document`: the WhatsApp message type it goes as.
    pub kind: String,
    /// Where Tata fetches it (HTTPS in production).
    pub link: String,
    /// Its name, shown to the customer for a document.
    pub filename: String,
}

/// Longest caption WhatsApp takes with a photo or a document.
pub const MAX_CAPTION_CHARS: usize = 1_024;

/// Longest reaction (one emoji, with its modifiers and joiners), in
/// characters.
pub const MAX_REACTION_CHARS: usize = 16;

/// Whether `emoji` can be a reaction: 1 to [`MAX_REACTION_CHARS`]
/// characters, none of them a letter, a digit, punctuation or a space (so
/// plain text is never sent as one).
pub fn is_reaction(emoji: &str) -> bool {
    let chars = emoji.chars().count();
    (1..=MAX_REACTION_CHARS).contains(&chars)
        && !emoji
            .chars()
            .any(|c| c.is_ascii() || c.is_whitespace() || c.is_alphanumeric())
}

/// The envelope's assigned id that marks work other than a reply on the
/// replies queue (the console's queue of work for the workers: replies to
/// send through Tata's WhatsApp API, template refreshes, erasures).
pub const WORK: &str = "work";

/// [`WORK`]'s value asking a worker to fetch Tata's template list now
/// (a manager's "refresh" in the console).
pub const REFRESH_TEMPLATES: &str = "refresh_templates";

/// [`WORK`]'s value asking a worker to erase one person (issue 24); the
/// body is an [`EraseRequest`], and the envelope's ingest id names the
/// erasure.
pub const ERASE_PERSON: &str = "erase_person";

/// An envelope for the replies queue asking for `work` ([`REFRESH_TEMPLATES`],
/// [`ERASE_PERSON`]) rather than a reply.
pub fn work_envelope(work: &str) -> crate::Envelope {
    let mut envelope = crate::Envelope::new(crate::Source::WhatsappReplies, Vec::new());
    envelope.assigned_ids.insert(WORK.into(), work.into());
    envelope
}

/// Whether a delivery on the replies queue asks for `work`.
pub fn asks_for(envelope: &crate::Envelope, work: &str) -> bool {
    envelope.assigned_ids.get(WORK).is_some_and(|w| w == work)
}

/// An operator's request to erase everything held about one person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EraseRequest {
    /// Their number, E.164 (needed to find them; the erasure's record
    /// keeps only a hash of it).
    pub phone: String,
    /// Who asked (a staff account's name, or the command line's user).
    pub requested_by: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

impl SendRequest {
    /// Reads a published request, checking what the console checked.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let request: Self = serde_json::from_slice(body)
            .map_err(|error| format!("not a reply send request: {error}"))?;
        if crate::phone::to_e164(&request.phone).as_deref() != Some(request.phone.as_str()) {
            return Err("phone is not an E.164 number".into());
        }
        let chars = request.message.chars().count();
        // A reaction's empty emoji takes the reaction off; a file may go
        // without a caption.
        let removal = request.reaction_to.is_some() && request.message.is_empty();
        let bare_file = request.file.is_some() && request.message.is_empty();
        if (request.message.trim().is_empty() && !removal && !bare_file) || chars > MAX_REPLY_CHARS
        {
            return Err(format!(
                "message must have 1 to {MAX_REPLY_CHARS} characters, not {chars}"
            ));
        }
        if let Some(template) = &request.template {
            template.check()?;
        }
        if let Some(quote) = &request.quote
            && (quote.trim().is_empty() || quote.len() > 255)
        {
            return Err("a quoted message's id has 1 to 255 characters".into());
        }
        if let Some(file) = &request.file
            && (!matches!(file.kind.as_str(), "image" | "document")
                || !(file.link.starts_with("https://") || file.link.starts_with("http://"))
                || chars > MAX_CAPTION_CHARS
                || request.template.is_some()
                || request.reaction_to.is_some())
        {
            return Err(format!(
                "a file is an image or a document at an http(s) link, with a caption of at most {MAX_CAPTION_CHARS} characters"
            ));
        }
        if let Some(target) = &request.reaction_to
            && (target.trim().is_empty()
                || target.len() > 255
                || !(removal || is_reaction(&request.message))
                || request.template.is_some())
        {
            return Err(
                "a reaction is one emoji (or none, to take it off) on a message id of 1 to 255 characters"
                    .into(),
            );
        }
        Ok(request)
    }

    /// The number as Tata's API wants it: country code and digits, no `+`.
    pub fn to_digits(&self) -> String {
        self.phone.chars().filter(char::is_ascii_digit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_refused() {
        let request = SendRequest {
            reply_id: Uuid::now_v7(),
            phone: "+919876543210".into(),
            message: "Hello".into(),
            requested_by: "asha".into(),
            template: None,
            quote: None,
            reaction_to: None,
            file: None,
        };
        let body = serde_json::to_vec(&request).unwrap();
        assert_eq!(SendRequest::parse(&body).unwrap(), request);
        // A request queued before templates existed reads as free text.
        let older = br#"{"reply_id": "0193a1d2-0000-7000-8000-000000000001", "phone": "+919876543210", "message": "Hi", "requested_by": "asha"}"#;
        assert_eq!(SendRequest::parse(older).unwrap().template, None);
        let mut templated = request.clone();
        templated.template = Some(crate::templates::TemplateSend {
            name: "test_drive_invite".into(),
            language: "en".into(),
            parameters: vec!["two\nlines".into()],
        });
        assert!(SendRequest::parse(&serde_json::to_vec(&templated).unwrap()).is_err());
        assert_eq!(request.to_digits(), "919876543210");
        let mut bad = request.clone();
        bad.phone = "12".into();
        assert!(SendRequest::parse(&serde_json::to_vec(&bad).unwrap()).is_err());
        // A reaction is one emoji, never text.
        let mut reaction = request.clone();
        reaction.reaction_to = Some("wamid.in-1".into());
        reaction.message = "👍🏽".into();
        assert_eq!(
            SendRequest::parse(&serde_json::to_vec(&reaction).unwrap()).unwrap(),
            reaction
        );
        // An empty one takes the reaction off.
        reaction.message = String::new();
        assert!(SendRequest::parse(&serde_json::to_vec(&reaction).unwrap()).is_ok());
        for text in ["ok", "👍 ok", " ", "🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏🙏"]
        {
            reaction.message = text.into();
            assert!(
                SendRequest::parse(&serde_json::to_vec(&reaction).unwrap()).is_err(),
                "{text:?}"
            );
        }
        // A file may go without a caption, never with one too long, nor
        // as anything but a photo or a document.
        let mut file = request.clone();
        file.message = String::new();
        file.file = Some(FileSend {
            id: Uuid::now_v7(),
            kind: "image".into(),
            link: "https://console.dealer.example/public/whatsapp-files/t".into(),
            filename: "car.png".into(),
        });
        assert!(SendRequest::parse(&serde_json::to_vec(&file).unwrap()).is_ok());
        file.message = "x".repeat(MAX_CAPTION_CHARS + 1);
        assert!(SendRequest::parse(&serde_json::to_vec(&file).unwrap()).is_err());
        file.message = String::new();
        if let Some(f) = file.file.as_mut() {
            f.kind = "html".into();
        }
        assert!(SendRequest::parse(&serde_json::to_vec(&file).unwrap()).is_err());
        bad = request;
        bad.message = "x".repeat(MAX_REPLY_CHARS + 1);
        assert!(SendRequest::parse(&serde_json::to_vec(&bad).unwrap()).is_err());
    }
}
