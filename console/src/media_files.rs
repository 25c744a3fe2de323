//! What staff see of inbound WhatsApp media before opening a file: each
//! file's state for the thread ([`files_of`]), and which types are safe to
//! show inline ([`inline_type`]); [`crate::media`] serves the files.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use std::collections::HashMap;
use store::entities::whatsapp_media;

/// What a media id or a file name escapes in a URL path or an RFC 5987
/// header value: all but RFC 3986's unreserved characters.
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Types shown inline, by the message's kind; WhatsApp sends these
/// (`docs/contracts/tata-whatsapp-media-and-templates.md`).
pub(crate) fn inline_type(kind: &str, content_type: &str) -> bool {
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
pub(crate) struct Listed {
    pub media_id: String,
    pub wamid: String,
    pub kind: String,
    pub state: String,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub reason: Option<String>,
}

/// The rows of files, without their bytes.
fn listed() -> sea_orm::Select<whatsapp_media::Entity> {
    use whatsapp_media::Column as M;
    whatsapp_media::Entity::find().select_only().columns([
        M::MediaId,
        M::Wamid,
        M::Kind,
        M::State,
        M::ContentType,
        M::Size,
        M::Reason,
    ])
}

/// File `media_id`'s row, without its bytes.
pub(crate) async fn file(db: &DatabaseConnection, media_id: &str) -> Result<Option<Listed>, DbErr> {
    listed()
        .filter(whatsapp_media::Column::MediaId.eq(media_id))
        .into_model::<Listed>()
        .one(db)
        .await
}

/// The files of messages `wamids`, by message.
pub async fn files_of(
    db: &DatabaseConnection,
    wamids: Vec<String>,
) -> Result<HashMap<String, MediaFile>, DbErr> {
    if wamids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = listed()
        .filter(whatsapp_media::Column::Wamid.is_in(wamids))
        .into_model::<Listed>()
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.wamid.clone(), MediaFile::of(row)))
        .collect())
}
