//! Tata calls: `POST /api/webhook/`. The contract documents no
//! authentication; an optional shared secret in `X-Webhook-Secret` is
//! required once `TATA_CALLS_SECRET` is set.

use super::{Partner, tata_secret};
use crate::AppState;
use crate::caller::Caller;
use crate::http::{Reply, json};
use crate::pipeline::{audit_headers, publish, read_json};
use crate::refusal::{ErrorShape, Refusal};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use shared::contracts::tata_calls;
use shared::{Envelope, Source};

/// Tata calls, as the edge serves them.
pub(crate) const PARTNER: Partner = Partner {
    source: Source::TataCalls,
    shape: ErrorShape::Tata,
    routes: || vec!["/api/webhook/".to_owned()],
    prefix: None,
    warning: |secrets| {
        secrets.tata_calls.is_none().then_some(
            "TATA_CALLS_SECRET is not set: POST /api/webhook/ accepts unauthenticated requests (as its contract documents)",
        )
    },
    handle: |state, caller, request, _| Box::pin(call(state, caller, request)),
};

async fn call(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let (parts, body) = request.into_parts();
    tata_secret(caller, &parts.headers, state.secrets.tata_calls.as_ref())?;
    let body = read_json(state, &parts.headers, body).await?;
    let call = tata_calls::parse(&body)?;
    let envelope = Envelope::new(Source::TataCalls, audit_headers(&parts.headers, caller));
    publish(state, caller, &envelope, &body).await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({
            "status": "success",
            "message": "Call data received successfully",
            "call_id": call.call_id,
            // The edge cannot know whether the call is new without the
            // database: `created` means this event was recorded.
            "created": true,
        }),
    ))
}
