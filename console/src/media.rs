//! Inbound WhatsApp media files (`GET /whatsapp/media/{id}`), served to
//! signed-in staff who may see its conversation, from this origin only
//! (what the thread shows of each file: [`crate::media_files`]).
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
use crate::conversation::visible_conversation;
use crate::media_files::{UNRESERVED, inline_type};
use crate::refusal::{JsonRefusal, Refusal};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::utf8_percent_encode;
use sea_orm::{DbErr, EntityTrait, QuerySelect};
use std::sync::Arc;
use store::entities::{whatsapp_media, whatsapp_messages};

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

/// A `Content-Disposition` (`inline` or `attachment`) naming the file
/// `name`, plainly and in full (RFC 6266's `filename*`).
pub(crate) fn disposition(kind: &str, name: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{}",
        plain_name(name),
        utf8_percent_encode(name, UNRESERVED)
    ))
    .ok()
}

/// What every file served carries: the browser neither guesses its type
/// nor runs anything in it.
pub(crate) fn fence(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
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
    // Its row without the bytes first: a file is read only for someone
    // who may see it.
    let file = crate::media_files::file(&state.db, &media_id)
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
    if file.state != "stored" {
        return Err(JsonRefusal(Refusal::NotFound(file.reason.unwrap_or_else(
            || "The file has not been fetched from WhatsApp yet.".into(),
        ))));
    }
    let bytes: Option<Option<Vec<u8>>> = whatsapp_media::Entity::find_by_id(media_id)
        .select_only()
        .column(whatsapp_media::Column::Bytes)
        .into_tuple()
        .one(&state.db)
        .await
        .map_err(unavailable)?;
    let bytes = bytes.flatten().ok_or_else(missing)?;
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
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Some(value) = disposition("attachment", &name) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
        }
    }
    fence(headers);
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
