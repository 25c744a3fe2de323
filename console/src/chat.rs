//! The WhatsApp inbox: conversations by the customer's number, each thread
//! with incoming messages and staff replies (with their delivery state),
//! and sending a reply (published to the broker; a worker sends it).

use crate::auth::Staff;
use crate::conversation::{last_inbound_at, phone_param, require_window, visible_conversation};
use crate::refusal::{JsonRefusal, Refusal};
use crate::whatsapp_content::Content;
use crate::{AppState, ist};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::replies::{MAX_CAPTION_CHARS, MAX_REPLY_CHARS, REPLY_WINDOW, SendRequest};
use shared::{Envelope, Source};
use std::collections::HashMap;
use std::sync::Arc;
use store::entities::{
    conversation_reads, conversation_states, lead_notes, leads, staff_notifications,
    whatsapp_messages, whatsapp_replies,
};
use uuid::Uuid;

/// Most conversations listed at once (newest first).
const MAX_CONVERSATIONS: usize = 200;
/// Messages per page of a thread.
const PAGE: u64 = 50;

fn unavailable(error: impl std::fmt::Display) -> JsonRefusal {
    Refusal::database("the chat panel", error).into()
}

/// One conversation in the list.
#[derive(Debug, Serialize)]
pub struct Conversation {
    /// The customer, E.164.
    pub phone: String,
    /// Their unified lead.
    pub lead_id: Option<Uuid>,
    /// The lead's name, or WhatsApp's profile name.
    pub name: Option<String>,
    /// The newest message's text (a message without text: its kind).
    pub last_message: String,
    /// `inbound` or `outbound`.
    pub last_direction: &'static str,
    /// When it was sent.
    pub last_message_at: DateTime<Utc>,
    /// The same, for people in India.
    pub last_message_at_ist: String,
    /// Incoming messages since the conversation was last opened.
    pub unread: i64,
    /// Whether free text may be sent (within 24 h of the customer's last message).
    pub window_open: bool,
    /// Whose conversation it is: its lead's owner (sign-in name), if any.
    pub owner: Option<String>,
    /// `open`, `pending`, `resolved` or `snoozed` (see
    /// [`store::conversations`]).
    pub status: &'static str,
    /// When the window closes (or closed).
    pub window_closes_at: Option<DateTime<Utc>>,
}

/// A list's line for a message: its text, or what it is (with its caption).
fn text_of(text: Option<String>, kind: Option<String>) -> String {
    let what = match kind.as_deref() {
        None | Some("text") => return text.unwrap_or_default(),
        Some(other) => match crate::whatsapp_content::kind_label(other) {
            Some(label) => label,
            None => return format!("[{other}]"),
        },
    };
    match text.filter(|t| !t.trim().is_empty()) {
        Some(caption) => format!("{what}: {caption}"),
        None => what.to_owned(),
    }
}

/// The inbox's views: a conversation belongs to its lead's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Those whose lead `staff` owns.
    Mine,
    /// Those whose lead nobody owns (or with no lead).
    Unassigned,
    /// Every one `staff` may see.
    All,
}

/// How many conversations each view holds.
#[derive(Debug, Default, Serialize)]
pub struct ViewCounts {
    pub mine: usize,
    pub unassigned: usize,
    pub all: usize,
}

