//! Choosing a partition for a record, and validating names.

use crate::StreamError;

/// The longest topic or group name accepted (Kafka's limit for topics).
const MAX_NAME_LEN: usize = 249;

/// The partition a keyed record goes to: a 64-bit FNV-1a hash of the key,
/// modulo the partition count.
///
/// The hash is fixed by this crate (it does not depend on the process, the
/// platform or the Rust version), so a key lands on the same partition in
/// every run and in every backend. `partitions` of 0 is treated as 1.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = key.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    let partitions = u64::from(partitions.max(1));
    // The remainder is below `partitions`, which came from a u32.
    u32::try_from(hash % partitions).unwrap_or(0)
}

/// Picks partitions for one topic: by key hash, else round-robin.
#[derive(Debug, Default)]
pub(crate) struct Partitioner {
    next: u32,
}

impl Partitioner {
    /// The partition for a record with `key` in a topic of `partitions` partitions.
    pub(crate) fn pick(&mut self, key: Option<&[u8]>, partitions: u32) -> u32 {
        let partitions = partitions.max(1);
        match key {
            Some(key) => partition_for_key(key, partitions),
            None => {
                let partition = self.next % partitions;
                self.next = (partition + 1) % partitions;
                partition
            }
        }
    }
}

/// Checks the names a consumer is asked for: its group and every topic.
pub(crate) fn validate_consumer(group: &str, topics: &[&str]) -> Result<(), StreamError> {
    validate_name("group", group)?;
    topics
        .iter()
        .try_for_each(|topic| validate_name("topic", topic))
}

/// Checks a topic or group name: 1 to 249 characters of `[A-Za-z0-9._-]`,
/// not `.` or `..`, and no topic named `offsets` or `lock`. Names are used as file names by the file log, so the
/// same rule applies to every backend.
pub(crate) fn validate_name(kind: &'static str, name: &str) -> Result<(), StreamError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than 249 characters")
    } else if name == "."
        || name == ".."
        || (kind == "topic" && (name == "offsets" || name == "lock"))
    {
        // The file log's directory of group offsets and its lock file.
        Some("reserved")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StreamError::InvalidName {
            kind,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_values() {
        // Reference values of 64-bit FNV-1a.
        let fnv = |key: &[u8]| {
            key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })
        };
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            partition_for_key(b"foobar", 7),
            (0x8594_4171_f739_67e8_u64 % 7) as u32
        );
    }

    #[test]
    fn keyed_is_stable_and_in_range() {
        for partitions in 1..20 {
            for key in [&b"a"[..], b"project:42", b""] {
                let p = partition_for_key(key, partitions);
                assert!(p < partitions);
                assert_eq!(p, partition_for_key(key, partitions));
            }
        }
        assert_eq!(partition_for_key(b"x", 0), 0);
    }

    #[test]
    fn round_robin_cycles() {
        let mut p = Partitioner::default();
        let picks: Vec<u32> = (0..7).map(|_| p.pick(None, 3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(p.pick(Some(b"k"), 3), partition_for_key(b"k", 3));
    }

    #[test]
    fn names() {
        assert!(validate_name("topic", "ingest-events").is_ok());
        assert!(validate_name("topic", "a.b_c-1").is_ok());
        assert!(validate_name("group", "offsets").is_ok());
        for bad in [
            "offsets",
            "lock",
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "é",
            &"x".repeat(250),
        ] {
            assert!(validate_name("topic", bad).is_err(), "{bad:?}");
        }
    }
}
