//! The Raft log and vote: durable in redb (`<dir>/raft.redb`), served from memory.
//!
//! Owns: the on-disk log format, the in-memory copy of the unpurged log tail,
//! and the one writer thread that does every disk write.
//!
//! Invariants:
//! - Every disk write (append, vote, committed, truncate, purge) goes through
//!   the writer thread, in call order. The thread drains everything queued,
//!   writes it in ONE redb transaction and commits it (one fsync for the
//!   batch: group commit), then reports each operation done, in order. The
//!   one exception: committed log ids are written at most every
//!   [`COMMITTED_LINGER`] (see [`run_writer`]).
//! - `append` never waits for the disk: it updates memory, queues the write and
//!   returns; openraft learns of durability through the `LogFlushed` callback.
//! - Reads never touch the disk: the unpurged tail lives in a `BTreeMap`
//!   loaded on open, so appended-but-unflushed entries are readable at once.
//! - Never applies entries or knows what they mean: that is the state machine's.
//!
//! On disk every value is a 1-byte format version ([`FORMAT_V1`]) followed by
//! compact JSON, so the encoding can change later.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, LogState, OptionalSend, RaftLogReader, StorageIOError};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// Log entries by index.
const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
/// Vote, committed and last purged log id, by name.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const META_VOTE: &str = "vote";
const META_COMMITTED: &str = "committed";
const META_LAST_PURGED: &str = "last_purged";

/// The current on-disk format: a version byte, then compact JSON.
pub const FORMAT_V1: u8 = 1;

/// Encodes a value for disk: [`FORMAT_V1`] then JSON.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = vec![FORMAT_V1];
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// Decodes a value written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&FORMAT_V1, json)) => {
            serde_json::from_slice(json).map_err(|e| format!("bad JSON: {e}"))
        }
        Some((v, _)) => Err(format!("unknown format version {v}")),
        None => Err("empty value".into()),
    }
}

/// The log store handed to openraft; also its own log reader (clones share
/// everything).
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

struct Shared {
    mem: Mutex<Mem>,
    writer: Writer,
}

/// The in-memory mirror of what is (or is queued to be) on disk.
#[derive(Default)]
struct Mem {
    log: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    committed: Option<LogId>,
}

/// How the writer thread reports that an operation is on disk.
enum Done {
    /// openraft's callback for an append.
    Flushed(LogFlushed<TypeConfig>),
    /// A caller awaiting its own operation.
    Notify(oneshot::Sender<io::Result<()>>),
}

impl Done {
    fn complete(self, result: io::Result<()>) {
        match self {
            Done::Flushed(cb) => cb.log_io_completed(result),
            Done::Notify(tx) => {
                // The caller may have given up waiting; nothing to tell then.
                let _ = tx.send(result);
            }
        }
    }
}

/// One disk operation for the writer thread. Each is applied in queue order.
enum Op {
    /// Write these entries (they are already in memory).
    Append { entries: Vec<Entry>, done: Done },
    /// Persist the vote.
    SaveVote { vote: Vote, done: Done },
    /// Persist the committed log id; nobody waits for it.
    SaveCommitted { committed: Option<LogId> },
    /// Delete entries with index >= `since`.
    Truncate { since: u64, done: Done },
    /// Delete entries up to `upto` inclusive and remember it as last purged.
    Purge { upto: LogId, done: Done },
    /// Finish what is queued before, close the database, exit.
    Stop { done: Option<oneshot::Sender<()>> },
}

/// The handle on the writer thread. Dropping it stops the thread and waits
/// for it, so a dropped store has released its database file.
struct Writer {
    tx: mpsc::Sender<Op>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Fails when the thread already stopped: fine.
        let _ = self.tx.send(Op::Stop { done: None });
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("raft log writer thread panicked");
            }
        }
    }
}

impl LogStore {
    /// Opens or creates the log database at `path` and loads the unpurged log,
    /// the vote and the committed log id into memory.
    pub fn open(path: &Path) -> Result<LogStore, StoreError> {
        let db_err = |what: &'static str| {
            let path = path.to_path_buf();
            move |e: redb::Error| StoreError::Db {
                what,
                path,
                source: Box::new(e),
            }
        };
        let db = Database::create(path).map_err(|e| db_err("open")(e.into()))?;

        // Create the tables on first open so reads below find them.
        let txn = db
            .begin_write()
            .map_err(|e| db_err("begin write")(e.into()))?;
        txn.open_table(LOGS)
            .map_err(|e| db_err("create table logs")(e.into()))?;
        txn.open_table(META)
            .map_err(|e| db_err("create table meta")(e.into()))?;
        txn.commit().map_err(|e| db_err("commit")(e.into()))?;

