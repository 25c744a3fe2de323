//! Records staff access to personal data (issue 24's audit) as the
//! console serves it: a middleware on the signed-in routes notes each
//! successful view of a lead, a conversation or a delivery's body, and
//! each export, with who, from where, and the lead or delivery id (a
//! conversation without a lead: a hash of its number; never the number).
//! Sign-ins are recorded where they happen (`login`).

use crate::AppState;
use crate::auth::Staff;
use crate::refusal::Refusal;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::net::SocketAddr;
use std::sync::Arc;
use store::access_log::{Action, Actor, number_subject, record, record_view};
use store::entities::leads;
use uuid::Uuid;

/// The action a route's successful GET is, if it reads personal data.
fn action_of(route: &str) -> Option<Action> {
    match route {
        "/leads/{id}" | "/ajax/leads/{id}" => Some(Action::LeadViewed),
        "/ajax/tata-conversations/{phone}/" | "/whatsapp/media/{media_id}" => {
            Some(Action::ConversationViewed)
        }
        "/operator/log/{id}" => Some(Action::DeliveryViewed),
        "/leads/export.csv" => Some(Action::LeadsExported),
        "/operator/person/export.json" => Some(Action::PersonExported),
        _ => None,
    }
}

/// The last path segment that is not empty (the route's parameter).
fn parameter(path: &str) -> Option<String> {
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .map(percent_decoded)
}

/// A path segment as the router read it (`%2B` is `+`; a `+` stays one).
fn percent_decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// What the access was about, as the audit names it.
async fn subject(
    state: &AppState,
    action: Action,
    path: &str,
    query: Option<&str>,
) -> Result<Option<String>, DbErr> {
    Ok(match action {
        Action::PersonExported => query
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "phone")
                    .and_then(|(_, v)| shared::phone::to_e164(&v))
            })
            .map(|phone| number_subject(&phone)),
        Action::ConversationViewed => {
            let phone = match path.strip_prefix("/whatsapp/media/") {
                // A file's conversation: its message's sender.
                Some(_) => sender_of_media(state, parameter(path)).await?,
                None => parameter(path).and_then(|p| shared::phone::to_e164(&p)),
            };
            let Some(phone) = phone else {
                return Ok(None);
            };
            let lead: Option<Uuid> = leads::Entity::find()
                .select_only()
                .column(leads::Column::Id)
                .filter(leads::Column::Phone.eq(phone.as_str()))
                .into_tuple()
                .one(&state.db)
                .await?;
            Some(match lead {
                Some(lead) => lead.to_string(),
                None => number_subject(&phone),
            })
        }
        // The list's filters may hold a number: the export is named, not
        // its query.
        Action::LeadsExported => None,
        _ => parameter(path).filter(|p| Uuid::parse_str(p).is_ok()),
    })
}

/// Who sent the message that carried media `media_id`.
async fn sender_of_media(
    state: &AppState,
    media_id: Option<String>,
) -> Result<Option<String>, DbErr> {
    use store::entities::{whatsapp_media, whatsapp_messages};
    let Some(media_id) = media_id else {
        return Ok(None);
    };
    let wamid: Option<String> = whatsapp_media::Entity::find_by_id(media_id)
        .select_only()
        .column(whatsapp_media::Column::Wamid)
        .into_tuple()
        .one(&state.db)
        .await?;
    let Some(wamid) = wamid else {
        return Ok(None);
    };
    let sender: Option<Option<String>> = whatsapp_messages::Entity::find_by_id(wamid)
        .select_only()
        .column(whatsapp_messages::Column::FromNumber)
        .into_tuple()
        .one(&state.db)
        .await?;
    Ok(sender.flatten())
}

/// Views of the same subject by the same person closer together than this
/// are one entry: a chat refreshed by every pushed message, a lead page
/// reloaded.
const REPEATED_VIEW: chrono::Duration = chrono::Duration::minutes(5);

/// Whether `action` looks at something (recorded once per
/// [`REPEATED_VIEW`]); exports and sign-ins are recorded every time.
fn is_view(action: Action) -> bool {
    matches!(
        action,
        Action::LeadViewed | Action::ConversationViewed | Action::DeliveryViewed
    )
}

/// The middleware (inside the session check: the staff member is known).
pub async fn record_access(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let action = (request.method() == Method::GET)
        .then(|| request.extensions().get::<MatchedPath>())
        .flatten()
        .and_then(|route| action_of(route.as_str()));
    let Some(action) = action else {
        return next.run(request).await;
    };
    let staff = request.extensions().get::<Staff>().cloned();
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let response = next.run(request).await;
    if let Some(staff) = staff
        && response.status().is_success()
    {
        let actor = Actor {
            user: Some(staff.user_id),
            username: staff.username,
            address,
        };
        let recorded = match subject(&state, action, &path, query.as_deref()).await {
            Ok(about) if is_view(action) => {
                record_view(&state.db, &actor, action, about, REPEATED_VIEW)
                    .await
                    .map(|_| ())
            }
            Ok(about) => record(&state.db, &actor, action, about).await,
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            // Nothing is read without a trace: the answer is withheld.
            tracing::error!(%error, action = action.name(), "an access could not be recorded in the audit; refused");
            return Refusal::DatabaseUnavailable.into_response();
        }
    }
    response
}
