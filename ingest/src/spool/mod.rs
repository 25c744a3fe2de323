//! The edge's spool: when the broker cannot confirm a webhook (no
//! connection, still connecting, a nack, a full queue, a confirm timeout),
//! the webhook is written durably to this edge's disk and only then answered
//! 201; a drainer publishes it once the broker confirms again.
//!
//! Storage is [redb](https://www.redb.org): an embedded key-value store
//! whose commits are atomic and fsynced, with checksummed copy-on-write
//! B-trees that survive a crash at any moment. Keys are the webhooks'
//! ingest ids (UUID v7, which sort by arrival), so the oldest is first.
//! Appends from concurrent requests are committed together by one writer
//! thread ([`writer`]): one fsync for many webhooks.
//!
//! An entry is deleted only after the broker confirmed its publish. A crash
//! between the two publishes it again, which the workers' ingest-id
//! idempotency makes harmless.

mod drain;
mod record;
mod writer;

pub use drain::Drainer;

use anyhow::Context as _;
use redb::{
    ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, TableDefinition,
};
use shared::Envelope;
use shared::config::SpoolConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

/// Webhooks waiting for the broker, by ingest id.
const WAITING: TableDefinition<u128, &[u8]> = TableDefinition::new("waiting");
/// Entries that could not be read back (never expected: redb checksums its
/// pages). Kept, not deleted, for an operator to look at.
const UNREADABLE: TableDefinition<u128, &[u8]> = TableDefinition::new("unreadable");

/// Memory redb may use to cache the spool's pages.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Why a webhook could not be spooled: either way the partner gets 503 and
/// retries, because nothing was promised.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// `SPOOL_MAX_BYTES` would be exceeded.
    #[error("the spool is full (SPOOL_MAX_BYTES)")]
    Full,
    /// The disk refused the write, or the spool is closed.
    #[error("the spool could not store the webhook: {0}")]
    Failed(String),
}

/// One spooled webhook, read back for publishing.
pub struct SpooledWebhook {
    /// Its key (the ingest id).
    pub key: u128,
    /// Its envelope as the edge made it.
    pub envelope: Envelope,
    /// The partner's body, unchanged.
    pub body: Vec<u8>,
}

/// A handle on the spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed: the file is released when the last read ends.
    db: std::sync::Mutex<Option<Arc<redb::Database>>>,
    commands: mpsc::Sender<writer::Command>,
    counts: Arc<Counts>,
    /// Woken on every append, so the drainer never polls an empty spool.
    appended: Notify,
}