/// Every conversation `staff` may see (those of the leads the desk shows
/// them; one with no lead, only to managers and operators), newest first,
/// optionally only those whose number or name contains `search` and those
/// in `status`, then only those in `view`; with each view's count (search
/// and status applied).
pub async fn conversations(
    db: &DatabaseConnection,
    staff: &Staff,
    search: Option<&str>,
    status: Option<&str>,
    view: View,
) -> Result<(Vec<Conversation>, ViewCounts), sea_orm::DbErr> {
    let sight = crate::desk::visibility::Sight::of(db, staff).await?;
    let backend = db.get_database_backend();
    let rows = |sql: &'static str| db.query_all_raw(Statement::from_string(backend, sql));
    // The newest incoming message of each number.
    let inbound = rows(
        "SELECT m.from_number AS phone, m.text AS text, m.kind AS kind, m.profile_name AS profile, m.sent_at AS at \
         FROM whatsapp_messages m WHERE m.direction = 'inbound' AND m.from_number IS NOT NULL \
         AND m.sent_at = (SELECT MAX(m2.sent_at) FROM whatsapp_messages m2 \
                          WHERE m2.from_number = m.from_number AND m2.direction = 'inbound')",
    )
    .await?;
    // The newest reply to each number.
    let replies = rows(
        "SELECT r.phone AS phone, r.body AS text, r.requested_at AS at FROM whatsapp_replies r \
         WHERE r.requested_at = (SELECT MAX(r2.requested_at) FROM whatsapp_replies r2 WHERE r2.phone = r.phone)",
    )
    .await?;
    let unread = rows(
        "SELECT m.from_number AS phone, COUNT(*) AS unread FROM whatsapp_messages m \
         LEFT JOIN conversation_reads r ON r.phone = m.from_number \
         WHERE m.direction = 'inbound' AND m.from_number IS NOT NULL \
         AND (r.read_at IS NULL OR m.sent_at > r.read_at) GROUP BY m.from_number",
    )
    .await?;
    let mut unread_by_phone = HashMap::new();
    for row in unread {
        let phone: String = row.try_get("", "phone")?;
        unread_by_phone.insert(phone, row.try_get::<i64>("", "unread")?);
    }
    let now = Utc::now();
    let mut by_phone: HashMap<String, Conversation> = HashMap::new();
    for row in inbound {
        let phone: String = row.try_get("", "phone")?;
        let at: DateTime<Utc> = row.try_get("", "at")?;
        let closes = at + REPLY_WINDOW;
        by_phone.insert(
            phone.clone(),
            Conversation {
                lead_id: None,
                name: row.try_get("", "profile")?,
                last_message: text_of(row.try_get("", "text")?, row.try_get("", "kind")?),
                last_direction: "inbound",
                last_message_at: at,
                last_message_at_ist: ist(at),
                unread: unread_by_phone.get(&phone).copied().unwrap_or(0),
                window_open: closes > now,
                window_closes_at: Some(closes),
                owner: None,
                status: store::conversations::OPEN,
                phone,
            },
        );
    }
    for row in replies {
        let phone: String = row.try_get("", "phone")?;
        let at: DateTime<Utc> = row.try_get("", "at")?;
        let text: String = row.try_get("", "text")?;
        let conversation = by_phone
            .entry(phone.clone())
            .or_insert_with(|| Conversation {
                lead_id: None,
                name: None,
                last_message: String::new(),
                last_direction: "outbound",
                last_message_at: at,
                last_message_at_ist: ist(at),
                unread: 0,
                window_open: false,
                window_closes_at: None,
                owner: None,
                status: store::conversations::OPEN,
                phone,
            });
        if at >= conversation.last_message_at || conversation.last_message.is_empty() {
            conversation.last_message = text;
            conversation.last_direction = "outbound";
            conversation.last_message_at = at;
            conversation.last_message_at_ist = ist(at);
        }
    }
    let phones: Vec<String> = by_phone.keys().cloned().collect();
    let mut owner_of: HashMap<String, Uuid> = HashMap::new();
    for chunk in phones.chunks(500) {
        for lead in leads::Entity::find()
            .filter(leads::Column::Phone.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            if !sight.sees(&lead) {
                by_phone.remove(&lead.phone);
            } else if let Some(conversation) = by_phone.get_mut(&lead.phone) {
                conversation.lead_id = Some(lead.id);
                if let Some(owner) = lead.owner_id {
                    owner_of.insert(lead.phone.clone(), owner);
                }
                if lead.name.is_some() {
                    conversation.name = lead.name;
                }
            }
        }
    }
    if !sight.sees_unattached() {
        by_phone.retain(|_, conversation| conversation.lead_id.is_some());
    }
    let needle = search
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    let mut list: Vec<Conversation> = by_phone
        .into_values()
        .filter(|c| {
            needle.as_ref().is_none_or(|n| {
                c.phone.contains(n.as_str())
                    || c.phone.contains(n.trim_start_matches('+'))
                    || c.name
                        .as_ref()
                        .is_some_and(|name| name.to_lowercase().contains(n))
            })
        })
        .collect();
    let mut states: HashMap<String, conversation_states::Model> = HashMap::new();
    let listed: Vec<String> = list.iter().map(|c| c.phone.clone()).collect();
    for chunk in store::chunks::split(&listed, 256) {
        for row in conversation_states::Entity::find()
            .filter(conversation_states::Column::Phone.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            states.insert(row.phone.clone(), row);
        }
    }
    for conversation in &mut list {
        conversation.status = store::conversations::effective(states.get(&conversation.phone), now);
    }
    if let Some(wanted) = status {
        list.retain(|c| c.status == wanted);
    }
    let names = crate::users::names(db).await?;
    let mut counts = ViewCounts::default();
    for conversation in &mut list {
        let owner = owner_of.get(&conversation.phone).copied();
        conversation.owner = owner.and_then(|id| names.get(&id).cloned());
        counts.all += 1;
        match owner {
            Some(id) if id == staff.user_id => counts.mine += 1,
            Some(_) => {}
            None => counts.unassigned += 1,
        }
    }
    list.retain(|c| match view {
        View::All => true,
        View::Mine => owner_of.get(&c.phone) == Some(&staff.user_id),
        View::Unassigned => !owner_of.contains_key(&c.phone),
    });
    list.sort_by_key(|c| std::cmp::Reverse(c.last_message_at));
    list.truncate(MAX_CONVERSATIONS);
    Ok((list, counts))
}

