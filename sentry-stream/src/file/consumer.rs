//! Consumers of the file log: positioned reads of segment files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::segment::SegmentReader;
use super::{Inner, OFFSETS_DIR, Shared, lock, offsets};
use crate::partition::validate_name;
use crate::{CommitOffset, Consumer, Record, StreamError};

/// Where a consumer is in one partition.
#[derive(Debug)]
struct Cursor {
    topic: String,
    partition: u32,
    /// Offset of the next record to return.
    next: u64,
    /// The open segment and the byte position of `next` in it.
    open: Option<OpenSegment>,
}

#[derive(Debug)]
struct OpenSegment {
    reader: SegmentReader,
    pos: u64,
    /// File length when opened; only used for closed segments, which no
    /// longer change.
    len: u64,
}

/// What a cursor may read, as published when the poll started.
#[derive(Debug)]
struct View {
    /// (base, path) of the partition's segments, oldest first.
    segments: Vec<(u64, PathBuf)>,
    end: u64,
}

/// A consumer of a [`FileLog`](super::FileLog).
pub(super) struct FileConsumer {
    inner: Arc<Inner>,
    group: String,
    topics: Vec<String>,
    cursors: Vec<Cursor>,
    produced: watch::Receiver<u64>,
    /// Rotates the first partition read, for fairness.
    start: usize,
}

impl FileConsumer {
    pub(super) fn new(inner: Arc<Inner>, group: &str, topics: &[&str]) -> Self {
        let produced = inner.shared.produced.subscribe();
        FileConsumer {
            inner,
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            cursors: Vec::new(),
            produced,
            start: 0,
        }
    }

    /// Adds cursors for partitions that appeared since the last look, at the
    /// group's committed offset (kept within what is retained) or the earliest.
    fn refresh_cursors(&mut self) {
        let shared = &self.inner.shared;
        let committed = lock(&shared.groups)
            .get(&self.group)
            .cloned()
            .unwrap_or_default();
        let topics = lock(&shared.topics);
        for topic in &self.topics {
            let Some(partitions) = topics.get(topic) else {
                continue;
            };
            let known = self.cursors.iter().filter(|c| &c.topic == topic).count();
            for (index, state) in partitions.iter().enumerate().skip(known) {
                let partition = index as u32;
                let start = match committed.get(&(topic.clone(), partition)) {
                    Some(&next) if next > state.end => {
                        tracing::warn!(
                            group = %self.group, topic = %topic, partition,
                            committed = next, end = state.end,
                            "committed offset is past the end of the partition, reading from the end"
                        );
                        state.end
                    }
                    Some(&next) => next.max(state.earliest()),
                    None => state.earliest(),
                };
                self.cursors.push(Cursor {
                    topic: topic.clone(),
                    partition,
                    next: start,
                    open: None,
                });
            }
        }
    }

    /// The indexes of the cursors with something to read, and what they may read.
    fn views(&self) -> Vec<(usize, View)> {
        let topics = lock(&self.inner.shared.topics);
        let mut views = Vec::new();
        for (i, cursor) in self.cursors.iter().enumerate() {
            let Some(state) = topics
                .get(&cursor.topic)
                .and_then(|p| p.get(cursor.partition as usize))
            else {
                continue;
            };
            if cursor.next < state.end {
                let segments = state
                    .segments
                    .iter()
                    .map(|s| (s.base, s.path.clone()))
                    .collect();
                views.push((
                    i,
                    View {
                        segments,
                        end: state.end,
                    },
                ));
            }
        }
        views
    }
}

