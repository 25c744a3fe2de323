//! Tata's WhatsApp API as the worker calls it: sending a message, and
//! (see [`crate::templates`]) listing the account's templates. Every call
//! is bounded by `TATA_WHATSAPP_TIMEOUT_MS`, and its result says what the
//! caller must do: done, refused for good, or try again later.

use crate::config::TataWhatsappApi;
use shared::replies::SendRequest;
use std::time::Duration;

/// Longest part of Tata's error answer kept as the reason.
const MAX_REASON_CHARS: usize = 500;

/// Tata's send API, ready to call.
#[derive(Clone)]
pub struct TataClient {
    http: reqwest::Client,
    messages_url: String,
    api: TataWhatsappApi,
}

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
            api,
        })
    }

    /// One call's limit (`TATA_WHATSAPP_TIMEOUT_MS`).
    pub fn timeout(&self) -> Duration {
        self.api.timeout
    }

    /// One send, as Tata's send API describes it.
    pub(crate) async fn send(&self, request: &SendRequest) -> CallResult {
        let body = serde_json::json!({
            "to": request.to_digits(),
            "type": "text",
            "text": {"body": request.message, "preview_url": false},
        });
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