/// `?q=`, `?view=` and `?status=` on the conversation list.
#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    view: Option<String>,
    status: Option<String>,
}

/// `GET /ajax/tata-conversations/`: the conversation list as JSON.
pub async fn list_conversations(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<ListQuery>,
) -> Result<Response, JsonRefusal> {
    let view = match query.view.as_deref() {
        None | Some("") | Some("all") => View::All,
        Some("mine") => View::Mine,
        Some("unassigned") => View::Unassigned,
        Some(other) => {
            return Err(JsonRefusal(Refusal::BadRequest(format!(
                "view must be mine, unassigned or all, not {other:?}"
            ))));
        }
    };
    let status = match query.status.as_deref() {
        None | Some("") | Some("any") => None,
        Some(wanted) => Some(status_param(wanted)?),
    };
    let (list, counts) = conversations(&state.db, &staff, query.q.as_deref(), status, view)
        .await
        .map_err(unavailable)?;
    Ok(no_store(Json(
        json!({"conversations": list, "view": view, "counts": counts}),
    )))
}

/// A conversation status as a request names it (400 for another).
pub(crate) fn status_param(wanted: &str) -> Result<&'static str, JsonRefusal> {
    store::conversations::ALL
        .into_iter()
        .find(|s| *s == wanted)
        .ok_or_else(|| {
            JsonRefusal(Refusal::BadRequest(format!(
                "status must be open, pending, resolved or snoozed, not {wanted:?}"
            )))
        })
}

/// Live data must never come from a cache.
fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One message of a thread.
#[derive(Debug, Serialize)]
pub struct ThreadMessage {
    /// The `wamid` of an incoming message, the reply id of a reply.
    pub id: String,
    /// `inbound`, `outbound`, or `note` (a private note on the lead:
    /// staff only, never sent).
    pub direction: &'static str,
    /// The text (a message without text: its kind in brackets).
    pub text: String,
    /// When it was sent (a reply: when staff sent it).
    pub at: DateTime<Utc>,
    /// The same, for people in India.
    pub at_ist: String,
    /// A reply's delivery state: queued, sending, retrying, sent,
    /// delivered, read, failed or unknown.
    pub state: Option<String>,
    /// Why a reply failed, or why its outcome is unknown.
    pub reason: Option<String>,
    /// Who sent a reply, or wrote a note.
    pub sent_by: Option<String>,
    /// An incoming message's content by type (what the panel draws).
    pub content: Option<Content>,
    /// The message it quotes, when it is a reply to one.
    pub quoted: Option<Quoted>,
    /// The customer's reaction to it (an emoji).
    pub reaction: Option<String>,
    /// Staff's reaction to it, with its delivery state.
    pub our_reaction: Option<OurReaction>,
    /// Tata's id for it (a reply's once sent): what quotes and reactions
    /// name.
    #[serde(skip)]
    pub wamid: Option<String>,
    /// For staff's reaction: the customer's message it is on.
    #[serde(skip)]
    pub reacts_to: Option<String>,
}

