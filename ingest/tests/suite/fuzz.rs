//! Random bytes and mutated contract examples thrown at every route of the
//! real edge (with valid credentials, so they reach validation): the answer
//! is always a 4xx or a 201, never a 5xx, a hang (the client times out and
//! fails the test) or a crash (the edge stops answering).

use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use testkit::examples::{CALL_CAPTURE, CARDEKHO, CARWALE, CRM, TATA_CALLS, TATA_WHATSAPP};
use testkit::{Edge, every_partner_keyed_env, http, unique_prefix};

const KEY: &str = "fuzz-partner-key-00000001";

/// (path, example body) for every route.
fn targets() -> Vec<(String, &'static str)> {
    let mut targets = vec![
        ("/api/webhook/".to_owned(), TATA_CALLS[1].1),
        ("/webhook/".to_owned(), TATA_WHATSAPP[0].1),
        ("/webhook/".to_owned(), TATA_WHATSAPP[1].1),
        (
            "/admin/mg-digital-leads/source/cardekho".to_owned(),
            CARDEKHO,
        ),
        ("/admin/mg-digital-leads/source/carwale".to_owned(), CARWALE),
        (
            "/functions/v1/webhook-call-capture".to_owned(),
            CALL_CAPTURE[2].1,
        ),
    ];
    targets.extend(
        CRM.iter()
            .map(|e| (format!("/api/v1/webhooks{}", e.path), e.body)),
    );
    targets
}

#[derive(Debug, Clone)]
enum Mutation {
    /// The example as it is.
    Unchanged,
    /// Random bytes instead of the body.
    Bytes(Vec<u8>),
    /// The example cut short.
    Truncate(usize),
    /// One top-level (or `data`) field removed.
    Drop(usize),
    /// One top-level (or `data`) field given another value.
    Replace(usize, Value),
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        prop::collection::vec(any::<i32>().prop_map(Value::from), 0..4).prop_map(Value::Array),
        Just(Value::Object(Default::default())),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Unchanged),
        prop::collection::vec(any::<u8>(), 0..600).prop_map(Mutation::Bytes),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
    ]
}

fn apply(example: &str, mutation: &Mutation) -> Vec<u8> {
    let mut json: Value = serde_json::from_str(example).expect("examples are JSON");
    // Mutate inside `data` when there is one (CRM), so the event stays valid
    // and validation goes deep.
    let target = match json.get_mut("data") {
        Some(Value::Object(_)) => json.get_mut("data").and_then(Value::as_object_mut),
        _ => json.as_object_mut(),
    };
    match (mutation, target) {
        (Mutation::Unchanged, _) => {}
        (Mutation::Bytes(bytes), _) => return bytes.clone(),
        (Mutation::Truncate(at), _) => {
            let text = example.as_bytes();
            return text[..at % (text.len() + 1)].to_vec();
        }
        (Mutation::Drop(i), Some(object)) if !object.is_empty() => {
            let key = object
                .keys()
                .nth(i % object.len())
                .cloned()
                .unwrap_or_default();
            object.remove(&key);
        }
        (Mutation::Replace(i, value), Some(object)) if !object.is_empty() => {
            let key = object
                .keys()
                .nth(i % object.len())
                .cloned()
                .unwrap_or_default();
            object.insert(key, value.clone());
        }
        _ => {}
    }
    json.to_string().into_bytes()
}

#[test]
fn every_route_answers_4xx_or_201_to_random_and_mutated_bodies() {
    testkit::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let prefix = unique_prefix("fuzz");
    let env = every_partner_keyed_env(&prefix, KEY);
    let edge = runtime.block_on(Edge::start(&env));
    let targets = targets();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0..targets.len(),
        mutation(),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.95),
    );
    runner
        .run(&strategy, |(index, mutation, authenticated, json_type)| {
            let (path, example) = &targets[index];
            let body = apply(example, &mutation);
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
            mac.update(&body);
            let signature = hex::encode(mac.finalize().into_bytes());
            let mut headers = vec![(
                "Content-Type",
                if json_type {
                    "application/json"
                } else {
                    "text/plain"
                },
            )];
            if authenticated {
                headers.extend([
                    ("X-API-Key", KEY),
                    ("X-Webhook-Signature", signature.as_str()),
                ]);
            }
            let response = runtime.block_on(http(edge.addr, "POST", path, &headers, &body));
            let allowed = [201, 400, 401, 403, 413, 415];
            if !allowed.contains(&response.status) {
                return Err(TestCaseError::fail(format!(
                    "{path} answered {} to {:?}: {}",
                    response.status,
                    String::from_utf8_lossy(&body),
                    String::from_utf8_lossy(&response.body)
                )));
            }
            let reply: Result<Value, _> = serde_json::from_slice(&response.body);
            prop_assert!(
                reply.is_ok(),
                "{path}: the body of a {} is not JSON",
                response.status
            );
            Ok(())
        })
        .unwrap();
    // Still alive and well after all that.
    assert_eq!(runtime.block_on(edge.get("/healthz")).status, 200);
    runtime.block_on(edge.stop());
    runtime.block_on(testkit::cleanup_prefix(&prefix));
}
