//! The spool's single writer: a thread that takes every append and delete
//! waiting in its queue and commits them in one transaction, one fsync for
//! all (group commit). Concurrent requests during an outage therefore cost
//! one disk flush between them, not one each.

use super::{Counts, SpoolError, UNREADABLE, WAITING};
use anyhow::Context as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// Commands the writer thread queues at most; a full queue makes callers
/// wait (the edge's connection limit bounds them anyway).
const QUEUE: usize = 4096;
/// Most commands committed in one transaction.
const GROUP: usize = 1024;

/// One change to the spool.
pub(crate) enum Command {
    /// Store a webhook.
    Append {
        key: u128,
        record: Vec<u8>,
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
    /// Delete webhooks the broker confirmed.
    Remove {
        keys: Vec<u128>,
        reply: oneshot::Sender<anyhow::Result<()>>,
    },
    /// Move an unreadable entry out of the way.
    SetAside {
        key: u128,
        reply: oneshot::Sender<anyhow::Result<()>>,
    },
    /// Finish what came before, then stop and release the file.
    Close { reply: oneshot::Sender<()> },
}

/// What one entry counts against `SPOOL_MAX_BYTES`: its record and key.
pub(crate) fn entry_size(record: &[u8]) -> u64 {
    record.len() as u64 + 16
}

/// Starts the writer thread; it ends when every sender is dropped.
pub(crate) fn start(
    db: Arc<redb::Database>,
    counts: Arc<Counts>,
    max_bytes: u64,
) -> anyhow::Result<mpsc::Sender<Command>> {
    let (sender, mut commands) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("spool-writer".into())
        .spawn(move || {
            let mut closed = None;
            while let Some(first) = commands.blocking_recv() {
                let mut group = Vec::new();
                let mut next = Some(first);
                while let Some(command) = next.take() {
                    if let Command::Close { reply } = command {
                        closed = Some(reply);
                        break;
                    }
                    group.push(command);
                    if group.len() < GROUP {
                        next = commands.try_recv().ok();
                    }
                }
                if !group.is_empty() {
                    commit(&db, &counts, max_bytes, group);
                }
                if closed.is_some() {
                    break;
                }
            }
            drop(db);
            if let Some(reply) = closed {
                reply.send(()).ok();
            }
        })
        .context("starting the spool writer thread")?;
    Ok(sender)
}

/// Applies a group of commands in one transaction and answers each.
fn commit(db: &redb::Database, counts: &Counts, max_bytes: u64, group: Vec<Command>) {
    let mut added_bytes = 0u64;
    let mut removed_bytes = 0u64;
    let mut added = 0u64;
    let mut removed = 0u64;
    let mut accepted = Vec::new();
    let mut done = Vec::new();
    let outcome = (|| -> anyhow::Result<()> {
        let write = db.begin_write()?;
        {
            let mut waiting = write.open_table(WAITING)?;
            let mut unreadable = write.open_table(UNREADABLE)?;
            for command in group {
                match command {
                    Command::Append { key, record, reply } => {
                        let size = entry_size(&record);
                        let held = (counts.bytes.load(Ordering::SeqCst) + added_bytes)
                            .saturating_sub(removed_bytes);
                        if held + size > max_bytes {
                            counts.full.store(true, Ordering::SeqCst);
                            reply.send(Err(SpoolError::Full)).ok();
                            continue;
                        }
                        if let Some(old) = waiting.insert(key, record.as_slice())? {
                            // The same ingest id twice: never expected (ids
                            // are fresh per request); count it once.
                            removed_bytes += entry_size(old.value());
                            removed += 1;
                        }
                        added_bytes += size;
                        added += 1;
                        accepted.push(reply);
                    }
                    Command::Remove { keys, reply } => {
                        for key in keys {
                            if let Some(old) = waiting.remove(key)? {
                                removed_bytes += entry_size(old.value());
                                removed += 1;
                            }
                        }
                        done.push(reply);
                    }
                    Command::Close { .. } => {}
                    Command::SetAside { key, reply } => {
                        if let Some(old) = waiting.remove(key)? {
                            let bytes = old.value().to_vec();
                            removed_bytes += entry_size(&bytes);
                            removed += 1;
                            unreadable.insert(key, bytes.as_slice())?;
                        }
                        done.push(reply);
                    }
                }
            }
        }
        // The default durability: the commit returns once it is fsynced.
        write.commit()?;
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            counts.entries.fetch_add(added, Ordering::SeqCst);
            counts.entries.fetch_sub(removed, Ordering::SeqCst);
            counts.bytes.fetch_add(added_bytes, Ordering::SeqCst);
            counts.bytes.fetch_sub(removed_bytes, Ordering::SeqCst);
            if removed > 0 {
                counts.full.store(false, Ordering::SeqCst);
            }
            for reply in accepted {
                reply.send(Ok(())).ok();
            }
            for reply in done {
                reply.send(Ok(())).ok();
            }
        }
        Err(error) => {
            let message = format!("{error:#}");
            tracing::error!(error = %message, "writing the spool failed");
            for reply in accepted {
                reply.send(Err(SpoolError::Failed(message.clone()))).ok();
            }
            for reply in done {
                reply
                    .send(Err(anyhow::anyhow!("writing the spool failed: {message}")))
                    .ok();
            }
        }
    }
}
