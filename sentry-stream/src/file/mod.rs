//! The embedded durable log: segment files on the local disk. See [`FileLog`].

mod consumer;
mod frame;
mod lock;
mod offsets;
mod segment;
mod writer;

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use self::lock::LockFile;
use self::offsets::GroupOffsets;
use self::writer::{Request, WPartition, WTopic, Writer};
use crate::partition::{validate_consumer, validate_name};
use crate::{Broker, Consumer, Position, Producer, StreamError};

/// Name of the directory of consumer-group offsets (so no topic may use it).
const OFFSETS_DIR: &str = "offsets";
/// Produce requests that may wait for the writer before producers block.
const QUEUE_CAPACITY: usize = 4096;

/// Settings of a [`FileLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The directory holding the log (created if missing).
    pub dir: PathBuf,
    /// Partitions of a topic created by this process (default 1). Topics
    /// found on disk keep the partition count they were created with.
    pub partitions: u32,
    /// Size at which the active segment of a partition is closed and a new
    /// one started (default 64 MiB). A segment exceeds it by at most one
    /// record.
    pub segment_bytes: u64,
    /// Keep at most about this many bytes per partition, deleting the
    /// oldest closed segments (default: no limit).
    pub retention_bytes: Option<u64>,
    /// Delete closed segments whose newest record is older than this
    /// (default: never).
    pub retention_age: Option<Duration>,
    /// Largest key plus payload accepted by `produce` (default 256 MiB, at
    /// most 4 GiB minus a few bytes). Also the limit applied when reading a
    /// record's length from disk.
    pub max_record_bytes: u64,
}

impl LogConfig {
    /// The defaults, with the log in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogConfig {
            dir: dir.into(),
            partitions: 1,
            segment_bytes: 64 << 20,
            retention_bytes: None,
            retention_age: None,
            max_record_bytes: 256 << 20,
        }
    }

    fn validate(&self) -> Result<(), StreamError> {
        let invalid = |msg: &str| Err(StreamError::InvalidConfig(msg.to_owned()));
        if self.partitions == 0 || self.partitions > 100_000 {
            return invalid("partitions must be between 1 and 100000");
        }
        if self.segment_bytes == 0 {
            return invalid("segment_bytes must be positive");
        }
        if self.max_record_bytes == 0
            || self.max_record_bytes > u64::from(u32::MAX) - frame::BODY_FIXED_LEN as u64
        {
            return invalid("max_record_bytes must be between 1 and 4 GiB minus 20 bytes");
        }
        if self.retention_age.is_some_and(|age| age.is_zero()) {
            return invalid("retention_age must be positive");
        }
        Ok(())
    }

    /// The largest body length accepted when reading a frame.
    fn max_body_len(&self) -> u64 {
        self.max_record_bytes + frame::BODY_FIXED_LEN as u64
    }
}

