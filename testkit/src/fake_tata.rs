//! Tata's WhatsApp send API as a real HTTP server on loopback: messages
//! sent (`POST /v1/whatsapp/messages`, answered as told), the template
//! list (`GET /v1/whatsapp/templates`, whatever the test set) and media
//! downloads (`GET /v1/whatsapp/media/{id}`: the files the test put there,
//! `404` for any other, as for expired media).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// What the fake Tata API does with its next request.
#[derive(Debug, Clone)]
pub enum TataAnswer {
    /// 200 with a fresh `wamid` (`{"messages": [{"id": …}]}`).
    Sent,
    /// This status and body.
    Status(u16, String),
    /// Never answers (the connection stays open).
    Hang,
    /// Waits, then answers as [`TataAnswer::Sent`].
    SentAfter(Duration),
}

/// One request the fake Tata API received.
#[derive(Debug, Clone)]
pub struct TataCall {
    /// The request path.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: serde_json::Value,
    /// The `wamid` it answered with, if it did.
    pub wamid: Option<String>,
}

/// A stand-in for Tata's WhatsApp send API: a real HTTP server on loopback
/// that records every request and answers as told (queued answers first,
/// then [`TataAnswer::Sent`]).
pub struct FakeTata {
    /// Its base URL (`TATA_WHATSAPP_API_URL`).
    pub url: String,
    calls: std::sync::Arc<std::sync::Mutex<Vec<TataCall>>>,
    answers: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<TataAnswer>>>,
    templates: Templates,
    media: Media,
    stop: CancellationToken,
}

/// A media file the fake serves: its `Content-Type`, its bytes, and the
/// statuses it fails with first.
#[derive(Debug, Clone, Default)]
struct MediaFile {
    content_type: String,
    bytes: Vec<u8>,
    failures: std::collections::VecDeque<u16>,
    requests: usize,
}

/// The fake's media files, by media id.
type Media = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, MediaFile>>>;

/// The template list the fake answers with, how many times it was asked
/// for, and the key it wants (401 for any other).
type Templates = std::sync::Arc<std::sync::Mutex<(serde_json::Value, usize, String)>>;

impl FakeTata {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Tata");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let answers = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let stop = CancellationToken::new();
        let templates: Templates = std::sync::Arc::new(std::sync::Mutex::new((
            serde_json::json!({"templates": []}),
            0,
            String::new(),
        )));
        let media: Media = Default::default();
        let (recorded, queued, listed, files, stopped) = (
            calls.clone(),
            answers.clone(),
            templates.clone(),
            media.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let (recorded, queued, listed, files, stopped) = (
                    recorded.clone(),
                    queued.clone(),
                    listed.clone(),
                    files.clone(),
                    stopped.clone(),
                );
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = Self::serve(stream, recorded, queued, listed, files) => {}
                    }
                });
            }
        });
        Self {
            url,
            calls,
            answers,
            templates,
            media,
            stop,
        }
    }

    async fn serve(
        mut stream: TcpStream,
        recorded: std::sync::Arc<std::sync::Mutex<Vec<TataCall>>>,
        queued: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<TataAnswer>>>,
        listed: Templates,
        files: Media,
    ) {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if raw.len() > 64 * 1024 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = raw[head_end + 4..].to_vec();
        while body.len() < length {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        if head.starts_with("GET ") && path == "/v1/whatsapp/templates" {
            let response = {
                let mut list = listed.lock().expect("templates");
                list.1 += 1;
                if header("authorization").as_deref() == Some(list.2.as_str()) {
                    list.0.to_string()
                } else {
                    String::new()
                }
            };
            let reply = format!(
                "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{response}",
                if response.is_empty() { 401 } else { 200 },
                response.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        if head.starts_with("GET ")
            && let Some(id) = path.strip_prefix("/v1/whatsapp/media/")
        {
            let (status, content_type, bytes) = {
                let mut files = files.lock().expect("media");
                match files.get_mut(id) {
                    Some(file) => {
                        file.requests += 1;
                        match file.failures.pop_front() {
                            Some(status) => (status, "text/plain".to_owned(), b"failed".to_vec()),
                            None => (200, file.content_type.clone(), file.bytes.clone()),
                        }
                    }
                    None => (404, "text/plain".to_owned(), b"media not found".to_vec()),
                }
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
            return;
        }
        let answer = queued
            .lock()
            .expect("answers")
            .pop_front()
            .unwrap_or(TataAnswer::Sent);
        let mut call = TataCall {
            path,
            authorization: header("authorization"),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            wamid: None,
        };
        let (status, response) = match answer {
            TataAnswer::Hang => {
                recorded.lock().expect("calls").push(call);
                std::future::pending::<()>().await;
                return;
            }
            TataAnswer::Status(status, body) => (status, body),
            TataAnswer::Sent | TataAnswer::SentAfter(_) => {
                if let TataAnswer::SentAfter(delay) = answer {
                    tokio::time::sleep(delay).await;
                }
                let wamid = format!("wamid.fake-{}", uuid::Uuid::now_v7().simple());
                call.wamid = Some(wamid.clone());
                (
                    200,
                    serde_json::json!({"messages": [{"id": wamid}]}).to_string(),
                )
            }
        };
        recorded.lock().expect("calls").push(call);
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{response}",
            response.len()
        );
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// Queues how the next requests are answered, in order.
    pub fn answer(&self, answers: impl IntoIterator<Item = TataAnswer>) {
        self.answers.lock().expect("answers").extend(answers);
    }

    /// Sets the template list `GET /v1/whatsapp/templates` answers with
    /// (`{"templates": [...]}`) to requests carrying `key`.
    pub fn set_templates(&self, key: &str, templates: serde_json::Value) {
        let mut list = self.templates.lock().expect("templates");
        list.0 = serde_json::json!({"templates": templates});
        list.2 = key.to_owned();
    }

    /// Puts a media file at `id`, served with `content_type` after failing
    /// with each of `failures` first.
    pub fn set_media(&self, id: &str, content_type: &str, bytes: &[u8], failures: &[u16]) {
        self.media.lock().expect("media").insert(
            id.to_owned(),
            MediaFile {
                content_type: content_type.to_owned(),
                bytes: bytes.to_vec(),
                failures: failures.iter().copied().collect(),
                requests: 0,
            },
        );
    }

    /// How many times media `id` was asked for.
    pub fn media_requests(&self, id: &str) -> usize {
        self.media
            .lock()
            .expect("media")
            .get(id)
            .map_or(0, |f| f.requests)
    }

    /// How many times the template list was asked for.
    pub fn template_requests(&self) -> usize {
        self.templates.lock().expect("templates").1
    }

    /// Every message sent so far (`POST /v1/whatsapp/messages`).
    pub fn calls(&self) -> Vec<TataCall> {
        self.calls.lock().expect("calls").clone()
    }
}

impl Drop for FakeTata {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