/// Staff's reaction on a customer's message.
#[derive(Debug, Clone, Serialize)]
pub struct OurReaction {
    pub emoji: String,
    /// As a reply's: queued, sending, sent, delivered, read, failed, …
    pub state: Option<String>,
    pub by: Option<String>,
}

/// A quoted message, as the panel shows it above the quoting one.
#[derive(Debug, Clone, Serialize)]
pub struct Quoted {
    /// Its `wamid`.
    pub id: String,
    /// Its line (`None`: not stored here, such as a message older than
    /// this system).
    pub text: Option<String>,
}

/// A reply's state as staff see it: the worker's, moved on by Tata's
/// status webhooks once it was sent.
pub fn reply_state(reply: &whatsapp_replies::Model, receipt: Option<&str>) -> String {
    use store::entities::whatsapp_replies::state;
    match (reply.state.as_str(), receipt) {
        (state::SENT, Some(receipt @ ("delivered" | "read" | "failed"))) => receipt.to_owned(),
        (other, _) => other.to_owned(),
    }
}

/// Tata's newest receipt for a sent reply.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// `delivered`, `read` or `failed`.
    pub status: String,
    /// Why it failed, in plain words (from WhatsApp's error).
    pub failure: Option<String>,
}

/// Tata's newest receipt for each sent reply, by `wamid`.
pub async fn receipts(
    db: &DatabaseConnection,
    replies: &[whatsapp_replies::Model],
) -> Result<HashMap<String, Receipt>, sea_orm::DbErr> {
    let wamids: Vec<String> = replies.iter().filter_map(|r| r.wamid.clone()).collect();
    if wamids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(whatsapp_messages::Entity::find()
        .filter(whatsapp_messages::Column::Wamid.is_in(wamids))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|m| {
            let failure = m
                .error_code
                .map(|code| crate::whatsapp_content::failure(code, m.error_title.as_deref()));
            Some((
                m.wamid,
                Receipt {
                    status: m.status?,
                    failure,
                },
            ))
        })
        .collect())
}

