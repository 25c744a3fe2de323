//! Tata's WhatsApp API as the worker calls it: sending a message, and
//! (see [`crate::templates`]) listing the account's templates. Every call
//! is bounded by `TATA_WHATSAPP_TIMEOUT_MS`, and its result says what the
//! caller must do: done, refused for good, or try again later.

use crate::config::TataWhatsappApi;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use shared::replies::SendRequest;
use std::time::Duration;

/// What a media id escapes in a URL path: all but RFC 3986's unreserved
/// characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest part of Tata's error answer kept as the reason.
const MAX_REASON_CHARS: usize = 500;

/// Largest template list read (a few hundred templates take a few
/// hundred kilobytes).
const MAX_TEMPLATE_LIST_BYTES: usize = 4 * 1024 * 1024;

/// Tata's send API, ready to call.
#[derive(Clone)]
pub struct TataClient {
    http: reqwest::Client,
    messages_url: String,
    templates_url: String,
    media_url: String,
    api: TataWhatsappApi,
}

/// Longest one media download may take (a 100 MB document on a slow
/// link), whatever `TATA_WHATSAPP_TIMEOUT_MS` says for the API's quick
/// calls.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(300);

impl TataClient {
    /// A client for the configured account.
    pub fn new(api: TataWhatsappApi) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(api.timeout.min(Duration::from_secs(5)))
            .timeout(api.timeout)
            .build()?;
        Ok(Self {
            http,
            messages_url: format!("{}/v1/whatsapp/messages", api.base_url),
            templates_url: format!("{}/v1/whatsapp/templates", api.base_url),
            media_url: format!("{}/v1/whatsapp/media/", api.base_url),
            api,
        })
    }

    /// One call's limit (`TATA_WHATSAPP_TIMEOUT_MS`).
    pub fn timeout(&self) -> Duration {
        self.api.timeout
    }

    /// One send, as Tata's send API describes it.
    pub(crate) async fn send(&self, request: &SendRequest) -> CallResult {
        let mut body = match (&request.template, &request.reaction_to, &request.file) {
            (_, Some(target), _) => serde_json::json!({
                "to": request.to_digits(),
                "type": "reaction",
                "reaction": {"message_id": target, "emoji": request.message},
            }),
            (Some(template), None, _) => serde_json::json!({
                "to": request.to_digits(),
                "type": "template",
                "template": template.to_api(),
            }),
            (None, None, Some(file)) => {
                let mut media = serde_json::json!({"link": file.link});
                if !request.message.is_empty() {
                    media["caption"] = request.message.clone().into();
                }
                if file.kind == "document" {
                    media["filename"] = file.filename.clone().into();
                }
                let mut body = serde_json::json!({
                    "to": request.to_digits(),
                    "type": file.kind,
                });
                body[file.kind.as_str()] = media;
                body
            }
            (None, None, None) => serde_json::json!({
                "to": request.to_digits(),
                "type": "text",
                "text": {"body": request.message, "preview_url": false},
            }),
        };
        if let Some(quote) = &request.quote {
            body["context"] = serde_json::json!({"message_id": quote});
        }
        let answer = self
            .http
            .post(&self.messages_url)
            .header("Authorization", self.api.api_key.expose())
            .json(&body)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return CallResult::Transient(format!(
                    "Tata did not answer within {:?}",
                    self.api.timeout
                ));
            }
            Err(error) => {
                return CallResult::Transient(format!("cannot reach Tata: {error}"));
            }
        };
        let status = response.status();
        let text = match tokio::time::timeout(self.api.timeout, response.text()).await {
            Ok(Ok(text)) => text,
            _ => String::new(),
        };
        let snippet: String = text.chars().take(MAX_REASON_CHARS).collect();
        if status.is_success() {
            let wamid = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["messages"][0]["id"].as_str().map(str::to_owned));
            match wamid {
                Some(wamid) => CallResult::Sent(wamid),
                // Accepted but unreadable: it may well be on its way.
                None => CallResult::Unknown(format!(
                    "Tata answered {status} without a message id: {snippet}"
                )),
            }
        } else if status.is_client_error() {
            CallResult::Refused(format!("Tata refused it ({status}): {snippet}"))
        } else {
            CallResult::Transient(format!("Tata failed ({status}): {snippet}"))
        }
    }
}

