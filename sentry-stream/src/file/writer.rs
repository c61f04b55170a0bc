//! The single writer thread: group commit, segment rolls, retention.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{SegmentInfo, Shared, frame, lock, open_topic, segment, sync_dir};
use crate::partition::Partitioner;
use crate::{Position, StreamError};

/// Requests taken from the queue for one group commit, at most.
const MAX_BATCH_RECORDS: usize = 4096;
/// Bytes of frames taken for one group commit, at most (one more record may
/// go over).
const MAX_BATCH_BYTES: usize = 32 << 20;
/// How often retention runs when no segment rolls.
const RETENTION_INTERVAL: Duration = Duration::from_secs(5);

type Reply = oneshot::Sender<Result<Position, StreamError>>;

/// One produce call waiting for the writer.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) topic: String,
    pub(super) key: Option<Bytes>,
    pub(super) payload: Bytes,
    pub(super) reply: Reply,
}

/// The writer's view of a topic.
#[derive(Debug)]
pub(super) struct WTopic {
    partitioner: Partitioner,
    partitions: Vec<WPartition>,
}

impl WTopic {
    pub(super) fn new(partitions: Vec<WPartition>) -> Self {
        WTopic {
            partitioner: Partitioner::default(),
            partitions,
        }
    }
}

/// The writer's view of a partition: its active segment and what is queued.
#[derive(Debug)]
pub(super) struct WPartition {
    dir: PathBuf,
    /// The active segment.
    file: File,
    base: u64,
    /// Bytes of the active segment that are written and synced.
    synced_len: u64,
    /// Offset after the last synced record.
    synced_end: u64,
    /// Offset the next queued record gets.
    next: u64,
    /// Frames not yet written.
    buf: Vec<u8>,
    /// Producers whose frames are in `buf`.
    pending: Vec<(Reply, Position)>,
    /// Producers whose records are synced, to be answered at the end of the batch.
    durable: Vec<(Reply, Position)>,
    touched: bool,
}

impl WPartition {
    pub(super) fn new(dir: PathBuf, file: File, base: u64, synced_len: u64, end: u64) -> Self {
        WPartition {
            dir,
            file,
            base,
            synced_len,
            synced_end: end,
            next: end,
            buf: Vec::new(),
            pending: Vec::new(),
            durable: Vec::new(),
            touched: false,
        }
    }
}

/// An error after which the writer refuses every write (a failed fsync).
struct Fatal(String);