/// A page of one conversation: the newest [`PAGE`] messages before
/// `before` (all, when `None`), oldest first, with the staff's private
/// notes on its lead (`lead`) among them (direction `note`: never sent).
pub async fn thread(
    db: &DatabaseConnection,
    phone: &str,
    lead: Option<Uuid>,
    before: Option<DateTime<Utc>>,
) -> Result<(Vec<ThreadMessage>, bool), sea_orm::DbErr> {
    let mut inbound = whatsapp_messages::Entity::find()
        .filter(whatsapp_messages::Column::FromNumber.eq(phone))
        .filter(whatsapp_messages::Column::Direction.eq("inbound"))
        .order_by_desc(whatsapp_messages::Column::SentAt)
        .limit(PAGE + 1);
    let mut replies = whatsapp_replies::Entity::find()
        .filter(whatsapp_replies::Column::Phone.eq(phone))
        .order_by_desc(whatsapp_replies::Column::RequestedAt)
        .limit(PAGE + 1);
    if let Some(before) = before {
        inbound = inbound.filter(whatsapp_messages::Column::SentAt.lt(before));
        replies = replies.filter(whatsapp_replies::Column::RequestedAt.lt(before));
    }
    let inbound = inbound.all(db).await?;
    let replies = replies.all(db).await?;
    let notes = match lead {
        Some(lead) => {
            let mut notes = lead_notes::Entity::find()
                .filter(lead_notes::Column::LeadId.eq(lead))
                .order_by_desc(lead_notes::Column::CreatedAt)
                .limit(PAGE + 1);
            if let Some(before) = before {
                notes = notes.filter(lead_notes::Column::CreatedAt.lt(before));
            }
            notes.all(db).await?
        }
        None => Vec::new(),
    };
    let author_names = if notes.is_empty() {
        HashMap::new()
    } else {
        crate::users::names(db).await?
    };
    let receipts = receipts(db, &replies).await?;
    let sent_files =
        crate::outbound_files::shown(db, replies.iter().filter_map(|r| r.file_id).collect())
            .await?;
    let mut quotes: Vec<(usize, String)> = Vec::new();
    let mut messages: Vec<ThreadMessage> = inbound
        .into_iter()
        .filter_map(|m| {
            let at = m.sent_at?;
            let kind = m.kind.clone().unwrap_or_else(|| "text".into());
            let content = crate::whatsapp_content::content(&kind, m.media.as_ref());
            Some(ThreadMessage {
                text: crate::whatsapp_content::summary(&content, m.text.as_deref()),
                id: m.wamid.clone(),
                direction: "inbound",
                at,
                at_ist: ist(at),
                state: None,
                reason: None,
                sent_by: None,
                content: Some(content),
                quoted: m.quoted_wamid.map(|id| Quoted { id, text: None }),
                reaction: None,
                our_reaction: None,
                wamid: Some(m.wamid),
                reacts_to: None,
            })
        })
        .collect();
    messages.extend(replies.into_iter().map(|r| {
        let receipt = r.wamid.as_ref().and_then(|w| receipts.get(w));
        let state = reply_state(&r, receipt.map(|c| c.status.as_str()));
        let reason = match receipt {
            Some(Receipt {
                failure: Some(failure),
                ..
            }) if state == "failed" => Some(failure.clone()),
            _ => r.failure_reason,
        };
        ThreadMessage {
            id: r.id.to_string(),
            direction: "outbound",
            text: r.body,
            at: r.requested_at,
            at_ist: ist(r.requested_at),
            state: Some(state),
            reason,
            sent_by: Some(r.requested_by),
            content: r.file_id.and_then(|id| sent_files.get(&id).cloned()),
            quoted: r.quoted_wamid.map(|id| Quoted { id, text: None }),
            reaction: None,
            our_reaction: None,
            wamid: r.wamid,
            reacts_to: r.reaction_to,
        }
    }));
    messages.extend(notes.into_iter().map(|n| {
        ThreadMessage {
            id: n.id.to_string(),
            direction: "note",
            text: n.text,
            at: n.created_at,
            at_ist: ist(n.created_at),
            state: None,
            reason: None,
            sent_by: Some(
                author_names
                    .get(&n.author_id)
                    .cloned()
                    .unwrap_or_else(|| "(removed account)".into()),
            ),
            content: None,
            quoted: None,
            reaction: None,
            our_reaction: None,
            wamid: None,
            reacts_to: None,
        }
    }));
    messages.sort_by_key(|m| std::cmp::Reverse(m.at));
    let more = messages.len() > PAGE as usize;
    messages.truncate(PAGE as usize);
    messages.reverse();
    // Reactions go on the message they react to (the newest wins; an
    // empty emoji takes it off); one to a message not on this page stays
    // a line of its own.
    let by_wamid: HashMap<String, usize> = messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((m.wamid.clone()?, i)))
        .collect();
    let mut reacted: Vec<usize> = Vec::new();
    for i in 0..messages.len() {
        if let Some(Content::Reaction { emoji, to }) = messages[i].content.clone()
            && let Some(&target) = by_wamid.get(&to)
        {
            messages[target].reaction = (!emoji.is_empty()).then_some(emoji);
            reacted.push(i);
        }
        // Staff's own, the same way.
        if let Some(to) = messages[i].reacts_to.clone()
            && let Some(&target) = by_wamid.get(&to)
        {
            messages[target].our_reaction = (!messages[i].text.is_empty()).then(|| OurReaction {
                emoji: messages[i].text.clone(),
                state: messages[i].state.clone(),
                by: messages[i].sent_by.clone(),
            });
            reacted.push(i);
        }
    }
    // Quotes: the quoted message's line, from this page or the database.
    for (i, message) in messages.iter().enumerate() {
        if let Some(quoted) = &message.quoted {
            quotes.push((i, quoted.id.clone()));
        }
    }
    let missing: Vec<String> = quotes
        .iter()
        .filter(|(_, id)| !by_wamid.contains_key(id))
        .map(|(_, id)| id.clone())
        .collect();
    let stored = quoted_lines(db, missing).await?;
    for (i, id) in quotes {
        let line = match by_wamid.get(&id) {
            Some(&j) => Some(messages[j].text.clone()),
            None => stored.get(&id).cloned(),
        };
        if let Some(quoted) = messages[i].quoted.as_mut() {
            quoted.text = line;
        }
    }
    let mut index = 0;
    messages.retain(|_| {
        let keep = !reacted.contains(&index);
        index += 1;
        keep
    });
    // Files, as the workers fetched them.
    let with_files: Vec<String> = messages
        .iter()
        .filter(|m| m.direction == "inbound")
        .filter(|m| matches!(m.content, Some(Content::Media { .. })))
        .filter_map(|m| m.wamid.clone())
        .collect();
    let files = crate::media_files::files_of(db, with_files).await?;
    for message in messages.iter_mut().filter(|m| m.direction == "inbound") {
        if let (Some(Content::Media { file, .. }), Some(wamid)) =
            (message.content.as_mut(), message.wamid.as_ref())
        {
            *file = files.get(wamid).cloned();
        }
    }
    Ok((messages, more))
}

