//! Random JSON shaped like the contracts (their field names, any value
//! types, nested at random) and random bytes: parsers must answer
//! `Ok` or `Err`, never panic.

use super::*;
use proptest::prelude::*;
use serde_json::Value;

const KEYS: &[&str] = &[
    "call_id",
    "caller_number",
    "call_start_time",
    "call_end_time",
    "call_duration",
    "call_status",
    "is_lead",
    "lead_quality",
    "disposition_code",
    "contacts",
    "messages",
    "statuses",
    "from",
    "id",
    "timestamp",
    "type",
    "text",
    "body",
    "status",
    "recipient_id",
    "wa_id",
    "profile",
    "name",
    "customer_name",
    "contact_name",
    "phone_number",
    "mobile",
    "phone",
    "company_id",
    "lead_id",
    "outcome",
    "duration_seconds",
    "next_follow_up",
    "next_follow_up_time",
    "auto_call_followup",
    "call_details",
    "event",
    "source",
    "data",
    "lead_status",
    "priority",
    "memo_type",
    "activity_type",
    "pre_lead_id",
    "customer_id",
    "customer_code",
    "amount",
    "budget",
    "image",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        prop::sample::select(vec![
            "2025-11-07T16:30:00Z",
            "+919876543210",
            "9876543210",
            "1744109205",
            "text",
            "new_lead",
            "lead_status_update",
            "completed",
            "123e4567-e89b-12d3-a456-426614174000",
            "2025-11-27",
            "14:00:00",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(KEYS).prop_map(str::to_owned),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn parse_all(body: &[u8]) {
    use crate::contracts::crm_events::Event;
    let _ = tata_calls::parse(body);
    let _ = tata_whatsapp::parse(body);
    for portal in digital_leads::PORTALS {
        let _ = digital_leads::parse(portal, body);
    }
    let _ = call_capture::parse(body);
    let _ = crm_events::parse(body, None);
    for event in Event::ALL {
        let _ = crm_events::parse(body, Some((*event, Some("789".into()))));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_contract_shaped_json(value in json()) {
        parse_all(value.to_string().as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&bytes);
    }
}