/// Owns every segment file; runs on its own thread.
#[derive(Debug)]
pub(super) struct Writer {
    shared: Arc<Shared>,
    topics: HashMap<String, WTopic>,
    /// Why the log stopped accepting writes, if it did.
    failed: Option<String>,
    last_retention: Instant,
    retention_due: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Writer {
    pub(super) fn new(shared: Arc<Shared>, topics: HashMap<String, WTopic>) -> Self {
        Writer {
            shared,
            topics,
            failed: None,
            last_retention: Instant::now(),
            retention_due: true,
        }
    }

    /// Serves requests until every sender is gone.
    pub(super) fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        // A tiny runtime only to wait on the channel with a timeout (so that
        // retention also runs while idle).
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!(error = %e, "log writer could not start its runtime");
                return;
            }
        };
        let mut batch = Vec::new();
        loop {
            let first = runtime.block_on(async {
                tokio::time::timeout(RETENTION_INTERVAL, requests.recv()).await
            });
            match first {
                Ok(Some(request)) => batch.push(request),
                Ok(None) => break,
                Err(_idle) => {}
            }
            let mut bytes = batch.first().map_or(0, |r| r.payload.len());
            while batch.len() < MAX_BATCH_RECORDS && bytes < MAX_BATCH_BYTES {
                match requests.try_recv() {
                    Ok(request) => {
                        bytes += request.payload.len();
                        batch.push(request);
                    }
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.write_batch(&mut batch);
            }
            if self.retention_due || self.last_retention.elapsed() >= RETENTION_INTERVAL {
                self.enforce_retention();
            }
        }
    }

    /// Appends, syncs, publishes and answers one batch of requests.
    fn write_batch(&mut self, batch: &mut Vec<Request>) {
        let now = now_ms();
        let segment_bytes = self.shared.config.segment_bytes;
        for request in batch.drain(..) {
            if let Some(reason) = &self.failed {
                let _ = request.reply.send(Err(StreamError::Closed(reason.clone())));
                continue;
            }
            if !self.topics.contains_key(&request.topic) {
                if let Err(e) = self.create_topic(&request.topic) {
                    let _ = request.reply.send(Err(e));
                    continue;
                }
            }
            let Some(topic) = self.topics.get_mut(&request.topic) else {
                continue;
            };
            let key = request.key.as_deref();
            let Some(body_len) = frame::body_len(key, &request.payload) else {
                let size = request.payload.len() as u64 + key.map_or(0, <[u8]>::len) as u64;
                let limit = self.shared.config.max_record_bytes;
                let _ = request
                    .reply
                    .send(Err(StreamError::RecordTooLarge { size, limit }));
                continue;
            };
            let count = topic.partitions.len() as u32;
            let index = topic.partitioner.pick(key, count);
            let Some(part) = topic.partitions.get_mut(index as usize) else {
                continue;
            };
            if part.synced_len + part.buf.len() as u64 >= segment_bytes {
                let result = flush(&self.shared, &request.topic, index, part, now)
                    .and_then(|()| roll(&self.shared, &request.topic, index, part));
                match result {
                    Ok(rolled) => self.retention_due |= rolled,
                    Err(Fatal(reason)) => {
                        self.stop(&reason);
                        let _ = request.reply.send(Err(StreamError::Closed(reason)));
                        continue;
                    }
                }
            }
            let position = Position {
                partition: index,
                offset: part.next,
            };
            frame::encode(
                &mut part.buf,
                part.next,
                now,
                key,
                &request.payload,
                body_len,
            );
            part.next += 1;
            part.pending.push((request.reply, position));
            part.touched = true;
        }

        let mut fatal = None;
        for (name, topic) in &mut self.topics {
            for (index, part) in topic.partitions.iter_mut().enumerate() {
                if !part.touched {
                    continue;
                }
                part.touched = false;
                if let Err(Fatal(reason)) = flush(&self.shared, name, index as u32, part, now) {
                    fatal = Some(reason);
                }
                for (reply, position) in part.durable.drain(..) {
                    let _ = reply.send(Ok(position));
                }
            }
        }
        self.shared.produced.send_modify(|n| *n += 1);
        if let Some(reason) = fatal {
            self.stop(&reason);
        }
    }

    /// Stops accepting writes after an unrecoverable error.
    fn stop(&mut self, reason: &str) {
        if self.failed.is_none() {
            tracing::error!(reason, "log writer stopped accepting writes");
            self.failed = Some(format!("log writer stopped after an error: {reason}"));
        }
    }

    fn create_topic(&mut self, name: &str) -> Result<(), StreamError> {
        let config = &self.shared.config;
        let (states, writer) = open_topic(&config.dir, name, config.partitions)?;
        lock(&self.shared.topics).insert(name.to_owned(), states);
        self.topics.insert(name.to_owned(), writer);
        Ok(())
    }

    /// Deletes closed segments past the retention limits.
    fn enforce_retention(&mut self) {
        self.retention_due = false;
        self.last_retention = Instant::now();
        let config = &self.shared.config;
        if config.retention_bytes.is_none() && config.retention_age.is_none() {
            return;
        }
        let cutoff_ms = config
            .retention_age
            .map(|age| now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
        let mut doomed: Vec<(PathBuf, PathBuf)> = Vec::new();
        {
            let mut topics = lock(&self.shared.topics);
            for partitions in topics.values_mut() {
                for part in partitions.iter_mut() {
                    let mut total: u64 = part.segments.iter().map(|s| s.size).sum();
                    while part.segments.len() > 1 {
                        let Some(oldest) = part.segments.front() else {
                            break;
                        };
                        let too_big = config.retention_bytes.is_some_and(|max| total > max);
                        let too_old = cutoff_ms.is_some_and(|cutoff| oldest.newest_ms < cutoff);
                        if !(too_big || too_old) {
                            break;
                        }
                        total -= oldest.size;
                        if let Some(gone) = part.segments.pop_front() {
                            let dir = gone.path.parent().map(PathBuf::from).unwrap_or_default();
                            doomed.push((gone.path, dir));
                        }
                    }
                }
            }
        }
        // Deleted oldest first, each deletion made durable before the next,
        // so that a crash never leaves a gap between segments.
        for (path, dir) in doomed {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::debug!(segment = %path.display(), "deleted segment by retention");
                    if let Err(e) = sync_dir(&dir) {
                        tracing::warn!(error = %e, "retention could not sync a partition directory");
                    }
                }
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "retention could not delete a segment");
                }
            }
        }
    }
}

