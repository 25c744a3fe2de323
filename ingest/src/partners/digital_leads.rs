//! CarDekho and CarWale: `POST /admin/mg-digital-leads/source/{partner}`,
//! authenticated by the partner's own `X-API-Key`. The contract's limit is
//! soft: above it requests are accepted and counted; a hard limit (429)
//! applies only when configured.

use super::either;
use crate::AppState;
use crate::auth::{AuthError, api_key};
use crate::caller::{Caller, Credential};
use crate::http::{Reply, json};
use crate::routes::{Style, audit_headers, json_body, publish};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use shared::Envelope;
use shared::contracts::digital_leads::{self, Platform};

/// `POST /admin/mg-digital-leads/source/cardekho` and `…/carwale`.
pub(crate) async fn handle(
    state: &AppState,
    caller: &Caller,
    request: Request<Incoming>,
    platform: Platform,
) -> Reply {
    let style = Style::DigitalLeads;
    let source = platform.source();
    let keys = match platform {
        Platform::CarDekho => state.secrets.cardekho.as_ref(),
        Platform::CarWale => state.secrets.carwale.as_ref(),
    };
    either(
        async {
            let (parts, body) = request.into_parts();
            let key = api_key(&parts.headers, "x-api-key", keys).map_err(|e| match e {
                AuthError::Missing => style.error(StatusCode::UNAUTHORIZED, "Missing API key"),
                AuthError::Invalid => style.error(StatusCode::FORBIDDEN, "Invalid API key"),
            })?;
            caller.authenticated(Credential::Key(key));
            state
                .lead_limits
                .check(&source)
                .map_err(|wait| style.rate_limited(wait))?;
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
            let body = json_body(state, style, &parts.headers, body).await?;
            digital_leads::parse(platform, &body).map_err(|e| style.invalid(&e))?;
            let envelope = Envelope::new(source, audit_headers(&parts.headers, caller));
            publish(state, style, caller, &envelope, &body).await?;
            Ok(json(
                StatusCode::CREATED,
                &json!({"message": format!("{} lead inserted successfully", platform.label())}),
            ))
        }
        .await,
    )
}
