//! The dead-letter tool against the real broker, edge and worker, on
//! PostgreSQL and SQLite: a message dead-lettered by a real failure is
//! listed, shown, and replayed once the cause is fixed; replaying something
//! already persisted changes nothing; a bulk replay killed half-way and run
//! again loses and duplicates nothing.

use dead_letters::{Filters, Progress, apply, list, show};
use serde_json::json;
use shared::broker::{DeadLetterQueues, Disposition, HEADER_HISTORY, QueueInspector};
use shared::config::{BrokerConfig, Env};
use shared::history::Event;
use shared::{Envelope, Source};
use std::time::Duration;
use testkit::{Backend, Edge, TestDb, Worker, eventually, test_env, unique_prefix};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "test-admin-token-0123456789";

testkit::on_both_backends!(
    a_dead_letter_is_listed_shown_and_replayed_once_the_cause_is_fixed,
    replaying_a_message_already_persisted_changes_nothing,
    an_interrupted_bulk_replay_run_again_loses_and_duplicates_nothing,
);

struct Rig {
    db: TestDb,
    env: Env,
    inspector: QueueInspector,
    queues: DeadLetterQueues,
}

async fn rig(test: &str, backend: Backend, extra: &[(&str, &str)]) -> Rig {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env = test_env(&unique_prefix(test), Some(&db.url), extra);
    let config = BrokerConfig::from_env(&env).unwrap();
    let inspector = QueueInspector::connect(&config).await.unwrap();
    let queues = DeadLetterQueues::connect(&config).await.unwrap();
    Rig {
        db,
        env,
        inspector,
        queues,
    }
}

impl Rig {
    async fn dead(&self, source: Source) -> u32 {
        self.inspector
            .ready_count(&self.inspector.topology.dead_letter_queue(source))
            .await
            .unwrap()
    }

    async fn finish(self, workers: Vec<Worker>) {
        for worker in workers {
            worker.stop().await;
        }
        self.queues.close().await;
        testkit::cleanup(self.inspector).await;
    }
}