/// The embedded durable log: topics as directories of segment files, one
/// writer thread with group commit, consumers reading the files directly.
///
/// Clones share the same log. The log stays open (and its directory locked)
/// while the `FileLog`, a producer or a consumer from it is alive; the last
/// one dropped stops the writer and removes the lock file.
///
/// # Layout
///
/// ```text
/// dir/lock                                   pid of the owning process
/// dir/offsets/<group>.offsets                committed offsets of a group
/// dir/<topic>/<partition>/<base>.log         segments; <base> is the 20-digit
///                                            offset of the segment's first record
/// ```
///
/// # Writing
///
/// One writer thread owns every segment file. `produce` sends the
/// record over a bounded channel (a full channel is backpressure) and waits
/// for the answer. The writer takes every queued request at once (group
/// commit), appends their frames to the active segments, calls `sync_data`
/// once per touched file, and only then publishes the new end offsets to
/// consumers and answers the producers. A segment rolls when it has reached
/// `segment_bytes`; the full one is synced, the new file created and its
/// directory synced before any record goes into it.
///
/// A failed write is undone (the file is truncated back to its last synced
/// length) and only the records of that write get the error. A failed fsync
/// cannot be undone (the kernel may have dropped the dirty pages), so it
/// stops the log: every later produce fails with [`StreamError::Closed`]
/// until the process reopens the log, which recovers from the files.
///
/// # Recovery
///
/// Each record is framed as: body length, CRC-32 of the body, then the body
/// (offset, timestamp, key, payload). On open, the last segment of every
/// partition is scanned and cut after its last complete record whose CRC
/// matches and whose offset follows the previous one: a torn write from a
/// crash is dropped, every record before it is kept. The scan checks CRCs
/// in a streaming fashion, so a length read from disk never drives an
/// allocation. Closed segments were synced before the roll and are not
/// rescanned.
///
/// # Reading
///
/// Consumers read segment files directly with positioned reads, up to the
/// published (durable) end offset, moving from one segment to the next.
/// There is no index: seeking to a committed offset scans the frame headers
/// of its segment from the start (one small read per record, done once per
/// consumer and partition).
///
/// # Retention
///
/// Whole closed segments are deleted, oldest first, while the partition is
/// larger than `retention_bytes` or the oldest segment's newest record is
/// older than `retention_age`; the active segment is never deleted. It runs
/// after a roll and at most every few seconds in the writer. A segment's age
/// comes from its records for segments written by this process, and from
/// the file's modification time for segments found on open. A consumer whose
/// position was deleted continues at the earliest retained record.
#[derive(Clone, Debug)]
pub struct FileLog {
    inner: Arc<Inner>,
}

/// What producers and consumers keep alive.
#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// `None` only while dropping.
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    _lock: LockFile,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has answered what it holds.
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!(dir = %self.shared.config.dir.display(), "log writer thread panicked");
            }
        }
    }
}

/// State shared by the writer, the consumers and `lag`.
#[derive(Debug)]
struct Shared {
    config: LogConfig,
    /// Published (durable) state of every topic. Never held across I/O.
    topics: Mutex<HashMap<String, Vec<PartitionState>>>,
    /// Committed offsets of every group, as on disk.
    groups: Mutex<HashMap<String, GroupOffsets>>,
    /// Serializes commits, so that offsets files are written in order.
    commit_lock: Mutex<()>,
    /// Bumped after every published batch; consumers wait on it.
    produced: watch::Sender<u64>,
}

/// The published state of one partition.
#[derive(Debug, Clone)]
struct PartitionState {
    /// Segments, oldest first; the last one is the active one. Never empty.
    segments: VecDeque<SegmentInfo>,
    /// Offset of the next record to be written: every offset below it is
    /// durable and readable (unless deleted by retention).
    end: u64,
}

impl PartitionState {
    /// Offset of the earliest retained record.
    fn earliest(&self) -> u64 {
        self.segments.front().map_or(self.end, |s| s.base)
    }
}

/// One segment file as the shared state knows it.
#[derive(Debug, Clone)]
struct SegmentInfo {
    base: u64,
    path: PathBuf,
    /// Bytes of published records.
    size: u64,
    /// Timestamp of its newest record (or the file's mtime), for retention.
    newest_ms: i64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent before anything can
    // panic, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fsyncs a directory, so that entries created or removed in it are durable.
fn sync_dir(dir: &Path) -> Result<(), StreamError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StreamError::io(format!("syncing directory {}", dir.display()), e))
}

fn create_dir(dir: &Path) -> Result<bool, StreamError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(StreamError::io(
            format!("creating directory {}", dir.display()),
            e,
        )),
    }
}