/// The lines of quoted messages not on the page: an incoming message's
/// (by its `wamid`) or a reply's (by the `wamid` Tata gave it).
async fn quoted_lines(
    db: &DatabaseConnection,
    wamids: Vec<String>,
) -> Result<HashMap<String, String>, sea_orm::DbErr> {
    if wamids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut lines: HashMap<String, String> = whatsapp_replies::Entity::find()
        .filter(whatsapp_replies::Column::Wamid.is_in(wamids.clone()))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.wamid?, r.body)))
        .collect();
    for m in whatsapp_messages::Entity::find()
        .filter(whatsapp_messages::Column::Wamid.is_in(wamids))
        .filter(whatsapp_messages::Column::Direction.eq("inbound"))
        .all(db)
        .await?
    {
        let kind = m.kind.clone().unwrap_or_else(|| "text".into());
        let content = crate::whatsapp_content::content(&kind, m.media.as_ref());
        lines.insert(
            m.wamid,
            crate::whatsapp_content::summary(&content, m.text.as_deref()),
        );
    }
    Ok(lines)
}

/// `?before=` (RFC 3339) on a thread: the page older than that.
#[derive(Deserialize)]
pub struct ThreadQuery {
    before: Option<String>,
}

/// `GET /ajax/tata-conversations/{phone}/`: one conversation's messages.
pub async fn get_thread(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(phone): Path<String>,
    Query(query): Query<ThreadQuery>,
) -> Result<Response, JsonRefusal> {
    let phone = phone_param(&phone)?;
    let lead = visible_conversation(&state.db, &staff, &phone).await?;
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    JsonRefusal(Refusal::BadRequest(
                        "before must be an RFC 3339 time (the `next_before` of the previous page)"
                            .into(),
                    ))
                })?
                .with_timezone(&Utc),
        ),
    };
    let (messages, more) = thread(&state.db, &phone, lead.as_ref().map(|l| l.id), before)
        .await
        .map_err(unavailable)?;
    let window = last_inbound_at(&state.db, &phone)
        .await
        .map_err(unavailable)?
        .map(|at| at + REPLY_WINDOW);
    let next_before = more
        .then(|| messages.first().map(|m| m.at.to_rfc3339()))
        .flatten();
    let status_row = conversation_states::Entity::find_by_id(phone.clone())
        .one(&state.db)
        .await
        .map_err(unavailable)?;
    let status = store::conversations::effective(status_row.as_ref(), Utc::now());
    Ok(no_store(Json(json!({
        "phone": phone,
        "lead": lead.map(|l| json!({"id": l.id, "name": l.name, "email": l.email, "vehicle": l.vehicle})),
        "window_open": window.is_some_and(|w| w > Utc::now()),
        "window_closes_at": window,
        "window_closes_at_ist": window.map(ist),
        "status": status,
        "snoozed_until": status_row.as_ref().and_then(|r| r.snoozed_until).filter(|_| status == store::conversations::SNOOZED),
        "messages": messages,
        "next_before": next_before,
    }))))
}

