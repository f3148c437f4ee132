//! SHA-256 whose state can be stored between requests: a tus upload arrives in many PATCHes,
//! possibly on different api replicas, and its digest must be the whole file's. The state is
//! the eight-word chaining value over a prefix whose length is a multiple of 64 bytes (upload
//! parts are), so no tail needs to be kept.

use sha2::digest::generic_array::GenericArray;

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed so far (always a multiple of 64).
    len: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("a stored SHA-256 state must be 40 bytes, not {0}")]
pub struct BadState(usize);

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self { state: H0, len: 0 }
    }
}

impl ResumableSha256 {
    /// Hashes whole 64-byte blocks. Panics if `data` is not a multiple of 64 bytes: callers feed
    /// whole parts, whose size is checked to be one.
    pub fn update_blocks(&mut self, data: &[u8]) {
        assert!(data.len().is_multiple_of(64), "whole blocks only");
        let blocks: Vec<GenericArray<u8, _>> = data
            .chunks_exact(64)
            .map(|c| *GenericArray::from_slice(c))
            .collect();
        sha2::compress256(&mut self.state, &blocks);
        self.len += data.len() as u64;
    }

    /// The digest of everything hashed plus `tail` (any length), in lowercase hex.
    pub fn finish_hex(mut self, tail: &[u8]) -> String {
        let whole = tail.len() - tail.len() % 64;
        self.update_blocks(&tail[..whole]);
        let rest = &tail[whole..];
        let bits = (self.len + rest.len() as u64) * 8;
        let mut last = rest.to_vec();
        last.push(0x80);
        while last.len() % 64 != 56 {
            last.push(0);
        }
        last.extend_from_slice(&bits.to_be_bytes());
        let blocks: Vec<GenericArray<u8, _>> = last
            .chunks_exact(64)
            .map(|c| *GenericArray::from_slice(c))
            .collect();
        sha2::compress256(&mut self.state, &blocks);
        self.state.iter().map(|w| format!("{w:08x}")).collect()
    }

    pub fn hashed_bytes(&self) -> u64 {
        self.len
    }

    /// 32 bytes of state and 8 of length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        for w in self.state {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out.extend_from_slice(&self.len.to_be_bytes());
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, BadState> {
        if b.len() != 40 {
            return Err(BadState(b.len()));
        }
        let mut state = [0u32; 8];
        for (i, w) in state.iter_mut().enumerate() {
            *w = u32::from_be_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&b[32..40]);
        Ok(Self {
            state,
            len: u64::from_be_bytes(len),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn equals_sha256_across_a_stored_state() {
        for size in [0usize, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4096 + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let split = size - size % 64;
            let split = split - split % 128; // any block boundary
            let mut h = ResumableSha256::default();
            h.update_blocks(&data[..split]);
            let h = ResumableSha256::from_bytes(&h.to_bytes()).unwrap();
            assert_eq!(
                h.finish_hex(&data[split..]),
                hex::encode(Sha256::digest(&data)),
                "{size} bytes"
            );
        }
        assert!(ResumableSha256::from_bytes(&[0; 3]).is_err());
    }
}