/// Opens (recovering) or creates the topic `name` under `root`. A topic
/// directory without partitions gets `default_partitions` of them.
fn open_topic(
    root: &Path,
    name: &str,
    default_partitions: u32,
) -> Result<(Vec<PartitionState>, WTopic), StreamError> {
    let dir = root.join(name);
    let created_topic = create_dir(&dir)?;
    let entries =
        fs::read_dir(&dir).map_err(|e| StreamError::io(format!("listing {}", dir.display()), e))?;
    let mut count = 0u32;
    for entry in entries {
        let entry = entry.map_err(|e| StreamError::io(format!("listing {}", dir.display()), e))?;
        let index = entry.file_name().to_str().and_then(|s| {
            // Canonical decimal only: "0", "1", ..., no leading zeros.
            (s == "0" || !s.starts_with('0'))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        });
        if let Some(index) = index {
            count = count.max(index.saturating_add(1));
        }
    }
    if count == 0 {
        count = default_partitions;
    }
    let mut created_any = false;
    let mut states = Vec::with_capacity(count as usize);
    let mut partitions = Vec::with_capacity(count as usize);
    for index in 0..count {
        let part_dir = dir.join(index.to_string());
        created_any |= create_dir(&part_dir)?;
        let (state, writer) = open_partition(&part_dir)?;
        states.push(state);
        partitions.push(writer);
    }
    if created_any {
        sync_dir(&dir)?;
    }
    if created_topic {
        sync_dir(root)?;
    }
    Ok((states, WTopic::new(partitions)))
}

/// Opens one partition directory: lists its segments (creating the first if
/// there is none) and recovers the last one.
fn open_partition(dir: &Path) -> Result<(PartitionState, WPartition), StreamError> {
    let mut listed = segment::list_segments(dir)?;
    if listed.is_empty() {
        let path = dir.join(segment::segment_name(0));
        File::create(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| StreamError::io(format!("creating segment {}", path.display()), e))?;
        sync_dir(dir)?;
        listed.push((0, path));
    }
    let mut segments = VecDeque::with_capacity(listed.len());
    let last = listed.len() - 1;
    let mut end = 0;
    let mut active_len = 0;
    for (i, (base, path)) in listed.into_iter().enumerate() {
        let (size, newest_ms) = if i == last {
            let recovered = segment::recover(&path, base)?;
            if let Some(reason) = &recovered.truncated {
                tracing::warn!(
                    segment = %path.display(),
                    reason = %reason,
                    kept_bytes = recovered.valid_len,
                    "truncated the torn tail of a segment"
                );
            }
            end = recovered.next_offset;
            active_len = recovered.valid_len;
            let newest = recovered
                .newest_ms
                .unwrap_or_else(|| segment::mtime_ms(&path));
            (recovered.valid_len, newest)
        } else {
            let size = fs::metadata(&path)
                .map_err(|e| StreamError::io(format!("reading metadata of {}", path.display()), e))?
                .len();
            (size, segment::mtime_ms(&path))
        };
        segments.push_back(SegmentInfo {
            base,
            path,
            size,
            newest_ms,
        });
    }
    let active = segments.back().map(|s| (s.base, s.path.clone()));
    let Some((base, path)) = active else {
        return Err(StreamError::Corrupt {
            path: dir.to_owned(),
            reason: "partition without segments".into(),
        });
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StreamError::io(format!("opening segment {}", path.display()), e))?;
    let writer = WPartition::new(dir.to_owned(), file, base, active_len, end);
    Ok((PartitionState { segments, end }, writer))
}

