//! The CRM microservice's events under `/api/v1/webhooks`
//! (`docs/contracts/crm-events.md`): the pre-lead and lead lifecycle,
//! customer orders and payments. Every body is
//! `{"event", "source", "data", "timestamp"?}`; the event must fit the
//! endpoint it was sent to.

use super::{
    ContractError, FieldErrors, FieldReader, MAX_ID_CHARS, MAX_STRING_CHARS, messages,
    parse_object, schema,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// `lead_status` values.
pub const LEAD_STATUSES: &[&str] = &[
    "new",
    "contacted",
    "qualified",
    "proposal_sent",
    "negotiation",
    "won",
    "lost",
];
/// `priority` values.
pub const PRIORITIES: &[&str] = &["low", "medium", "high", "critical"];
/// `memo_type` values.
pub const MEMO_TYPES: &[&str] = &["general", "follow_up", "meeting", "call", "email"];
/// `activity_type` values.
pub const ACTIVITY_TYPES: &[&str] = &["call", "email", "meeting", "task", "note"];
/// Lead `source` values.
pub const SOURCES: &[&str] = &[
    "website",
    "referral",
    "social_media",
    "cold_call",
    "walk_in",
    "whatsapp",
    "email",
    "erp",
    "direct",
    "other",
];

/// What an event acts on, and so which id it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Creates a pre-lead (the edge assigns its id).
    NewPreLead,
    /// An existing pre-lead (`pre_lead_id`).
    PreLead,
    /// Creates a lead (the edge assigns its id).
    NewLead,
    /// An existing lead (`lead_id`).
    Lead,
    /// A customer (`customer_id` or `customer_code` in `data`).
    Customer,
}

impl Subject {
    /// The id field naming an existing record, for events on one.
    pub fn id_field(self) -> Option<&'static str> {
        match self {
            Subject::PreLead => Some("pre_lead_id"),
            Subject::Lead => Some("lead_id"),
            _ => None,
        }
    }
}

macro_rules! events {
    ($($variant:ident = $name:literal, $subject:ident, $route:expr;)*) => {
        /// A CRM event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Event { $(#[doc = $name] $variant,)* }

        impl Event {
            /// Every event, in the contract's order.
            pub const ALL: &'static [Event] = &[$(Event::$variant,)*];

            /// The wire name (`event` field).
            pub fn name(self) -> &'static str {
                match self { $(Event::$variant => $name,)* }
            }

            /// What it acts on.
            pub fn subject(self) -> Subject {
                match self { $(Event::$variant => Subject::$subject,)* }
            }

            /// Its own endpoint under `/api/v1/webhooks`, with `{…_id}`
            /// placeholders; `None` for events only the generic endpoint takes.
            pub fn route(self) -> Option<&'static str> {
                match self { $(Event::$variant => $route,)* }
            }
        }
    };
}

events! {
    NewInquiry = "new_inquiry", NewPreLead, Some("/incoming/pre-lead/create");
    PreLeadUpdate = "pre_lead_update", PreLead, Some("/incoming/pre-lead/{pre_lead_id}/update");
    PreLeadDiscard = "pre_lead_discard", PreLead, Some("/incoming/pre-lead/{pre_lead_id}/discard");
    PreLeadContactAdd = "pre_lead_contact_add", PreLead, Some("/incoming/pre-lead/{pre_lead_id}/contact/add");
    PreLeadMemoAdd = "pre_lead_memo_add", PreLead, Some("/incoming/pre-lead/{pre_lead_id}/memo/add");
    PreLeadStatusUpdate = "pre_lead_status_update", PreLead, Some("/incoming/pre-lead/{pre_lead_id}/status/update");
    PreLeadConvert = "pre_lead_convert", PreLead, Some("/incoming/pre-lead/{pre_lead_id}/convert");
    NewLead = "new_lead", NewLead, Some("/incoming/lead/create");
    LeadUpdate = "lead_update", Lead, Some("/incoming/lead/{lead_id}/update");
    LeadDiscard = "lead_discard", Lead, Some("/incoming/lead/{lead_id}/discard");
    LeadContactAdd = "lead_contact_add", Lead, Some("/incoming/lead/{lead_id}/contact/add");
    LeadActivityAdd = "lead_activity_add", Lead, Some("/incoming/lead/{lead_id}/activity/add");
    LeadQualifiedProfileUpdate = "lead_qualified_profile_update", Lead, Some("/incoming/lead/{lead_id}/qualified-profile/update");
    LeadMemoAdd = "lead_memo_add", Lead, Some("/incoming/lead/{lead_id}/memo/add");
    LeadStatusUpdate = "lead_status_update", Lead, Some("/incoming/lead/{lead_id}/status/update");
    LeadConvert = "lead_convert", Lead, Some("/incoming/lead/{lead_id}/convert");
    OrderCreated = "order_created", Customer, None;
    PaymentReceived = "payment_received", Customer, None;
}