/// Reads up to `max` records, from each cursor in turn within its view.
fn read_views(
    shared: &Shared,
    work: &mut [(Cursor, View)],
    max: usize,
) -> Result<Vec<Record>, StreamError> {
    let max_body = shared.config.max_body_len();
    let mut out = Vec::new();
    for (cursor, view) in work.iter_mut() {
        while out.len() < max && cursor.next < view.end {
            let earliest = view.segments.first().map_or(view.end, |(base, _)| *base);
            if cursor.next < earliest {
                tracing::warn!(
                    topic = %cursor.topic, partition = cursor.partition,
                    from = cursor.next, to = earliest,
                    "records deleted by retention before being read, skipping to the earliest"
                );
                cursor.next = earliest;
                cursor.open = None;
                continue;
            }
            // The segment holding `next`: the last one starting at or before it.
            let index = view
                .segments
                .partition_point(|(base, _)| *base <= cursor.next)
                .saturating_sub(1);
            let (base, path) = &view.segments[index];
            if cursor.open.as_ref().is_none_or(|o| o.reader.base != *base) {
                let Some(reader) = SegmentReader::open(*base, path)? else {
                    // Deleted by retention since the view was taken, or lost.
                    let still_listed = lock(&shared.topics)
                        .get(&cursor.topic)
                        .and_then(|p| p.get(cursor.partition as usize))
                        .is_some_and(|p| p.segments.iter().any(|s| s.base == *base));
                    if still_listed {
                        return Err(StreamError::io(
                            format!("opening segment {}", path.display()),
                            std::io::ErrorKind::NotFound.into(),
                        ));
                    }
                    break; // the next poll takes a fresh view
                };
                let pos = if *base == cursor.next {
                    0
                } else {
                    reader.find(cursor.next)?
                };
                let len = reader.len()?;
                cursor.open = Some(OpenSegment { reader, pos, len });
            }
            let Some(open) = cursor.open.as_mut() else {
                break;
            };
            let is_last = index + 1 == view.segments.len();
            if !is_last && open.pos >= open.len {
                // The length was read when the segment was still active.
                open.len = open.reader.len()?;
            }
            if !is_last && open.pos >= open.len {
                // End of a closed segment before the next one's base: a gap
                // (records lost outside our control). Continue after it.
                let next_base = view.segments[index + 1].0;
                tracing::warn!(
                    topic = %cursor.topic, partition = cursor.partition,
                    from = cursor.next, to = next_base, "gap between segments, skipping"
                );
                cursor.next = next_base;
                continue;
            }
            let record = open.reader.read(open.pos, max_body)?;
            if record.offset != cursor.next {
                return Err(StreamError::Corrupt {
                    path: path.clone(),
                    reason: format!(
                        "expected offset {} at byte {}, found {}",
                        cursor.next, open.pos, record.offset
                    ),
                });
            }
            open.pos += record.frame_len;
            cursor.next += 1;
            out.push(Record {
                topic: cursor.topic.clone(),
                partition: cursor.partition,
                offset: record.offset,
                timestamp_ms: record.timestamp_ms,
                key: record.key,
                payload: record.payload,
            });
        }
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

fn panicked(what: &str, e: tokio::task::JoinError) -> StreamError {
    StreamError::Closed(format!("{what} task failed: {e}"))
}

#[async_trait]
impl Consumer for FileConsumer {
    async fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<Record>, StreamError> {
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Mark the current generation seen before looking, so that a
            // batch published after the look wakes the wait below.
            self.produced.borrow_and_update();
            self.refresh_cursors();
            let mut views = self.views();
            if !views.is_empty() {
                self.start = (self.start + 1) % views.len();
                views.rotate_left(self.start);
                // The blocking task works on copies of the cursors and takes
                // their open files. Positions are written back only when it
                // returns: a cancelled poll leaves them where they were (the
                // files are reopened on demand).
                let indexes: Vec<usize> = views.iter().map(|(i, _)| *i).collect();
                let mut work: Vec<(Cursor, View)> = views
                    .into_iter()
                    .map(|(i, view)| {
                        let c = &mut self.cursors[i];
                        let copy = Cursor {
                            topic: c.topic.clone(),
                            partition: c.partition,
                            next: c.next,
                            open: c.open.take(),
                        };
                        (copy, view)
                    })
                    .collect();
                let shared = Arc::clone(&self.inner.shared);
                let (work, result) = tokio::task::spawn_blocking(move || {
                    let result = read_views(&shared, &mut work, max_records);
                    (work, result)
                })
                .await
                .map_err(|e| panicked("segment read", e))?;
                let records = result?;
                for (i, (cursor, _)) in indexes.into_iter().zip(work) {
                    self.cursors[i].next = cursor.next;
                    self.cursors[i].open = cursor.open;
                }
                if !records.is_empty() {
                    return Ok(records);
                }
                // Only a segment deleted under our feet reads nothing: look again.
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Vec::new());
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.produced.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `shared`, which this consumer holds.
                Ok(Err(_)) => return Err(StreamError::Closed("file log dropped".into())),
                Err(_elapsed) => return Ok(Vec::new()),
            }
        }
    }

    async fn commit(&mut self, offsets: &[CommitOffset]) -> Result<(), StreamError> {
        if offsets.is_empty() {
            return Ok(());
        }
        for offset in offsets {
            validate_name("topic", &offset.topic)?;
        }
        let shared = Arc::clone(&self.inner.shared);
        let group = self.group.clone();
        let offsets = offsets.to_vec();
        tokio::task::spawn_blocking(move || {
            let _serialized = lock(&shared.commit_lock);
            let mut merged = lock(&shared.groups)
                .get(&group)
                .cloned()
                .unwrap_or_default();
            for offset in offsets {
                merged.insert((offset.topic, offset.partition), offset.next_offset);
            }
            offsets::store(&shared.config.dir.join(OFFSETS_DIR), &group, &merged)?;
            lock(&shared.groups).insert(group, merged);
            Ok(())
        })
        .await
        .map_err(|e| panicked("commit", e))?
    }
}
