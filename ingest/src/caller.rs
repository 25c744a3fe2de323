//! Who sent a request: the TCP peer, the client's address (taken from
//! `X-Forwarded-For` only when the peer is a trusted proxy), which of the
//! partner's credentials it presented, and the ingest id it was accepted
//! as: for the CRM's per-IP limit, the audit headers and the access log.

use hyper::HeaderMap;
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

/// The credential a request was let in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// The n-th configured key or secret (0 for the first): its position,
    /// never its value, so logs show which key a partner uses and when it
    /// moves to a rotated one.
    Key(usize),
    /// None: the route has no secret configured (allowed by its contract).
    NoneConfigured,
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Key(index) => write!(f, "key {}", index + 1),
            Credential::NoneConfigured => f.write_str("none configured"),
        }
    }
}

/// One request's caller.
#[derive(Debug)]
pub(crate) struct Caller {
    /// The TCP peer (a proxy, when there is one).
    pub(crate) peer: SocketAddr,
    /// The client: the peer, or the address a trusted proxy forwarded.
    pub(crate) client: IpAddr,
    credential: OnceLock<Credential>,
    accepted: OnceLock<uuid::Uuid>,
}

impl Caller {
    /// The caller of a request from `peer` with `headers`, given the
    /// `TRUSTED_PROXIES`.
    pub(crate) fn new(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Self {
        Self {
            peer,
            client: client_address(peer.ip(), headers, trusted),
            credential: OnceLock::new(),
            accepted: OnceLock::new(),
        }
    }

    /// Records the credential that let the request in (the first one
    /// recorded stands).
    pub(crate) fn authenticated(&self, credential: Credential) {
        let _ = self.credential.set(credential);
    }

    /// The credential that let the request in, if one did.
    pub(crate) fn credential(&self) -> Option<Credential> {
        self.credential.get().copied()
    }

    /// Records the ingest id of the webhook the request was accepted as.
    pub(crate) fn accepted(&self, ingest_id: uuid::Uuid) {
        let _ = self.accepted.set(ingest_id);
    }

    /// The ingest id of the accepted webhook, if it was accepted.
    pub(crate) fn ingest_id(&self) -> Option<uuid::Uuid> {
        self.accepted.get().copied()
    }
}

/// The client's address. Without a trusted peer, the peer itself: anyone
/// can write `X-Forwarded-For`. From a trusted proxy, the header's entries
/// are read from the right (the nearest hop first), skipping trusted
/// proxies; the first address that is not one is the client. A malformed
/// entry ends the walk at the last trusted hop, which is then the client.
pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = parse_hop(hop) else {
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    hop.parse::<SocketAddr>().ok().map(|socket| socket.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn nets(raw: &[&str]) -> Vec<IpNet> {
        raw.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let headers = forwarded(&["203.0.113.9"]);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("198.51.100.1"), &headers, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &headers, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &headers, &[]),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn a_client_cannot_spoof_past_the_proxies() {
        // The client wrote "1.1.1.1" itself; the proxies appended what they saw.
        let trusted = nets(&["10.0.0.0/8", "192.168.0.0/16"]);
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "192.168.1.1"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9")
        );
        // Ports and IPv6 are read; garbage stops at the last trusted hop.
        let headers = forwarded(&["[2001:db8::7]:4711, 203.0.113.9:80"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9")
        );
        let headers = forwarded(&["203.0.113.9, not-an-address, 192.168.1.1"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers, &trusted),
            ip("192.168.1.1")
        );
        // Every hop trusted: the farthest one.
        let headers = forwarded(&["192.168.1.1, 10.0.0.9"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers, &trusted),
            ip("192.168.1.1")
        );
    }

    #[test]
    fn credentials_are_shown_by_position_only() {
        assert_eq!(Credential::Key(1).to_string(), "key 2");
        assert_eq!(Credential::NoneConfigured.to_string(), "none configured");
    }
}
