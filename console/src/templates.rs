//! WhatsApp templates in the chat panel: the approved templates a
//! salesperson can send outside the 24-hour window or to a lead who never
//! wrote (`GET /ajax/whatsapp/templates`), a manager's request to fetch
//! Tata's list again (`POST /ajax/whatsapp/templates/refresh`, through the
//! broker to a worker), and the check a template send passes before it is
//! queued ([`chosen`]).

use crate::AppState;
use crate::auth::{Role, Staff};
use crate::ist;
use crate::refusal::{JsonRefusal, Refusal};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_orm::{EntityTrait, QueryOrder};
use serde::Deserialize;
use serde_json::json;
use shared::replies::MAX_REPLY_CHARS;
use shared::templates::{TemplateSend, render};
use std::sync::Arc;
use store::entities::whatsapp_templates;

fn unavailable(error: impl std::fmt::Display) -> JsonRefusal {
    Refusal::database("the template list", error).into()
}

/// A stored template whose components do not read: an error, never a
/// template offered as something it is not.
fn unreadable(name: &str, error: impl std::fmt::Display) -> JsonRefusal {
    tracing::error!(template = name, %error, "a stored WhatsApp template does not read");
    Refusal::DatabaseUnavailable.into()
}

/// `GET /ajax/whatsapp/templates`: the templates that can be sent (approved,
/// with no field outside the body), with their bodies and field counts.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Result<Response, JsonRefusal> {
    let stored = whatsapp_templates::Entity::find()
        .order_by_asc(whatsapp_templates::Column::Name)
        .order_by_asc(whatsapp_templates::Column::Language)
        .all(&state.db)
        .await
        .map_err(unavailable)?;
    let fetched_at = stored.iter().map(|t| t.fetched_at).max();
    let mut offered = Vec::new();
    for row in &stored {
        let template = row
            .template()
            .map_err(|error| unreadable(&row.name, error))?;
        if template.sendable() {
            offered.push(json!({
                "name": row.name,
                "language": row.language,
                "category": row.category,
                "body": row.body,
                "parameters": row.parameters,
            }));
        }
    }
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "templates": offered,
            "fetched_at": fetched_at,
            "fetched_at_ist": fetched_at.map(ist),
            "can_refresh": staff.role == Role::Manager,
        })),
    )
        .into_response())
}

/// `POST /ajax/whatsapp/templates/refresh` (managers): asks a worker to
/// fetch Tata's list now; 202 once the broker has the request.
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Result<Response, JsonRefusal> {
    if staff.role != Role::Manager {
        return Err(
            Refusal::Forbidden("Refreshing the template list is for managers.".into()).into(),
        );
    }
    let envelope = shared::replies::work_envelope(shared::replies::REFRESH_TEMPLATES);
    let body = json!({"requested_by": staff.username}).to_string();
    if let Err(error) = state.publisher.publish(&envelope, body.as_bytes()).await {
        tracing::warn!(%error, "could not queue a template refresh");
        return Ok(Refusal::BrokerUnavailable(
            "the refresh could not be queued (broker unavailable); try again".into(),
        )
        .json());
    }
    tracing::info!(staff = %staff.username, "template refresh queued");
    Ok((StatusCode::ACCEPTED, Json(json!({"state": "queued"}))).into_response())
}

/// A template as a send request names it.
#[derive(Debug, Deserialize)]
pub struct TemplateChoice {
    /// Its name (`template` in `/ajax/tata-send-template/`'s body).
    #[serde(alias = "template")]
    name: Option<String>,
    language: Option<String>,
    #[serde(default)]
    parameters: Vec<String>,
}

/// Checks a chosen template against the stored list: it exists, can be
/// sent, and gets exactly its fields, each one WhatsApp takes. Returns the
/// send and the body as the customer will read it.
pub async fn chosen(
    state: &AppState,
    choice: TemplateChoice,
) -> Result<(TemplateSend, String), JsonRefusal> {
    let bad = |message: String| JsonRefusal(Refusal::BadRequest(message));
    let name = choice.name.unwrap_or_default();
    let language = choice.language.unwrap_or_default();
    if name.trim().is_empty() || language.trim().is_empty() {
        return Err(bad("a template needs its name and language".into()));
    }
    let row = whatsapp_templates::Entity::find_by_id((name.clone(), language.clone()))
        .one(&state.db)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            bad(format!(
                "no template {name:?} in language {language:?} (a manager can refresh the list)"
            ))
        })?;
    let template = row
        .template()
        .map_err(|error| unreadable(&row.name, error))?;
    if template.status != shared::templates::APPROVED {
        // Known, but WhatsApp has not approved it (yet): a state, not a
        // mistake in the request.
        return Err(JsonRefusal(Refusal::Conflict(format!(
            "template {name:?} is {}; only approved templates can be sent",
            template.status
        ))));
    }
    if !template.sendable() {
        return Err(bad(format!(
            "template {name:?} needs a header or button field, which the panel cannot fill"
        )));
    }
    let wanted = template.parameters();
    if choice.parameters.len() != wanted {
        return Err(bad(format!(
            "template {name:?} takes {wanted} field(s), not {}",
            choice.parameters.len()
        )));
    }
    let send = TemplateSend {
        name,
        language,
        parameters: choice.parameters,
    };
    send.check().map_err(bad)?;
    let body = render(template.body().unwrap_or_default(), &send.parameters);
    let chars = body.chars().count();
    if chars > MAX_REPLY_CHARS {
        return Err(bad(format!(
            "the filled template has {chars} characters; WhatsApp takes at most {MAX_REPLY_CHARS}"
        )));
    }
    Ok((send, body))
}
