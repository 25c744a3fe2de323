//! CarDekho and CarWale: `POST /admin/mg-digital-leads/source/{partner}`,
//! authenticated by the partner's own `X-API-Key`. The contract's limit is
//! soft: above it requests are accepted and counted; a hard limit (429)
//! applies only when configured.

use super::Partner;
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
pub(crate) const CARDEKHO: Partner = Partner {
    source: Source::Cardekho,
    shape: ErrorShape::DigitalLeads,
    routes: || vec!["/admin/mg-digital-leads/source/cardekho".to_owned()],
    prefix: None,
    warning: |secrets| {
        secrets
            .cardekho
            .is_none()
            .then_some("LEAD_API_KEY_CARDEKHO is not set: every request to its endpoint is refused")
    },
    handle: |state, caller, request, _| Box::pin(handle(state, caller, request, Source::Cardekho)),
};

/// CarWale, as the edge serves it.
pub(crate) const CARWALE: Partner = Partner {
    source: Source::Carwale,
    shape: ErrorShape::DigitalLeads,
    routes: || vec!["/admin/mg-digital-leads/source/carwale".to_owned()],
    prefix: None,
    warning: |secrets| {
        secrets
            .carwale
            .is_none()
            .then_some("LEAD_API_KEY_CARWALE is not set: every request to its endpoint is refused")
    },
    handle: |state, caller, request, _| Box::pin(handle(state, caller, request, Source::Carwale)),
};

async fn handle(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
    source: Source,
) -> Result<Reply, Refusal> {
    let portal = digital_leads::portal(source).ok_or(Refusal::NotFound("Not Found".into()))?;
    let keys = match source {
        Source::Cardekho => state.secrets.cardekho.as_ref(),
        Source::Carwale => state.secrets.carwale.as_ref(),
        _ => None,
    };
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
