//! Segment files: naming, listing, recovery of a torn tail, reading records.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::frame::{self, BODY_FIXED_LEN, HEADER_LEN, Header};
use crate::StreamError;

/// Suffix of segment files.
const SEGMENT_SUFFIX: &str = ".log";

/// The file name of the segment whose first record has offset `base`.
pub(crate) fn segment_name(base: u64) -> String {
    format!("{base:020}{SEGMENT_SUFFIX}")
}

/// The base offset of a segment file name, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments of a partition directory, by base offset, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StreamError> {
    let entries =
        fs::read_dir(dir).map_err(|e| StreamError::io(format!("listing {}", dir.display()), e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StreamError::io(format!("listing {}", dir.display()), e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_name) {
            segments.push((base, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(segments)
}

/// Last-modified time of a file in milliseconds since the epoch (0 if unknown).
pub(crate) fn mtime_ms(path: &Path) -> i64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What recovery found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Bytes of complete, valid records (the file's length after recovery).
    pub(crate) valid_len: u64,
    /// Offset after the last valid record.
    pub(crate) next_offset: u64,
    /// Timestamp of the last valid record, if any.
    pub(crate) newest_ms: Option<i64>,
    /// Why the tail was cut, if it was.
    pub(crate) truncated: Option<String>,
}

/// Scans the segment at `path` (first offset `base`) and truncates it after
/// its last complete, valid record: a torn or corrupt tail left by a crash
/// mid-write is dropped, every record before it is kept.
///
/// Bodies are checked with a streaming CRC, so nothing proportional to a
/// length read from disk is allocated; a length that runs past the end of
/// the file is a torn write. Offsets must be consecutive from `base`.
pub(crate) fn recover(path: &Path, base: u64) -> Result<Recovered, StreamError> {
    let ctx = |what: &str| format!("{what} segment {}", path.display());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StreamError::io(ctx("opening"), e))?;
    let file_len = file
        .metadata()
        .map_err(|e| StreamError::io(ctx("reading metadata of"), e))?
        .len();
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut pos = 0u64;
    let mut next_offset = base;
    let mut newest_ms = None;
    let mut chunk = vec![0u8; 64 * 1024];
    let truncated = loop {
        if pos == file_len {
            break None;
        }
        if file_len - pos < HEADER_LEN as u64 {
            break Some(format!("partial header at byte {pos}"));
        }
        let mut header = [0u8; HEADER_LEN];
        read_exact(&mut reader, &mut header).map_err(|e| StreamError::io(ctx("reading"), e))?;
        let header = Header::parse(header);
        if (header.body_len as usize) < BODY_FIXED_LEN {
            break Some(format!(
                "impossible body length {} at byte {pos}",
                header.body_len
            ));
        }
        if header.frame_len() > file_len - pos {
            break Some(format!(
                "record of {} bytes at byte {pos} runs past the end of the file",
                header.body_len
            ));
        }
        let mut hasher = crc32fast::Hasher::new();
        let mut fixed = [0u8; BODY_FIXED_LEN];
        read_exact(&mut reader, &mut fixed).map_err(|e| StreamError::io(ctx("reading"), e))?;
        hasher.update(&fixed);
        let mut left = header.body_len as usize - BODY_FIXED_LEN;
        while left > 0 {
            let n = left.min(chunk.len());
            read_exact(&mut reader, &mut chunk[..n])
                .map_err(|e| StreamError::io(ctx("reading"), e))?;
            hasher.update(&chunk[..n]);
            left -= n;
        }
        if hasher.finalize() != header.crc {
            break Some(format!("checksum mismatch at byte {pos}"));
        }
        let fixed = match frame::parse_fixed(&fixed, header.body_len) {
            Ok(fixed) => fixed,
            Err(e) => break Some(format!("{e} at byte {pos}")),
        };
        if fixed.offset != next_offset {
            break Some(format!(
                "offset {} at byte {pos}, expected {next_offset}",
                fixed.offset
            ));
        }
        newest_ms = Some(fixed.timestamp_ms);
        next_offset += 1;
        pos += header.frame_len();
    };
    drop(reader);
    if truncated.is_some() {
        file.set_len(pos)
            .map_err(|e| StreamError::io(ctx("truncating the torn tail of"), e))?;
        file.sync_all()
            .map_err(|e| StreamError::io(ctx("syncing"), e))?;
    }
    Ok(Recovered {
        valid_len: pos,
        next_offset,
        newest_ms,
        truncated,
    })
}

fn read_exact(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    reader.read_exact(buf)
}

/// One record read back from a segment.
#[derive(Debug)]
pub(crate) struct ReadRecord {
    pub(crate) offset: u64,
    pub(crate) timestamp_ms: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) payload: Bytes,
    /// Bytes the frame occupies: the next frame starts this far after it.
    pub(crate) frame_len: u64,
}

/// An open segment read with positioned reads.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    /// Base offset of the segment.
    pub(crate) base: u64,
    path: PathBuf,
    file: File,
}

impl SegmentReader {
    /// Opens the segment; `Ok(None)` when it no longer exists (deleted by
    /// retention since the caller looked).
    pub(crate) fn open(base: u64, path: &Path) -> Result<Option<Self>, StreamError> {
        match File::open(path) {
            Ok(file) => Ok(Some(SegmentReader {
                base,
                path: path.to_owned(),
                file,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StreamError::io(
                format!("opening segment {}", path.display()),
                e,
            )),
        }
    }

    /// The file's current length.
    pub(crate) fn len(&self) -> Result<u64, StreamError> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| StreamError::io(format!("reading metadata of {}", self.path.display()), e))
    }

    fn corrupt(&self, reason: String) -> StreamError {
        StreamError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<(), StreamError> {
        self.file.read_exact_at(buf, pos).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                self.corrupt(format!(
                    "unexpected end of file reading {} bytes at byte {pos}",
                    buf.len()
                ))
            } else {
                StreamError::io(format!("reading segment {}", self.path.display()), e)
            }
        })
    }

    /// The byte position of the record with offset `target`, scanning frame
    /// headers from the start of the segment (there is no index).
    pub(crate) fn find(&self, target: u64) -> Result<u64, StreamError> {
        let mut pos = 0;
        loop {
            let mut prefix = [0u8; HEADER_LEN + 8];
            self.read_at(&mut prefix, pos)?;
            let (header, offset) = prefix.split_at(HEADER_LEN);
            let header = Header::parse([
                header[0], header[1], header[2], header[3], header[4], header[5], header[6],
                header[7],
            ]);
            let mut b = [0u8; 8];
            b.copy_from_slice(offset);
            let offset = u64::from_le_bytes(b);
            if (header.body_len as usize) < BODY_FIXED_LEN {
                return Err(self.corrupt(format!(
                    "impossible body length {} at byte {pos}",
                    header.body_len
                )));
            }
            match offset.cmp(&target) {
                std::cmp::Ordering::Equal => return Ok(pos),
                std::cmp::Ordering::Less => pos += header.frame_len(),
                std::cmp::Ordering::Greater => {
                    return Err(self.corrupt(format!(
                        "offset {target} missing (found {offset} at byte {pos})"
                    )));
                }
            }
        }
    }

    /// Reads the record whose frame starts at byte `pos`. A body longer than
    /// `max_body_len` is refused before anything is allocated for it.
    pub(crate) fn read(&self, pos: u64, max_body_len: u64) -> Result<ReadRecord, StreamError> {
        let mut header = [0u8; HEADER_LEN];
        self.read_at(&mut header, pos)?;
        let header = Header::parse(header);
        if u64::from(header.body_len) > max_body_len {
            return Err(self.corrupt(format!(
                "record body of {} bytes at byte {pos} exceeds the limit of {max_body_len} \
                 (max_record_bytes plus framing); raise max_record_bytes to read it",
                header.body_len
            )));
        }
        let mut body = vec![0u8; header.body_len as usize];
        self.read_at(&mut body, pos + HEADER_LEN as u64)?;
        let decoded =
            frame::decode(header, &body).map_err(|e| self.corrupt(format!("{e} at byte {pos}")))?;
        let body = Bytes::from(body);
        Ok(ReadRecord {
            offset: decoded.fixed.offset,
            timestamp_ms: decoded.fixed.timestamp_ms,
            key: decoded.key.map(|r| body.slice(r)),
            payload: body.slice(decoded.payload),
            frame_len: header.frame_len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write_records(path: &Path, base: u64, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let payload = format!("record {}", base + i);
            let len = frame::body_len(Some(b"k"), payload.as_bytes()).unwrap();
            frame::encode(
                &mut out,
                base + i,
                1000 + i as i64,
                Some(b"k"),
                payload.as_bytes(),
                len,
            );
        }
        fs::write(path, &out).unwrap();
        out
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(42), "00000000000000000042.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("42.log"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.log"), None);
        assert_eq!(parse_segment_name("00000000000000000042.tmp"), None);
    }

    #[test]
    fn clean_segment_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(10));
        let bytes = write_records(&path, 10, 5);
        let r = recover(&path, 10).unwrap();
        assert_eq!(r.valid_len, bytes.len() as u64);
        assert_eq!(r.next_offset, 15);
        assert_eq!(r.newest_ms, Some(1004));
        assert_eq!(r.truncated, None);
    }

    #[test]
    fn every_truncation_point_recovers_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(0));
        let bytes = write_records(&path, 0, 3);
        let (h0, _) = (Header::parse(bytes[..8].try_into().unwrap()), ());
        let first = h0.frame_len() as usize;
        for cut in 0..bytes.len() {
            fs::write(&path, &bytes[..cut]).unwrap();
            let r = recover(&path, 0).unwrap();
            assert!(r.valid_len <= cut as u64);
            assert_eq!(fs::metadata(&path).unwrap().len(), r.valid_len);
            if cut >= first {
                assert!(r.next_offset >= 1, "cut {cut}");
            }
        }
    }

    #[test]
    fn garbage_and_zeroes_after_records_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(0));
        for tail in [&[0u8; 100][..], b"garbage garbage garbage", &[0xff; 9]] {
            let bytes = write_records(&path, 0, 4);
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(tail).unwrap();
            drop(f);
            let r = recover(&path, 0).unwrap();
            assert_eq!(r.valid_len, bytes.len() as u64);
            assert_eq!(r.next_offset, 4);
            assert!(r.truncated.is_some());
        }
    }

    #[test]
    fn wrong_offset_sequence_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(0));
        write_records(&path, 0, 2);
        // The file is named base 5 but holds offsets 0 and 1.
        let r = recover(&path, 5).unwrap();
        assert_eq!((r.valid_len, r.next_offset), (0, 5));
    }

    #[test]
    fn reader_finds_and_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(100));
        write_records(&path, 100, 10);
        let reader = SegmentReader::open(100, &path).unwrap().unwrap();
        let pos = reader.find(107).unwrap();
        let rec = reader.read(pos, 1 << 20).unwrap();
        assert_eq!(rec.offset, 107);
        assert_eq!(&rec.payload[..], b"record 107");
        assert_eq!(rec.key.as_deref(), Some(&b"k"[..]));
        let next = reader.read(pos + rec.frame_len, 1 << 20).unwrap();
        assert_eq!(next.offset, 108);
        assert!(reader.find(110).is_err());
        assert!(matches!(
            reader.read(pos, 10),
            Err(StreamError::Corrupt { .. })
        ));
        assert!(
            SegmentReader::open(0, &dir.path().join("missing"))
                .unwrap()
                .is_none()
        );
    }
}
