//! A client of the console's event stream (`GET /ajax/events`), as a page's
//! `EventSource` uses it: signed in by cookie, resuming with
//! `Last-Event-ID`. It speaks HTTP/1.0, so the stream's body is plain
//! text until the server closes it (no chunked framing to undo).

use crate::console::StaffClient;
use crate::wait::within;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One Server-Sent Event (comments and retry-only blocks are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `id:` (empty when none).
    pub id: String,
    /// `event:`.
    pub event: String,
    /// `data:`, parsed as JSON.
    pub data: serde_json::Value,
}

/// An open event stream.
pub struct EventStream {
    stream: TcpStream,
    buffer: String,
    /// Every event received so far, in order.
    pub seen: Vec<SseEvent>,
}

impl StaffClient {
    /// Opens the event stream, resuming after `last_event_id` when given.
    pub async fn events(&self, last_event_id: Option<&str>) -> EventStream {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .expect("connect to the console");
        let mut request = format!(
            "GET /ajax/events HTTP/1.0\r\nHost: {}\r\nCookie: {}\r\nAccept: text/event-stream\r\n",
            self.addr, self.cookie
        );
        if let Some(id) = last_event_id {
            request.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        let mut events = EventStream {
            stream,
            buffer: String::new(),
            seen: Vec::new(),
        };
        let head = within("the event stream's head", Duration::from_secs(10), async {
            loop {
                if let Some(end) = events.buffer.find("\r\n\r\n") {
                    let head = events.buffer[..end].to_owned();
                    events.buffer.drain(..end + 4);
                    return head;
                }
                assert!(
                    events.read().await,
                    "the console closed the stream before its head"
                );
            }
        })
        .await;
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/event-stream"),
            "{head}"
        );
        events
    }
}

impl EventStream {
    /// Reads more; false at the end of the stream.
    async fn read(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.unwrap_or(0);
        self.buffer.push_str(&String::from_utf8_lossy(&chunk[..n]));
        n > 0
    }

    /// The next complete event in the buffer, if there is one.
    fn parse_one(&mut self) -> Option<Option<SseEvent>> {
        let end = self.buffer.find("\n\n")?;
        let block: String = self.buffer.drain(..end + 2).collect();
        let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            }
        }
        if event.is_empty() {
            return Some(None);
        }
        let data = serde_json::from_str(&data).expect("an event's data is JSON");
        Some(Some(SseEvent { id, event, data }))
    }

    /// The next event within `timeout`, or `None` (nothing came, or the
    /// stream ended).
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let found = tokio::time::timeout(timeout, async {
            loop {
                match self.parse_one() {
                    Some(Some(event)) => return Some(event),
                    Some(None) => continue,
                    None => {
                        if !self.read().await {
                            return None;
                        }
                    }
                }
            }
        })
        .await
        .ok()
        .flatten();
        if let Some(event) = &found {
            self.seen.push(event.clone());
        }
        found
    }

    /// Waits for the first event that `wanted` accepts (failing the test
    /// after `timeout`), skipping others.
    pub async fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&SseEvent) -> bool,
    ) -> SseEvent {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(event) if wanted(&event) => return event,
                Some(_) => continue,
                None => panic!("no {what} within {timeout:?}; saw {:?}", self.seen),
            }
        }
    }

    /// The first event `wanted` accepts among those seen already or, when
    /// none is, the next one that arrives (as [`EventStream::until`]).
    pub async fn heard(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&SseEvent) -> bool,
    ) -> SseEvent {
        match self.seen.iter().find(|e| wanted(e)) {
            Some(event) => event.clone(),
            None => self.until(what, timeout, wanted).await,
        }
    }

    /// Every event that arrives within `period`.
    pub async fn drain_for(&mut self, period: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + period;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return got;
            }
            match self.next(left).await {
                Some(event) => got.push(event),
                None => return got,
            }
        }
    }
}
