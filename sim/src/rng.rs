//! The simulator's randomness: one seeded generator per concern, so that a change
//! in how often one part draws does not reshuffle every other part of a run.

use efm_core::entropy::Entropy;

pub struct Rng(Entropy);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        s[8..16].copy_from_slice(&stream.to_le_bytes());
        Rng(Entropy::from_seed(s))
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.u64() % n }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + self.below(span) as i64
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub fn seed32(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        for chunk in s.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.u64().to_le_bytes());
        }
        s
    }

    pub fn uuid(&mut self) -> uuid::Uuid {
        self.0.uuid()
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
