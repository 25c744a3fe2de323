//! A worker's session: consuming the work queues with manual acks.

use super::connection::{bounded, close_channel, close_connection, connect, open_channel};
use super::declare::{declare, ready_count};
use super::delivery::Delivery;
use super::wire::{delivery_count, envelope_from_properties};
use crate::config::BrokerConfig;
use crate::source::Source;
use crate::topology::Topology;
use anyhow::Context as _;
use futures_util::{Stream, StreamExt};
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

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
        let topology = Arc::new(Topology::for_broker(config));
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
                    delivery_count: delivery_count(&delivery.properties),
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
