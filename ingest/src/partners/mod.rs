//! One file per partner contract, each declaring its [`Partner`]: the
//! routes it serves, its error shape, its source (the metric and log
//! label) and the variable holding its secrets. The router, the secrets'
//! configuration, the metric labels, the start-up warnings and the OpenAPI
//! check are all built from [`PARTNERS`], so a new partner is one new file
//! and one line here (README, "Adding a partner").
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
use crate::http::Reply;
use crate::refusal::{ErrorShape, Refusal};
use hyper::Request;
use hyper::body::Incoming;
use shared::Source;
use shared::config::{ConfigError, Env};
use shared::secret::SecretList;
use std::collections::HashMap;
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
    /// Where its secrets are configured, and what its routes do without.
    pub(crate) secret: Secret,
    /// Handles a `POST` to one of its routes (the path is the request's).
    pub(crate) handle:
        for<'a> fn(&'a AppState, &'a Caller, Request<Incoming>, &'a str) -> Answer<'a>,
}

/// A partner's credential, as the edge's configuration names it.
pub(crate) struct Secret {
    /// The environment variable holding its accepted secrets
    /// (comma-separated, so that they can be rotated).
    pub(crate) variable: &'static str,
    /// What its routes do while the variable is unset.
    pub(crate) when_unset: WhenUnset,
}

/// What a partner's routes do with no secret configured.
pub(crate) enum WhenUnset {
    /// They accept requests without a credential, as the contract
    /// documents; the text says what is open, for the start-up warning.
    Open(&'static str),
    /// They refuse every request: the contract requires a credential.
    Refused,
}

impl Partner {
    /// The start-up warning, when the configuration leaves this partner's
    /// routes open or shut for want of a secret.
    pub(crate) fn warning(&self, secrets: &PartnerSecrets) -> Option<String> {
        if secrets.get(self.source).is_some() {
            return None;
        }
        let variable = self.secret.variable;
        Some(match self.secret.when_unset {
            WhenUnset::Open(what) => format!("{variable} is not set: {what}"),
            WhenUnset::Refused => {
                format!("{variable} is not set: every request to its endpoint is refused")
            }
        })
    }
}

/// The partners' accepted secrets, by source, read from the variables
/// each partner's declaration names ([`crate::partners`]). A source with
/// none configured is absent: there are no default secrets.
#[derive(Debug, Clone, Default)]
pub struct PartnerSecrets(HashMap<Source, SecretList>);

impl PartnerSecrets {
    /// Reads every partner's secret variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::read(env, PARTNERS)
    }

    /// Reads the secret variables `partners` declare.
    pub(crate) fn read(env: &Env, partners: &[&Partner]) -> Result<Self, ConfigError> {
        let mut secrets = HashMap::new();
        for partner in partners {
            if let Some(list) = env.secrets(partner.secret.variable)? {
                secrets.insert(partner.source, list);
            }
        }
        Ok(Self(secrets))
    }

    /// The secrets accepted from `source`; `None` while its variable is
    /// unset.
    pub fn get(&self, source: Source) -> Option<&SecretList> {
        self.0.get(&source)
    }
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
        Self::of(PARTNERS)
    }

    /// The routes of `partners`.
    fn of(partners: &'static [&'static Partner]) -> Self {
        let routes = partners
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
    use shared::config::Env;

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

    /// README's "Adding a partner", checked: a portal on the digital-leads
    /// contract declared here and nowhere else is routed, configured from
    /// its own variable and warned about, and leaves the others alone.
    #[test]
    fn a_declaration_is_all_the_edge_needs_of_a_partner() {
        const TEST_PORTAL: Partner =
            digital_leads::portal(Source::Cardekho, "LEAD_API_KEY_TEST", || {
                vec!["/admin/mg-digital-leads/source/test-portal".to_owned()]
            });
        const DECLARED: &[&Partner] = &[&TEST_PORTAL, &crm::PARTNER];
        let table = RouteTable::of(DECLARED);
        assert!(matches!(
            table.find("/admin/mg-digital-leads/source/test-portal"),
            Some(Found::Route(p)) if p.secret.variable == "LEAD_API_KEY_TEST"
        ));
        assert!(
            table
                .find("/admin/mg-digital-leads/source/cardekho")
                .is_none()
        );

        let unset = Env::from_pairs(&[]);
        let secrets = PartnerSecrets::read(&unset, DECLARED).unwrap();
        assert_eq!(
            TEST_PORTAL.warning(&secrets).as_deref(),
            Some("LEAD_API_KEY_TEST is not set: every request to its endpoint is refused")
        );
        assert_eq!(
            crm::PARTNER.warning(&secrets).as_deref(),
            Some("CRM_WEBHOOK_SECRET is not set: CRM events are accepted unsigned")
        );

        let set = Env::from_pairs(&[("LEAD_API_KEY_TEST", "test-portal-key-00001")]);
        let secrets = PartnerSecrets::read(&set, DECLARED).unwrap();
        assert!(
            secrets
                .get(Source::Cardekho)
                .unwrap()
                .matches(b"test-portal-key-00001")
        );
        assert!(secrets.get(Source::CrmEvents).is_none());
        assert_eq!(TEST_PORTAL.warning(&secrets), None);
        let short = Env::from_pairs(&[("LEAD_API_KEY_TEST", "short")]);
        assert_eq!(
            PartnerSecrets::read(&short, DECLARED).unwrap_err().name,
            "LEAD_API_KEY_TEST"
        );
    }
}