/// Writes and syncs a partition's queued frames, then publishes the new end.
///
/// A failed write is undone and answered with its error; a failed fsync is
/// [`Fatal`].
fn flush(
    shared: &Shared,
    topic: &str,
    index: u32,
    part: &mut WPartition,
    now: i64,
) -> Result<(), Fatal> {
    if part.buf.is_empty() {
        return Ok(());
    }
    let path = part.dir.join(segment::segment_name(part.base));
    if let Err(e) = part.file.write_all_at(&part.buf, part.synced_len) {
        let context = format!("appending to segment {}", path.display());
        tracing::warn!(segment = %path.display(), error = %e, "write failed, undoing it");
        for (reply, _) in part.pending.drain(..) {
            let copy = std::io::Error::new(e.kind(), e.to_string());
            let _ = reply.send(Err(StreamError::io(context.clone(), copy)));
        }
        part.buf.clear();
        part.next = part.synced_end;
        return part.file.set_len(part.synced_len).map_err(|e| {
            Fatal(format!(
                "could not undo a failed write to {}: {e}",
                path.display()
            ))
        });
    }
    if let Err(e) = part.file.sync_data() {
        let reason = format!("fsync of {} failed: {e}", path.display());
        for (reply, _) in part.pending.drain(..) {
            let _ = reply.send(Err(StreamError::Closed(reason.clone())));
        }
        part.buf.clear();
        return Err(Fatal(reason));
    }
    part.synced_len += part.buf.len() as u64;
    part.synced_end = part.next;
    part.buf.clear();
    part.durable.append(&mut part.pending);

    let mut topics = lock(&shared.topics);
    if let Some(state) = topics
        .get_mut(topic)
        .and_then(|t| t.get_mut(index as usize))
    {
        state.end = part.synced_end;
        if let Some(active) = state.segments.back_mut() {
            active.size = part.synced_len;
            active.newest_ms = now;
        }
    }
    Ok(())
}

/// Closes the active segment (already flushed) and starts a new one at the
/// partition's end. Returns whether it rolled: a failure to create the new
/// file is logged and writing continues in the old one.
fn roll(shared: &Shared, topic: &str, index: u32, part: &mut WPartition) -> Result<bool, Fatal> {
    let base = part.synced_end;
    if base == part.base {
        return Ok(false); // nothing in the active segment (one huge record?)
    }
    let path = part.dir.join(segment::segment_name(base));
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(segment = %path.display(), error = %e, "could not start a new segment");
            return Ok(false);
        }
    };
    // The new file must survive a crash before any acknowledged record is in it.
    sync_dir(&part.dir).map_err(|e| Fatal(e.to_string()))?;
    part.file = file;
    part.base = base;
    part.synced_len = 0;
    let mut topics = lock(&shared.topics);
    if let Some(state) = topics
        .get_mut(topic)
        .and_then(|t| t.get_mut(index as usize))
    {
        state.segments.push_back(SegmentInfo {
            base,
            path,
            size: 0,
            newest_ms: now_ms(),
        });
    }
    Ok(true)
}
