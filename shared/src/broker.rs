//! The one adapter between this system and RabbitMQ. Nothing outside this
//! module imports `lapin`; the guarantees we rely on (persistent messages,
//! publisher confirms, `mandatory`, manual acks, dead-lettering with a reason)
//! are all set here, each with the reason it is set.

use crate::config::BrokerConfig;
use crate::envelope::Envelope;
use crate::history;
use crate::source::Source;
use crate::topology::{Arg, ExchangeType, Topology};
use anyhow::{Context as _, anyhow};
use backon::BackoffBuilder;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{Stream, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use prometheus_client::metrics::counter::Counter;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Header carrying the source name (also the routing key).
pub const HEADER_SOURCE: &str = "x-source";
/// Header carrying the edge's receive time, RFC 3339 with milliseconds.
pub const HEADER_RECEIVED_AT: &str = "x-received-at";
/// Header table carrying the audit request headers.
pub const HEADER_REQUEST: &str = "x-request-headers";
/// Header table carrying ids taken from the request path.
pub const HEADER_PATH_PARAMS: &str = "x-path-params";
/// Header table carrying ids the edge assigned.
pub const HEADER_ASSIGNED_IDS: &str = "x-assigned-ids";
/// Header counting delayed retries already spent.
pub const HEADER_RETRY_ATTEMPT: &str = "x-retry-attempt";
/// Header with the last reason a worker gave for retrying or dead-lettering.
pub const HEADER_REASON: &str = "x-failure-reason";
/// Header with the time the worker dead-lettered the message.
pub const HEADER_DEAD_LETTERED_AT: &str = "x-dead-lettered-at";
/// Header with the message's failure history (JSON, see [`crate::history`]).
pub const HEADER_HISTORY: &str = "x-failure-history";

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
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
async fn bounded<T, E>(
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

/// Why a publish was not confirmed. Every variant means the message may not
/// be safe, so the edge must not answer 201.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No broker connection right now (starting, or reconnecting).
    #[error("broker unavailable")]
    Unavailable,
    /// The broker refused the message (a queue is full, or it failed to store it).
    #[error("broker refused the message (nack)")]
    Nacked,
    /// No queue is bound for the routing key; `mandatory` returned it.
    #[error("message was unroutable and returned by the broker")]
    Unroutable,
    /// No confirm arrived within the configured timeout.
    #[error("no publisher confirm within {0:?}")]
    Timeout(Duration),
    /// The channel or connection failed during the publish.
    #[error("publish failed: {0}")]
    Channel(String),
}

/// Opens a channel, bounded.
async fn open_channel(connection: &Connection) -> anyhow::Result<Channel> {
    bounded("opening a channel", connection.create_channel()).await
}

/// Closes a channel, bounded; a channel already gone is closed enough.
async fn close_channel(channel: &Channel, reason: &str) {
    if let Err(error) = bounded("closing a channel", channel.close(200, reason.into())).await {
        tracing::debug!(error = format!("{error:#}"), "closing a channel");
    }
}

/// Closes a connection, bounded: on a connection that died, lapin's close
/// may never hear the broker's close-ok, and a shutdown must not wait on it.
async fn close_connection(connection: &Connection, reason: &str) {
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

async fn connect(config: &BrokerConfig, name: &str) -> anyhow::Result<Connection> {
    // A named connection shows up as such in the management UI and logs.
    let properties = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    // The URL was checked at start-up; its text may hold a password, so the
    // parse error is not quoted.
    let mut uri: lapin::uri::AMQPUri = config
        .url
        .expose()
        .parse()
        .map_err(|_| anyhow!("AMQP_URL is not a valid amqp:// URL"))?;
    uri.query.heartbeat.get_or_insert(HEARTBEAT_SECS);
    tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, properties))
        .await
        .map_err(|_| anyhow!("cannot connect to the broker: no answer within {CONNECT_TIMEOUT:?}"))?
        .context("cannot connect to the broker")
}