impl Event {
    /// The event by wire name.
    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// Matches a path under `/api/v1/webhooks` to its event and the id in
    /// the path. `Some(None)` is the generic `/incoming`.
    #[allow(clippy::type_complexity)]
    pub fn match_path(path: &str) -> Option<Option<(Event, Option<String>)>> {
        let path = path.trim_end_matches('/');
        if path == "/incoming" {
            return Some(None);
        }
        let segments: Vec<&str> = path.split('/').collect();
        Event::ALL.iter().find_map(|&event| {
            let template: Vec<&str> = event.route()?.split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut id = None;
            for (t, s) in template.iter().zip(&segments) {
                if t.starts_with('{') {
                    id = Some((*s).to_owned());
                } else if t != s {
                    return None;
                }
            }
            Some(Some((event, id)))
        })
    }
}

/// A validated CRM webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmWebhook {
    /// The event.
    pub event: Event,
    /// The sending system (`source`), as sent.
    pub source: Option<String>,
    /// The id of the existing record it acts on (from the path, or from
    /// `data` on the generic endpoint); `None` for creations and customer events.
    pub subject_id: Option<String>,
    /// The event's data, as sent.
    pub data: Map<String, Value>,
    /// The sender's timestamp, UTC.
    pub timestamp: Option<DateTime<Utc>>,
}

/// True for ids we accept in paths and `data`: letters, digits, `-`, `_`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An id in `data` may be a string or an integer (the CRM's own ids are).
fn data_id(r: &mut FieldReader<'_>, data: &Map<String, Value>, field: &str) -> Option<String> {
    let id = match data.get(field) {
        None | Some(Value::Null) => {
            r.errors.add(field, messages::REQUIRED);
            return None;
        }
        Some(Value::Number(n)) => super::whole(n)
            .and_then(|n| u64::try_from(n).ok())
            .map(|n| n.to_string())
            .unwrap_or_default(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => String::new(),
    };
    if valid_id(&id) {
        Some(id)
    } else {
        r.errors
            .add(field, "Must be an id of letters, digits, '-' or '_'.");
        None
    }
}

/// How one field of an event's `data` is checked.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Optional text of at most this many characters.
    Text(usize),
    /// Optional, one of these.
    Choice(&'static [&'static str]),
    /// Required, one of these.
    RequiredChoice(&'static [&'static str]),
    /// Optional non-negative amount.
    Amount,
    /// Optional boolean.
    Flag,
    /// Optional ISO 8601 date-time.
    DateTime,
}

impl Rule {
    fn check(self, r: &mut FieldReader<'_>, field: &str) {
        match self {
            Rule::Text(max) => _ = r.optional_str(field, max),
            Rule::Choice(choices) => _ = r.optional_choice(field, choices),
            Rule::RequiredChoice(choices) => _ = r.required_choice(field, choices),
            Rule::Amount => _ = r.optional_amount(field),
            Rule::Flag => _ = r.optional_bool(field),
            Rule::DateTime => _ = r.optional_datetime(field),
        }
    }

    fn schema(self) -> Value {
        match self {
            Rule::Text(max) => schema::text(max),
            Rule::Choice(choices) => schema::choice(choices),
            Rule::RequiredChoice(choices) => schema::required_choice(choices),
            Rule::Amount => schema::amount(),
            Rule::Flag => schema::flag(),
            Rule::DateTime => schema::datetime(),
        }
    }

    fn required(self) -> bool {
        matches!(self, Rule::RequiredChoice(_))
    }
}