impl FileLog {
    /// Opens the log in `config.dir`, creating it if needed, recovering the
    /// tail of every partition and starting the writer thread.
    ///
    /// Fails with [`StreamError::Locked`] if another live process (or this
    /// one) has the directory open. Blocking: call it from
    /// `spawn_blocking` in async code (as [`open`](crate::open) does).
    pub fn open(config: LogConfig) -> Result<FileLog, StreamError> {
        config.validate()?;
        let root = config.dir.clone();
        fs::create_dir_all(&root).map_err(|e| {
            StreamError::io(format!("creating log directory {}", root.display()), e)
        })?;
        let lock = LockFile::acquire(&root)?;
        let groups = offsets::load_all(&root.join(OFFSETS_DIR))?;

        let mut topics = HashMap::new();
        let mut writer_topics = HashMap::new();
        let entries = fs::read_dir(&root)
            .map_err(|e| StreamError::io(format!("listing {}", root.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| StreamError::io(format!("listing {}", root.display()), e))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !is_dir || name == OFFSETS_DIR || validate_name("topic", &name).is_err() {
                continue;
            }
            let (states, writer) = open_topic(&root, &name, config.partitions)?;
            topics.insert(name.clone(), states);
            writer_topics.insert(name, writer);
        }

        let shared = Arc::new(Shared {
            config,
            topics: Mutex::new(topics),
            groups: Mutex::new(groups),
            commit_lock: Mutex::new(()),
            produced: watch::Sender::new(0),
        });
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let writer = Writer::new(Arc::clone(&shared), writer_topics);
        let handle = std::thread::Builder::new()
            .name("sentry-stream-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StreamError::io("starting the log writer thread", e))?;
        Ok(FileLog {
            inner: Arc::new(Inner {
                shared,
                requests: Some(tx),
                writer: Some(handle),
                _lock: lock,
            }),
        })
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &LogConfig {
        &self.inner.shared.config
    }
}

impl FileLog {
    /// Hands one record to the writer thread; the receiver answers once it
    /// is durable.
    async fn send(
        &self,
        topic: &str,
        key: Option<Bytes>,
        payload: Bytes,
    ) -> Result<oneshot::Receiver<Result<Position, StreamError>>, StreamError> {
        validate_name("topic", topic)?;
        let size = key.as_ref().map_or(0, Bytes::len) as u64 + payload.len() as u64;
        let limit = self.inner.shared.config.max_record_bytes;
        if size > limit {
            return Err(StreamError::RecordTooLarge { size, limit });
        }
        let requests = self.inner.requests.as_ref().ok_or_else(writer_stopped)?;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            topic: topic.to_owned(),
            key,
            payload,
            reply,
        };
        requests.send(request).await.map_err(|_| writer_stopped())?;
        Ok(answer)
    }
}

fn writer_stopped() -> StreamError {
    StreamError::Closed("the log writer has stopped".into())
}

#[async_trait]
impl Producer for FileLog {
    async fn produce(
        &self,
        topic: &str,
        key: Option<Bytes>,
        payload: Bytes,
    ) -> Result<Position, StreamError> {
        let answer = self.send(topic, key, payload).await?;
        answer.await.map_err(|_| writer_stopped())?
    }

    async fn produce_many(
        &self,
        topic: &str,
        records: Vec<(Option<Bytes>, Bytes)>,
    ) -> Result<Vec<Position>, StreamError> {
        // Every record is queued before the first answer is awaited, so the
        // writer makes them durable together (one fsync for many).
        let mut answers = Vec::with_capacity(records.len());
        for (key, payload) in records {
            answers.push(self.send(topic, key, payload).await?);
        }
        let mut positions = Vec::with_capacity(answers.len());
        for answer in answers {
            positions.push(answer.await.map_err(|_| writer_stopped())??);
        }
        Ok(positions)
    }
}

#[async_trait]
impl Broker for FileLog {
    fn producer(&self) -> Arc<dyn Producer> {
        Arc::new(self.clone())
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Consumer>, StreamError> {
        validate_consumer(group, topics)?;
        Ok(Box::new(consumer::FileConsumer::new(
            Arc::clone(&self.inner),
            group,
            topics,
        )))
    }

    async fn lag(&self, group: &str, topic: &str) -> Result<u64, StreamError> {
        let committed: Vec<(u32, u64)> = lock(&self.inner.shared.groups)
            .get(group)
            .map(|offsets| {
                offsets
                    .range((topic.to_owned(), 0)..=(topic.to_owned(), u32::MAX))
                    .map(|((_, partition), next)| (*partition, *next))
                    .collect()
            })
            .unwrap_or_default();
        let topics = lock(&self.inner.shared.topics);
        let Some(partitions) = topics.get(topic) else {
            return Ok(0);
        };
        let lag = partitions
            .iter()
            .enumerate()
            .map(|(index, p)| {
                let done = committed
                    .iter()
                    .find(|(partition, _)| *partition as usize == index)
                    .map_or(0, |(_, next)| *next);
                p.end.saturating_sub(done.max(p.earliest()))
            })
            .sum();
        Ok(lag)
    }
}