        let mem = load(&db, path)?;
        let (tx, rx) = mpsc::channel();
        let thread_path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || run_writer(db, &thread_path, rx))
            .map_err(|e| StoreError::Io {
                what: "start the log writer thread for",
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(LogStore {
            shared: Arc::new(Shared {
                mem: Mutex::new(mem),
                writer: Writer {
                    tx,
                    thread: Mutex::new(Some(thread)),
                },
            }),
        })
    }

    /// Appends entries and waits until they are on disk. For tools and tests;
    /// openraft uses the non-blocking [`RaftLogStorage::append`].
    pub async fn append_and_wait(&self, entries: Vec<Entry>) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        let written = match self.queue_append(entries, Done::Notify(tx)) {
            Ok(()) => wait(rx).await,
            Err(e) => Err(e),
        };
        written.map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    /// Writes everything queued, closes the database and stops the writer
    /// thread. Later writes fail; reads keep working from memory.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .shared
            .writer
            .tx
            .send(Op::Stop { done: Some(tx) })
            .is_ok()
        {
            // An error means the thread is gone already: closed either way.
            let _ = rx.await;
        }
    }

    fn mem(&self) -> MutexGuard<'_, Mem> {
        // A panic while holding the lock cannot leave `Mem` half-updated in a
        // way that matters more than the panic itself; keep serving.
        self.shared.mem.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts entries in memory and queues their write; fails only when the
    /// writer has stopped.
    fn queue_append(&self, entries: Vec<Entry>, done: Done) -> Result<(), io::Error> {
        let mut mem = self.mem();
        for e in &entries {
            mem.log.insert(e.log_id.index, e.clone());
        }
        // Sent under the lock so disk order matches memory order.
        self.shared
            .writer
            .tx
            .send(Op::Append { entries, done })
            .map_err(|_| io::Error::other(WRITER_STOPPED))
    }

    /// Queues `op` (built while holding the memory lock by `update`) and waits
    /// for it to be on disk.
    async fn write_and_wait(
        &self,
        update: impl FnOnce(&mut Mem, Done) -> Op,
        err: fn(AnyError) -> StorageIOError<u64>,
    ) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut mem = self.mem();
            let op = update(&mut mem, Done::Notify(tx));
            self.shared
                .writer
                .tx
                .send(op)
                .map_err(|_| err(AnyError::error(WRITER_STOPPED)))?;
        }
        wait(rx).await.map_err(|e| err(AnyError::new(&e)).into())
    }
}

const WRITER_STOPPED: &str =
    "the raft log writer has stopped (store shut down or a disk write failed)";

async fn wait(rx: oneshot::Receiver<io::Result<()>>) -> io::Result<()> {
    rx.await
        .unwrap_or_else(|_| Err(io::Error::other(WRITER_STOPPED)))
}

/// Reads the whole log and the metadata into memory, checking the log has no
/// hole.
fn load(db: &Database, path: &Path) -> Result<Mem, StoreError> {
    let db_err = |what: &'static str| {
        let path = path.to_path_buf();
        move |e: redb::Error| StoreError::Db {
            what,
            path,
            source: Box::new(e),
        }
    };
    let corrupt = |what: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let read = db
        .begin_read()
        .map_err(|e| db_err("begin read")(e.into()))?;

    let meta = read
        .open_table(META)
        .map_err(|e| db_err("open table meta")(e.into()))?;
    let get_meta = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
        let v = meta.get(key).map_err(|e| db_err("read meta")(e.into()))?;
        Ok(v.map(|v| v.value().to_vec()))
    };
    let mut mem = Mem::default();
    if let Some(b) = get_meta(META_VOTE)? {
        mem.vote = Some(decode(&b).map_err(|e| corrupt(format!("vote: {e}")))?);
    }
    if let Some(b) = get_meta(META_COMMITTED)? {
        mem.committed = decode(&b).map_err(|e| corrupt(format!("committed log id: {e}")))?;
    }
    if let Some(b) = get_meta(META_LAST_PURGED)? {
        mem.last_purged =
            Some(decode(&b).map_err(|e| corrupt(format!("last purged log id: {e}")))?);
    }

    let logs = read
        .open_table(LOGS)
        .map_err(|e| db_err("open table logs")(e.into()))?;
    let mut prev: Option<u64> = mem.last_purged.map(|l| l.index);
    for item in logs
        .range::<u64>(..)
        .map_err(|e| db_err("read log")(e.into()))?
    {
        let (k, v) = item.map_err(|e| db_err("read log")(e.into()))?;
        let index = k.value();
        let entry: Entry =
            decode(v.value()).map_err(|e| corrupt(format!("log entry {index}: {e}")))?;
        if entry.log_id.index != index {
            return Err(corrupt(format!(
                "log entry at key {index} has log id {}",
                entry.log_id
            )));
        }
        match prev {
            Some(p) if index <= p => {
                return Err(corrupt(format!(
                    "log entry {index} is at or before last purged index {p}"
                )));
            }
            Some(p) if index != p + 1 => {
                return Err(corrupt(format!(
                    "log has a hole between index {p} and {index}"
                )));
            }
            _ => {}
        }
        prev = Some(index);
        mem.log.insert(index, entry);
    }
    Ok(mem)
}