/// What the contract says of an event's `data`, field by field. Other
/// fields are kept as sent.
fn rules(event: Event) -> &'static [(&'static str, Rule)] {
    use Rule::{Amount, Choice, DateTime, Flag, RequiredChoice, Text};
    match event {
        Event::NewInquiry | Event::NewLead => &[
            ("source", Choice(SOURCES)),
            ("lead_status", Choice(LEAD_STATUSES)),
            ("priority", Choice(PRIORITIES)),
            ("expected_value", Amount),
            ("email", Text(MAX_STRING_CHARS)),
            ("phone", Text(64)),
        ],
        Event::PreLeadUpdate | Event::LeadUpdate => &[
            ("lead_status", Choice(LEAD_STATUSES)),
            ("priority", Choice(PRIORITIES)),
            ("expected_value", Amount),
        ],
        Event::PreLeadDiscard | Event::LeadDiscard => &[
            ("reason", Text(MAX_STRING_CHARS)),
            ("loss_reason", Text(MAX_STRING_CHARS)),
        ],
        Event::PreLeadContactAdd | Event::LeadContactAdd => &[
            ("is_primary", Flag),
            ("email", Text(MAX_STRING_CHARS)),
            ("phone", Text(64)),
        ],
        Event::PreLeadMemoAdd | Event::LeadMemoAdd => &[
            ("memo_type", Choice(MEMO_TYPES)),
            ("title", Text(MAX_STRING_CHARS)),
            ("content", Text(MAX_STRING_CHARS)),
        ],
        Event::PreLeadStatusUpdate | Event::LeadStatusUpdate => &[
            ("lead_status", RequiredChoice(LEAD_STATUSES)),
            ("remarks", Text(MAX_STRING_CHARS)),
            ("status_date", DateTime),
        ],
        Event::PreLeadConvert => &[("priority", Choice(PRIORITIES)), ("expected_value", Amount)],
        Event::LeadActivityAdd => &[
            ("activity_type", RequiredChoice(ACTIVITY_TYPES)),
            ("scheduled_at", DateTime),
            ("completed_at", DateTime),
        ],
        Event::LeadQualifiedProfileUpdate => &[("budget", Amount)],
        Event::LeadConvert => &[
            ("customer_code", Text(MAX_ID_CHARS)),
            ("credit_limit", Amount),
        ],
        Event::OrderCreated | Event::PaymentReceived => &[
            ("customer_code", Text(MAX_ID_CHARS)),
            ("amount", Amount),
            ("order_value", Amount),
            ("total_amount", Amount),
        ],
    }
}

/// Customer events name their customer by either field.
const CUSTOMER_IDS: &[&str] = &["customer_id", "customer_code"];

/// Checks an event's `data` against what the contract says of it.
fn check_data(event: Event, data: &Map<String, Value>) -> FieldErrors {
    let mut r = FieldReader::new(data);
    for &(field, rule) in rules(event) {
        rule.check(&mut r, field);
    }
    if event.subject() == Subject::Customer && r.first_alias(CUSTOMER_IDS).is_none() {
        r.errors.add("customer_id", messages::REQUIRED);
    }
    r.errors
}

/// The JSON Schema of a body for `event`: sent to its own endpoint (the
/// record's id in the path) or, with `generic`, to `/incoming` (the id in
/// `data`). See [`super::schema`].
pub fn event_schema(event: Event, generic: bool) -> Value {
    let mut properties: Vec<(&str, Value)> = rules(event)
        .iter()
        .map(|&(field, rule)| (field, rule.schema()))
        .collect();
    let mut required: Vec<&str> = rules(event)
        .iter()
        .filter(|(_, rule)| rule.required())
        .map(|&(field, _)| field)
        .collect();
    if let (true, Some(id)) = (generic, event.subject().id_field()) {
        properties.push((id, schema::record_id()));
        required.push(id);
    }
    let mut data = schema::object(&properties, &required);
    if event.subject() == Subject::Customer {
        data["allOf"] = json!([schema::one_of_present(CUSTOMER_IDS)]);
    }
    let name = event.name();
    let mut body = schema::object(
        &[
            (
                "event",
                json!({
                    "type": "string",
                    "maxLength": 64,
                    "pattern": format!(r"^\s*{name}\s*$"),
                    "examples": [name],
                }),
            ),
            ("source", schema::text(MAX_ID_CHARS)),
            ("timestamp", schema::datetime()),
            ("data", data),
        ],
        &["event", "data"],
    );
    body["title"] = Value::from(name);
    body
}

/// The body of `/incoming`: any event, its record's id in `data`.
pub fn generic_schema() -> Value {
    let events: Vec<Value> = Event::ALL.iter().map(|&e| event_schema(e, true)).collect();
    json!({
        "anyOf": events,
        "description": "Any CRM event; an event on an existing record carries its id (`pre_lead_id` or `lead_id`) in `data`.",
    })
}

