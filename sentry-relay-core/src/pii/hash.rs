//! The keyed hash of the `hash` redaction.

use sha2::{Digest, Sha256};

const BLOCK: usize = 64;

/// An HMAC-SHA256 key, with the hash states after its inner and outer
/// padded blocks computed once: each redaction then hashes only its text
/// and the inner digest.
#[derive(Clone)]
pub(crate) struct HashKey {
    inner: Sha256,
    outer: Sha256,
}

/// Prints no key material.
impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashKey").finish_non_exhaustive()
    }
}

impl HashKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |b: u8| block.map(|k| k ^ b);
        HashKey {
            inner: Sha256::new().chain_update(pad(0x36)),
            outer: Sha256::new().chain_update(pad(0x5c)),
        }
    }

    /// HMAC-SHA256 of `data`, its first 20 bytes as 40 uppercase hex
    /// digits (the shape of Relay's HMAC-SHA1).
    pub(crate) fn hash_hex(&self, data: &[u8]) -> String {
        let inner = self.inner.clone().chain_update(data).finalize();
        let outer = self.outer.clone().chain_update(inner).finalize();
        let mut hex = String::with_capacity(40);
        for b in &outer[..20] {
            hex.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            hex.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xf)]));
        }
        hex
    }
}

#[cfg(test)]
mod tests {
    use super::HashKey;

    /// RFC 4231 test case 2 (a short key), truncated to 20 bytes.
    #[test]
    fn matches_rfc_4231() {
        assert_eq!(
            HashKey::new(b"Jefe").hash_hex(b"what do ya want for nothing?"),
            "5BDCC146BF60754E6A042426089575C75A003F08"
        );
    }

    /// RFC 4231 test case 6: a key longer than a block is hashed first.
    #[test]
    fn long_keys_are_hashed_first() {
        assert_eq!(
            HashKey::new(&[0xaa; 131])
                .hash_hex(b"Test Using Larger Than Block-Size Key - Hash Key First"),
            "60E431591EE0B67F0D8A26AACBF5B77F8E0BC621"
        );
    }
}
