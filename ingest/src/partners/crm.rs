//! CRM events under `/api/v1/webhooks`: every pre-lead and lead endpoint and
//! the generic `/incoming`. Rate limited per client IP; HMAC-signed when
//! `CRM_WEBHOOK_SECRET` is set.

use super::{Partner, Secret, WhenUnset};
use crate::AppState;
use crate::auth::crm_signature;
use crate::caller::{Caller, Credential};
use crate::http::{Reply, json};
use crate::pipeline::{Accepted, accept_body, read_json};
use crate::refusal::{ErrorShape, Refusal};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value, json};
use shared::contracts::crm_events::{self, CrmWebhook, Event};
use shared::{Envelope, Source};
use uuid::Uuid;

/// The contract's base path.
const BASE: &str = "/api/v1/webhooks";

/// CRM events, as the edge serves them.
pub(crate) const PARTNER: Partner = Partner {
    source: Source::CrmEvents,
    shape: ErrorShape::Crm,
    routes: || {
        std::iter::once(format!("{BASE}/incoming"))
            .chain(
                Event::ALL
                    .iter()
                    .filter_map(|event| event.route())
                    .map(|route| format!("{BASE}{route}")),
            )
            .collect()
    },
    prefix: Some(BASE),
    secret: Secret {
        variable: "CRM_WEBHOOK_SECRET",
        when_unset: WhenUnset::Open("CRM events are accepted unsigned"),
    },
    handle: |state, caller, request, path| Box::pin(handle(state, caller, request, path)),
};

/// Namespace for qualified-profile ids: a lead has one profile, created or
/// updated, so its id is derived from the lead's and is the same every time.
const PROFILE_NAMESPACE: Uuid = Uuid::from_u128(0x6c65_6164_7069_7065_2d70_726f_6669_6c65);

/// The success message and the ids the edge assigns, per event.
fn outcome(event: Event) -> (&'static str, &'static [&'static str]) {
    match event {
        Event::NewInquiry => ("Pre-lead created successfully", &["pre_lead_id"]),
        Event::PreLeadUpdate => ("Pre-lead updated successfully", &[]),
        Event::PreLeadDiscard => ("Pre-lead discarded successfully", &[]),
        Event::PreLeadContactAdd | Event::LeadContactAdd => {
            ("Contact added successfully", &["contact_id"])
        }
        Event::PreLeadMemoAdd | Event::LeadMemoAdd => ("Memo added successfully", &["memo_id"]),
        Event::PreLeadStatusUpdate => ("Pre-lead status updated successfully", &[]),
        Event::PreLeadConvert => ("Pre-lead converted to lead successfully", &["lead_id"]),
        Event::NewLead => ("Lead created successfully", &["lead_id"]),
        Event::LeadUpdate => ("Lead updated successfully", &[]),
        Event::LeadDiscard => ("Lead discarded successfully", &[]),
        Event::LeadActivityAdd => ("Activity added successfully", &["activity_id"]),
        Event::LeadQualifiedProfileUpdate => ("Qualified profile updated successfully", &[]),
        Event::LeadStatusUpdate => ("Lead status updated successfully", &[]),
        Event::LeadConvert => ("Lead converted to customer successfully", &["customer_id"]),
        Event::OrderCreated => ("Order recorded successfully", &[]),
        Event::PaymentReceived => ("Payment recorded successfully", &[]),
    }
}

/// The response `data`: the subject's id, the assigned ids, and what the
/// event itself states. Nothing that would need the database (the old status
/// is `null`: only the worker knows it).
fn response_data(hook: &CrmWebhook, assigned: &Map<String, Value>) -> Map<String, Value> {
    let mut data = Map::new();
    if let (Some(field), Some(id)) = (hook.event.subject().id_field(), &hook.subject_id) {
        data.insert(field.into(), Value::from(id.as_str()));
    }
    data.extend(assigned.clone());
    let field = |name: &str| hook.data.get(name).cloned().unwrap_or(Value::Null);
    match hook.event {
        Event::PreLeadStatusUpdate | Event::LeadStatusUpdate => {
            data.insert("old_status".into(), Value::Null);
            data.insert("new_status".into(), field("lead_status"));
        }
        Event::LeadConvert => {
            data.insert("customer_code".into(), field("customer_code"));
        }
        Event::OrderCreated | Event::PaymentReceived => {
            for name in ["customer_id", "customer_code"] {
                if let Some(value) = hook.data.get(name) {
                    data.insert(name.into(), value.clone());
                }
            }
        }
        _ => {}
    }
    data
}

/// Any CRM endpoint: the specific endpoint's event and path id, or the
/// generic `/incoming`.
async fn handle(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
    path: &str,
) -> Result<Reply, Refusal> {
    let endpoint = Event::match_path(path.strip_prefix(BASE).unwrap_or(path))
        .ok_or_else(|| Refusal::NotFound("Not Found".into()))?;
    state
        .crm_limits
        .check(&caller.client)
        .map_err(Refusal::RateLimited)?;
    let (parts, body) = request.into_parts();
    let body = read_json(state, &parts.headers, body).await?;
    let credential = match state.secrets.get(Source::CrmEvents) {
        Some(secrets) => crm_signature(
            &parts.headers,
            &body,
            secrets,
            chrono::Utc::now().timestamp(),
        )
        .map(Credential::Key)
        .map_err(|_| Refusal::Unauthorised("Invalid signature"))?,
        None => Credential::NoneConfigured,
    };
    caller.authenticated(credential);
    let parse = |body: &[u8]| crm_events::parse(body, endpoint.clone());
    let mut assigned = Map::new();
    let assign = |hook: &CrmWebhook, envelope: &mut Envelope| {
        if let (Some((_, Some(id))), Some(field)) = (&endpoint, hook.event.subject().id_field()) {
            envelope.path_params.insert(field.into(), id.clone());
        }
        let (_, assigns) = outcome(hook.event);
        let mut ids: Vec<(&str, String)> = assigns
            .iter()
            .map(|field| (*field, Uuid::now_v7().to_string()))
            .collect();
        if let (Event::LeadQualifiedProfileUpdate, Some(lead_id)) = (hook.event, &hook.subject_id) {
            ids.push((
                "profile_id",
                Uuid::new_v5(&PROFILE_NAMESPACE, lead_id.as_bytes()).to_string(),
            ));
        }
        for (field, id) in ids {
            envelope.assigned_ids.insert(field.into(), id.clone());
            assigned.insert(field.into(), Value::from(id));
        }
    };
    let source = Source::CrmEvents;
    let Accepted { parsed: hook, .. } =
        accept_body(state, caller, &parts, &body, source, parse, assign).await?;
    let (message, _) = outcome(hook.event);
    Ok(json(
        StatusCode::CREATED,
        &json!({"status": "success", "message": message, "data": response_data(&hook, &assigned)}),
    ))
}
