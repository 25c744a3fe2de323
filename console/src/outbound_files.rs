//! Files staff send on WhatsApp (issue 23): a photo (JPEG, PNG) or a PDF.
//!
//! Tata's send API takes a file only as a link it fetches over HTTPS, so:
//! 1. `POST /ajax/tata-conversations/{phone}/files` (the file as the body,
//!    its name in `X-File-Name`) stores it in the database (like inbound
//!    media: one store for every process, covered by exports and
//!    erasures) under an unguessable token, and answers its id;
//! 2. `POST /ajax/tata-send-reply/` with `{"phone", "file_id", "message"
//!    (the caption, may be empty)}` queues it like any reply, with the
//!    link `CONSOLE_PUBLIC_URL/public/whatsapp-files/{token}`;
//! 3. Tata fetches that link, which needs no session and works for
//!    [`LINK_LIFETIME`] (a send retried for a day still finds it), then
//!    answers 404.
//!
//! A file is what its bytes say, not what the browser claims: anything
//! but a JPEG, a PNG or a PDF is refused, so no HTML or SVG is ever
//! served. Staff see what was sent in the thread, from
//! `GET /whatsapp/sent-files/{id}` (signed in, their conversation only).

use crate::AppState;
use crate::auth::{Staff, random_token};
use crate::conversation::{phone_param, visible_conversation};
use crate::media_files::MediaFile;
use crate::refusal::{JsonRefusal, Refusal};
use crate::whatsapp_content::Content;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use percent_encoding::percent_decode_str;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::json;
use shared::replies::FileSend;
use std::collections::HashMap;
use std::sync::Arc;
use store::entities::outbound_files;
use uuid::Uuid;

/// Largest file staff may send: WhatsApp's limit for a photo (5 MB); a
/// quotation or a brochure as a PDF fits too.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

/// How long Tata can fetch a file after it is uploaded: a day for the
/// send and its retries, and a day more.
pub const LINK_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(48);

fn unavailable(error: impl std::fmt::Display) -> JsonRefusal {
    Refusal::database("a file to send", error).into()
}

/// The types a file may be, by its first bytes: (content type, WhatsApp
/// message type, a name when none was given).
fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "image", "photo.jpg"))
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "image", "photo.png"))
    } else if bytes.starts_with(b"%PDF-") {
        Some(("application/pdf", "document", "document.pdf"))
    } else {
        None
    }
}

/// `POST /ajax/tata-conversations/{phone}/files`: 201 with `file_id`;
/// 400 for an empty file or one not a JPEG, PNG or PDF, 409 when the
/// console has no public address for Tata to fetch it from, 413 over
/// [`MAX_FILE_BYTES`].
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(phone): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, JsonRefusal> {
    let phone = phone_param(&phone)?;
    let lead = visible_conversation(&state.db, &staff, &phone).await?;
    if state.public_url.is_none() {
        return Err(no_public_address());
    }
    if body.is_empty() {
        return Err(JsonRefusal(Refusal::BadRequest("the file is empty".into())));
    }
    let Some((content_type, kind, default_name)) = sniff(&body) else {
        return Err(JsonRefusal(Refusal::BadRequest(
            "only a JPEG or PNG photo or a PDF document can be sent".into(),
        )));
    };
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(|v| percent_decode_str(v).decode_utf8_lossy().trim().to_owned())
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect())
        .unwrap_or_else(|| default_name.to_owned());
    let token = random_token().map_err(unavailable)?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    outbound_files::Entity::insert(outbound_files::ActiveModel {
        id: Set(id),
        token: Set(token),
        phone: Set(phone),
        lead_id: Set(lead.map(|l| l.id)),
        uploaded_by: Set(staff.username.chars().take(64).collect()),
        file_name: Set(name.clone()),
        content_type: Set(content_type.to_owned()),
        size: Set(i64::try_from(body.len()).unwrap_or(i64::MAX)),
        bytes: Set(body.to_vec()),
        created_at: Set(now),
        expires_at: Set(now + LINK_LIFETIME),
    })
    .exec_without_returning(&state.db)
    .await
    .map_err(unavailable)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"file_id": id, "name": name, "kind": kind, "size": body.len()})),
    )
        .into_response())
}

fn no_public_address() -> JsonRefusal {
    JsonRefusal(Refusal::Conflict(
        "files cannot be sent: Tata fetches them from the console's public address, and CONSOLE_PUBLIC_URL is not set".into(),
    ))
}