/// `POST /ajax/tata-conversations/{phone}/read`: the conversation was seen.
pub async fn mark_read(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(phone): Path<String>,
) -> Result<StatusCode, JsonRefusal> {
    let phone = phone_param(&phone)?;
    let lead = visible_conversation(&state.db, &staff, &phone)
        .await?
        .map(|lead| lead.id);
    // Their "a customer wrote" notices about this conversation are read
    // too: they have read it.
    if let Some(lead) = lead {
        staff_notifications::Entity::update_many()
            .col_expr(staff_notifications::Column::ReadAt, Expr::value(Utc::now()))
            .filter(staff_notifications::Column::UserId.eq(staff.user_id))
            .filter(staff_notifications::Column::LeadId.eq(lead))
            .filter(staff_notifications::Column::Kind.eq(store::desk::CUSTOMER_WROTE))
            .filter(staff_notifications::Column::ReadAt.is_null())
            .exec(&state.db)
            .await
            .map_err(unavailable)?;
    }
    conversation_reads::Entity::insert(conversation_reads::ActiveModel {
        phone: Set(phone),
        read_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(conversation_reads::Column::Phone)
            .update_column(conversation_reads::Column::ReadAt)
            .to_owned(),
    )
    .exec_without_returning(&state.db)
    .await
    .map_err(unavailable)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /ajax/tata-send-reply/`: free text (`message`) or an
/// approved template (`template`: `name`, `language`, `parameters`).
#[derive(Deserialize)]
pub struct ReplyBody {
    phone: Option<String>,
    message: Option<String>,
    template: Option<crate::templates::TemplateChoice>,
    /// The `wamid` of a message in this conversation the reply quotes.
    quote: Option<String>,
    /// A file uploaded to this conversation to send, with `message` as its
    /// caption (see [`crate::outbound_files`]).
    file_id: Option<Uuid>,
}

/// `POST /ajax/tata-send-reply/`: checks the reply, publishes it (persistent,
/// confirmed) for a worker to send, and answers 202 with its id once the
/// broker has it.
pub async fn send_reply(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    body: Result<Json<ReplyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, JsonRefusal> {
    let Json(body) = body.map_err(|rejection| {
        JsonRefusal(Refusal::BadRequest(format!(
            "expected a JSON body {{\"phone\": …, \"message\": …}}: {}",
            rejection.body_text()
        )))
    })?;
    let phone = phone_param(body.phone.as_deref().unwrap_or(""))?;
    if let Some(choice) = body.template {
        if body.message.is_some() {
            return Err(JsonRefusal(Refusal::BadRequest(
                "send either a message or a template, not both".into(),
            )));
        }
        return queue_template(&state, &staff, phone, choice, body.quote).await;
    }
    if let Some(file_id) = body.file_id {
        let caption = body.message.unwrap_or_default();
        let chars = caption.chars().count();
        if chars > MAX_CAPTION_CHARS {
            return Err(JsonRefusal(Refusal::BadRequest(format!(
                "the caption has {chars} characters; WhatsApp takes at most {MAX_CAPTION_CHARS}"
            ))));
        }
        visible_conversation(&state.db, &staff, &phone).await?;
        require_window(&state.db, &phone).await?;
        let quote = quoted(&state.db, &phone, body.quote).await?;
        let file = crate::outbound_files::to_send(&state, file_id, &phone).await?;
        return queue_request(
            &state,
            SendRequest {
                reply_id: Uuid::now_v7(),
                phone,
                message: caption,
                requested_by: staff.username.clone(),
                template: None,
                quote,
                reaction_to: None,
                file: Some(file),
            },
        )
        .await;
    }
    let message = body.message.unwrap_or_default();
    if message.trim().is_empty() {
        return Err(JsonRefusal(Refusal::BadRequest("message is empty".into())));
    }
    let chars = message.chars().count();
    if chars > MAX_REPLY_CHARS {
        return Err(JsonRefusal(Refusal::BadRequest(format!(
            "message has {chars} characters; WhatsApp takes at most {MAX_REPLY_CHARS}"
        ))));
    }
    visible_conversation(&state.db, &staff, &phone).await?;
    require_window(&state.db, &phone).await?;
    let quote = quoted(&state.db, &phone, body.quote).await?;
    queue(&state, &staff, phone, message, None, quote).await
}

/// The body of `POST /ajax/tata-send-template/`.
#[derive(Deserialize)]
pub struct TemplateBody {
    phone: Option<String>,
    #[serde(flatten)]
    choice: crate::templates::TemplateChoice,
    /// The `wamid` of a message in this conversation the template quotes.
    quote: Option<String>,
}

/// `POST /ajax/tata-send-template/` `{"phone", "template", "language",
/// "parameters"}`: an approved template, as `/ajax/tata-send-reply/`
/// sends one; 202 with its id, 400 for an unknown template or a wrong
/// count of fields, 409 for one not approved.
pub async fn send_template(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    body: Result<Json<TemplateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, JsonRefusal> {
    let Json(body) = body.map_err(|rejection| {
        JsonRefusal(Refusal::BadRequest(format!(
            "expected a JSON body {{\"phone\": …, \"template\": …, \"language\": …, \"parameters\": […]}}: {}",
            rejection.body_text()
        )))
    })?;
    let phone = phone_param(body.phone.as_deref().unwrap_or(""))?;
    queue_template(&state, &staff, phone, body.choice, body.quote).await
}

/// Checks and queues a template for `phone`. Templates need no window:
/// they are how a lead who never wrote, or wrote more than a day ago, is
/// reached.
async fn queue_template(
    state: &AppState,
    staff: &Staff,
    phone: String,
    choice: crate::templates::TemplateChoice,
    quote: Option<String>,
) -> Result<Response, JsonRefusal> {
    visible_conversation(&state.db, staff, &phone).await?;
    let quote = quoted(&state.db, &phone, quote).await?;
    let (template, message) = crate::templates::chosen(state, choice).await?;
    queue(state, staff, phone, message, Some(template), quote).await
}

/// A quoted message's id, checked to be one of this conversation's (the
/// customer's message or a reply Tata accepted); 400 otherwise.
async fn quoted(
    db: &DatabaseConnection,
    phone: &str,
    quote: Option<String>,
) -> Result<Option<String>, JsonRefusal> {
    let Some(quote) = quote.filter(|q| !q.trim().is_empty()) else {
        return Ok(None);
    };
    let theirs = whatsapp_messages::Entity::find()
        .filter(whatsapp_messages::Column::Wamid.eq(quote.as_str()))
        .filter(whatsapp_messages::Column::FromNumber.eq(phone))
        .one(db)
        .await
        .map_err(unavailable)?
        .is_some();
    let ours = || async {
        whatsapp_replies::Entity::find()
            .filter(whatsapp_replies::Column::Wamid.eq(quote.as_str()))
            .filter(whatsapp_replies::Column::Phone.eq(phone))
            .one(db)
            .await
            .map_err(unavailable)
            .map(|r| r.is_some())
    };
    if theirs || ours().await? {
        Ok(Some(quote))
    } else {
        Err(JsonRefusal(Refusal::BadRequest(
            "the quoted message is not one of this conversation's".into(),
        )))
    }
}

/// Publishes a checked reply (persistent, confirmed) for a worker to send;
/// 202 with its id once the broker has it.
async fn queue(
    state: &AppState,
    staff: &Staff,
    phone: String,
    message: String,
    template: Option<shared::templates::TemplateSend>,
    quote: Option<String>,
) -> Result<Response, JsonRefusal> {
    queue_request(
        state,
        SendRequest {
            reply_id: Uuid::now_v7(),
            phone,
            message,
            requested_by: staff.username.clone(),
            template,
            quote,
            reaction_to: None,
            file: None,
        },
    )
    .await
}

/// Publishes a checked request (persistent, confirmed) for a worker to
/// send; 202 with its id once the broker has it.
pub(crate) async fn queue_request(
    state: &AppState,
    request: SendRequest,
) -> Result<Response, JsonRefusal> {
    let body = serde_json::to_vec(&request).map_err(unavailable)?;
    let mut envelope = Envelope::new(Source::WhatsappReplies, Vec::new());
    envelope
        .assigned_ids
        .insert("reply_id".into(), request.reply_id.to_string());
    if let Err(error) = state.publisher.publish(&envelope, &body).await {
        tracing::warn!(%error, "could not queue a reply");
        return Ok(Refusal::BrokerUnavailable(
            "the reply could not be queued (broker unavailable); nothing was sent, try again"
                .into(),
        )
        .json());
    }
    tracing::info!(reply_id = %request.reply_id, staff = %request.requested_by, "reply queued");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"reply_id": request.reply_id, "state": "queued"})),
    )
        .into_response())
}
