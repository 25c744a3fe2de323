//! One file per partner contract, each declaring its [`Partner`]: the
//! routes it serves, its error shape, its source (the metric and log
//! label) and what to warn about at start-up. The router, the metric
//! labels, the start-up warnings and the OpenAPI check are all built from
//! [`PARTNERS`], so a new partner is one new file and one line here.
//!
//! Each handler authenticates, reads and validates the body, publishes it
//! with a confirm, and answers as the contract documents; a [`Refusal`] is
//! rendered in the partner's shape by the router.

mod call_capture;
mod crm;
mod digital_leads;
mod tata_calls;
mod tata_whatsapp;

use crate::AppState;
use crate::auth::api_key;
use crate::caller::{Caller, Credential};
use crate::config::PartnerSecrets;
use crate::http::Reply;
use crate::refusal::{ErrorShape, Refusal};
use hyper::Request;
use hyper::body::Incoming;
use shared::Source;
use std::future::Future;
use std::pin::Pin;

/// What a handler answers: a reply in the contract's success shape, or why not.
pub(crate) type Answer<'a> = Pin<Box<dyn Future<Output = Result<Reply, Refusal>> + Send + 'a>>;

/// A partner-facing contract, as the edge serves it.
pub(crate) struct Partner {
    /// Its messages' source: queue, metric label, access-log source.
    pub(crate) source: Source,
    /// How its errors are written.
    pub(crate) shape: ErrorShape,
    /// The path templates it serves, all `POST` (`{id}` matches one segment).
    pub(crate) routes: fn() -> Vec<String>,
    /// A prefix it owns: a path under it that matches no route is answered
    /// 404 in this partner's shape.
    pub(crate) prefix: Option<&'static str>,
    /// The start-up warning, when its configuration leaves it open (or shut).
    pub(crate) warning: fn(&PartnerSecrets) -> Option<&'static str>,
    /// Handles a `POST` to one of its routes (the path is the request's).
    pub(crate) handle:
        for<'a> fn(&'a AppState, &'a Caller, Request<Incoming>, &'a str) -> Answer<'a>,
}

/// Every partner the edge serves.
pub(crate) const PARTNERS: &[&Partner] = &[
    &tata_calls::PARTNER,
    &tata_whatsapp::PARTNER,
    &digital_leads::CARDEKHO,
    &digital_leads::CARWALE,
    &call_capture::PARTNER,
    &crm::PARTNER,
];

/// Where a request path goes.
pub(crate) enum Found {
    /// One of the partner's routes.
    Route(&'static Partner),
    /// Under the partner's prefix, but no route of it.
    Unknown(&'static Partner),
}

/// Every partner's routes, split into segments once at start-up, so that
/// routing a request allocates nothing.
pub(crate) struct RouteTable {
    routes: Vec<(Vec<String>, &'static Partner)>,
}

impl RouteTable {
    /// The routes of [`PARTNERS`].
    pub(crate) fn new() -> Self {
        let routes = PARTNERS
            .iter()
            .flat_map(|&partner| {
                (partner.routes)()
                    .into_iter()
                    .map(move |route| (segments(&route).map(str::to_owned).collect(), partner))
            })
            .collect();
        Self { routes }
    }

    /// The partner serving `path`, if any.
    pub(crate) fn find(&self, path: &str) -> Option<Found> {
        let route = self
            .routes
            .iter()
            .find(|(template, _)| matches_template(template, path));
        match route {
            Some((_, partner)) => Some(Found::Route(partner)),
            None => PARTNERS
                .iter()
                .find(|p| p.prefix.is_some_and(|prefix| path.starts_with(prefix)))
                .map(|partner| Found::Unknown(partner)),
        }
    }
}

/// A path's segments, a trailing `/` aside.
fn segments(path: &str) -> std::str::Split<'_, char> {
    path.trim_end_matches('/').split('/')
}

/// Whether `path` is the template of these segments, `{…}` matching any
/// one non-empty segment.
fn matches_template(template: &[String], path: &str) -> bool {
    let mut path = segments(path);
    template.iter().all(|t| match path.next() {
        Some(p) if t.starts_with('{') && t.ends_with('}') => !p.is_empty(),
        Some(p) => t == p,
        None => false,
    }) && path.next().is_none()
}

/// Tata's optional shared secret (neither Tata contract documents
/// authentication): any request while none is configured, else the secret
/// in `X-Webhook-Secret`.
fn tata_secret(
    caller: &Caller,
    headers: &hyper::HeaderMap,
    secret: Option<&shared::secret::SecretList>,
) -> Result<(), Refusal> {
    let credential = match secret {
        None => Credential::NoneConfigured,
        Some(secret) => api_key(headers, "x-webhook-secret", Some(secret))
            .map(Credential::Key)
            .map_err(|_| Refusal::Unauthorised("Invalid or missing webhook secret"))?,
    };
    caller.authenticated(credential);
    Ok(())
}

/// Every partner route: (method, path template), for the OpenAPI check.
pub(crate) fn routes() -> Vec<(&'static str, String)> {
    PARTNERS
        .iter()
        .flat_map(|partner| (partner.routes)())
        .map(|route| ("POST", route))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(template: &str, path: &str) -> bool {
        let template: Vec<String> = segments(template).map(str::to_owned).collect();
        matches_template(&template, path)
    }

    #[test]
    fn templates_match_one_segment_per_placeholder() {
        assert!(matches("/a/{id}/b", "/a/7/b"));
        assert!(matches("/api/webhook/", "/api/webhook"));
        assert!(!matches("/a/{id}/b", "/a//b"));
        assert!(!matches("/a/{id}/b", "/a/7/8/b"));
        assert!(!matches("/a/{id}/b", "/a/7"));
    }

    #[test]
    fn every_route_belongs_to_exactly_one_partner() {
        let table = RouteTable::new();
        for (_, route) in routes() {
            let owners = table
                .routes
                .iter()
                .filter(|(template, _)| matches_template(template, &route))
                .count();
            assert_eq!(owners, 1, "{route}");
            assert!(matches!(table.find(&route), Some(Found::Route(_))));
        }
        let sources: std::collections::HashSet<_> = PARTNERS.iter().map(|p| p.source).collect();
        assert_eq!(sources.len(), PARTNERS.len(), "one partner per source");
        assert!(matches!(
            table.find("/api/v1/webhooks/nothing"),
            Some(Found::Unknown(p)) if p.source == Source::CrmEvents
        ));
        assert!(table.find("/nothing").is_none());
    }
}
