//! Inbound WhatsApp media as staff see it: each file's state for the
//! thread ([`files_of`]), and the file itself (`GET /whatsapp/media/{id}`),
//! to signed-in staff who may see its conversation, from this origin only.
//!
//! A customer chooses what they send, so a file is never trusted to be
//! what it says: only photos, stickers, video and audio of a few plain
//! types are shown inline, with that type; anything else (an SVG or HTML
//! "image", a document) is a download (`application/octet-stream`,
//! `Content-Disposition: attachment`). Every answer says `nosniff` and a
//! sandboxing `Content-Security-Policy`, so a browser neither guesses a
//! type nor runs anything in it.

use crate::AppState;
use crate::auth::Staff;
use crate::chat::visible_conversation;
use crate::refusal::{JsonRefusal, Refusal};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use store::entities::{whatsapp_media, whatsapp_messages};

/// What a media id or a file name escapes in a URL path or an RFC 5987
/// header value: all but RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Types shown inline, by the message's kind; WhatsApp sends these
/// (`docs/contracts/tata-whatsapp-media-and-templates.md`).
fn inline_type(kind: &str, content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match kind {
        "image" | "sticker" => matches!(
            essence.as_str(),
            "image/jpeg" | "image/png" | "image/webp" | "image/gif"
        ),
        "video" => matches!(essence.as_str(), "video/mp4" | "video/3gpp"),
        "audio" => matches!(
            essence.as_str(),
            "audio/aac" | "audio/mp4" | "audio/mpeg" | "audio/amr" | "audio/ogg"
        ),
        _ => false,
    }
}

/// What the thread shows of a message's file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaFile {
    /// `pending`, `stored`, `expired`, `too_large` or `failed`.
    pub state: String,
    /// Where staff fetch it (stored files only).
    pub url: Option<String>,
    /// How the panel shows it: `image`, `video` or `audio` inline; none
    /// for a download.
    pub inline: Option<&'static str>,
    pub size: Option<i64>,
    /// Why it is not here, in plain words.
    pub reason: Option<String>,
}

impl MediaFile {
    fn of(row: &Listed) -> Self {
        let stored = row.state == "stored";
        let inline = row
            .content_type
            .as_deref()
            .filter(|t| stored && inline_type(&row.kind, t))
            .map(|_| match row.kind.as_str() {
                "video" => "video",
                "audio" => "audio",
                _ => "image",
            });
        Self {
            state: row.state.clone(),
            url: stored.then(|| {
                format!(
                    "/whatsapp/media/{}",
                    utf8_percent_encode(&row.media_id, UNRESERVED)
                )
            }),
            inline,
            size: row.size,
            reason: row.reason.clone(),
        }
    }
}

/// A file's row without its bytes.
#[derive(Debug, sea_orm::FromQueryResult)]
struct Listed {
    media_id: String,
    wamid: String,
    kind: String,
    state: String,
    content_type: Option<String>,
    size: Option<i64>,
    reason: Option<String>,
}

/// The files of messages `wamids`, by message.
pub async fn files_of(
    db: &DatabaseConnection,
    wamids: Vec<String>,
) -> Result<HashMap<String, MediaFile>, DbErr> {
    if wamids.is_empty() {
        return Ok(HashMap::new());
    }
    use whatsapp_media::Column as M;
    let rows = whatsapp_media::Entity::find()
        .select_only()
        .columns([
            M::MediaId,
            M::Wamid,
            M::Kind,
            M::State,
            M::ContentType,
            M::Size,
            M::Reason,
        ])
        .filter(M::Wamid.is_in(wamids))
        .into_model::<Listed>()
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.wamid.clone(), MediaFile::of(row)))
        .collect())
}

/// A file name safe in a header: letters, digits, `.`, `-` and `_`.
fn plain_name(name: &str) -> String {
    let plain: String = name
        .chars()
        .take(120)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match plain.trim_matches('.') {
        "" => "whatsapp-file".to_owned(),
        name => name.to_owned(),
    }
}

/// `GET /whatsapp/media/{media_id}`: a stored file, to staff who may see
/// its conversation (404 for anyone else, as for a conversation).
pub async fn serve(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(media_id): Path<String>,
) -> Result<Response, JsonRefusal> {
    let unavailable = |error: DbErr| JsonRefusal::from(Refusal::database("a media file", error));
    let missing = || JsonRefusal(Refusal::NotFound("No such file.".into()));
    let file = whatsapp_media::Entity::find_by_id(media_id)
        .one(&state.db)
        .await
        .map_err(unavailable)?
        .ok_or_else(missing)?;
    let message = whatsapp_messages::Entity::find_by_id(file.wamid.clone())
        .one(&state.db)
        .await
        .map_err(unavailable)?
        .ok_or_else(missing)?;
    let phone = message.from_number.clone().ok_or_else(missing)?;
    visible_conversation(&state.db, &staff, &phone).await?;
    let Some(bytes) = file.bytes.filter(|_| file.state == "stored") else {
        return Err(JsonRefusal(Refusal::NotFound(file.reason.unwrap_or_else(
            || "The file has not been fetched from WhatsApp yet.".into(),
        ))));
    };
    let content_type = file
        .content_type
        .as_deref()
        .filter(|t| inline_type(&file.kind, t));
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    match content_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        Some(inline) => {
            headers.insert(header::CONTENT_TYPE, inline);
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            );
        }
        None => {
            let name = message
                .media
                .as_ref()
                .and_then(|m| m.get("filename"))
                .and_then(|f| f.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("whatsapp-{}", file.kind));
            let disposition = format!(
                "attachment; filename=\"{}\"; filename*=UTF-8''{}",
                plain_name(&name),
                utf8_percent_encode(&name, UNRESERVED)
            );
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    // Personal data: kept on the staff member's device a few minutes at
    // most, so a thread redrawn by each new message does not fetch it
    // again.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_photo_video_and_audio_types_are_inline() {
        assert!(inline_type("image", "image/jpeg"));
        assert!(inline_type("sticker", "image/webp"));
        assert!(inline_type("audio", "audio/ogg; codecs=opus"));
        assert!(!inline_type("image", "image/svg+xml"));
        assert!(!inline_type("image", "text/html"));
        assert!(!inline_type("document", "application/pdf"));
        assert!(!inline_type("video", "image/png"));
    }

    #[test]
    fn a_file_name_in_a_header_is_plain() {
        assert_eq!(plain_name("Quote \"final\".pdf"), "Quote__final_.pdf");
        assert_eq!(plain_name("कोटेशन.pdf"), "______.pdf");
        assert_eq!(plain_name("..."), "whatsapp-file");
    }
}