/// How long a new committed log id may wait before it is written.
const COMMITTED_LINGER: Duration = Duration::from_millis(100);

/// The writer thread: batches queued operations into one transaction each.
///
/// Committed log ids are the exception: they are written at most every
/// [`COMMITTED_LINGER`], riding along with an append when one comes
/// (under load, within a millisecond) or alone when none does. openraft
/// reports a new committed id after every append, so writing each at
/// once doubled the transactions (and fsyncs) and touched a second table
/// in the rest. A committed id is only a hint for restart (apply this
/// much before the leader says so), so writing it late is safe; writing
/// it early is not, and queue order keeps it in the same or a later
/// transaction than the entries it covers.
fn run_writer(db: Database, path: &Path, rx: mpsc::Receiver<Op>) {
    // The newest committed id not yet written, and since when one has been
    // waiting.
    let mut pending: Option<(Option<LogId>, Instant)> = None;
    loop {
        let first = match pending {
            Some((committed, since)) => {
                let wait = COMMITTED_LINGER.saturating_sub(since.elapsed());
                match rx.recv_timeout(wait) {
                    Ok(op) => op,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        pending = None;
                        write_and_report(&db, path, vec![Op::SaveCommitted { committed }]);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match rx.recv() {
                Ok(op) => op,
                Err(_) => return,
            },
        };
        let mut batch = vec![first];
        while !matches!(batch.last(), Some(Op::Stop { .. })) {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let stop = match batch.last() {
            Some(Op::Stop { .. }) => match batch.pop() {
                Some(Op::Stop { done }) => Some(done),
                _ => None,
            },
            _ => None,
        };
        // Take the committed ids out; the newest waits unless it is due.
        let mut newest = None;
        batch.retain(|op| match op {
            Op::SaveCommitted { committed } => {
                newest = Some(*committed);
                false
            }
            _ => true,
        });
        if let Some(committed) = newest {
            let since = pending.map_or_else(Instant::now, |(_, since)| since);
            pending = Some((committed, since));
        }
        if let Some((committed, since)) = pending {
            if stop.is_some() || since.elapsed() >= COMMITTED_LINGER {
                // Covers only entries queued before it: goes last.
                batch.push(Op::SaveCommitted { committed });
                pending = None;
            }
        }
        if !batch.is_empty() {
            write_and_report(&db, path, batch);
        }
        if let Some(done) = stop {
            drop(db);
            if let Some(done) = done {
                let _ = done.send(());
            }
            return;
        }
    }
}

/// Writes `batch` in one transaction, then reports every operation done
/// (or the error), in order.
fn write_and_report(db: &Database, path: &Path, batch: Vec<Op>) {
    let result = write_batch(db, &batch).map_err(|e| format!("raft log {}: {e}", path.display()));
    if let Err(e) = &result {
        tracing::error!("{e}");
    }
    for op in batch {
        let r = result.clone().map_err(io::Error::other);
        match op {
            Op::Append { done, .. }
            | Op::SaveVote { done, .. }
            | Op::Truncate { done, .. }
            | Op::Purge { done, .. } => done.complete(r),
            Op::SaveCommitted { .. } | Op::Stop { .. } => {}
        }
    }
}

/// Writes a batch in one transaction and commits it (one fsync).
fn write_batch(db: &Database, batch: &[Op]) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| format!("begin write: {e}"))?;
    {
        let mut logs = txn
            .open_table(LOGS)
            .map_err(|e| format!("open table logs: {e}"))?;
        let mut meta = txn
            .open_table(META)
            .map_err(|e| format!("open table meta: {e}"))?;
        let enc = |what: &str, e: serde_json::Error| format!("encode {what}: {e}");
        for op in batch {
            match op {
                Op::Append { entries, .. } => {
                    for e in entries {
                        let bytes = encode(e).map_err(|err| enc("log entry", err))?;
                        logs.insert(e.log_id.index, bytes.as_slice())
                            .map_err(|err| format!("write log entry {}: {err}", e.log_id.index))?;
                    }
                }
                Op::SaveVote { vote, .. } => {
                    let bytes = encode(vote).map_err(|e| enc("vote", e))?;
                    meta.insert(META_VOTE, bytes.as_slice())
                        .map_err(|e| format!("write vote: {e}"))?;
                }
                Op::SaveCommitted { committed } => {
                    let bytes = encode(committed).map_err(|e| enc("committed", e))?;
                    meta.insert(META_COMMITTED, bytes.as_slice())
                        .map_err(|e| format!("write committed: {e}"))?;
                }
                Op::Truncate { since, .. } => {
                    logs.retain_in(*since.., |_, _| false)
                        .map_err(|e| format!("truncate log since {since}: {e}"))?;
                }
                Op::Purge { upto, .. } => {
                    logs.retain_in(..=upto.index, |_, _| false)
                        .map_err(|e| format!("purge log up to {}: {e}", upto.index))?;
                    let bytes = encode(upto).map_err(|e| enc("last purged", e))?;
                    meta.insert(META_LAST_PURGED, bytes.as_slice())
                        .map_err(|e| format!("write last purged: {e}"))?;
                }
                Op::Stop { .. } => {}
            }
        }
    }
    txn.commit().map_err(|e| format!("commit: {e}"))
}

/// `[start, end)` of a range of indexes; `None` when it is empty.
fn index_bounds(range: &impl RangeBounds<u64>) -> Option<(u64, Option<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    match end {
        Some(e) if e <= start => None,
        _ => Some((start, end)),
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let Some((start, end)) = index_bounds(&range) else {
            return Ok(Vec::new());
        };
        let mem = self.mem();
        let entries = match end {
            Some(end) => mem.log.range(start..end).map(|(_, e)| e.clone()).collect(),
            None => mem.log.range(start..).map(|(_, e)| e.clone()).collect(),
        };
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let mem = self.mem();
        let last_log_id = mem
            .log
            .last_key_value()
            .map(|(_, e)| e.log_id)
            .or(mem.last_purged);
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.write_and_wait(
            |mem, done| {
                mem.vote = Some(vote);
                Op::SaveVote { vote, done }
            },
            StorageIOError::write_vote,
        )
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.mem().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut mem = self.mem();
        mem.committed = committed;
        // Not awaited: a committed id lost in a crash only means re-applying
        // less on restart. Queue order keeps it after the entries it covers.
        self.shared
            .writer
            .tx
            .send(Op::SaveCommitted { committed })
            .map_err(|_| StorageIOError::write(AnyError::error(WRITER_STOPPED)).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.mem().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.queue_append(entries.into_iter().collect(), Done::Flushed(callback))
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let since = log_id.index;
        self.write_and_wait(
            |mem, done| {
                mem.log.split_off(&since);
                Op::Truncate { since, done }
            },
            StorageIOError::write_logs,
        )
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_and_wait(
            |mem, done| {
                mem.log = mem.log.split_off(&(log_id.index + 1));
                mem.last_purged = Some(log_id);
                Op::Purge { upto: log_id, done }
            },
            StorageIOError::write_logs,
        )
        .await
    }
}

/// Where the log database of a store dir lives.
pub(crate) fn db_path(dir: &Path) -> PathBuf {
    dir.join("raft.redb")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(want, range)`: the `[start, end)` a range maps to.
    type BoundsCase = (Option<(u64, Option<u64>)>, (Bound<u64>, Bound<u64>));

    #[test]
    fn bounds() {
        let cases: &[BoundsCase] = &[
            (Some((0, None)), (Bound::Unbounded, Bound::Unbounded)),
            (Some((3, Some(5))), (Bound::Included(3), Bound::Excluded(5))),
            (Some((3, Some(6))), (Bound::Included(3), Bound::Included(5))),
            (Some((4, None)), (Bound::Excluded(3), Bound::Unbounded)),
            (None, (Bound::Included(3), Bound::Excluded(3))),
            (None, (Bound::Included(5), Bound::Excluded(3))),
            (None, (Bound::Excluded(u64::MAX), Bound::Unbounded)),
        ];
        for (want, range) in cases {
            assert_eq!(&index_bounds(range), want, "{range:?}");
        }
    }

    #[test]
    fn format_is_versioned() {
        let bytes = encode(&7u64).expect("encode");
        assert_eq!(bytes, b"\x017");
        assert_eq!(decode::<u64>(&bytes), Ok(7));
        assert_eq!(
            decode::<u64>(b"\x027"),
            Err("unknown format version 2".into())
        );
        assert_eq!(decode::<u64>(b""), Err("empty value".into()));
    }
}
