//! Declaring the topology on the broker, and reading a queue's depth
//! without changing it.

use super::connection::bounded;
use crate::topology::{Arg, ExchangeType, Topology};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

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
pub(crate) async fn declare(channel: &Channel, topology: &Topology) -> anyhow::Result<()> {
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

/// Messages ready in a queue, read with a passive declare: it never
/// creates or changes the queue.
pub(crate) async fn ready_count(channel: &Channel, queue: &str) -> anyhow::Result<u32> {
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