/// What the spool holds, kept by the writer thread (the only writer).
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) entries: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// An append was refused for want of room, and nothing was deleted since.
    pub(crate) full: std::sync::atomic::AtomicBool,
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`. Fails if another edge
    /// has it open: a spool belongs to one edge.
    pub fn open(config: &SpoolConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.dir)
            .with_context(|| format!("creating SPOOL_DIR {}", config.dir.display()))?;
        let path = config.dir.join("spool.redb");
        let db = redb::Database::builder()
            // The spool is written once and read once per webhook: a small
            // cache is enough (redb's default would let it grow to 1 GiB).
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .with_context(|| {
                format!(
                    "opening the spool {} (SPOOL_DIR; is another edge using it?)",
                    path.display()
                )
            })?;
        let counts = Arc::new(Counts::default());
        {
            let write = db.begin_write().context("opening the spool")?;
            {
                let waiting = write.open_table(WAITING).context("opening the spool")?;
                let mut bytes = 0;
                for entry in waiting.iter().context("reading the spool")? {
                    let (_, value) = entry.context("reading the spool")?;
                    bytes += writer::entry_size(value.value());
                }
                counts.entries.store(
                    waiting.len().context("reading the spool")?,
                    Ordering::SeqCst,
                );
                counts.bytes.store(bytes, Ordering::SeqCst);
                write.open_table(UNREADABLE).context("opening the spool")?;
            }
            write.commit().context("opening the spool")?;
        }
        let db = Arc::new(db);
        let commands = writer::start(db.clone(), counts.clone(), config.max_bytes)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db: std::sync::Mutex::new(Some(db)),
                commands,
                counts,
                appended: Notify::new(),
            }),
        })
    }

    /// Stores a webhook durably; `Ok` only once it is on disk (fsynced).
    pub async fn append(&self, envelope: &Envelope, body: &[u8]) -> Result<(), SpoolError> {
        let (reply, answer) = oneshot::channel();
        let command = writer::Command::Append {
            key: envelope.ingest_id.as_u128(),
            record: record::encode(envelope, body),
            reply,
        };
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| SpoolError::Failed("the spool is closed".into()))?;
        let result = answer
            .await
            .map_err(|_| SpoolError::Failed("the spool writer stopped".into()))?;
        if result.is_ok() {
            self.inner.appended.notify_one();
        }
        result
    }

    /// Up to `limit` of the oldest webhooks. Entries that cannot be read
    /// back are moved aside (and logged) so they never block the rest.
    pub async fn oldest(&self, limit: usize) -> anyhow::Result<Vec<SpooledWebhook>> {
        let db = self.db()?;
        let raw = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(u128, Vec<u8>)>> {
            let read = db.begin_read()?;
            let waiting = read.open_table(WAITING)?;
            let mut entries = Vec::new();
            for entry in waiting.iter()?.take(limit) {
                let (key, value) = entry?;
                entries.push((key.value(), value.value().to_vec()));
            }
            Ok(entries)
        })
        .await
        .context("reading the spool")?
        .context("reading the spool")?;
        let mut webhooks = Vec::with_capacity(raw.len());
        for (key, bytes) in raw {
            match record::decode(&bytes) {
                Ok((envelope, body)) => webhooks.push(SpooledWebhook {
                    key,
                    envelope,
                    body,
                }),
                Err(error) => {
                    tracing::error!(
                        key = %Uuid::from_u128(key),
                        error = format!("{error:#}"),
                        "a spooled webhook cannot be read back; it is kept in the spool's 'unreadable' table"
                    );
                    self.command(|reply| writer::Command::SetAside { key, reply })
                        .await?;
                }
            }
        }
        Ok(webhooks)
    }

    /// The oldest waiting webhook's key, if any.
    pub async fn oldest_key(&self) -> anyhow::Result<Option<u128>> {
        let db = self.db()?;
        tokio::task::spawn_blocking(move || -> anyhow::Result<Option<u128>> {
            let read = db.begin_read()?;
            let waiting = read.open_table(WAITING)?;
            Ok(waiting.first()?.map(|(key, _)| key.value()))
        })
        .await
        .context("reading the spool")?
        .context("reading the spool")
    }

    /// Deletes webhooks the broker has confirmed.
    pub async fn remove(&self, keys: Vec<u128>) -> anyhow::Result<()> {
        self.command(|reply| writer::Command::Remove { keys, reply })
            .await
    }

    async fn command(
        &self,
        command: impl FnOnce(oneshot::Sender<anyhow::Result<()>>) -> writer::Command,
    ) -> anyhow::Result<()> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .await
            .map_err(|_| anyhow::anyhow!("the spool is closed"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the spool writer stopped"))?
    }

    /// Stops the writer and releases the file, so this edge (or a test)
    /// can open the spool again. Appends after it fail.
    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self
            .inner
            .commands
            .send(writer::Command::Close { reply })
            .await
            .is_ok()
        {
            answer.await.ok();
        }
        self.inner
            .db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    fn db(&self) -> anyhow::Result<Arc<redb::Database>> {
        self.inner
            .db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .context("the spool is closed")
    }

    /// Webhooks waiting.
    pub fn len(&self) -> u64 {
        self.inner.counts.entries.load(Ordering::SeqCst)
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the waiting webhooks take (records and keys).
    pub fn bytes(&self) -> u64 {
        self.inner.counts.bytes.load(Ordering::SeqCst)
    }

    /// True when the last append found no room and nothing was drained
    /// since: the next webhook would get 503.
    pub fn is_full(&self) -> bool {
        self.inner.counts.full.load(Ordering::SeqCst)
    }

    /// Waits until a webhook is appended (returns at once if one was
    /// appended since the last call).
    pub(crate) async fn appended(&self) {
        self.inner.appended.notified().await;
    }
}