fn field_table(arguments: &[(&'static str, Arg)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in arguments {
        let value = match value {
            Arg::Str(s) => AMQPValue::LongString(s.as_str().into()),
            Arg::Int(i) => AMQPValue::LongLongInt(*i),
        };
        table.insert((*key).into(), value);
    }
    table
}

/// Declares every exchange, queue and binding of the topology. Idempotent;
/// fails if an existing object was declared with other arguments.
async fn declare(channel: &Channel, topology: &Topology) -> anyhow::Result<()> {
    for (exchange, kind) in topology.exchanges() {
        let kind = match kind {
            ExchangeType::Direct => ExchangeKind::Direct,
            ExchangeType::Fanout => ExchangeKind::Fanout,
        };
        bounded(
            format!("declaring exchange {exchange}"),
            channel.exchange_declare(
                exchange.as_str().into(),
                kind,
                // Durable: bindings survive a broker restart.
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            ),
        )
        .await?;
    }
    for queue in topology.queues() {
        bounded(
            format!("declaring queue {}", queue.name),
            channel.queue_declare(
                queue.name.as_str().into(),
                // Durable: the queue (and its persistent messages) survive a restart.
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                field_table(&queue.arguments),
            ),
        )
        .await?;
        if let Some((exchange, key)) = &queue.binding {
            bounded(
                format!("binding {} to {exchange}", queue.name),
                channel.queue_bind(
                    queue.name.as_str().into(),
                    exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        }
    }
    Ok(())
}

fn long_string(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn integer(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::LongLongInt(i) => Some(*i),
        AMQPValue::LongInt(i) => Some(i64::from(*i)),
        AMQPValue::LongUInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortUInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortShortInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortShortUInt(i) => Some(i64::from(*i)),
        _ => None,
    }
}

/// A table of string values; names too long for AMQP (over 255 bytes) are skipped.
fn string_table<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in pairs {
        if let Ok(name) = ShortString::try_new(name) {
            table.insert(name, AMQPValue::LongString(value.into()));
        }
    }
    table
}

/// The string pairs of a header table (empty when absent).
fn read_string_table(
    headers: &std::collections::BTreeMap<ShortString, AMQPValue>,
    name: &str,
) -> Vec<(String, String)> {
    match headers.get(name) {
        Some(AMQPValue::FieldTable(table)) => table
            .inner()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), long_string(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The AMQP properties that carry an envelope.
fn envelope_properties(envelope: &Envelope) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        HEADER_SOURCE.into(),
        AMQPValue::LongString(envelope.source.name().into()),
    );
    headers.insert(
        HEADER_RECEIVED_AT.into(),
        AMQPValue::LongString(
            envelope
                .received_at
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .into(),
        ),
    );
    headers.insert(
        HEADER_REQUEST.into(),
        AMQPValue::FieldTable(string_table(
            envelope
                .request_headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )),
    );
    for (header, map) in [
        (HEADER_PATH_PARAMS, &envelope.path_params),
        (HEADER_ASSIGNED_IDS, &envelope.assigned_ids),
    ] {
        if !map.is_empty() {
            headers.insert(
                header.into(),
                AMQPValue::FieldTable(string_table(
                    map.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )),
            );
        }
    }
    if envelope.retry_attempt > 0 {
        headers.insert(
            HEADER_RETRY_ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(envelope.retry_attempt)),
        );
    }
    BasicProperties::default()
        // Persistent: written to disk, survives a broker restart.
        .with_delivery_mode(PERSISTENT)
        // The ingest id: lets consumers and operators name the message.
        .with_message_id(envelope.ingest_id.to_string().into())
        .with_timestamp(envelope.received_at.timestamp().max(0) as u64)
        .with_content_type("application/json".into())
        .with_type(envelope.source.name().into())
        .with_headers(headers)
}

/// Reads the envelope back from a delivery's properties.
fn envelope_from_properties(properties: &BasicProperties) -> anyhow::Result<Envelope> {
    let ingest_id = properties
        .message_id()
        .as_ref()
        .context("message has no message_id (ingest id)")?;
    let ingest_id = Uuid::parse_str(ingest_id.as_str())
        .with_context(|| format!("message_id {ingest_id:?} is not a UUID"))?;
    let headers = properties
        .headers()
        .as_ref()
        .context("message has no headers")?;
    let headers = headers.inner();
    let source = headers
        .get(HEADER_SOURCE)
        .and_then(long_string)
        .context("message has no x-source header")?;
    let source: Source = source.parse()?;
    let received_at = headers
        .get(HEADER_RECEIVED_AT)
        .and_then(long_string)
        .context("message has no x-received-at header")?;
    let received_at = DateTime::parse_from_rfc3339(&received_at)
        .with_context(|| format!("x-received-at {received_at:?} is not RFC 3339"))?
        .with_timezone(&Utc);
    let request_headers = read_string_table(headers, HEADER_REQUEST);
    let path_params = read_string_table(headers, HEADER_PATH_PARAMS)
        .into_iter()
        .collect();
    let assigned_ids = read_string_table(headers, HEADER_ASSIGNED_IDS)
        .into_iter()
        .collect();
    let retry_attempt = headers
        .get(HEADER_RETRY_ATTEMPT)
        .and_then(integer)
        .unwrap_or(0)
        .clamp(0, i64::from(u32::MAX)) as u32;
    Ok(Envelope {
        ingest_id,
        source,
        received_at,
        request_headers,
        path_params,
        assigned_ids,
        retry_attempt,
    })
}

/// Publishes on a confirm-mode channel and waits for the broker's verdict.
/// Only `Ok` means the broker has taken responsibility for the message.
async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
    timeout: Duration,
) -> Result<(), PublishError> {
    let publish = async {
        let confirm = channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                // mandatory: an unroutable message comes back (basic.return)
                // instead of vanishing while the broker still acks it.
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                body,
                properties,
            )
            .await?;
        confirm.await
    };
    match tokio::time::timeout(timeout, publish).await {
        Err(_) => Err(PublishError::Timeout(timeout)),
        Ok(Err(error)) => Err(PublishError::Channel(error.to_string())),
        Ok(Ok(Confirmation::Ack(None))) => Ok(()),
        Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishError::Unroutable),
        Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
        Ok(Ok(Confirmation::NotRequested)) => Err(PublishError::Channel(
            "channel is not in confirm mode".into(),
        )),
    }
}

