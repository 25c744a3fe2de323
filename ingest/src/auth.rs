//! Partner authentication, as each contract documents it. Every comparison
//! of a secret is constant-time; nothing here logs a credential.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use hyper::HeaderMap;
use sha2::Sha256;
use shared::secret::SecretList;

type HmacSha256 = Hmac<Sha256>;

/// How far a Standard Webhooks timestamp may be from our clock, either way,
/// before the request counts as a replay.
pub(crate) const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No credential was sent.
    Missing,
    /// A credential was sent and is wrong (or too old, for signatures).
    Invalid,
}

/// Checks a shared key sent in `header` against the accepted `keys`; the
/// matching key's position. With `keys` unset nothing can match, so every
/// request is refused.
pub(crate) fn api_key(
    headers: &HeaderMap,
    header: &str,
    keys: Option<&SecretList>,
) -> Result<usize, AuthError> {
    let sent = headers
        .get(header)
        .map(|v| v.as_bytes())
        .filter(|v| !v.is_empty())
        .ok_or(AuthError::Missing)?;
    keys.and_then(|keys| keys.position(sent))
        .ok_or(AuthError::Invalid)
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

/// Verifies a CRM event: `X-Webhook-Signature` (hex HMAC-SHA256 of the raw
/// body, optionally prefixed `sha256=`), or the Standard Webhooks headers.
/// `now` is the current Unix time in seconds. The position of the secret
/// that verified it.
pub(crate) fn crm_signature(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &SecretList,
    now: i64,
) -> Result<usize, AuthError> {
    if let Some(signature) = headers.get("x-webhook-signature") {
        let hex_signature = signature.to_str().map_err(|_| AuthError::Invalid)?.trim();
        let hex_signature = hex_signature
            .strip_prefix("sha256=")
            .unwrap_or(hex_signature);
        let expected = hex::decode(hex_signature).map_err(|_| AuthError::Invalid)?;
        return secrets
            .values()
            .position(|secret| {
                hmac_sha256(secret.expose().as_bytes(), &[body])
                    .is_some_and(|mac| mac.verify_slice(&expected).is_ok())
            })
            .ok_or(AuthError::Invalid);
    }
    standard_webhooks(headers, body, secrets, now)
}

/// The Standard Webhooks scheme: `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` (space-separated `v1,<base64>` entries) over
/// `"{id}.{timestamp}.{body}"`. A secret written `whsec_<base64>` is used
/// decoded, as the scheme specifies; any other secret as its bytes.
fn standard_webhooks(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &SecretList,
    now: i64,
) -> Result<usize, AuthError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(AuthError::Missing);
    };
    let sent_at: i64 = timestamp.parse().map_err(|_| AuthError::Invalid)?;
    if (now - sent_at).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(AuthError::Invalid);
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .collect();
    secrets
        .values()
        .position(|secret| {
            let secret = secret.expose();
            let key = match secret.strip_prefix("whsec_") {
                Some(encoded) => match BASE64.decode(encoded) {
                    Ok(key) => key,
                    Err(_) => return false,
                },
                None => secret.as_bytes().to_vec(),
            };
            candidates.iter().any(|candidate| {
                hmac_sha256(
                    &key,
                    &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
                )
                .is_some_and(|mac| mac.verify_slice(candidate).is_ok())
            })
        })
        .ok_or(AuthError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn secrets(raw: &str) -> SecretList {
        SecretList::parse(raw).unwrap()
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn hex_hmac(key: &str, body: &[u8]) -> String {
        hex::encode(
            hmac_sha256(key.as_bytes(), &[body])
                .unwrap()
                .finalize()
                .into_bytes(),
        )
    }

    #[test]
    fn hex_signatures_verify_with_any_rotated_secret() {
        let keys = secrets("old-secret-0000001,new-secret-0000002");
        let body = br#"{"event":"new_lead"}"#;
        for (position, key) in ["old-secret-0000001", "new-secret-0000002"]
            .into_iter()
            .enumerate()
        {
            let h = headers(&[("x-webhook-signature", hex_hmac(key, body))]);
            assert_eq!(crm_signature(&h, body, &keys, 0), Ok(position));
        }
        let prefixed = headers(&[(
            "x-webhook-signature",
            format!("sha256={}", hex_hmac("new-secret-0000002", body)),
        )]);
        assert_eq!(crm_signature(&prefixed, body, &keys, 0), Ok(1));
        let tampered = headers(&[(
            "x-webhook-signature",
            hex_hmac("old-secret-0000001", b"other"),
        )]);
        assert_eq!(
            crm_signature(&tampered, body, &keys, 0),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            crm_signature(&HeaderMap::new(), body, &keys, 0),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn standard_webhooks_signatures_verify_within_the_tolerance_only() {
        let raw_key = b"0123456789abcdef0123456789abcdef";
        let secret = format!("whsec_{}", BASE64.encode(raw_key));
        let keys = secrets(&secret);
        let body = br#"{"event":"new_lead"}"#;
        let sign = |ts: i64| {
            let mac =
                hmac_sha256(raw_key, &[b"msg_1.", ts.to_string().as_bytes(), b".", body]).unwrap();
            headers(&[
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.to_string()),
                (
                    "webhook-signature",
                    format!("v1,bogus v1,{}", BASE64.encode(mac.finalize().into_bytes())),
                ),
            ])
        };
        let now = 1_700_000_000;
        assert_eq!(crm_signature(&sign(now - 10), body, &keys, now), Ok(0));
        assert_eq!(
            crm_signature(&sign(now - 301), body, &keys, now),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            crm_signature(&sign(now + 301), body, &keys, now),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn api_keys() {
        let keys = secrets("cardekho-key-000001,cardekho-key-000003");
        let ok = headers(&[("x-api-key", "cardekho-key-000001".into())]);
        assert_eq!(api_key(&ok, "x-api-key", Some(&keys)), Ok(0));
        let rotated = headers(&[("x-api-key", "cardekho-key-000003".into())]);
        assert_eq!(api_key(&rotated, "x-api-key", Some(&keys)), Ok(1));
        let wrong = headers(&[("x-api-key", "cardekho-key-000002".into())]);
        assert_eq!(
            api_key(&wrong, "x-api-key", Some(&keys)),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            api_key(&HeaderMap::new(), "x-api-key", Some(&keys)),
            Err(AuthError::Missing)
        );
        assert_eq!(api_key(&ok, "x-api-key", None), Err(AuthError::Invalid));
    }
}