impl TataClient {
    /// The account's templates, as Tata's template API lists them.
    pub(crate) async fn templates(&self) -> ListResult {
        let answer = self
            .http
            .get(&self.templates_url)
            .header("Authorization", self.api.api_key.expose())
            .send()
            .await;
        let mut response = match answer {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return ListResult::Transient(format!(
                    "Tata did not answer within {:?}",
                    self.api.timeout
                ));
            }
            Err(error) => return ListResult::Transient(format!("cannot reach Tata: {error}")),
        };
        let status = response.status();
        let mut body = Vec::new();
        let read = tokio::time::timeout(self.api.timeout, async {
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_TEMPLATE_LIST_BYTES {
                    return Ok(false);
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<bool, reqwest::Error>(true)
        })
        .await;
        let snippet: String = String::from_utf8_lossy(&body)
            .chars()
            .take(MAX_REASON_CHARS)
            .collect();
        if status.is_client_error() {
            return ListResult::Refused(format!(
                "Tata refused the template list ({status}): {snippet}"
            ));
        }
        if !status.is_success() {
            return ListResult::Transient(format!("Tata failed ({status}): {snippet}"));
        }
        match read {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                return ListResult::Transient(format!(
                    "Tata's template list is over {MAX_TEMPLATE_LIST_BYTES} bytes"
                ));
            }
            Ok(Err(error)) => {
                return ListResult::Transient(format!("reading Tata's template list: {error}"));
            }
            Err(_) => {
                return ListResult::Transient(format!(
                    "Tata's template list did not arrive within {:?}",
                    self.api.timeout
                ));
            }
        }
        match serde_json::from_slice::<shared::templates::TemplateList>(&body) {
            Ok(list) => ListResult::Listed(list.templates),
            Err(error) => ListResult::Transient(format!(
                "Tata's template list does not read ({error}): {snippet}"
            )),
        }
    }
}

impl TataClient {
    /// The pause before a failed media download is tried again (doubling
    /// each time after).
    pub(crate) fn media_retry_after(&self) -> Duration {
        self.api.media_retry
    }

    /// Longest one media download may take.
    pub(crate) fn media_timeout(&self) -> Duration {
        MEDIA_TIMEOUT.max(self.api.timeout)
    }

    /// Downloads media `media_id` (`GET {base}/v1/whatsapp/media/{id}`),
    /// reading at most `limit` bytes of it.
    pub(crate) async fn media(&self, media_id: &str, limit: usize) -> MediaResult {
        let url = format!(
            "{}{}",
            self.media_url,
            utf8_percent_encode(media_id, PATH_SEGMENT)
        );
        let answer = self
            .http
            .get(url)
            .header("Authorization", self.api.api_key.expose())
            .timeout(self.media_timeout())
            .send()
            .await;
        let mut response = match answer {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return MediaResult::Transient(format!(
                    "Tata did not answer within {:?}",
                    self.media_timeout()
                ));
            }
            Err(error) => return MediaResult::Transient(format!("cannot reach Tata: {error}")),
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return MediaResult::Expired;
        }
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let snippet: String = text.chars().take(MAX_REASON_CHARS).collect();
            return if status.is_client_error() {
                MediaResult::Refused(format!("Tata refused the download ({status}): {snippet}"))
            } else {
                MediaResult::Transient(format!("Tata failed ({status}): {snippet}"))
            };
        }
        let announced = response.content_length();
        if announced.is_some_and(|n| n > limit as u64) {
            return MediaResult::TooLarge {
                size: announced.and_then(|n| usize::try_from(n).ok()),
            };
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(255).collect::<String>());
        let mut bytes = Vec::with_capacity(announced.map_or(0, |n| n as usize));
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() > limit => {
                    return MediaResult::TooLarge { size: None };
                }
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => {
                    return MediaResult::Transient(format!("reading the file from Tata: {error}"));
                }
            }
        }
        MediaResult::Fetched {
            content_type,
            bytes,
        }
    }
}

/// What downloading one media file came to.
pub(crate) enum MediaResult {
    /// The file, with the type Tata gave it.
    Fetched {
        content_type: Option<String>,
        bytes: Vec<u8>,
    },
    /// Tata no longer has it (`404`: media expires after 30 days).
    Expired,
    /// Over the size allowed for its kind (its size, when announced).
    TooLarge { size: Option<usize> },
    /// Refused for good (another 4xx: a wrong key, a malformed id).
    Refused(String),
    /// May pass later (timeout, connection, 5xx).
    Transient(String),
}

/// What asking for the template list came to.
pub(crate) enum ListResult {
    Listed(Vec<shared::templates::Template>),
    /// Refused for good (4xx: a wrong key).
    Refused(String),
    /// May pass later (timeout, connection, 5xx, an unreadable answer).
    Transient(String),
}

/// What one call to Tata came to.
pub(crate) enum CallResult {
    /// Accepted, with its message id.
    Sent(String),
    /// Refused for good (4xx).
    Refused(String),
    /// May pass later (timeout, connection, 5xx).
    Transient(String),
    /// Accepted without an id we can read.
    Unknown(String),
}