/// Parses and validates a CRM webhook sent to `endpoint`: the event (and
/// the id from the path) of a specific endpoint, or `None` for the generic
/// `/incoming`.
pub fn parse(
    body: &[u8],
    endpoint: Option<(Event, Option<String>)>,
) -> Result<CrmWebhook, ContractError> {
    let object = parse_object(body)?;
    let mut r = FieldReader::new(&object);
    let event_name = r.required_str("event", 64);
    let source = r.optional_str("source", MAX_ID_CHARS);
    let timestamp = r.optional_datetime("timestamp");
    let data = match object.get("data") {
        Some(Value::Object(data)) => Some(data),
        None | Some(Value::Null) => {
            r.errors.add("data", messages::REQUIRED);
            None
        }
        Some(_) => {
            r.errors.add("data", messages::OBJECT);
            None
        }
    };
    let event = event_name
        .as_deref()
        .and_then(|name| match Event::from_name(name) {
            None => {
                r.errors.add("event", format!("Unknown event '{name}'."));
                None
            }
            Some(event) => match &endpoint {
                Some((expected, _)) if *expected != event => {
                    r.errors.add(
                        "event",
                        format!(
                            "Event '{name}' does not match this endpoint, which takes '{}'.",
                            expected.name()
                        ),
                    );
                    None
                }
                _ => Some(event),
            },
        });
    let mut subject_id = None;
    if let (Some(event), Some(data)) = (event, data) {
        subject_id = match (&endpoint, event.subject().id_field()) {
            (Some((_, Some(id))), Some(field)) => {
                if !valid_id(id) {
                    r.errors
                        .add(field, "Must be an id of letters, digits, '-' or '_'.");
                }
                Some(id.clone())
            }
            (None, Some(field)) => {
                let mut ids = FieldReader::new(data);
                let id = data_id(&mut ids, data, field);
                r.errors.absorb("data", ids.errors);
                id
            }
            _ => None,
        };
        r.errors.absorb("data", check_data(event, data));
    }
    let data = data.cloned();
    r.finish(|| {
        Some(CrmWebhook {
            event: event?,
            source,
            subject_id,
            data: data?,
            timestamp,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_events() {
        assert_eq!(Event::match_path("/incoming"), Some(None));
        assert_eq!(
            Event::match_path("/incoming/lead/789/status/update"),
            Some(Some((Event::LeadStatusUpdate, Some("789".into()))))
        );
        assert_eq!(
            Event::match_path("/incoming/pre-lead/create"),
            Some(Some((Event::NewInquiry, None)))
        );
        assert_eq!(Event::match_path("/incoming/lead/789/fly"), None);
        for event in Event::ALL {
            if let Some(route) = event.route() {
                let path = route
                    .replace("{pre_lead_id}", "1")
                    .replace("{lead_id}", "1");
                assert_eq!(Event::match_path(&path).unwrap().unwrap().0, *event);
            }
        }
    }

    #[test]
    fn the_event_must_fit_the_endpoint() {
        let body = br#"{"event":"lead_update","source":"erp","data":{}}"#;
        let Err(ContractError::Fields(errors)) =
            parse(body, Some((Event::PreLeadUpdate, Some("1".into()))))
        else {
            panic!("expected a mismatch")
        };
        assert!(errors.get("event").unwrap()[0].contains("pre_lead_update"));
        let ok = parse(body, Some((Event::LeadUpdate, Some("789".into())))).unwrap();
        assert_eq!(ok.subject_id.as_deref(), Some("789"));
    }

    #[test]
    fn the_generic_endpoint_needs_the_id_in_data() {
        let Err(ContractError::Fields(errors)) = parse(
            br#"{"event":"lead_status_update","data":{"lead_status":"won"}}"#,
            None,
        ) else {
            panic!("expected a missing id")
        };
        assert!(errors.get("data.lead_id").is_some());
        let ok = parse(
            br#"{"event":"lead_status_update","data":{"lead_id":789,"lead_status":"won"}}"#,
            None,
        )
        .unwrap();
        assert_eq!(ok.subject_id.as_deref(), Some("789"));
        let order = parse(
            br#"{"event":"order_created","data":{"customer_code":"CUST-1","amount":5000}}"#,
            None,
        )
        .unwrap();
        assert_eq!(order.event, Event::OrderCreated);
    }

    #[test]
    fn status_updates_need_a_known_status() {
        let endpoint = Some((Event::LeadStatusUpdate, Some("7".into())));
        let Err(ContractError::Fields(errors)) = parse(
            br#"{"event":"lead_status_update","data":{}}"#,
            endpoint.clone(),
        ) else {
            panic!()
        };
        assert_eq!(
            errors.get("data.lead_status").unwrap()[0],
            messages::REQUIRED
        );
        let Err(ContractError::Fields(errors)) = parse(
            br#"{"event":"lead_status_update","data":{"lead_status":"maybe"}}"#,
            endpoint,
        ) else {
            panic!()
        };
        assert!(errors.get("data.lead_status").is_some());
    }
}
