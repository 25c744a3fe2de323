//! Every partner contract at the real edge with the real broker: each
//! example request of the five contracts accepted with its documented status
//! and body, each documented error reproduced, credentials rotated, replays
//! refused, rate limits applied, and the OpenAPI document held to the routes.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use shared::Source;
use shared::broker::QueueInspector;
use shared::config::{BrokerConfig, Env};
use std::collections::BTreeSet;
use std::time::Duration;
use testkit::examples::{CALL_CAPTURE, CARDEKHO, CARWALE, CRM, TATA_CALLS, TATA_WHATSAPP};
use testkit::{Edge, eventually, test_env, unique_prefix};

const CARDEKHO_KEY: &str = "cardekho-key-000000000001";
const CARWALE_KEY: &str = "carwale-key-0000000000001";
const CALL_CAPTURE_KEY: &str = "call-capture-key-00000001";
const CRM_SECRET: &str = "crm-webhook-secret-000001";
const CRM_BASE: &str = "/api/v1/webhooks";

fn env_with(prefix: &str, extra: &[(&str, &str)]) -> Env {
    let mut vars = vec![
        ("LEAD_API_KEY_CARDEKHO", CARDEKHO_KEY),
        ("LEAD_API_KEY_CARWALE", CARWALE_KEY),
        ("CALL_CAPTURE_API_KEYS", CALL_CAPTURE_KEY),
        ("CRM_WEBHOOK_SECRET", CRM_SECRET),
        ("LEAD_RATE_LIMIT_PER_MINUTE", "0"),
        ("CRM_RATE_LIMIT_PER_MINUTE", "0"),
    ];
    vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    vars.extend_from_slice(extra);
    test_env(prefix, None, &vars)
}

async fn start(test: &str, extra: &[(&str, &str)]) -> (Edge, QueueInspector) {
    testkit::init_logging();
    let env = env_with(&unique_prefix(test), extra);
    let edge = Edge::start(&env).await;
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    (edge, inspector)
}

