//! Shared by the signal_* fuzz targets (not a target itself).
#![allow(dead_code)]

use wa_signal::rand_core::{CryptoRng, Error, RngCore};

/// A deterministic xorshift RNG, so targets need no extra crates.
pub struct Xs(pub u64);

impl RngCore for Xs {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Xs {}
