//! Operators' access to the dead-letter queues: browse, replay, purge.

use super::connection::{bounded, close_channel, close_connection, connect, open_channel};
use super::declare::{declare, ready_count};
use super::publish::publish_confirmed;
use super::wire::{
    HEADER_RETRY_ATTEMPT, add_to_history, delivery_count, envelope_from_properties,
    headers_as_json, with_headers,
};
use crate::config::BrokerConfig;
use crate::envelope::Envelope;
use crate::history;
use crate::source::Source;
use crate::topology::Topology;
use lapin::Connection;
use lapin::options::{BasicAckOptions, ConfirmSelectOptions};
use lapin::types::AMQPValue;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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

impl DeadLetter {
    /// A message of `source`'s as read from a queue: its `properties`
    /// (and the envelope they carry, when readable) and its `body`.
    fn read(
        source: Source,
        envelope: Option<Envelope>,
        properties: &lapin::BasicProperties,
        body: Vec<u8>,
    ) -> Self {
        Self {
            source,
            ingest_id: properties
                .message_id()
                .as_ref()
                .and_then(|id| Uuid::parse_str(id.as_str()).ok()),
            envelope,
            headers: headers_as_json(properties),
            delivery_count: delivery_count(properties),
            body,
        }
    }
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
        let topology = Topology::for_broker(config);
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
        Ok(all)
    }

    /// Walks a source's dead-letter queue once. `decide` chooses what
    /// happens to each message; `report` hears the result of every replay or
    /// purge (kept messages are not reported). Stops early, cleanly, when
    /// `stop` is cancelled. Messages kept return to the queue when the walk
    /// ends, in their order, and it returns once the broker has them ready
    /// again (it puts returned messages back asynchronously), so a count or
    /// a sweep right after sees them all.
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
        let mut kept = 0u32;
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
                let message =
                    DeadLetter::read(source, envelope, &delivery.properties, delivery.data);
                let disposition = decide(&message);
                let outcome = match disposition {
                    Disposition::Keep => {
                        kept += 1;
                        continue;
                    }
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
        result?;
        self.until_ready(source, kept).await
    }

    /// Every message waiting in the retry queues for its next try, each
    /// with the queue it waits in, left in place (a person's export lists
    /// those about them). Read as the dead-letter queues are: taken
    /// unacknowledged, then returned when the channel closes. The retry
    /// queues have no delivery limit, and a message's delay counts from
    /// when it entered, so reading them neither loses nor delays a retry
    /// by more than the read itself.
    pub async fn retrying(&self) -> anyhow::Result<Vec<(String, DeadLetter)>> {
        let channel = open_channel(&self.connection).await?;
        let mut found = Vec::new();
        let result = async {
            for queue in self.topology.retry_queues() {
                while let Some(got) = bounded(
                    format!("reading {queue}"),
                    channel.basic_get(
                        queue.as_str().into(),
                        lapin::options::BasicGetOptions { no_ack: false },
                    ),
                )
                .await?
                {
                    let delivery = got.delivery;
                    let envelope = envelope_from_properties(&delivery.properties).ok();
                    let Some(source) = envelope.as_ref().map(|e| e.source) else {
                        continue;
                    };
                    found.push((
                        queue.clone(),
                        DeadLetter::read(source, envelope, &delivery.properties, delivery.data),
                    ));
                }
            }
            anyhow::Ok(())
        }
        .await;
        // Returns every message taken.
        close_channel(&channel, "read").await;
        result.map(|()| found)
    }

    /// Waits (up to five seconds) until at least `kept` messages are ready
    /// in the source's dead-letter queue again.
    async fn until_ready(&self, source: Source, kept: u32) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.count(source).await? < kept && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(&self) {
        close_connection(&self.connection, "done").await;
    }
}
