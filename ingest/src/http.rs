//! Small HTTP helpers: JSON responses and bounded body reading.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};
use std::time::Duration;

/// Every response body is a small JSON document.
pub(crate) type Reply = Response<Full<Bytes>>;

/// A JSON response with `status`.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    json_bytes(status, Bytes::from(bytes))
}

/// A response whose body is already JSON text.
pub(crate) fn json_bytes(status: StatusCode, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Why a body could not be read; each maps to a 4xx.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over the size limit (413).
    TooLarge,
    /// Not received in time (408).
    Timeout,
    /// The client broke off or sent a malformed body (400).
    Broken(String),
}

/// Reads the whole body, refusing it early when `Content-Length` already
/// says it is too large, and bounding both size and time.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_bytes as u64) {
        return Err(BodyError::TooLarge);
    }
    let body = Limited::new(body, max_bytes);
    match tokio::time::timeout(timeout, body.collect()).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(BodyError::TooLarge)
        }
        Ok(Err(error)) => Err(BodyError::Broken(error.to_string())),
    }
}

/// True for `application/json` and `application/*+json`, with any parameters.
pub(crate) fn is_json_content_type(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let yes = [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/vnd.api+json",
        ];
        for v in yes {
            assert!(
                is_json_content_type(Some(&HeaderValue::from_static(v))),
                "{v}"
            );
        }
        let no = [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonp",
        ];
        for v in no {
            assert!(
                !is_json_content_type(Some(&HeaderValue::from_static(v))),
                "{v}"
            );
        }
        assert!(!is_json_content_type(None));
    }
}