/// The file `id`, uploaded for `phone`, as a send names it; 400 for a
/// file not this conversation's, 409 for one whose link expired.
pub(crate) async fn to_send(
    state: &AppState,
    id: Uuid,
    phone: &str,
) -> Result<FileSend, JsonRefusal> {
    let base = state.public_url.as_deref().ok_or_else(no_public_address)?;
    let row: Option<(String, String, String, chrono::DateTime<Utc>)> =
        outbound_files::Entity::find_by_id(id)
            .select_only()
            .columns([
                outbound_files::Column::Token,
                outbound_files::Column::FileName,
                outbound_files::Column::ContentType,
                outbound_files::Column::ExpiresAt,
            ])
            .filter(outbound_files::Column::Phone.eq(phone))
            .into_tuple()
            .one(&state.db)
            .await
            .map_err(unavailable)?;
    let Some((token, filename, content_type, expires_at)) = row else {
        return Err(JsonRefusal(Refusal::BadRequest(
            "file_id is not a file uploaded to this conversation".into(),
        )));
    };
    if expires_at <= Utc::now() {
        return Err(JsonRefusal(Refusal::Conflict(
            "the file's link for Tata has expired: upload it again".into(),
        )));
    }
    Ok(FileSend {
        id,
        kind: if content_type == "application/pdf" {
            "document"
        } else {
            "image"
        }
        .into(),
        link: format!(
            "{}/public/whatsapp-files/{token}",
            base.trim_end_matches('/')
        ),
        filename,
    })
}

/// `GET /public/whatsapp-files/{token}`: the file, for Tata, until it
/// expires; 404 otherwise (a wrong token and an expired one look alike).
pub async fn serve_public(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, JsonRefusal> {
    let missing = || JsonRefusal(Refusal::NotFound("No such file.".into()));
    if token.len() != 64 {
        return Err(missing());
    }
    let file = outbound_files::Entity::find()
        .filter(outbound_files::Column::Token.eq(token))
        .filter(outbound_files::Column::ExpiresAt.gt(Utc::now()))
        .one(&state.db)
        .await
        .map_err(unavailable)?
        .ok_or_else(missing)?;
    Ok(file_response(file))
}

/// `GET /whatsapp/sent-files/{id}`: a file staff sent, to staff who may
/// see its conversation (404 for anyone else, as for a conversation).
pub async fn serve_staff(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Result<Response, JsonRefusal> {
    let missing = || JsonRefusal(Refusal::NotFound("No such file.".into()));
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    // Its number first: the bytes are read only for someone who may see it.
    let phone: Option<String> = outbound_files::Entity::find_by_id(id)
        .select_only()
        .column(outbound_files::Column::Phone)
        .into_tuple()
        .one(&state.db)
        .await
        .map_err(unavailable)?;
    visible_conversation(&state.db, &staff, &phone.ok_or_else(missing)?).await?;
    let file = outbound_files::Entity::find_by_id(id)
        .one(&state.db)
        .await
        .map_err(unavailable)?
        .ok_or_else(missing)?;
    Ok(file_response(file))
}

/// How the thread shows the files `ids` (without reading their bytes):
/// a photo inline, a document as a download, each from
/// `/whatsapp/sent-files/{id}`.
pub(crate) async fn shown(
    db: &DatabaseConnection,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Content>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String, String, i64)> = outbound_files::Entity::find()
        .select_only()
        .columns([
            outbound_files::Column::Id,
            outbound_files::Column::FileName,
            outbound_files::Column::ContentType,
            outbound_files::Column::Size,
        ])
        .filter(outbound_files::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, content_type, size)| {
            let image = content_type.starts_with("image/");
            let content = Content::Media {
                kind: if image { "image" } else { "document" }.into(),
                mime_type: Some(content_type),
                filename: Some(name),
                voice: false,
                file: Some(MediaFile {
                    state: "stored".into(),
                    url: Some(format!("/whatsapp/sent-files/{id}")),
                    inline: image.then_some("image"),
                    size: Some(size),
                    reason: None,
                }),
            };
            (id, content)
        })
        .collect())
}

/// A stored file with its own type (only the three [`sniff`] lets in), a
/// photo inline and a document as a download, never sniffed or run.
fn file_response(file: outbound_files::Model) -> Response {
    let image = file.content_type.starts_with("image/");
    let content_type = match file.content_type.as_str() {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        "application/pdf" => "application/pdf",
        _ => "application/octet-stream",
    };
    let kind = if image { "inline" } else { "attachment" };
    let disposition = crate::media::disposition(kind, &file.file_name);
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(value) = disposition {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    crate::media::fence(headers);
    // Personal data: not kept by anyone on the way.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_what_its_bytes_say() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0 jfif").map(|s| s.1), Some("image"));
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n....").map(|s| s.0),
            Some("image/png")
        );
        assert_eq!(sniff(b"%PDF-1.7 ...").map(|s| s.1), Some("document"));
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b"<!doctype html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b""), None);
    }
}
