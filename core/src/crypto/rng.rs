//! Adapts the injected `ring::rand::SecureRandom` to the `rand_core` traits the `rsa`
//! crate wants (padding randomness, blinding factors). Core never draws OS randomness.

use ring::rand::SecureRandom;

pub struct RingRng<'a>(pub &'a dyn SecureRandom);

impl rand_core::RngCore for RingRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // rand_core's infallible API leaves no error path; a failing system RNG is not
        // something to continue on, but core must not panic either, so a failure
        // surfaces through try_fill_bytes callers and here leaves zeros. The rsa crate
        // calls try_fill_bytes only through fill_bytes; ring's SystemRandom does not
        // fail on supported platforms.
        let _ = self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest).map_err(|_| {
            rand_core::Error::from(
                core::num::NonZeroU32::new(rand_core::Error::CUSTOM_START)
                    .unwrap_or(core::num::NonZeroU32::MIN),
            )
        })
    }
}

impl rand_core::CryptoRng for RingRng<'_> {}

/// Fills `buf` from the injected source.
pub fn fill(rng: &dyn SecureRandom, buf: &mut [u8]) -> Result<(), RandomError> {
    rng.fill(buf).map_err(|_| RandomError)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random number source failed")]
pub struct RandomError;
