//! One delivery and the four ways it can end: ack, requeue, a delayed
//! retry, or the dead-letter queue.

use super::connection::bounded;
use super::publish::publish_confirmed;
use super::wire::{
    HEADER_DEAD_LETTERED_AT, HEADER_REASON, HEADER_RETRY_ATTEMPT, add_to_history, with_headers,
};
use crate::envelope::Envelope;
use crate::history;
use crate::source::Source;
use crate::topology::Topology;
use anyhow::Context as _;
use chrono::{SecondsFormat, Utc};
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel};
use std::sync::Arc;
use std::time::Duration;

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
    pub(super) properties: BasicProperties,
    pub(super) acker: lapin::Acker,
    pub(super) publish: Channel,
    pub(super) topology: Arc<Topology>,
    pub(super) confirm_timeout: Duration,
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
