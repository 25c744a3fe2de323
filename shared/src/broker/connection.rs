//! Connections and channels: connecting to one of `AMQP_URL`'s nodes, and
//! every broker operation bounded in time, so no caller waits forever on a
//! connection that died without a word.

use crate::config::BrokerConfig;
use anyhow::{Context as _, anyhow};
use lapin::{Channel, Connection, ConnectionProperties};
use std::time::Duration;

/// How long connecting may take before we call the broker unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any other broker operation (opening a channel, declaring,
/// consuming, cancelling, acking, closing) may take. A healthy broker
/// answers in milliseconds; one that has not answered by then is treated as
/// gone, so no caller waits forever on a connection that died without a word
/// (the worker then reconnects; the broker redelivers whatever was unacked).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// AMQP heartbeat interval asked for unless `AMQP_URL` sets `?heartbeat=`:
/// a peer that stops answering (a half-open TCP connection, a frozen node)
/// is noticed within two intervals instead of RabbitMQ's default minute.
const HEARTBEAT_SECS: u16 = 10;

/// Runs one broker operation with [`OPERATION_TIMEOUT`]; an error or a
/// timeout names `what`.
pub(crate) async fn bounded<T, E>(
    what: impl std::fmt::Display,
    operation: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(OPERATION_TIMEOUT, operation).await {
        Ok(result) => result.with_context(|| what.to_string()),
        Err(_) => Err(anyhow!(
            "{what}: no answer from the broker within {OPERATION_TIMEOUT:?}"
        )),
    }
}

/// Opens a channel, bounded.
pub(crate) async fn open_channel(connection: &Connection) -> anyhow::Result<Channel> {
    bounded("opening a channel", connection.create_channel()).await
}

/// Closes a channel, bounded; a channel already gone is closed enough.
pub(crate) async fn close_channel(channel: &Channel, reason: &str) {
    if let Err(error) = bounded("closing a channel", channel.close(200, reason.into())).await {
        tracing::debug!(error = format!("{error:#}"), "closing a channel");
    }
}

/// Closes a connection, bounded: on a connection that died, lapin's close
/// may never hear the broker's close-ok, and a shutdown must not wait on it.
pub(crate) async fn close_connection(connection: &Connection, reason: &str) {
    if let Err(error) = bounded(
        "closing the broker connection",
        connection.close(200, reason.into()),
    )
    .await
    {
        tracing::debug!(
            error = format!("{error:#}"),
            "closing the broker connection"
        );
    }
}

/// Connects to one of `AMQP_URL`'s nodes: starting from a random one (so
/// the processes of a deployment spread over a cluster), then each other in
/// turn, so a node that is down costs one attempt, not the connection.
pub(crate) async fn connect(config: &BrokerConfig, name: &str) -> anyhow::Result<Connection> {
    use std::hash::{BuildHasher as _, Hasher as _};
    let nodes = config.urls.len();
    let first = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as usize;
    let mut failures = Vec::new();
    for attempt in 0..nodes {
        let node = (first + attempt) % nodes;
        match connect_node(config, node, name).await {
            Ok(connection) => return Ok(connection),
            Err(error) if nodes == 1 => return Err(error),
            Err(error) => failures.push(format!("node {}: {error:#}", node + 1)),
        }
    }
    Err(anyhow!(
        "cannot connect to any of AMQP_URL's {nodes} nodes ({})",
        failures.join("; ")
    ))
}

/// Connects to `AMQP_URL`'s node number `node` (from 0).
async fn connect_node(
    config: &BrokerConfig,
    node: usize,
    name: &str,
) -> anyhow::Result<Connection> {
    // A named connection shows up as such in the management UI and logs.
    let properties = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    // The URL was checked at start-up; its text may hold a password, so the
    // parse error is not quoted.
    let mut uri: lapin::uri::AMQPUri = config.urls[node]
        .expose()
        .parse()
        .map_err(|_| anyhow!("AMQP_URL is not a valid amqp:// URL"))?;
    uri.query.heartbeat.get_or_insert(HEARTBEAT_SECS);
    tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, properties))
        .await
        .map_err(|_| anyhow!("cannot connect to the broker: no answer within {CONNECT_TIMEOUT:?}"))?
        .context("cannot connect to the broker")
}
