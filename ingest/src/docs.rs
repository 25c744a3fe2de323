//! Swagger UI at `/docs` (the CRM contract: "Use the Swagger documentation
//! at `/docs` to test all endpoints interactively"), on `/openapi.json`.
//! Every asset is vendored into the binary (`ingest/assets/swagger-ui/`):
//! nothing loads from outside at run time. `DOCS=off` switches it off.

use crate::http::Reply;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

const INDEX: &str = include_str!("../assets/swagger-ui/index.html");
const INIT: &str = include_str!("../assets/swagger-ui/init.js");
const BUNDLE: &str = include_str!("../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &str = include_str!("../assets/swagger-ui/swagger-ui.css");

/// Swagger UI's pages and assets need inline styles and data: images of
/// its own; scripts and everything else come only from this edge.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// The page or asset at `path` (`/docs`, `/docs/`, `/docs/…`), if it is one.
pub(crate) fn serve(path: &str) -> Option<Reply> {
    let (body, content_type) = match path {
        "/docs" | "/docs/" | "/docs/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/docs/init.js" => (INIT, "text/javascript; charset=utf-8"),
        "/docs/swagger-ui-bundle.js" => (BUNDLE, "text/javascript; charset=utf-8"),
        "/docs/swagger-ui.css" => (CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Some(response)
}
