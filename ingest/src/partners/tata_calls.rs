//! Tata calls: `POST /api/webhook/`. The contract documents no
//! authentication; an optional shared secret in `X-Webhook-Secret` is
//! required once `TATA_CALLS_SECRET` is set.

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
use shared::contracts::tata_calls;

/// Tata calls, as the edge serves them.
pub(crate) const PARTNER: Partner = Partner {
    source: Source::TataCalls,
    shape: ErrorShape::Tata,
    routes: || vec!["/api/webhook/".to_owned()],
    prefix: None,
    secret: Secret {
        variable: "TATA_CALLS_SECRET",
        when_unset: WhenUnset::Open(
            "POST /api/webhook/ accepts unauthenticated requests (as its contract documents)",
        ),
    },
    handle: |state, caller, request, _| Box::pin(call(state, caller, request)),
};

async fn call(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let (parts, body) = request.into_parts();
    tata_secret(caller, &parts.headers, state.secrets.get(Source::TataCalls))?;
    let source = Source::TataCalls;
    let Accepted { parsed: call, .. } = accept(
        state,
        caller,
        &parts,
        body,
        source,
        tata_calls::parse,
        |_, _| {},
    )
    .await?;
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