async fn a_dead_letter_is_listed_shown_and_replayed_once_the_cause_is_fixed(backend: Backend) {
    let rig = rig(
        "dlq-replay",
        backend,
        &[("RETRY_MAX_ATTEMPTS", "1"), ("ADMIN_TOKEN", TOKEN)],
    )
    .await;
    let edge = Edge::start(&rig.env).await;
    let worker = Worker::start(&rig.env);
    // A status change for a lead the CRM never told us about: retried once,
    // then dead-lettered.
    let body =
        json!({"event": "lead_status_update", "source": "crm", "data": {"lead_status": "won"}})
            .to_string();
    let response = edge
        .post_json("/api/v1/webhooks/incoming/lead/L-77/status/update", &body)
        .await;
    assert_eq!(response.status, 201, "{:?}", response.json());
    eventually("dead-lettered", WAIT, || async {
        rig.dead(Source::CrmEvents).await == 1
    })
    .await;

    // Listed, with its reason, attempts and times, and found by its filters.
    let all = list(&rig.queues, &Filters::default()).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let summary = &all[0];
    let id = summary.ingest_id.expect("an ingest id");
    assert_eq!(summary.source, Source::CrmEvents);
    assert!(
        summary.reason.contains("lead L-77 not found"),
        "{}",
        summary.reason
    );
    assert_eq!(summary.attempts, 2, "one retry, then the dead letter");
    assert!(summary.first_failed_at.unwrap() <= summary.last_failed_at.unwrap());
    let queues = &rig.queues;
    let by = |filters: Filters| async move { list(queues, &filters).await.unwrap().len() };
    assert_eq!(
        by(Filters {
            reason: Some("NOT FOUND".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        by(Filters {
            reason: Some("timeout".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        by(Filters {
            sources: vec![Source::TataCalls],
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        by(Filters {
            since: Some(chrono::Utc::now()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        by(Filters {
            ids: vec![id],
            ..Default::default()
        })
        .await,
        1
    );
    // Listing left it where it was.
    assert_eq!(rig.dead(Source::CrmEvents).await, 1);

    // Shown: the body byte for byte, the history, the headers.
    let (message, shown) = show(&rig.queues, Source::ALL, id).await.unwrap().unwrap();
    assert_eq!(message.body, body.as_bytes());
    assert!(message.headers.contains_key(HEADER_HISTORY));
    let events: Vec<Event> = shown.history.iter().map(|e| e.event).collect();
    assert_eq!(events, [Event::Retry, Event::DeadLetter]);
    assert!(
        show(&rig.queues, Source::ALL, Uuid::now_v7())
            .await
            .unwrap()
            .is_none()
    );

    // The cause is fixed: the lead arrives.
    testkit::crm_lead_arrives(&rig.inspector, "L-77").await;
    eventually("the lead exists", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-77'")
            .await
            == 1
    })
    .await;

    // Replayed: persisted exactly once, with the same ingest id.
    let mut moved = Vec::new();
    let tally = apply(
        &rig.queues,
        &Filters {
            ids: vec![id],
            ..Default::default()
        },
        Disposition::Replay,
        None,
        |p| {
            if let Progress::Moved(s) = p {
                moved.push(s.ingest_id)
            }
        },
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((tally.moved, tally.failed), (1, 0));
    assert_eq!(moved, [Some(id)]);
    eventually("the replayed status is applied", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-77' AND status = 'won'")
            .await
            == 1
    })
    .await;
    let entry = worker
        .admin_get(&format!("/logs/{id}"), Some(TOKEN))
        .await
        .json();
    assert_eq!(entry["data"]["status"], "processed", "{entry}");
    assert_eq!(
        entry["data"]["attempts"], 3,
        "one log row for the message: failed twice, then processed"
    );
    assert_eq!(rig.dead(Source::CrmEvents).await, 0);
    edge.stop().await;
    rig.finish(vec![worker]).await;
}

async fn replaying_a_message_already_persisted_changes_nothing(backend: Backend) {
    let rig = rig("dlq-noop", backend, &[]).await;
    let worker = Worker::start(&rig.env);
    let envelope = Envelope::new(Source::TataCalls, vec![]);
    let body = testkit::TATA_COMPLETE.as_bytes();
    rig.inspector.publish(&envelope, body).await.unwrap();
    eventually("persisted", WAIT, || async {
        rig.db.count("SELECT COUNT(*) FROM calls").await == 1
    })
    .await;
    let before = rig
        .db
        .scalar("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed' AND attempts = 1")
        .await;
    assert_eq!(before, 1);
    // The same message also sits in the dead-letter queue (as after a replay
    // interrupted between its confirm and its ack).
    rig.inspector
        .publish_dead_letter(&envelope, body, "staged by the test")
        .await
        .unwrap();
    let tally = apply(
        &rig.queues,
        &Filters::default(),
        Disposition::Replay,
        None,
        |_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(tally.moved, 1);
    let work = rig.inspector.topology.work_queue(Source::TataCalls);
    eventually("the replayed copy is consumed", WAIT, || async {
        rig.inspector.ready_count(&work).await.unwrap() == 0
    })
    .await;
    // Give the worker time to have (not) written anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM calls").await, 1);
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed' AND attempts = 1")
            .await,
        1,
        "the log row is untouched"
    );
    assert_eq!(rig.dead(Source::TataCalls).await, 0);
    rig.finish(vec![worker]).await;
}

async fn an_interrupted_bulk_replay_run_again_loses_and_duplicates_nothing(backend: Backend) {
    const N: usize = 1000;
    let rig = rig("dlq-resume", backend, &[]).await;
    for n in 0..N {
        let envelope = Envelope::new(Source::TataCalls, vec![]);
        let body = json!({"call_id": format!("BULK-{n}"), "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z"});
        rig.inspector
            .publish_dead_letter(
                &envelope,
                body.to_string().as_bytes(),
                "database refused the write",
            )
            .await
            .unwrap();
    }
    assert_eq!(rig.dead(Source::TataCalls).await, N as u32);
    let worker = Worker::start(&rig.env);

    // The command-line tool, killed with SIGKILL after 20 messages moved.
    // Once the test stops reading, the tool blocks on the full pipe (64 KiB,
    // some 700 lines), so the kill lands half-way however fast it runs.
    let binary = env!("CARGO_BIN_EXE_dead-letters");
    let prefix = rig.env.get("AMQP_PREFIX").unwrap();
    let command = |args: &[&str]| {
        let mut command = tokio::process::Command::new(binary);
        command
            .args(args)
            .env("AMQP_URL", testkit::amqp_url())
            .env("AMQP_PREFIX", &prefix)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    };
    let mut first = command(&["replay", "--all", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let mut moved = 0;
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("\"moved\"") {
            moved += 1;
        }
        if moved == 20 {
            first.start_kill().unwrap();
            break;
        }
    }
    first.wait().await.unwrap();
    // The broker returns a dead connection's unacked messages by itself.
    eventually("unfinished messages returned", WAIT, || async {
        rig.dead(Source::TataCalls).await > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let left = rig.dead(Source::TataCalls).await;
    assert!(
        left > 0 && (left as usize) < N,
        "the kill landed half-way ({left} of {N} left)"
    );

    // Run again: it finishes the rest.
    let second = command(&["replay", "--all", "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(rig.dead(Source::TataCalls).await, 0);

    eventually("every message persisted", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed'")
            .await
            == N as i64
    })
    .await;
    let work = rig.inspector.topology.work_queue(Source::TataCalls);
    eventually("the work queue is drained", WAIT, || async {
        rig.inspector.ready_count(&work).await.unwrap() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM calls").await, N as i64);
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(DISTINCT call_id) FROM calls")
            .await,
        N as i64
    );
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM webhook_log WHERE attempts = 1")
            .await,
        N as i64,
        "each message applied once, however many copies were replayed"
    );
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM webhook_log").await,
        N as i64,
        "one log row per message"
    );
    rig.finish(vec![worker]).await;
}

/// `list --json` is one JSON array, `[]` when there is nothing (so scripts
/// can always parse it).
#[tokio::test]
async fn listing_nothing_as_json_prints_an_empty_array() {
    let prefix = testkit::unique_prefix("dl-empty");
    let output = testkit::die_with_test(&mut tokio::process::Command::new(env!(
        "CARGO_BIN_EXE_dead-letters"
    )))
    .args(["list", "--json"])
    .env("AMQP_URL", testkit::amqp_url())
    .env("AMQP_PREFIX", &prefix)
    .stdout(std::process::Stdio::piped())
    .output();
    let output = testkit::within(
        "dead-letters list",
        std::time::Duration::from_secs(60),
        output,
    )
    .await
    .unwrap();
    assert!(output.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed, serde_json::json!([]));
    testkit::cleanup_prefix(&prefix).await;
}
