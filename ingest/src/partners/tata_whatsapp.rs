//! Tata WhatsApp messages and statuses: `POST /webhook/`. The contract
//! documents no authentication; an optional shared secret in
//! `X-Webhook-Secret` is required once `TATA_WHATSAPP_SECRET` is set.

use super::{Partner, Secret, WhenUnset, tata_secret};
use crate::AppState;
use crate::caller::Caller;
use crate::http::{Reply, json};
use crate::pipeline::{Accepted, accept};
use crate::refusal::{ErrorShape, Refusal};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use shared::Source;
use shared::contracts::tata_whatsapp;

/// Tata WhatsApp, as the edge serves it.
pub(crate) const PARTNER: Partner = Partner {
    source: Source::TataWhatsapp,
    shape: ErrorShape::Tata,
    routes: || vec!["/webhook/".to_owned()],
    prefix: None,
    secret: Secret {
        variable: "TATA_WHATSAPP_SECRET",
        when_unset: WhenUnset::Open(
            "POST /webhook/ accepts unauthenticated requests (as its contract documents)",
        ),
    },
    handle: |state, caller, request, _| Box::pin(whatsapp(state, caller, request)),
};

async fn whatsapp(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let (parts, body) = request.into_parts();
    tata_secret(
        caller,
        &parts.headers,
        state.secrets.get(Source::TataWhatsapp),
    )?;
    let source = Source::TataWhatsapp;
    let Accepted { parsed: hook, .. } = accept(
        state,
        caller,
        &parts,
        body,
        source,
        tata_whatsapp::parse,
        |_, _| {},
    )
    .await?;
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
