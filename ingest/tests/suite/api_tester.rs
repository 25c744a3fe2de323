//! The API tester: requests built from every operation of the edge's own
//! `/openapi.json`, and each answer checked against what that document
//! says. A body the document allows must be accepted (2xx); a body it
//! forbids must be refused with a 400 naming the problem. A disagreement
//! either way is a partner misled by the document, so the run collects
//! every one and fails listing them.
//!
//! The requests are the contracts' examples, each mutated at one place
//! anywhere in its tree (removed, emptied, blanked, made null, too long,
//! another type, another format), plus whole bodies that are not objects,
//! and path ids that break or keep their pattern. The oracle is a JSON
//! Schema 2020-12 validator (OpenAPI 3.1's dialect) fed the document as
//! served, with formats checked: the standard ones by the validator, the
//! document's own (`phone`, `whatsapp-id`, `iso8601-date-time`) by the
//! functions the document names.

use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use testkit::examples::{CALL_CAPTURE, CARDEKHO, CARWALE, CRM, TATA_CALLS, TATA_WHATSAPP};
use testkit::{Edge, every_partner_keyed_env, http, unique_prefix};

const KEY: &str = "api-tester-partner-key-01";

/// Requests per operation (the document has 22), unless
/// `API_TESTER_CASES` says otherwise; `API_TESTER_SEED` picks another
/// sequence of requests. The suite's run is fixed, so it fails the same
/// way every time.
fn cases_per_operation() -> usize {
    std::env::var("API_TESTER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(60)
}

fn seed() -> u8 {
    std::env::var("API_TESTER_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7)
}

/// (concrete path, example body) for every example the contracts give.
fn examples() -> Vec<(String, &'static str)> {
    let mut examples: Vec<(String, &'static str)> = TATA_CALLS
        .iter()
        .map(|(_, body)| ("/api/webhook/".to_owned(), *body))
        .collect();
    examples.extend(
        TATA_WHATSAPP
            .iter()
            .map(|(_, body)| ("/webhook/".to_owned(), *body)),
    );
    examples.push((
        "/admin/mg-digital-leads/source/cardekho".to_owned(),
        CARDEKHO,
    ));
    examples.push(("/admin/mg-digital-leads/source/carwale".to_owned(), CARWALE));
    examples.extend(
        CALL_CAPTURE
            .iter()
            .map(|(_, body)| ("/functions/v1/webhook-call-capture".to_owned(), *body)),
    );
    examples.extend(
        CRM.iter()
            .map(|e| (format!("/api/v1/webhooks{}", e.path), e.body)),
    );
    examples
}

/// The document's template for a concrete path (`/lead/789/update` is
/// `/lead/{lead_id}/update`), and its path parameters' values.
fn template_of<'a>(
    templates: impl Iterator<Item = &'a String>,
    path: &str,
) -> Option<(String, BTreeMap<String, String>)> {
    let segments: Vec<&str> = path.split('/').collect();
    templates.into_iter().find_map(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut params = BTreeMap::new();
        for (part, segment) in parts.iter().zip(&segments) {
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                params.insert(name.to_owned(), (*segment).to_owned());
            } else if part != segment {
                return None;
            }
        }
        Some((template.clone(), params))
    })
}

/// One operation's oracle.
struct Operation {
    /// The request body's schema, with the document's components.
    body: jsonschema::Validator,
    /// Each path parameter's schema.
    params: BTreeMap<String, jsonschema::Validator>,
}

/// A validator of `schema` as OpenAPI 3.1 reads it (JSON Schema 2020-12),
/// formats checked, the document's own formats with the functions it names.
fn validator(schema: &Value) -> jsonschema::Validator {
    let mut options = jsonschema::draft202012::options().should_validate_formats(true);
    for &(name, check) in shared::contracts::schema::FORMATS {
        options = options.with_format(name, check);
    }
    options
        .build(schema)
        .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}: {schema}"))
}

fn operations(document: &Value) -> BTreeMap<String, Operation> {
    assert_eq!(document["openapi"], "3.1.0");
    let components = document["components"].clone();
    document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(template, item)| {
            let operation = &item["post"];
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                operation["requestBody"]["required"] == true,
                "{template}: the body is required by every contract"
            );
            // The document's components beside the body's schema, so its
            // references resolve as they do in the document.
            let body = validator(&json!({
                "components": components,
                "allOf": [schema],
            }));
            let params = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    let name = p["name"].as_str().unwrap_or_default().to_owned();
                    (name, validator(&p["schema"]))
                })
                .collect();
            (template.clone(), Operation { body, params })
        })
        .collect()
}

