//! Randomness for ids and jitter, from a seed the runtime draws from the OS.
//!
//! Core never asks the OS for randomness: a runtime seeds this generator, and a test
//! or the simulator seeds it with a fixed value and gets the same run every time.
//! The ids it makes (message ids, conversation ids) are not secrets, so a fast
//! statistical generator is enough; key material comes from an injected
//! `ring::rand::SecureRandom` instead.

/// xoshiro256** (Blackman and Vigna): 256 bits of state, fast, well studied.
#[derive(Clone, Debug)]
pub struct Entropy {
    s: [u64; 4],
}

impl Entropy {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (i, chunk) in seed.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            s[i] = u64::from_le_bytes(b);
        }
        // The all-zero state is the generator's one fixed point; stir it with
        // SplitMix64 so that any seed, zeros included, gives a full-period state.
        let mut x = s[0] ^ s[1] ^ s[2] ^ s[3] ^ 0x9E37_79B9_7F4A_7C15;
        for w in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *w ^= z ^ (z >> 31);
        }
        Entropy { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// 16 bytes for a version-4 UUID.
    pub fn uuid_bytes(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        b
    }

    pub fn uuid(&mut self) -> uuid::Uuid {
        uuid::Builder::from_random_bytes(self.uuid_bytes()).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut a = Entropy::from_seed([1; 32]);
        let mut b = Entropy::from_seed([1; 32]);
        let mut c = Entropy::from_seed([2; 32]);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn zero_seed_is_not_stuck() {
        let mut e = Entropy::from_seed([0; 32]);
        let first = e.next_u64();
        assert!((0..100).any(|_| e.next_u64() != first));
        assert_eq!(e.uuid().get_version_num(), 4);
    }
}