fn hex_hmac(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn post_crm(edge: &Edge, path: &str, body: &str) -> testkit::HttpResponse {
    let signature = hex_hmac(CRM_SECRET, body);
    edge.post(
        &format!("{CRM_BASE}{path}"),
        &[("X-Webhook-Signature", &signature)],
        body,
    )
    .await
}

async fn queued(inspector: &QueueInspector, source: Source, expected: u32) {
    let queue = inspector.topology.work_queue(source);
    eventually(
        &format!("{expected} messages in {queue}"),
        Duration::from_secs(10),
        || async { inspector.ready_count(&queue).await.unwrap() == expected },
    )
    .await;
}

fn is_uuid_v7(value: &Value) -> bool {
    value
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .is_some_and(|u| u.get_version_num() == 7)
}

#[tokio::test]
async fn every_contract_example_is_accepted_as_documented_into_its_own_queue() {
    let (edge, inspector) = start("examples", &[]).await;

    for (name, body) in TATA_CALLS {
        let response = edge.post_json("/api/webhook/", body).await;
        assert_eq!(response.status, 201, "{name}: {:?}", response.json());
        let sent: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            response.json(),
            json!({"status": "success", "message": "Call data received successfully", "call_id": sent["call_id"], "created": true}),
            "{name}"
        );
    }
    for (name, body) in TATA_WHATSAPP {
        let response = edge.post_json("/webhook/", body).await;
        assert_eq!(response.status, 201, "{name}: {:?}", response.json());
        assert_eq!(response.json()["status"], "success", "{name}");
    }
    for (partner, key, body, label) in [
        ("cardekho", CARDEKHO_KEY, CARDEKHO, "CarDekho"),
        ("carwale", CARWALE_KEY, CARWALE, "CarWale"),
    ] {
        let path = format!("/admin/mg-digital-leads/source/{partner}");
        let response = edge.post(&path, &[("X-API-Key", key)], body).await;
        assert_eq!(response.status, 201, "{partner}");
        assert_eq!(
            response.json(),
            json!({"message": format!("{label} lead inserted successfully")})
        );
    }

    let mut call_history_ids = BTreeSet::new();
    for (name, body) in CALL_CAPTURE {
        let response = edge
            .post(
                "/functions/v1/webhook-call-capture",
                &[("x-api-key", CALL_CAPTURE_KEY)],
                body,
            )
            .await;
        assert_eq!(response.status, 201, "{name}: {:?}", response.json());
        let reply = response.json();
        assert_eq!(reply["success"], true);
        assert_eq!(reply["message"], "Call record created successfully");
        assert!(is_uuid_v7(&reply["data"]["call_history_id"]), "{reply}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(reply["data"]["created_at"].as_str().unwrap())
                .is_ok()
        );
        call_history_ids.insert(
            reply["data"]["call_history_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    for example in CRM {
        let response = post_crm(&edge, example.path, example.body).await;
        assert_eq!(
            response.status,
            201,
            "{}: {:?}",
            example.path,
            response.json()
        );
        let reply = response.json();
        assert_eq!(reply["status"], "success", "{}", example.path);
        assert_eq!(reply["message"], example.message, "{}", example.path);
        for key in example.data_keys {
            assert!(
                reply["data"].get(key).is_some(),
                "{} lacks data.{key}: {reply}",
                example.path
            );
        }
        let sent: Value = serde_json::from_str(example.body).unwrap();
        for key in example.data_keys.iter().filter(|k| k.ends_with("_id")) {
            let value = &reply["data"][key];
            let echoed = match *key {
                "pre_lead_id" if example.path.contains("/pre-lead/123/") => Some("123".to_owned()),
                "lead_id" if example.path.contains("/lead/789/") => Some("789".to_owned()),
                _ if example.path == "/incoming" => sent["data"]
                    .get(*key)
                    .map(|v| v.to_string().trim_matches('"').to_owned()),
                _ => None,
            };
            match (echoed, *key) {
                (Some(id), _) => assert_eq!(
                    value.as_str(),
                    Some(id.as_str()),
                    "{}: {key} is the subject's id",
                    example.path
                ),
                // One profile per lead: its id is derived from the lead's, stable.
                (None, "profile_id") => {
                    assert!(uuid::Uuid::parse_str(value.as_str().unwrap()).is_ok())
                }
                (None, _) => assert!(
                    is_uuid_v7(value),
                    "{}: {key} is assigned by the edge: {reply}",
                    example.path
                ),
            }
        }
        if example.path.ends_with("/status/update") {
            assert_eq!(
                reply["data"]["old_status"],
                Value::Null,
                "the edge cannot know the old status"
            );
        }
    }

    // One queue per source, each holding exactly its own messages.
    queued(&inspector, Source::TataCalls, TATA_CALLS.len() as u32).await;
    queued(&inspector, Source::TataWhatsapp, TATA_WHATSAPP.len() as u32).await;
    queued(&inspector, Source::Cardekho, 1).await;
    queued(&inspector, Source::Carwale, 1).await;
    queued(&inspector, Source::CallCapture, CALL_CAPTURE.len() as u32).await;
    queued(&inspector, Source::CrmEvents, CRM.len() as u32).await;

    // The ids returned to the partner travel with the messages.
    let messages = inspector
        .drain(&inspector.topology.work_queue(Source::CallCapture))
        .await
        .unwrap();
    let carried: BTreeSet<String> = messages
        .iter()
        .map(|m| m.envelope.as_ref().unwrap().assigned_ids["call_history_id"].clone())
        .collect();
    assert_eq!(carried, call_history_ids);
    let crm_messages = inspector
        .drain(&inspector.topology.work_queue(Source::CrmEvents))
        .await
        .unwrap();
    let update = crm_messages
        .iter()
        .find(|m| m.body == CRM[8].body.as_bytes())
        .expect("the lead update");
    assert_eq!(
        update.envelope.as_ref().unwrap().path_params["lead_id"],
        "789"
    );
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn every_documented_error_is_reproduced_and_nothing_is_queued() {
    let (edge, inspector) = start(
        "errors",
        &[("TATA_CALLS_SECRET", "tata-calls-secret-000001")],
    )
    .await;
    let leads = "/admin/mg-digital-leads/source/cardekho";

    let missing = edge.post(leads, &[], CARDEKHO).await;
    assert_eq!(
        (missing.status, missing.json()),
        (401, json!({"error": "Missing API key"}))
    );
    let wrong = edge
        .post(leads, &[("X-API-Key", CARWALE_KEY)], CARDEKHO)
        .await;
    assert_eq!(
        (wrong.status, wrong.json()),
        (403, json!({"error": "Invalid API key"}))
    );
    let no_name = edge
        .post(
            leads,
            &[("X-API-Key", CARDEKHO_KEY)],
            r#"{"phone_number": "9876543210"}"#,
        )
        .await;
    assert_eq!(
        (no_name.status, no_name.json()),
        (400, json!({"error": "Missing required fields: name"}))
    );
    let nothing = edge.post(leads, &[("X-API-Key", CARDEKHO_KEY)], "{}").await;
    assert_eq!(
        nothing.json(),
        json!({"error": "Missing required fields: name, phone_number"})
    );

    let capture = "/functions/v1/webhook-call-capture";
    let unauthorized = json!({"error": "Unauthorized", "message": "Invalid or missing API key"});
    let no_key = edge.post(capture, &[], CALL_CAPTURE[0].1).await;
    assert_eq!((no_key.status, no_key.json()), (401, unauthorized.clone()));
    let bad_key = edge
        .post(capture, &[("x-api-key", CARDEKHO_KEY)], CALL_CAPTURE[0].1)
        .await;
    assert_eq!((bad_key.status, bad_key.json()), (401, unauthorized));
    let no_company = edge
        .post(
            capture,
            &[("x-api-key", CALL_CAPTURE_KEY)],
            r#"{"caller_number": "+919876543210"}"#,
        )
        .await;
    assert_eq!(
        (no_company.status, no_company.json()),
        (
            400,
            json!({"error": "Bad Request", "message": "company_id is required"})
        )
    );
    let placeholder = edge
        .post(
            capture,
            &[("x-api-key", CALL_CAPTURE_KEY)],
            r#"{"company_id": "your-company-uuid"}"#,
        )
        .await;
    assert_eq!(placeholder.status, 400);
    assert!(
        placeholder.json()["message"]
            .as_str()
            .unwrap()
            .contains("company_id")
    );

    let body = CRM[14].body; // lead_status_update
    let unsigned = edge
        .post(
            &format!("{CRM_BASE}/incoming/lead/789/status/update"),
            &[],
            body,
        )
        .await;
    assert_eq!(
        (unsigned.status, unsigned.json()),
        (401, json!({"detail": "Invalid signature"}))
    );
    let forged = edge
        .post(
            &format!("{CRM_BASE}/incoming/lead/789/status/update"),
            &[(
                "X-Webhook-Signature",
                &hex_hmac("not-the-secret-0000001", body),
            )],
            body,
        )
        .await;
    assert_eq!(
        (forged.status, forged.json()),
        (401, json!({"detail": "Invalid signature"}))
    );
    let wrong_event = post_crm(&edge, "/incoming/pre-lead/123/status/update", body).await;
    assert_eq!(wrong_event.status, 400);
    assert!(
        wrong_event.json()["detail"]
            .as_str()
            .unwrap()
            .contains("pre_lead_status_update")
    );
    let no_status = post_crm(
        &edge,
        "/incoming/lead/789/status/update",
        r#"{"event":"lead_status_update","source":"crm","data":{}}"#,
    )
    .await;
    assert_eq!(
        (no_status.status, no_status.json()),
        (400, json!({"detail": "lead_status is required"}))
    );
    let unknown_crm = post_crm(&edge, "/incoming/lead/789/fly", body).await;
    assert_eq!(unknown_crm.status, 404);
    assert!(unknown_crm.json().get("detail").is_some());

    let whatsapp = edge
        .post_json(
            "/webhook/",
            r#"{"statuses":[{"id":"wamid.X","status":"seen","timestamp":"1729161280"}]}"#,
        )
        .await;
    assert_eq!(whatsapp.status, 400);
    assert_eq!(
        whatsapp.json()["errors"]["statuses[0].status"],
        json!(["\"seen\" is not a valid choice."])
    );

    let tata = edge.post_json("/api/webhook/", TATA_CALLS[0].1).await;
    assert_eq!(tata.status, 401, "TATA_CALLS_SECRET is set");
    let tata_ok = edge
        .post(
            "/api/webhook/",
            &[("X-Webhook-Secret", "tata-calls-secret-000001")],
            TATA_CALLS[0].1,
        )
        .await;
    assert_eq!(tata_ok.status, 201);

    tokio::time::sleep(Duration::from_millis(300)).await;
    for source in Source::ALL {
        let expected = u32::from(*source == Source::TataCalls);
        queued(&inspector, *source, expected).await;
    }
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn rotated_keys_are_accepted_old_and_new() {
    let (edge, inspector) = start(
        "rotation",
        &[
            (
                "LEAD_API_KEY_CARDEKHO",
                "cardekho-old-key-000001,cardekho-new-key-000002",
            ),
            (
                "CALL_CAPTURE_API_KEYS",
                "capture-old-key-0000001, capture-new-key-0000002",
            ),
            (
                "CRM_WEBHOOK_SECRET",
                "crm-old-secret-00000001,crm-new-secret-00000002",
            ),
        ],
    )
    .await;
    for key in ["cardekho-old-key-000001", "cardekho-new-key-000002"] {
        let response = edge
            .post(
                "/admin/mg-digital-leads/source/cardekho",
                &[("X-API-Key", key)],
                CARDEKHO,
            )
            .await;
        assert_eq!(response.status, 201, "{key}");
    }
    for key in ["capture-old-key-0000001", "capture-new-key-0000002"] {
        let response = edge
            .post(
                "/functions/v1/webhook-call-capture",
                &[("x-api-key", key)],
                CALL_CAPTURE[0].1,
            )
            .await;
        assert_eq!(response.status, 201, "{key}");
    }
    for secret in ["crm-old-secret-00000001", "crm-new-secret-00000002"] {
        let body = CRM[7].body;
        let response = edge
            .post(
                &format!("{CRM_BASE}/incoming/lead/create"),
                &[("X-Webhook-Signature", &hex_hmac(secret, body))],
                body,
            )
            .await;
        assert_eq!(response.status, 201, "{secret}");
    }
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn standard_webhooks_signatures_are_accepted_and_replays_refused() {
    let key = b"standard-webhooks-key-32-bytes!!";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let (edge, inspector) = start("standard-webhooks", &[("CRM_WEBHOOK_SECRET", &secret)]).await;
    let body = CRM[7].body;
    let signed = |id: &str, timestamp: i64| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    };
    let send = |id: &'static str, timestamp: i64, signature: String| {
        let edge = &edge;
        async move {
            let ts = timestamp.to_string();
            edge.post(
                &format!("{CRM_BASE}/incoming/lead/create"),
                &[
                    ("webhook-id", id),
                    ("webhook-timestamp", &ts),
                    ("webhook-signature", &signature),
                ],
                body,
            )
            .await
        }
    };
    let now = chrono::Utc::now().timestamp();
    assert_eq!(send("msg_1", now, signed("msg_1", now)).await.status, 201);
    let replay = send("msg_1", now - 600, signed("msg_1", now - 600)).await;
    assert_eq!(
        (replay.status, replay.json()),
        (401, json!({"detail": "Invalid signature"}))
    );
    assert_eq!(
        send("msg_2", now + 600, signed("msg_2", now + 600))
            .await
            .status,
        401
    );
    assert_eq!(
        send("msg_3", now, signed("msg_other", now)).await.status,
        401,
        "the id is signed"
    );
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_partner_and_per_ip() {
    let (edge, inspector) = start(
        "rate-limits",
        &[
            ("LEAD_RATE_LIMIT_PER_MINUTE", "3"),
            ("CRM_RATE_LIMIT_PER_MINUTE", "2"),
        ],
    )
    .await;
    let cardekho = "/admin/mg-digital-leads/source/cardekho";
    for _ in 0..3 {
        assert_eq!(
            edge.post(cardekho, &[("X-API-Key", CARDEKHO_KEY)], CARDEKHO)
                .await
                .status,
            201
        );
    }
    let limited = edge
        .post(cardekho, &[("X-API-Key", CARDEKHO_KEY)], CARDEKHO)
        .await;
    assert_eq!(
        (limited.status, limited.json()),
        (429, json!({"error": "Rate limit exceeded"}))
    );
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // The limit is per partner: CarWale is unaffected.
    let carwale = edge
        .post(
            "/admin/mg-digital-leads/source/carwale",
            &[("X-API-Key", CARWALE_KEY)],
            CARWALE,
        )
        .await;
    assert_eq!(carwale.status, 201);

    for _ in 0..2 {
        assert_eq!(
            post_crm(&edge, "/incoming/lead/create", CRM[7].body)
                .await
                .status,
            201
        );
    }
    let limited = post_crm(&edge, "/incoming/lead/create", CRM[7].body).await;
    assert_eq!(
        (limited.status, limited.json()),
        (429, json!({"detail": "Rate limit exceeded"}))
    );
    assert!(limited.header("retry-after").is_some());
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

/// Behind a proxy, the CRM's per-IP limit counts each client, from
/// `X-Forwarded-For`, only when the TCP peer is a trusted proxy; from any
/// other peer the header is ignored (a client cannot pick a fresh bucket).
#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let crm = async |edge: &Edge, client: &str| {
        let body = CRM[7].body;
        let signature = hex_hmac(CRM_SECRET, body);
        edge.post(
            &format!("{CRM_BASE}/incoming/lead/create"),
            &[
                ("X-Webhook-Signature", &signature),
                ("X-Forwarded-For", client),
            ],
            body,
        )
        .await
        .status
    };
    // The test's requests come from 127.0.0.1: trusted here.
    let (edge, inspector) = start(
        "xff-trusted",
        &[
            ("CRM_RATE_LIMIT_PER_MINUTE", "2"),
            ("TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8"),
        ],
    )
    .await;
    for _ in 0..2 {
        assert_eq!(crm(&edge, "203.0.113.1").await, 201);
    }
    assert_eq!(
        crm(&edge, "203.0.113.1").await,
        429,
        "one client's bucket is spent"
    );
    assert_eq!(
        crm(&edge, "203.0.113.2").await,
        201,
        "another client has its own"
    );
    // A client's own claim left of the proxies' entries changes nothing.
    assert_eq!(crm(&edge, "198.51.100.9, 203.0.113.1, 10.0.0.5").await, 429);
    edge.stop().await;
    testkit::cleanup(inspector).await;

    let (edge, inspector) = start("xff-untrusted", &[("CRM_RATE_LIMIT_PER_MINUTE", "2")]).await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(crm(&edge, client).await, 201);
    }
    assert_eq!(
        crm(&edge, "203.0.113.3").await,
        429,
        "without TRUSTED_PROXIES every request counts against the peer"
    );
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

/// The lead portals' limit is soft (§6): partners retry only on 5xx, so a
/// 429 would be a lost lead. A burst far above it is accepted, every lead
/// persisted, and the excess counted per partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_above_the_soft_limit_is_accepted_counted_and_persisted() {
    testkit::init_logging();
    let db = testkit::TestDb::create(testkit::Backend::Postgres).await;
    let prefix = unique_prefix("soft-limit");
    let mut env = vec![
        ("LEAD_API_KEY_CARWALE", CARWALE_KEY),
        ("CRM_RATE_LIMIT_PER_MINUTE", "0"),
    ];
    env.push(("DIGITAL_LEAD_DUPLICATE_WINDOW_SECS", "0"));
    let env = test_env(&prefix, Some(&db.url), &env);
    let edge = Edge::start(&env).await;
    let worker = testkit::Worker::start(&env);
    const BURST: usize = 300;
    // As fast as 16 connections go: the whole burst takes well under a minute.
    let mut sent = tokio::task::JoinSet::new();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    for n in 0..BURST {
        let addr = edge.addr;
        let slot = slots.clone().acquire_owned().await.unwrap();
        sent.spawn(async move {
            let _slot = slot;
            let body = format!(
                r#"{{"name": "Burst {n}", "phone_number": "+9197{n:08}", "car_model": "Harrier"}}"#
            );
            testkit::http(
                addr,
                "POST",
                "/admin/mg-digital-leads/source/carwale",
                &[
                    ("Content-Type", "application/json"),
                    ("X-API-Key", CARWALE_KEY),
                ],
                body.as_bytes(),
            )
            .await
            .status
        });
    }
    let statuses = sent.join_all().await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    eventually("every lead persisted", Duration::from_secs(60), || async {
        db.count("SELECT COUNT(*) FROM digital_leads").await == BURST as i64
    })
    .await;
    let metrics = String::from_utf8(
        testkit::http(edge.admin_addr, "GET", "/metrics", &[], b"")
            .await
            .body,
    )
    .unwrap();
    let exceeded: u64 = metrics
        .lines()
        .find(|l| {
            l.starts_with(r#"leadpipe_ingest_lead_soft_limit_exceeded_total{source="carwale"}"#)
        })
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        (BURST as u64 - 125..=BURST as u64 - 119).contains(&exceeded),
        "about {} counted above the soft limit of 120, got {exceeded}",
        BURST - 120
    );
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let (edge, inspector) = start("openapi", &[]).await;
    let response = edge.get("/openapi.json").await;
    assert_eq!(response.status, 200);
    let document = response.json();
    assert_eq!(document["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ingest::partner_routes()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p))
        .collect();
    assert_eq!(
        documented, routed,
        "OpenAPI paths and the router must list the same routes"
    );
    // And every route is really served (never 404 or 405), with the
    // documented responses declared.
    for (method, template) in &routed {
        let path = template
            .replace("{pre_lead_id}", "123")
            .replace("{lead_id}", "789");
        let response = testkit::http(
            edge.addr,
            method,
            &path,
            &[("Content-Type", "application/json")],
            b"{}",
        )
        .await;
        assert!(
            ![404, 405].contains(&response.status),
            "{method} {path}: {}",
            response.status
        );
        let declared = &document["paths"][template][method.to_lowercase()]["responses"];
        assert!(
            declared.get(response.status.to_string()).is_some(),
            "{path}: {} not documented",
            response.status
        );
    }
    edge.stop().await;
    testkit::cleanup(inspector).await;
}
