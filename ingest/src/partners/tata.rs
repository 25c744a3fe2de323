//! Tata calls (`POST /api/webhook/`) and Tata WhatsApp (`POST /webhook/`).
//! Neither contract documents authentication; each takes an optional shared
//! secret in `X-Webhook-Secret`, required once configured.

use super::either;
use crate::AppState;
use crate::auth::api_key;
use crate::caller::{Caller, Credential};
use crate::http::{Reply, json};
use crate::routes::{Style, audit_headers, json_body, publish};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, StatusCode};
use serde_json::json;
use shared::contracts::{tata_calls, tata_whatsapp};
use shared::secret::SecretList;
use shared::{Envelope, Source};

/// The header carrying the optional shared secret.
pub(crate) const SECRET_HEADER: &str = "x-webhook-secret";

fn check_secret(
    caller: &Caller,
    headers: &HeaderMap,
    secret: Option<&SecretList>,
) -> Result<(), Reply> {
    let credential = match secret {
        None => Credential::NoneConfigured,
        Some(secret) => api_key(headers, SECRET_HEADER, Some(secret))
            .map(Credential::Key)
            .map_err(|_| {
                Style::Tata.error(
                    StatusCode::UNAUTHORIZED,
                    "Invalid or missing webhook secret",
                )
            })?,
    };
    caller.authenticated(credential);
    Ok(())
}

/// `POST /api/webhook/`.
pub(crate) async fn call(state: &AppState, caller: &Caller, request: Request<Incoming>) -> Reply {
    either(
        async {
            let (parts, body) = request.into_parts();
            check_secret(caller, &parts.headers, state.secrets.tata_calls.as_ref())?;
            let body = json_body(state, Style::Tata, &parts.headers, body).await?;
            let call = tata_calls::parse(&body).map_err(|e| Style::Tata.invalid(&e))?;
            let envelope = Envelope::new(Source::TataCalls, audit_headers(&parts.headers, caller));
            publish(state, Style::Tata, caller, &envelope, &body).await?;
            Ok(json(
                StatusCode::CREATED,
                &json!({
                    "status": "success",
                    "message": "Call data received successfully",
                    "call_id": call.call_id,
                    // The edge cannot know whether the call is new without
                    // the database: `created` means this event was recorded.
                    "created": true,
                }),
            ))
        }
        .await,
    )
}

/// `POST /webhook/`.
pub(crate) async fn whatsapp(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Reply {
    either(
        async {
            let (parts, body) = request.into_parts();
            check_secret(caller, &parts.headers, state.secrets.tata_whatsapp.as_ref())?;
            let body = json_body(state, Style::Tata, &parts.headers, body).await?;
            let hook = tata_whatsapp::parse(&body).map_err(|e| Style::Tata.invalid(&e))?;
            let envelope =
                Envelope::new(Source::TataWhatsapp, audit_headers(&parts.headers, caller));
            publish(state, Style::Tata, caller, &envelope, &body).await?;
            Ok(json(
                StatusCode::CREATED,
                &json!({
                    "status": "success",
                    "message": "Webhook received",
                    "messages": hook.messages.len(),
                    "statuses": hook.statuses.len(),
                }),
            ))
        }
        .await,
    )
}