/// An open connection with its confirm-mode publishing channels.
struct Link {
    connection: Connection,
    channels: Vec<Channel>,
}

impl Link {
    fn healthy(&self) -> bool {
        self.connection.status().connected() && self.channels.iter().all(|c| c.status().connected())
    }
}

/// The edge's publisher: keeps a connection to the broker (reconnecting by
/// itself with backoff), and publishes persistent, mandatory messages with
/// confirms. Cheap to clone; many publishes are in flight at once, spread
/// over several channels, none waiting behind another's confirm.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<PublisherInner>,
}

struct PublisherInner {
    config: BrokerConfig,
    topology: Topology,
    link: RwLock<Option<Arc<Link>>>,
    next_channel: AtomicUsize,
    stop: CancellationToken,
    reconnects: Counter,
}

impl Publisher {
    /// Starts the publisher and its reconnecting supervisor. Returns at once;
    /// until the first connection is up, publishes fail with
    /// [`PublishError::Unavailable`] (see [`Publisher::wait_connected`]).
    pub fn start(config: BrokerConfig) -> Self {
        let topology = Topology::new(config.prefix.clone(), config.queue_max_length);
        let inner = Arc::new(PublisherInner {
            config,
            topology,
            link: RwLock::new(None),
            next_channel: AtomicUsize::new(0),
            stop: CancellationToken::new(),
            reconnects: Counter::default(),
        });
        tokio::spawn(supervise(inner.clone()));
        Self { inner }
    }

    /// Connections re-established after a loss, for the metrics registry
    /// (the counter is shared: register the returned handle).
    pub fn reconnects(&self) -> Counter {
        self.inner.reconnects.clone()
    }

    /// True while a healthy connection is available for publishing.
    pub fn is_connected(&self) -> bool {
        self.current().is_some()
    }

    /// Waits up to `timeout` for the first connection; true if connected.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.is_connected() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.is_connected()
    }

    fn current(&self) -> Option<Arc<Link>> {
        let guard = self.inner.link.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().filter(|link| link.healthy()).cloned()
    }

    /// Publishes `body` unchanged to the source's work queue and waits for
    /// the broker's confirm (bounded by `PUBLISH_CONFIRM_TIMEOUT_MS`).
    pub async fn publish(&self, envelope: &Envelope, body: &[u8]) -> Result<(), PublishError> {
        let link = self.current().ok_or(PublishError::Unavailable)?;
        let index = self.inner.next_channel.fetch_add(1, Ordering::Relaxed) % link.channels.len();
        publish_confirmed(
            &link.channels[index],
            &self.inner.topology.ingest_exchange(),
            envelope.source.name(),
            body,
            envelope_properties(envelope),
            self.inner.config.confirm_timeout,
        )
        .await
    }

    /// Stops reconnecting and closes the connection. Call after in-flight
    /// publishes have finished.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        let link = self
            .inner
            .link
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(link) = link {
            close_connection(&link.connection, "shutdown").await;
        }
    }
}