/// Every place in a JSON tree, as a path of keys and indexes.
fn places(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                at.push(Step::Key(key.clone()));
                out.push(at.clone());
                places(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                at.push(Step::Index(index));
                out.push(at.clone());
                places(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// What happens at the chosen place.
#[derive(Debug, Clone)]
enum Change {
    /// Taken out (a key removed, an item dropped).
    Remove,
    /// Given this value.
    Set(Value),
    /// A field the document names somewhere (an alias, another event's
    /// field) added to an object, with this value.
    Add(prop::sample::Index, Value),
}

/// Values that sit on the edges of what schemas say: empty, blank, null,
/// too long, another type, near-miss formats.
fn edge_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        Just(json!("   ")),
        Just(json!("x".repeat(300))),
        Just(json!("x".repeat(5000))),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
        Just(json!("2025-11-07T16:30:00Z")),
        Just(json!("2025-11-07 16:30:00")),
        Just(json!("2025-13-45T99:00:00Z")),
        Just(json!("2025-11-07")),
        Just(json!("16:30")),
        Just(json!("not-a-date")),
        Just(json!("someone@example.com")),
        Just(json!("someone@")),
        Just(json!("+919876543210")),
        Just(json!("98765")),
        Just(json!("0198f3c2-6a1e-7cc4-9b9e-2d6f1c0a9e11")),
        Just(json!("completed")),
        Just(json!("inbound")),
        Just(json!("new_lead")),
        "\\PC{1,20}".prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
    ]
}

/// A whole body that is no contract's object.
fn odd_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"{}".to_vec()),
        Just(b"[]".to_vec()),
        Just(b"null".to_vec()),
        Just(b"\"text\"".to_vec()),
        Just(b"{\"unclosed\": ".to_vec()),
    ]
}

/// A path id: the example's, or one that keeps or breaks the pattern.
fn path_id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some("lead_A-9".to_owned())),
        1 => Just(Some("x".repeat(65))),
        1 => Just(Some("a.b".to_owned())),
        1 => Just(Some("%20".to_owned())),
    ]
}

fn set_at(root: &mut Value, place: &[Step], change: &Change) {
    let Some((last, parents)) = place.split_last() else {
        return;
    };
    let mut node = root;
    for step in parents {
        node = match step {
            Step::Key(key) => &mut node[key.as_str()],
            Step::Index(index) => &mut node[*index],
        };
    }
    match (last, change, node) {
        (Step::Key(key), Change::Remove, Value::Object(map)) => {
            map.remove(key);
        }
        (Step::Index(index), Change::Remove, Value::Array(items)) => {
            items.remove(*index);
        }
        (Step::Key(key), Change::Set(value), Value::Object(map)) => {
            map.insert(key.clone(), value.clone());
        }
        (Step::Index(index), Change::Set(value), Value::Array(items)) => {
            items[*index] = value.clone();
        }
        _ => {}
    }
}

/// An example to start from: its path parameters and its body.
type Start = (BTreeMap<String, String>, Value);

/// One request the tester sends.
#[derive(Debug)]
struct Case {
    template: String,
    path: String,
    body: Vec<u8>,
    /// Whether the document allows it.
    allowed: bool,
}

/// The value at `place`, if there is one.
fn node<'a>(root: &'a Value, place: &[Step]) -> Option<&'a Value> {
    place.iter().try_fold(root, |node, step| match step {
        Step::Key(key) => node.get(key.as_str()),
        Step::Index(index) => node.get(*index),
    })
}

/// Every field name the document's schemas mention.
fn vocabulary(value: &Value, names: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                names.extend(properties.keys().cloned());
            }
            map.values().for_each(|v| vocabulary(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| vocabulary(v, names)),
        _ => {}
    }
}

