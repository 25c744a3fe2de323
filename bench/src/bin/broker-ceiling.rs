//! The broker's ceiling for this system's traffic: a plain lapin publisher
//! with confirms, many messages in flight, persistent messages of the
//! edge's body size, into a quorum queue declared like a work queue. Nothing
//! that waits for confirms (the edge included) can publish faster.
//!
//!   broker-ceiling [SECONDS] [IN_FLIGHT] [BODY_BYTES] [CHANNELS]
//!
//! `AMQP_URL` (default `amqp://127.0.0.1:5672/%2f`). Declares and deletes a
//! queue of its own.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = arg(1, 20);
    let in_flight = arg(2, 256) as usize;
    let body_bytes = arg(3, 230) as usize;
    let channels = arg(4, 4) as usize;
    let url = std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://127.0.0.1:5672/%2f".into());
    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let queue = format!("ceiling-{}", uuid::Uuid::now_v7().simple());
    let mut arguments = FieldTable::default();
    // As a work queue: quorum (replicated, fsync before confirm), bounded,
    // refusing publishes when full.
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(10_000_000));
    let setup = connection.create_channel().await?;
    setup
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await?;
    let body = Arc::new(vec![b'x'; body_bytes]);
    let acked = Arc::new(AtomicU64::new(0));
    let nacked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..channels {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let (queue, body, acked, nacked) =
            (queue.clone(), body.clone(), acked.clone(), nacked.clone());
        let window = in_flight.div_ceil(channels);
        tasks.push(tokio::spawn(async move {
            let mut pending = FuturesUnordered::new();
            loop {
                while pending.len() < window && Instant::now() < deadline {
                    let confirm = channel
                        .basic_publish(
                            "".into(),
                            queue.as_str().into(),
                            BasicPublishOptions {
                                mandatory: true,
                                immediate: false,
                            },
                            &body,
                            BasicProperties::default().with_delivery_mode(2),
                        )
                        .await?;
                    pending.push(confirm);
                }
                match pending.next().await {
                    None => break,
                    Some(Ok(Confirmation::Ack(None))) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {
                        nacked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let acked = acked.load(Ordering::Relaxed);
    println!(
        "ceiling: {:.0} msg/s ({acked} confirmed, {} refused, in {elapsed:.1} s; {in_flight} in flight over {channels} channels; {body_bytes}-byte persistent messages, quorum queue)",
        acked as f64 / elapsed,
        nacked.load(Ordering::Relaxed)
    );
    setup
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(())
}