/// Keeps `inner.link` pointing at a healthy connection, reconnecting with
/// exponential backoff (50 ms up to 5 s) whenever it is lost.
async fn supervise(inner: Arc<PublisherInner>) {
    let backoff = || {
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times()
            .build()
    };
    let mut delays = backoff();
    let mut connected_before = false;
    while !inner.stop.is_cancelled() {
        match open_link(&inner.config, &inner.topology).await {
            Ok(link) => {
                tracing::info!(channels = link.channels.len(), "connected to the broker");
                if connected_before {
                    inner.reconnects.inc();
                }
                connected_before = true;
                let link = Arc::new(link);
                *inner.link.write().unwrap_or_else(|e| e.into_inner()) = Some(link.clone());
                delays = backoff();
                while link.healthy() {
                    tokio::select! {
                        _ = inner.stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                if inner.stop.is_cancelled() {
                    return;
                }
                tracing::warn!("broker connection lost; answering 503 until it is back");
                inner.link.write().unwrap_or_else(|e| e.into_inner()).take();
            }
            Err(error) => tracing::warn!(error = format!("{error:#}"), "broker unreachable"),
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            _ = inner.stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn open_link(config: &BrokerConfig, topology: &Topology) -> anyhow::Result<Link> {
    let connection = connect(config, "leadpipe-ingest").await?;
    let setup = open_channel(&connection).await?;
    declare(&setup, topology).await?;
    close_channel(&setup, "declared").await;
    let mut channels = Vec::with_capacity(config.publish_channels);
    for _ in 0..config.publish_channels {
        let channel = open_channel(&connection).await?;
        // Confirm mode: the broker acks each message once it has stored it
        // (for quorum queues: on a majority of nodes, fsynced).
        bounded(
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        channels.push(channel);
    }
    Ok(Link {
        connection,
        channels,
    })
}

/// A worker's session with the broker: one connection, one consuming channel
/// per source (each with its own prefetch), and a confirm-mode channel for
/// moving messages to retry and dead-letter queues.
pub struct ConsumerSession {
    connection: Connection,
    publish: Channel,
    consumers: Vec<(Channel, ShortString)>,
    topology: Arc<Topology>,
    confirm_timeout: Duration,
}

/// The stream of deliveries from every consumed queue.
pub type Deliveries = Pin<Box<dyn Stream<Item = anyhow::Result<Delivery>> + Send>>;

impl ConsumerSession {
    /// Connects and declares the topology.
    pub async fn open(config: &BrokerConfig) -> anyhow::Result<Self> {
        let connection = connect(config, "leadpipe-worker").await?;
        let topology = Arc::new(Topology::new(
            config.prefix.clone(),
            config.queue_max_length,
        ));
        let publish = open_channel(&connection).await?;
        declare(&publish, &topology).await?;
        bounded(
            "enabling publisher confirms",
            publish.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        Ok(Self {
            connection,
            publish,
            consumers: Vec::new(),
            topology,
            confirm_timeout: config.confirm_timeout,
        })
    }

    /// True while the connection is up.
    pub fn is_connected(&self) -> bool {
        self.connection.status().connected()
    }

    /// Starts consuming the work queues of `sources`, at most `prefetch`
    /// unacknowledged deliveries per queue. Returns one merged stream.
    pub async fn consume(
        &mut self,
        sources: &[Source],
        prefetch: u16,
    ) -> anyhow::Result<Deliveries> {
        let mut streams = Vec::new();
        for &source in sources {
            let channel = open_channel(&self.connection).await?;
            // Prefetch bounds the unacked messages (and so the memory and the
            // concurrent work) of this consumer; the broker sends no more
            // until some are acked.
            bounded(
                "setting the prefetch",
                channel.basic_qos(prefetch, BasicQosOptions::default()),
            )
            .await?;
            let queue = self.topology.work_queue(source);
            let tag: ShortString = format!("leadpipe-worker-{}", Uuid::now_v7()).into();
            let consumer = bounded(
                format!("consuming {queue}"),
                channel.basic_consume(
                    queue.as_str().into(),
                    tag.clone(),
                    // no_ack false: a message stays ours to lose only until we
                    // ack it after its effects are committed.
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
            self.consumers.push((channel, tag));
            let publish = self.publish.clone();
            let topology = self.topology.clone();
            let confirm_timeout = self.confirm_timeout;
            streams.push(consumer.map(move |item| {
                let delivery = item.context("consumer stream failed")?;
                Ok(Delivery {
                    envelope: envelope_from_properties(&delivery.properties),
                    delivery_count: delivery
                        .properties
                        .headers()
                        .as_ref()
                        .and_then(|h| h.inner().get("x-delivery-count").and_then(integer))
                        .unwrap_or(0),
                    redelivered: delivery.redelivered,
                    arrived: std::time::Instant::now(),
                    source,
                    body: delivery.data,
                    properties: delivery.properties,
                    acker: delivery.acker,
                    publish: publish.clone(),
                    topology: topology.clone(),
                    confirm_timeout,
                })
            }));
        }
        Ok(Box::pin(futures_util::stream::select_all(streams)))
    }

    /// Messages ready (not yet handed to any consumer) in the work queues of
    /// `sources`: how a worker tells "idle" from "stalled". Read with passive
    /// declares on a channel of its own, so a failure cannot close the
    /// channel that settles deliveries.
    pub async fn ready_messages(&self, sources: &[Source]) -> anyhow::Result<u64> {
        let channel = open_channel(&self.connection).await?;
        let mut total = 0u64;
        let mut result = Ok(());
        for &source in sources {
            match ready_count(&channel, &self.topology.work_queue(source)).await {
                Ok(count) => total += u64::from(count),
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        close_channel(&channel, "counted").await;
        result.map(|()| total)
    }

    /// Stops the broker from sending more deliveries; those already received
    /// can still be acked until [`ConsumerSession::close`].
    pub async fn cancel_consumers(&self) {
        // All at once: on a connection that stopped answering, the whole
        // cancel takes one operation timeout, not one per queue.
        futures_util::future::join_all(self.consumers.iter().map(|(channel, tag)| async move {
            if let Err(error) = bounded(
                "cancelling a consumer",
                channel.basic_cancel(tag.clone(), BasicCancelOptions::default()),
            )
            .await
            {
                tracing::debug!(error = format!("{error:#}"), "cancelling consumer");
            }
        }))
        .await;
    }

    /// Closes the connection; unacked deliveries return to their queues.
    pub async fn close(&self) {
        close_connection(&self.connection, "shutdown").await;
    }
}

/// One message handed to a worker. It must end in exactly one of
/// [`Delivery::ack`], [`Delivery::requeue`], [`Delivery::retry_later`] or
/// [`Delivery::dead_letter`]; if the process dies first, the broker
/// redelivers it.
pub struct Delivery {
    /// The envelope, or why it could not be read (such a message is poison).
    pub envelope: anyhow::Result<Envelope>,
    /// The raw webhook body, exactly as the partner sent it.
    pub body: Vec<u8>,
    /// The queue's source.
    pub source: Source,
    /// True if the broker delivered this message before (to us or another worker).
    pub redelivered: bool,
    /// Earlier failed deliveries counted by the quorum queue.
    pub delivery_count: i64,
    /// When it reached this process (for latency metrics).
    pub arrived: std::time::Instant,
    properties: BasicProperties,
    acker: lapin::Acker,
    publish: Channel,
    topology: Arc<Topology>,
    confirm_timeout: Duration,
}

impl Delivery {
    /// Done: the effects are committed, the broker may forget the message.
    pub async fn ack(self) -> anyhow::Result<()> {
        bounded("ack failed", self.acker.ack(BasicAckOptions::default())).await?;
        Ok(())
    }

    /// Gives the message back to its queue at once (for example on shutdown
    /// while the database is down); counts toward the delivery limit.
    pub async fn requeue(self) -> anyhow::Result<()> {
        bounded(
            "nack failed",
            self.acker.nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            }),
        )
        .await?;
        Ok(())
    }

    /// Moves the message to the retry tier for its next attempt, then acks
    /// it here. The copy is confirmed before the ack, so a crash in between
    /// leaves two copies (harmless: processing is idempotent), never none.
    pub async fn retry_later(self, reason: &str) -> anyhow::Result<()> {
        let attempt = self.envelope.as_ref().map(|e| e.retry_attempt).unwrap_or(0);
        let tier = self.topology.retry_queue(attempt);
        let properties = with_headers(&self.properties, |headers| {
            headers.insert(
                HEADER_RETRY_ATTEMPT.into(),
                AMQPValue::LongLongInt(i64::from(attempt) + 1),
            );
            headers.insert(HEADER_REASON.into(), AMQPValue::LongString(reason.into()));
            add_to_history(headers, history::Entry::now(history::Event::Retry, reason));
        });
        // The tier's fanout exchange; the source as routing key is what the
        // message returns to the work queues under when its delay is over.
        publish_confirmed(
            &self.publish,
            &tier,
            self.source.name(),
            &self.body,
            properties,
            self.confirm_timeout,
        )
        .await
        .with_context(|| format!("moving message to {tier}"))?;
        self.ack().await
    }

    /// Moves the message to its source's dead-letter queue with `reason` in
    /// a header an operator can read, then acks it here (confirmed first, as
    /// in [`Delivery::retry_later`]).
    pub async fn dead_letter(self, reason: &str) -> anyhow::Result<()> {
        let properties = with_headers(&self.properties, |headers| {
            headers.insert(HEADER_REASON.into(), AMQPValue::LongString(reason.into()));
            add_to_history(
                headers,
                history::Entry::now(history::Event::DeadLetter, reason),
            );
            headers.insert(
                HEADER_DEAD_LETTERED_AT.into(),
                AMQPValue::LongString(
                    Utc::now()
                        .to_rfc3339_opts(SecondsFormat::Millis, true)
                        .into(),
                ),
            );
        });
        publish_confirmed(
            &self.publish,
            &self.topology.dead_letter_exchange(),
            self.source.name(),
            &self.body,
            properties,
            self.confirm_timeout,
        )
        .await
        .context("moving message to the dead-letter queue")?;
        self.ack().await
    }
}

/// Appends `entry` to the message's failure history header.
fn add_to_history(headers: &mut FieldTable, entry: history::Entry) {
    let existing = headers.inner().get(HEADER_HISTORY).and_then(long_string);
    let updated = history::append(existing.as_deref(), entry);
    headers.insert(HEADER_HISTORY.into(), AMQPValue::LongString(updated.into()));
}

fn with_headers(
    properties: &BasicProperties,
    edit: impl FnOnce(&mut FieldTable),
) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    // The broker's own redelivery counter belongs to the old queue.
    let kept: std::collections::BTreeMap<ShortString, AMQPValue> = headers
        .inner()
        .iter()
        .filter(|(k, _)| k.as_str() != "x-delivery-count")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    headers = FieldTable::from(kept);
    edit(&mut headers);
    properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(PERSISTENT)
}

/// Every header of a message as JSON, for operators to read: strings as
/// strings, numbers as numbers, tables and arrays (such as the broker's
/// `x-death`) as objects and arrays, timestamps as RFC 3339.
fn headers_as_json(properties: &BasicProperties) -> serde_json::Map<String, serde_json::Value> {
    properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn amqp_to_json(value: &AMQPValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::Float(f) => serde_json::json!(f),
        AMQPValue::Double(f) => serde_json::json!(f),
        AMQPValue::DecimalValue(d) => {
            serde_json::json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::LongString(_) | AMQPValue::ShortString(_) => {
            Value::String(long_string(value).unwrap_or_default())
        }
        AMQPValue::FieldArray(array) => {
            Value::Array(array.as_slice().iter().map(amqp_to_json).collect())
        }
        AMQPValue::Timestamp(seconds) => i64::try_from(*seconds)
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
            .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
            .unwrap_or(Value::Null),
        AMQPValue::FieldTable(table) => Value::Object(
            table
                .inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
                .collect(),
        ),
        AMQPValue::ByteArray(bytes) => {
            Value::String(String::from_utf8_lossy(bytes.as_slice()).into_owned())
        }
        AMQPValue::Void => Value::Null,
        other => integer(other).map_or(Value::Null, Value::from),
    }
}

/// A message read back from a source's dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The queue it was read from.
    pub source: Source,
    /// The envelope, if readable (a message dead-lettered for an unreadable
    /// envelope has none).
    pub envelope: Option<Envelope>,
    /// The ingest id, even when the rest of the envelope is unreadable.
    pub ingest_id: Option<Uuid>,
    /// The raw body, exactly as the partner sent it.
    pub body: Vec<u8>,
    /// Every header, as JSON.
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// Times the broker has handed this copy out (browsing included).
    pub delivery_count: i64,
}

/// What a sweep does with one dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Leave it in the dead-letter queue.
    Keep,
    /// Put it back on its source's work queue, same ingest id and body.
    Replay,
    /// Delete it.
    Purge,
}

/// Operator access to the dead-letter queues: read them without removing
/// anything, and replay or purge chosen messages.
///
/// Reading works by taking every message unacknowledged and then closing the
/// channel, which returns them all to the queue: nothing is removed unless it
/// is acked, and it is acked only after its replayed copy is confirmed. An
/// interrupted run (Ctrl-C, kill -9, a lost connection) leaves every message
/// it had not finished in the dead-letter queue; one replayed but not yet
/// acked is there too and is replayed again by the next run, which the
/// workers recognise by its ingest id and do not apply twice.
pub struct DeadLetterQueues {
    connection: Connection,
    topology: Topology,
    confirm_timeout: Duration,
}

impl DeadLetterQueues {
    /// Connects and declares the topology (so every queue exists).
    pub async fn connect(config: &BrokerConfig) -> anyhow::Result<Self> {
        let connection = connect(config, "leadpipe-dead-letters").await?;
        let topology = Topology::new(config.prefix.clone(), config.queue_max_length);
        let channel = open_channel(&connection).await?;
        declare(&channel, &topology).await?;
        close_channel(&channel, "declared").await;
        Ok(Self {
            connection,
            topology,
            confirm_timeout: config.confirm_timeout,
        })
    }

    /// Messages waiting in a source's dead-letter queue.
    pub async fn count(&self, source: Source) -> anyhow::Result<u32> {
        let channel = open_channel(&self.connection).await?;
        let count = ready_count(&channel, &self.topology.dead_letter_queue(source)).await;
        close_channel(&channel, "counted").await;
        count
    }

    /// Every message in a source's dead-letter queue, left in place.
    /// Returns once the broker has them ready again (it puts returned
    /// messages back asynchronously), so a sweep right after sees them all.
    pub async fn browse(&self, source: Source) -> anyhow::Result<Vec<DeadLetter>> {
        let mut all = Vec::new();
        self.sweep(
            source,
            |message| {
                all.push(message.clone());
                Disposition::Keep
            },
            |_, _, _| {},
            &CancellationToken::new(),
        )
        .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.count(source).await? < all.len() as u32 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(all)
    }

    /// Walks a source's dead-letter queue once. `decide` chooses what
    /// happens to each message; `report` hears the result of every replay or
    /// purge (kept messages are not reported). Stops early, cleanly, when
    /// `stop` is cancelled. Messages kept return to the queue when the walk
    /// ends, in their order.
    pub async fn sweep(
        &self,
        source: Source,
        mut decide: impl FnMut(&DeadLetter) -> Disposition,
        mut report: impl FnMut(&DeadLetter, Disposition, anyhow::Result<()>),
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let queue = self.topology.dead_letter_queue(source);
        let channel = open_channel(&self.connection).await?;
        // Confirm mode: a replayed copy is acked from here only once the
        // broker has confirmed it on the work queue.
        bounded(
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        let result = async {
            while !stop.is_cancelled() {
                // no_ack false: the message stays in the queue (held by this
                // channel) until acked; whatever is not acked returns when the
                // channel closes.
                let Some(got) = bounded(
                    format!("reading {queue}"),
                    channel.basic_get(
                        queue.as_str().into(),
                        lapin::options::BasicGetOptions { no_ack: false },
                    ),
                )
                .await?
                else {
                    break;
                };
                let delivery = got.delivery;
                let envelope = envelope_from_properties(&delivery.properties).ok();
                let message = DeadLetter {
                    source,
                    ingest_id: delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .and_then(|id| Uuid::parse_str(id.as_str()).ok()),
                    envelope,
                    headers: headers_as_json(&delivery.properties),
                    delivery_count: delivery
                        .properties
                        .headers()
                        .as_ref()
                        .and_then(|h| h.inner().get("x-delivery-count").and_then(integer))
                        .unwrap_or(0),
                    body: delivery.data,
                };
                let disposition = decide(&message);
                let outcome = match disposition {
                    Disposition::Keep => continue,
                    Disposition::Purge => {
                        bounded("ack failed", delivery.acker.ack(BasicAckOptions::default()))
                            .await
                            .map(drop)
                    }
                    Disposition::Replay => {
                        let properties = with_headers(&delivery.properties, |headers| {
                            // A fresh round of retries: the old ones are
                            // spent, and their story is in the history.
                            headers.insert(HEADER_RETRY_ATTEMPT.into(), AMQPValue::LongLongInt(0));
                            add_to_history(
                                headers,
                                history::Entry::now(history::Event::Replayed, ""),
                            );
                        });
                        let published = publish_confirmed(
                            &channel,
                            &self.topology.ingest_exchange(),
                            source.name(),
                            &message.body,
                            properties,
                            self.confirm_timeout,
                        )
                        .await;
                        match published {
                            // Only now may the dead letter go.
                            Ok(()) => bounded(
                                "ack failed",
                                delivery.acker.ack(BasicAckOptions::default()),
                            )
                            .await
                            .map(drop),
                            Err(error) => Err(anyhow::Error::new(error).context(format!(
                                "replaying to {}",
                                self.topology.work_queue(source)
                            ))),
                        }
                    }
                };
                let failed = outcome.is_err();
                report(&message, disposition, outcome);
                if failed && !channel.status().connected() {
                    anyhow::bail!("the channel to {queue} closed");
                }
            }
            Ok(())
        }
        .await;
        // Returns every message taken but not acked.
        close_channel(&channel, "swept").await;
        result
    }

    /// Closes the connection.
    pub async fn close(&self) {
        close_connection(&self.connection, "done").await;
    }
}

/// Messages ready in a queue, read with a passive declare: it never
/// creates or changes the queue.
async fn ready_count(channel: &Channel, queue: &str) -> anyhow::Result<u32> {
    let declared = bounded(
        format!("inspecting {queue}"),
        channel.queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ),
    )
    .await?;
    Ok(declared.message_count())
}

/// A message read back from a queue, for tests and operator tools.
#[derive(Debug)]
pub struct PeekedMessage {
    /// The envelope, if readable.
    pub envelope: Option<Envelope>,
    /// The raw body.
    pub body: Vec<u8>,
    /// String-valued headers (reason, times).
    pub headers: Vec<(String, String)>,
}

/// Direct queue access for tests and operator tooling: counting and draining
/// queues by name without going through a consumer.
pub struct QueueInspector {
    connection: Connection,
    channel: Channel,
    /// The topology, to name queues.
    pub topology: Topology,
}

impl QueueInspector {
    /// Connects and declares the topology (so queues exist to inspect).
    pub async fn connect(config: &BrokerConfig) -> anyhow::Result<Self> {
        let connection = connect(config, "leadpipe-inspector").await?;
        let channel = open_channel(&connection).await?;
        // Confirm mode: `publish` returns only once the broker has the message.
        bounded(
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        let topology = Topology::new(config.prefix.clone(), config.queue_max_length);
        declare(&channel, &topology).await?;
        Ok(Self {
            connection,
            channel,
            topology,
        })
    }

    /// Messages ready in a queue (not counting unacked ones).
    pub async fn ready_count(&self, queue: &str) -> anyhow::Result<u32> {
        ready_count(&self.channel, queue).await
    }

    /// Takes every ready message off a queue (acking each).
    pub async fn drain(&self, queue: &str) -> anyhow::Result<Vec<PeekedMessage>> {
        let mut out = Vec::new();
        while let Some(message) = bounded(
            format!("reading {queue}"),
            self.channel
                .basic_get(queue.into(), lapin::options::BasicGetOptions::default()),
        )
        .await?
        {
            let delivery = message.delivery;
            let headers = delivery
                .properties
                .headers()
                .as_ref()
                .map(|h| {
                    h.inner()
                        .iter()
                        .filter_map(|(k, v)| Some((k.as_str().to_owned(), long_string(v)?)))
                        .collect()
                })
                .unwrap_or_default();
            out.push(PeekedMessage {
                envelope: envelope_from_properties(&delivery.properties).ok(),
                body: delivery.data.clone(),
                headers,
            });
            bounded("ack failed", delivery.acker.ack(BasicAckOptions::default())).await?;
        }
        Ok(out)
    }

    /// Publishes a raw message with an envelope, confirmed, straight to a
    /// source's work queue (tests use it to simulate redelivery).
    pub async fn publish(&self, envelope: &Envelope, body: &[u8]) -> anyhow::Result<()> {
        publish_confirmed(
            &self.channel,
            &self.topology.ingest_exchange(),
            envelope.source.name(),
            body,
            envelope_properties(envelope),
            Duration::from_secs(10),
        )
        .await?;
        Ok(())
    }

    /// Puts a message straight into its source's dead-letter queue, as a
    /// worker would with `reason` (tests use it to stage dead letters, for
    /// example one whose effects are already committed).
    pub async fn publish_dead_letter(
        &self,
        envelope: &Envelope,
        body: &[u8],
        reason: &str,
    ) -> anyhow::Result<()> {
        let properties = with_headers(&envelope_properties(envelope), |headers| {
            headers.insert(HEADER_REASON.into(), AMQPValue::LongString(reason.into()));
            add_to_history(
                headers,
                history::Entry::now(history::Event::DeadLetter, reason),
            );
        });
        publish_confirmed(
            &self.channel,
            &self.topology.dead_letter_exchange(),
            envelope.source.name(),
            body,
            properties,
            Duration::from_secs(10),
        )
        .await?;
        Ok(())
    }

    /// Deletes a queue with its messages (tests use it to make a route
    /// disappear under a running edge).
    pub async fn delete_queue(&self, queue: &str) -> anyhow::Result<()> {
        bounded(
            format!("deleting {queue}"),
            self.channel
                .queue_delete(queue.into(), lapin::options::QueueDeleteOptions::default()),
        )
        .await?;
        Ok(())
    }

    /// Deletes every queue and exchange of this prefix, with their messages.
    /// Tests call it when they finish: each test has its own prefix, and
    /// quorum queues left behind cost the broker memory and processes.
    pub async fn delete_topology(&self) -> anyhow::Result<()> {
        for queue in self.topology.queues() {
            self.delete_queue(&queue.name).await?;
        }
        for (exchange, _) in self.topology.exchanges() {
            bounded(
                format!("deleting {exchange}"),
                self.channel.exchange_delete(
                    exchange.as_str().into(),
                    lapin::options::ExchangeDeleteOptions::default(),
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(&self) {
        close_connection(&self.connection, "done").await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_properties() {
        let mut envelope = Envelope::new(
            Source::TataCalls,
            vec![("user-agent".into(), "curl/8".into())],
        );
        envelope.retry_attempt = 3;
        envelope.path_params.insert("lead_id".into(), "789".into());
        envelope
            .assigned_ids
            .insert("contact_id".into(), uuid::Uuid::now_v7().to_string());
        let back = envelope_from_properties(&envelope_properties(&envelope)).unwrap();
        // The wire keeps milliseconds.
        assert_eq!(back.ingest_id, envelope.ingest_id);
        assert_eq!(back.source, envelope.source);
        assert_eq!(
            back.received_at.timestamp_millis(),
            envelope.received_at.timestamp_millis()
        );
        assert_eq!(back.request_headers, envelope.request_headers);
        assert_eq!(back.retry_attempt, 3);
        assert_eq!(back.path_params, envelope.path_params);
        assert_eq!(back.assigned_ids, envelope.assigned_ids);
    }

    #[test]
    fn a_message_without_an_ingest_id_is_refused() {
        let err = envelope_from_properties(&BasicProperties::default()).unwrap_err();
        assert!(err.to_string().contains("ingest id"), "{err}");
    }
}
