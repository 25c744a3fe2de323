//! Publishing one message with a confirm: the primitive every publisher
//! here (the edge's, a worker moving a message, the dead-letter tool) uses.

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Confirmation};
use std::time::Duration;

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

/// Publishes on a confirm-mode channel and waits for the broker's verdict.
/// Only `Ok` means the broker has taken responsibility for the message.
pub(crate) async fn publish_confirmed(
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
