//! A real three-node RabbitMQ cluster on loopback
//! (`scripts/rabbitmq-cluster.sh`): quorum queues get a replica on every
//! node, and under load the node the edge and a worker are connected to is
//! killed with SIGKILL. Partners get nothing but 201 (the edge spools while
//! it reconnects), every webhook is persisted exactly once, and the workers
//! consume again from another node.
//!
//! A test binary of its own: it starts and kills broker nodes. With
//! `CLUSTER_TEST_KEEP=1` the cluster is left running (with its logs in
//! `.local/cluster/N/log/`) for a look after a failure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use testkit::{Backend, Edge, TestDb, Worker, eventually, test_env, unique_prefix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

const WAIT: Duration = Duration::from_secs(120);

/// Each request's number and the status it got (`None`: no answer).
type Answers = Arc<Mutex<Vec<(u64, Option<u16>)>>>;

/// Runs `scripts/rabbitmq-cluster.sh` with `args`; its output.
fn cluster(args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/rabbitmq-cluster.sh");
    let output = testkit::run_bounded(
        std::process::Command::new(script).args(args),
        Duration::from_secs(300),
    );
    assert!(
        output.status.success(),
        "scripts/rabbitmq-cluster.sh {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stops the cluster and deletes its data when the test ends, however it
/// ends: the next run starts from a fresh cluster.
struct StopCluster;

impl Drop for StopCluster {
    fn drop(&mut self) {
        if std::env::var_os("CLUSTER_TEST_KEEP").is_some() {
            return;
        }
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/rabbitmq-cluster.sh");
        testkit::run_bounded(
            std::process::Command::new(script).arg("wipe"),
            Duration::from_secs(120),
        );
    }
}

/// The nodes (1 to 3) the connections named `name` are on.
fn nodes_of(name: &str, alive: u8) -> Vec<u8> {
    cluster(&[
        "ctl",
        &alive.to_string(),
        "list_connections",
        "port",
        "client_properties",
    ])
    .lines()
    .filter(|line| line.contains(&format!("{{\"connection_name\",\"{name}\"}}")))
    .filter_map(|line| line.split_whitespace().next()?.parse::<u16>().ok())
    .filter_map(|port| port.checked_sub(5680).and_then(|n| u8::try_from(n).ok()))
    .collect()
}

/// Sends a unique call on a fresh connection; the status, or `None`.
async fn send(addr: SocketAddr, n: u64) -> Option<u16> {
    let body = format!(
        r#"{{"call_id": "CLUSTER-{n}", "caller_number": "+9198{n:08}", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed"}}"#
    );
    let head = format!(
        "POST /api/webhook/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        String::from_utf8_lossy(&response)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_node_the_edge_and_a_worker_use_loses_nothing_and_refuses_nothing() {
    testkit::init_logging();
    let _stop = StopCluster;
    cluster(&["start"]);
    let urls = cluster(&["urls"]).trim().to_owned();
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("cluster");
    let env = test_env(&prefix, Some(&db.url), &[("AMQP_URL", &urls)]);
    let edge = Edge::start(&env).await;
    let edge_node = *nodes_of("leadpipe-ingest", 1)
        .first()
        .expect("the edge's connection");
    let survivor = if edge_node == 1 { 2 } else { 1 };

    // Quorum queues take their replicas from the cluster: all three nodes.
    let queues = cluster(&["ctl", "1", "list_queues", "name", "members"]);
    let work_queue = queues
        .lines()
        .find(|line| line.starts_with(&format!("{prefix}.tata_calls\t")))
        .expect("the Tata calls work queue");
    assert_eq!(
        work_queue.matches("leadpipe-c").count(),
        3,
        "three members: {work_queue}"
    );

    // Workers start at a random node; start them until one shares the edge's.
    let mut workers = Vec::new();
    while !nodes_of("leadpipe-worker", 1).contains(&edge_node) {
        assert!(
            workers.len() < 12,
            "no worker connected to node {edge_node}"
        );
        let worker = Worker::start(&env);
        worker.wait_ready().await;
        workers.push(worker);
    }

    let answers: Answers = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for lane in 0..4u64 {
        let (answers, stop, addr) = (answers.clone(), stop.clone(), edge.addr);
        senders.push(tokio::spawn(async move {
            let mut n = lane;
            while !stop.load(Ordering::SeqCst) {
                let status = send(addr, n).await;
                answers.lock().await.push((n, status));
                n += 4;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!(
        "killing node {edge_node}; leaders: {}",
        cluster(&["ctl", "1", "list_queues", "name", "leader"])
            .lines()
            .filter(|l| l.contains(".tata_calls\t"))
            .collect::<String>()
    );
    cluster(&["kill", &edge_node.to_string()]);
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.expect("load sender");
    }

    let answers = answers.lock().await.clone();
    let refused: Vec<_> = answers.iter().filter(|(_, s)| *s != Some(201)).collect();
    assert!(
        refused.is_empty(),
        "{} of {} requests not answered 201: {:?}",
        refused.len(),
        answers.len(),
        &refused[..refused.len().min(10)]
    );
    let sent = answers.len() as i64;
    assert!(sent > 100, "the load ran: {sent} requests");
    println!(
        "cluster: node {edge_node} (the edge's and a worker's, of {} workers) killed under load; {sent} requests, all 201",
        workers.len()
    );
    let deadline = std::time::Instant::now() + WAIT;
    while db.count("SELECT COUNT(*) FROM calls").await < sent {
        if std::time::Instant::now() > deadline {
            let queues = cluster(&[
                "ctl",
                &survivor.to_string(),
                "list_queues",
                "name",
                "messages_ready",
                "messages_unacknowledged",
                "leader",
                "members",
            ]);
            panic!(
                "{} of {sent} calls persisted after {WAIT:?}; the edge's readiness: {}; queues:\n{}",
                db.count("SELECT COUNT(*) FROM calls").await,
                edge.get("/readyz").await.json(),
                queues
                    .lines()
                    .filter(|line| line.starts_with(&prefix))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(db.count("SELECT COUNT(*) FROM calls").await, sent);
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT call_id) FROM calls").await,
        sent,
        "each once"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed'")
            .await,
        sent
    );
    println!("cluster: {sent} calls persisted, each once");

    // Everyone is on a surviving node now, and the workers consume there.
    let edge_now = nodes_of("leadpipe-ingest", survivor);
    assert!(
        !edge_now.is_empty() && !edge_now.contains(&edge_node),
        "the edge moved off node {edge_node}: {edge_now:?}"
    );
    let workers_now = nodes_of("leadpipe-worker", survivor);
    assert_eq!(workers_now.len(), workers.len(), "{workers_now:?}");
    assert!(!workers_now.contains(&edge_node), "{workers_now:?}");
    for worker in &workers {
        eventually("the worker ready on another node", WAIT, || async {
            worker.admin_get("/readyz", None).await.status == 200
        })
        .await;
    }

    for worker in workers {
        worker.stop().await;
    }
    edge.stop().await;
    db.drop().await;
}
