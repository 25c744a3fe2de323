//! Direct queue access for tests (the `test-support` feature): counting,
//! draining and publishing by queue name. Not in the production binaries.

use super::connection::{bounded, close_connection, connect, open_channel};
use super::declare::{declare, ready_count};
use super::publish::publish_confirmed;
use super::wire::{
    HEADER_REASON, add_to_history, envelope_from_properties, envelope_properties, long_string,
    with_headers,
};
use crate::config::BrokerConfig;
use crate::envelope::Envelope;
use crate::history;
use crate::topology::Topology;
use lapin::options::{BasicAckOptions, ConfirmSelectOptions};
use lapin::types::AMQPValue;
use lapin::{Channel, Connection};
use std::time::Duration;

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
        let topology = Topology::for_broker(config);
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