fn cases(operations: &BTreeMap<String, Operation>, vocabulary: &[String]) -> Vec<Case> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed(); 32]),
    );
    let examples = examples();
    let mut by_template: BTreeMap<String, Vec<Start>> = BTreeMap::new();
    for (path, body) in &examples {
        let (template, params) = template_of(operations.keys(), path)
            .unwrap_or_else(|| panic!("{path}: no operation in the document"));
        let body: Value = serde_json::from_str(body).expect("examples are JSON");
        by_template
            .entry(template)
            .or_default()
            .push((params, body));
    }
    assert_eq!(
        by_template.len(),
        operations.len(),
        "every operation has an example to start from"
    );
    let strategy = (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::option::weighted(
            0.85,
            prop_oneof![
                1 => Just(Change::Remove),
                3 => edge_value().prop_map(Change::Set),
                2 => (any::<prop::sample::Index>(), edge_value())
                    .prop_map(|(name, value)| Change::Add(name, value)),
            ],
        ),
        odd_body(),
        path_id(),
    );
    let mut cases = Vec::new();
    for (template, starts) in &by_template {
        let operation = &operations[template];
        for n in 0..cases_per_operation() {
            let (example, place, change, odd, id) =
                strategy.new_tree(&mut runner).expect("strategy").current();
            let (params, example) = &starts[example.index(starts.len())];
            let mut params = params.clone();
            if let (Some(id), Some(value)) = (id, params.values_mut().next()) {
                *value = id;
            }
            let params_allowed = params
                .iter()
                .all(|(name, value)| operation.params[name].is_valid(&json!(value)));
            let path = params.iter().fold(template.clone(), |path, (name, value)| {
                path.replace(&format!("{{{name}}}"), value)
            });
            // The examples as they are first, then one in twenty odd bodies.
            let body = if n < starts.len() {
                Some(example.clone())
            } else if n % 20 == 19 {
                None
            } else {
                let mut body = example.clone();
                let mut all = Vec::new();
                places(&body, &mut Vec::new(), &mut all);
                match change {
                    Some(Change::Add(name, value)) => {
                        // The body itself or any object inside it.
                        let root = Vec::new();
                        let objects: Vec<&Vec<Step>> = std::iter::once(&root)
                            .chain(all.iter())
                            .filter(|at| node(&body, at).is_some_and(Value::is_object))
                            .collect();
                        let at = objects[place.index(objects.len())].clone();
                        let name = &vocabulary[name.index(vocabulary.len())];
                        set_at(
                            &mut body,
                            &[at, vec![Step::Key(name.clone())]].concat(),
                            &Change::Set(value),
                        );
                    }
                    Some(change) if !all.is_empty() => {
                        set_at(&mut body, &all[place.index(all.len())], &change)
                    }
                    _ => {}
                }
                Some(body)
            };
            let (body, allowed) = match body {
                Some(value) => {
                    let allowed = operation.body.is_valid(&value);
                    (value.to_string().into_bytes(), allowed)
                }
                None => {
                    let allowed = serde_json::from_slice::<Value>(&odd)
                        .is_ok_and(|v| operation.body.is_valid(&v));
                    (odd, allowed)
                }
            };
            cases.push(Case {
                template: template.clone(),
                path,
                body,
                allowed: allowed && params_allowed,
            });
        }
    }
    cases
}

#[test]
fn the_edge_accepts_exactly_what_its_openapi_document_allows() {
    testkit::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let prefix = unique_prefix("apitester");
    let env = every_partner_keyed_env(&prefix, KEY);
    let edge = runtime.block_on(Edge::start(&env));
    let document = runtime.block_on(edge.get("/openapi.json")).json();
    let operations = operations(&document);
    let mut names = std::collections::BTreeSet::new();
    vocabulary(&document["components"]["schemas"], &mut names);
    let cases = cases(&operations, &names.into_iter().collect::<Vec<_>>());
    let (mut accepted, mut refused) = (0, 0);
    let mut disagreements: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &cases {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(&case.body);
        let signature = hex::encode(mac.finalize().into_bytes());
        let headers = [
            ("Content-Type", "application/json"),
            ("X-API-Key", KEY),
            ("X-Webhook-Signature", signature.as_str()),
        ];
        let response = runtime.block_on(http(edge.addr, "POST", &case.path, &headers, &case.body));
        let answered_accept = (200..300).contains(&response.status);
        let answered_refuse = response.status == 400;
        if answered_accept {
            accepted += 1;
        }
        if answered_refuse {
            refused += 1;
        }
        let agrees = if case.allowed {
            answered_accept
        } else {
            answered_refuse
        };
        if !agrees {
            let kind = if case.allowed {
                "allowed by the document, refused by the edge"
            } else {
                "forbidden by the document, answered by the edge"
            };
            disagreements
                .entry(format!("{} {}", case.template, kind))
                .or_default()
                .push(format!(
                    "{} {} <- {}: {}",
                    case.path,
                    response.status,
                    String::from_utf8_lossy(&case.body)
                        .chars()
                        .take(400)
                        .collect::<String>(),
                    String::from_utf8_lossy(&response.body)
                        .chars()
                        .take(300)
                        .collect::<String>(),
                ));
        }
    }
    runtime.block_on(edge.stop());
    runtime.block_on(testkit::cleanup_prefix(&prefix));
    // The run really tried both sides of every line.
    assert!(
        accepted > cases.len() / 5 && refused > cases.len() / 5,
        "{accepted} accepted, {refused} refused of {}",
        cases.len()
    );
    let total: usize = disagreements.values().map(Vec::len).sum();
    let report: Vec<String> = disagreements
        .iter()
        .map(|(what, examples)| {
            format!(
                "{what} ({}):\n    {}",
                examples.len(),
                examples
                    .iter()
                    .take(40)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n    ")
            )
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{total} of {} requests disagree with /openapi.json:\n{}",
        cases.len(),
        report.join("\n")
    );
}
