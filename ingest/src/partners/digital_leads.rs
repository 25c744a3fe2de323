//! CarDekho and CarWale: `POST /admin/mg-digital-leads/source/{partner}`,
//! authenticated by the partner's own `X-API-Key`, rate limited per partner.

use super::either;
use crate::AppState;
use crate::auth::{AuthError, api_key};
use crate::http::{Reply, json};
use crate::routes::{Style, audit_headers, json_body, publish};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use shared::contracts::digital_leads::{self, Platform};
use shared::{Envelope, Source};
use std::net::SocketAddr;

/// `POST /admin/mg-digital-leads/source/cardekho` and `…/carwale`.
pub(crate) async fn handle(
    state: &AppState,
    peer: SocketAddr,
    request: Request<Incoming>,
    platform: Platform,
) -> Reply {
    let style = Style::DigitalLeads;
    let (keys, source) = match platform {
        Platform::CarDekho => (state.secrets.cardekho.as_ref(), Source::Cardekho),
        Platform::CarWale => (state.secrets.carwale.as_ref(), Source::Carwale),
    };
    either(
        async {
            let (parts, body) = request.into_parts();
            api_key(&parts.headers, "x-api-key", keys).map_err(|e| match e {
                AuthError::Missing => style.error(StatusCode::UNAUTHORIZED, "Missing API key"),
                AuthError::Invalid => style.error(StatusCode::FORBIDDEN, "Invalid API key"),
            })?;
            state
                .lead_limits
                .check(&source)
                .map_err(|wait| style.rate_limited(wait))?;
            let body = json_body(state, style, &parts.headers, body).await?;
            digital_leads::parse(platform, &body).map_err(|e| style.invalid(&e))?;
            let envelope = Envelope::new(source, audit_headers(&parts.headers, peer));
            publish(state, style, &envelope, &body).await?;
            Ok(json(
                StatusCode::CREATED,
                &json!({"message": format!("{} lead inserted successfully", platform.label())}),
            ))
        }
        .await,
    )
}
