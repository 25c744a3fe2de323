//! `GET /ajax/events`: the Server-Sent Events stream of one open page.
//! It carries the changes its user may see (see [`visible`]): the page
//! asks for the data again when it hears of one. A page that reconnects
//! sends the last id it saw (`Last-Event-ID`, which `EventSource` sends by
//! itself) and first hears what it missed; when that cannot be told (too
//! old, too many, or it fell behind), it hears `reset` and reloads what it
//! shows.

use super::feed::{Pushed, replay};
use crate::AppState;
use crate::auth::Staff;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use store::live::ChangeKind;
use tokio::sync::{broadcast, mpsc};

/// How long one stream lasts: the page reconnects by itself (and resumes),
/// so no connection is held forever.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

/// How long the page waits before reconnecting after a drop.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Whether `staff` may hear of `change`: a notification only its
/// addressee; otherwise what they may see of the lead (all of it for
/// managers and operators, their own leads and their teams' unassigned
/// ones for sales).
pub fn visible(staff: &Staff, change: &Pushed) -> bool {
    if let Some(user) = change.user {
        return user == staff.user_id;
    }
    if staff.role.sees_all_leads() {
        return true;
    }
    if !change.lead_found {
        return false;
    }
    change.owner == Some(staff.user_id)
        || (change.owner.is_none() && change.team.is_none_or(|t| staff.teams.contains(&t)))
}

/// The event a page receives for `change`.
fn event(staff: &Staff, change: &Pushed) -> Event {
    let mut data = json!({
        "lead": change.lead,
        "mine": change.owner == Some(staff.user_id),
    });
    // The chat panel knows conversations by number.
    if matches!(change.kind, ChangeKind::Message | ChangeKind::Reply) {
        data["phone"] = json!(change.phone);
    }
    Event::default()
        .id(change.id.to_string())
        .event(change.kind.name())
        .data(data.to_string())
}

/// Tells the page to reload what it shows.
fn reset() -> Event {
    Event::default().event("reset").data("{}")
}

/// The id a reconnecting page saw last (`Last-Event-ID`).
fn last_seen(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .filter(|id: &i64| *id >= 0)
}

/// `GET /ajax/events`.
pub async fn events(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    headers: HeaderMap,
) -> Response {
    // Subscribed before reading what was missed: nothing falls between.
    let mut changes = state.live.subscribe();
    let read_up_to = state.live.read_up_to();
    let (sender, mut receiver) = mpsc::channel::<Event>(64);
    let shutdown = state.shutdown.clone();
    let db = state.db.clone();
    let last = last_seen(&headers);
    tokio::spawn(async move {
        let first = Event::default().retry(RECONNECT_AFTER).comment("leadpipe");
        if sender.send(first).await.is_err() {
            return;
        }
        if let Some(last) = last {
            match replay(&db, last, read_up_to).await {
                Ok(Some(missed)) => {
                    for change in missed.iter().filter(|c| visible(&staff, c)) {
                        if sender.send(event(&staff, change)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    if sender.send(reset()).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "replaying the change feed failed; the page reloads");
                    if sender.send(reset()).await.is_err() {
                        return;
                    }
                }
            }
        }
        let ends = tokio::time::sleep(STREAM_LIFETIME);
        tokio::pin!(ends);
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut ends => return,
                _ = sender.closed() => return,
                next = changes.recv() => next,
            };
            let out = match next {
                Ok(change) if visible(&staff, &change) => event(&staff, &change),
                Ok(_) => continue,
                // Fell behind: what it missed is gone from the channel.
                Err(broadcast::error::RecvError::Lagged(_)) => reset(),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if sender.send(out).await.is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
        .map(Ok::<Event, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
