//! The test broker: cleaning up a prefix, counting dead letters, `rabbitmqctl`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::*;

/// Deletes a test's exchanges and queues and closes the inspector. Every
/// test calls it last: quorum queues left behind by hundreds of tests would
/// weigh the shared broker down.
pub async fn cleanup(inspector: shared::broker::QueueInspector) {
    if let Err(error) = inspector.delete_topology().await {
        eprintln!("could not delete the test's topology: {error:#}");
    }
    inspector.close().await;
}

/// Messages waiting in `source`'s dead-letter queue.
pub async fn dead_letter_count(
    inspector: &shared::broker::QueueInspector,
    source: shared::Source,
) -> u32 {
    inspector
        .ready_count(&inspector.topology.dead_letter_queue(source))
        .await
        .expect("counting dead letters")
}

/// A CRM `new_lead` for `lead_id`, as the edge would publish it: the cause
/// fixed for a status change dead-lettered because the lead was unknown.
pub async fn crm_lead_arrives(inspector: &shared::broker::QueueInspector, lead_id: &str) {
    let mut create = shared::Envelope::new(shared::Source::CrmEvents, vec![]);
    create
        .assigned_ids
        .insert("lead_id".into(), lead_id.to_owned());
    let body = serde_json::json!({"event": "new_lead", "data": {"first_name": "Asha"}});
    inspector
        .publish(&create, body.to_string().as_bytes())
        .await
        .expect("publishing a CRM lead");
}

/// Connects an inspector for `prefix` and deletes its topology (for tests
/// that never held an inspector).
pub async fn cleanup_prefix(prefix: &str) {
    if let Ok(inspector) = shared::broker::QueueInspector::connect(&broker_config(prefix)).await {
        cleanup(inspector).await;
    }
}

/// Runs `rabbitmqctl` against the test broker (to stop and start it), for
/// at most two minutes.
pub fn rabbitmqctl(args: &[&str]) {
    let mut command = match std::env::var("RABBITMQCTL") {
        Ok(cmd) => {
            let mut parts = cmd.split_whitespace();
            let mut c = std::process::Command::new(parts.next().expect("RABBITMQCTL is empty"));
            c.args(parts);
            c
        }
        Err(_) => {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
            let mut c = std::process::Command::new(script);
            c.arg("rabbitmqctl");
            c
        }
    };
    let output = run_bounded(command.args(args), Duration::from_secs(120));
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Where the test broker ([`amqp_url`]) listens.
pub fn broker_addr() -> SocketAddr {
    let host_port = TestBrokerUrl::read().host_port;
    let host_port = if host_port.contains(':') {
        host_port
    } else {
        format!("{host_port}:5672")
    };
    use std::net::ToSocketAddrs as _;
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .expect("the test broker's address")
}
