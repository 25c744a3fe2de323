//! Call capture: `POST /functions/v1/webhook-call-capture`, authenticated by
//! `x-api-key`. The edge assigns the record's `call_history_id`.

use super::{Partner, Secret, WhenUnset};
use crate::AppState;
use crate::auth::api_key;
use crate::caller::{Caller, Credential};
use crate::http::{Reply, json};
use crate::pipeline::{Accepted, accept};
use crate::refusal::{ErrorShape, Refusal};
use chrono::SecondsFormat;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use shared::contracts::call_capture;
use shared::{Envelope, Source};

/// Call capture, as the edge serves it.
pub(crate) const PARTNER: Partner = Partner {
    source: Source::CallCapture,
    shape: ErrorShape::CallCapture,
    routes: || vec!["/functions/v1/webhook-call-capture".to_owned()],
    prefix: None,
    secret: Secret {
        variable: "CALL_CAPTURE_API_KEYS",
        when_unset: WhenUnset::Refused,
    },
    handle: |state, caller, request, _| Box::pin(handle(state, caller, request)),
};

async fn handle(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let (parts, body) = request.into_parts();
    let key = api_key(
        &parts.headers,
        "x-api-key",
        state.secrets.get(Source::CallCapture),
    )
    .map_err(|_| Refusal::Unauthorised("Invalid or missing API key"))?;
    caller.authenticated(Credential::Key(key));
    let call_history_id = uuid::Uuid::now_v7().to_string();
    let assign = |_: &_, envelope: &mut Envelope| {
        envelope
            .assigned_ids
            .insert("call_history_id".into(), call_history_id.clone());
    };
    let source = Source::CallCapture;
    let Accepted { envelope, .. } = accept(
        state,
        caller,
        &parts,
        body,
        source,
        call_capture::parse,
        assign,
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({
            "success": true,
            "message": "Call record created successfully",
            "data": {
                "call_history_id": call_history_id,
                "created_at": envelope.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            },
        }),
    ))
}
