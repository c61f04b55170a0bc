//! Consumer-group offsets on disk: one file per group in `dir/offsets/`.
//!
//! `<group>.offsets` is text, replaced atomically on every commit (write a
//! temporary file, fsync it, rename it over the old one, fsync the
//! directory):
//!
//! ```text
//! sentry-stream offsets v1
//! <topic> <partition> <next_offset>
//! ...
//! crc32 <8 hex digits: CRC-32 of every byte above this line>
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::StreamError;
use crate::partition::validate_name;

/// (topic, partition) -> next offset.
pub(crate) type GroupOffsets = BTreeMap<(String, u32), u64>;

const MAGIC: &str = "sentry-stream offsets v1\n";
const SUFFIX: &str = ".offsets";
const TMP_SUFFIX: &str = ".offsets.tmp";
/// Offsets files larger than this are refused (about a million partitions).
const MAX_FILE_BYTES: u64 = 64 << 20;

fn corrupt(path: &Path, reason: impl Into<String>) -> StreamError {
    StreamError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Serializes a group's offsets.
pub(crate) fn encode(offsets: &GroupOffsets) -> Vec<u8> {
    let mut text = String::from(MAGIC);
    for ((topic, partition), next) in offsets {
        text.push_str(&format!("{topic} {partition} {next}\n"));
    }
    let crc = crc32fast::hash(text.as_bytes());
    text.push_str(&format!("crc32 {crc:08x}\n"));
    text.into_bytes()
}

/// Parses what [`encode`] wrote; `path` is for error messages.
pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<GroupOffsets, StreamError> {
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt(path, "not utf-8"))?;
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .ok_or_else(|| corrupt(path, "missing checksum line"))?;
    let (body, trailer) = text.split_at(body_end);
    let computed = crc32fast::hash(body.as_bytes());
    if !trailer.starts_with("crc32 ") || trailer.len() != "crc32 00000000\n".len() {
        return Err(corrupt(path, "malformed checksum line"));
    }
    if trailer != format!("crc32 {computed:08x}\n") {
        return Err(corrupt(path, "checksum mismatch"));
    }
    let lines = body.strip_prefix(MAGIC).ok_or_else(|| {
        corrupt(
            path,
            "unknown header (expected \"sentry-stream offsets v1\")",
        )
    })?;
    let mut offsets = GroupOffsets::new();
    for (i, line) in lines.lines().enumerate() {
        let bad = || corrupt(path, format!("malformed line {}: {line:?}", i + 2));
        let mut fields = line.split(' ');
        let (Some(topic), Some(partition), Some(next), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        validate_name("topic", topic).map_err(|_| bad())?;
        let partition = partition.parse().map_err(|_| bad())?;
        let next = next.parse().map_err(|_| bad())?;
        offsets.insert((topic.to_owned(), partition), next);
    }
    Ok(offsets)
}

/// Loads every group's offsets from `dir` (created if missing), removing
/// temporary files left by a crash mid-commit.
pub(crate) fn load_all(dir: &Path) -> Result<HashMap<String, GroupOffsets>, StreamError> {
    fs::create_dir_all(dir)
        .map_err(|e| StreamError::io(format!("creating {}", dir.display()), e))?;
    let entries =
        fs::read_dir(dir).map_err(|e| StreamError::io(format!("listing {}", dir.display()), e))?;
    let mut groups = HashMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| StreamError::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.ends_with(TMP_SUFFIX) {
            fs::remove_file(&path)
                .map_err(|e| StreamError::io(format!("removing {}", path.display()), e))?;
            continue;
        }
        let Some(group) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        groups.insert(group.to_owned(), read_file(&path)?);
    }
    Ok(groups)
}

fn read_file(path: &Path) -> Result<GroupOffsets, StreamError> {
    let ctx = |e| StreamError::io(format!("reading offsets file {}", path.display()), e);
    let mut file = File::open(path).map_err(ctx)?;
    let len = file.metadata().map_err(ctx)?.len();
    if len > MAX_FILE_BYTES {
        return Err(corrupt(
            path,
            format!("{len} bytes, more than the {MAX_FILE_BYTES} allowed"),
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_exact(&mut bytes).map_err(ctx)?;
    decode(&bytes, path)
}

/// Writes a group's offsets atomically and durably.
pub(crate) fn store(dir: &Path, group: &str, offsets: &GroupOffsets) -> Result<(), StreamError> {
    let path: PathBuf = dir.join(format!("{group}{SUFFIX}"));
    let tmp = dir.join(format!("{group}{TMP_SUFFIX}"));
    let ctx = |what: &str| format!("{what} offsets file {}", tmp.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| StreamError::io(ctx("creating"), e))?;
    file.write_all(&encode(offsets))
        .map_err(|e| StreamError::io(ctx("writing"), e))?;
    file.sync_all()
        .map_err(|e| StreamError::io(ctx("syncing"), e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| StreamError::io(ctx("renaming"), e))?;
    super::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GroupOffsets {
        let mut o = GroupOffsets::new();
        o.insert(("events".into(), 0), 10);
        o.insert(("ingest-events".into(), 3), u64::MAX);
        o
    }

    #[test]
    fn round_trip() {
        let p = Path::new("x");
        assert_eq!(decode(&encode(&sample()), p).unwrap(), sample());
        assert_eq!(
            decode(&encode(&GroupOffsets::new()), p).unwrap(),
            GroupOffsets::new()
        );
    }

    #[test]
    fn damage_is_detected() {
        let p = Path::new("x");
        let good = encode(&sample());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad, p).is_err(), "byte {i}");
        }
        assert!(decode(&good[..good.len() - 3], p).is_err());
        assert!(decode(b"", p).is_err());
    }

    #[test]
    fn store_and_load() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), "g1", &sample()).unwrap();
        fs::write(dir.path().join("g2.offsets.tmp"), b"half written").unwrap();
        let all = load_all(dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all["g1"], sample());
        assert!(!dir.path().join("g2.offsets.tmp").exists());
    }
}
