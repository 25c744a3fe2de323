//! CarDekho and CarWale: `POST /admin/mg-digital-leads/source/{partner}`,
//! authenticated by the partner's own `X-API-Key`. The contract's limit is
//! soft: above it requests are accepted and counted; a hard limit (429)
//! applies only when configured.

use super::{Partner, Secret, WhenUnset};
use crate::AppState;
use crate::auth::{AuthError, api_key};
use crate::caller::{Caller, Credential};
use crate::http::{Reply, json};
use crate::pipeline::accept;
use crate::refusal::{ErrorShape, Refusal};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use shared::Source;
use shared::contracts::digital_leads;

/// CarDekho, as the edge serves it.
pub(crate) const CARDEKHO: Partner = portal(Source::Cardekho, "LEAD_API_KEY_CARDEKHO", || {
    vec![format!("{BASE}cardekho")]
});

/// CarWale, as the edge serves it.
pub(crate) const CARWALE: Partner = portal(Source::Carwale, "LEAD_API_KEY_CARWALE", || {
    vec![format!("{BASE}carwale")]
});

/// The contract's path, up to the portal's name.
const BASE: &str = "/admin/mg-digital-leads/source/";

/// A portal on this contract: its source (which must have an entry in
/// [`digital_leads::PORTALS`]), the variable holding its `X-API-Key`
/// values (unset: every request is refused) and its route.
pub(super) const fn portal(
    source: Source,
    variable: &'static str,
    routes: fn() -> Vec<String>,
) -> Partner {
    Partner {
        source,
        shape: ErrorShape::DigitalLeads,
        routes,
        prefix: None,
        secret: Secret {
            variable,
            when_unset: WhenUnset::Refused,
        },
        handle: |state, caller, request, path| Box::pin(handle(state, caller, request, path)),
    }
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
    path: &str,
) -> Result<Reply, Refusal> {
    let name = path
        .strip_prefix(BASE)
        .unwrap_or(path)
        .trim_end_matches('/');
    let portal = digital_leads::PORTALS
        .iter()
        .find(|portal| portal.source.name() == name)
        .ok_or(Refusal::NotFound("Not Found".into()))?;
    let source = portal.source;
    let keys = state.secrets.get(source);
    let (parts, body) = request.into_parts();
    let key = api_key(&parts.headers, "x-api-key", keys).map_err(|e| match e {
        AuthError::Missing => Refusal::Unauthorised("Missing API key"),
        AuthError::Invalid => Refusal::Forbidden("Invalid API key"),
    })?;
    caller.authenticated(Credential::Key(key));
    state
        .lead_limits
        .check(&source)
        .map_err(Refusal::RateLimited)?;
    if state.lead_soft_limits.check(&source).is_err() {
        state.metrics.soft_limit_exceeded(source);
        if state.lead_soft_warnings.check(&source).is_ok() {
            tracing::warn!(
                partner = %source,
                soft_limit = state.lead_soft_limit_per_minute,
                "lead portal above its soft limit (requests per minute); accepting every request (LEAD_RATE_LIMIT_PER_MINUTE sets a hard limit)"
            );
        }
    }
    let parse = |body: &[u8]| digital_leads::parse(portal, body);
    accept(state, caller, &parts, body, source, parse, |_, _| {}).await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({"message": format!("{} lead inserted successfully", portal.label)}),
    ))
}
