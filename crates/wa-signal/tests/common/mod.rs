//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};
use serde_json::Value;

/// Decodes a hex string field.
pub fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// Decodes a 32-byte hex field.
pub fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().expect("32 bytes")
}

/// An RNG that hands out recorded 32-byte private keys in order and fails
/// the test on any other draw, so a test also proves that the code under
/// test draws exactly the recorded keys and nothing else.
pub struct ReplayRng {
    pub draws: VecDeque<[u8; 32]>,
}

impl ReplayRng {
    pub fn new(draws: Vec<[u8; 32]>) -> ReplayRng {
        ReplayRng {
            draws: draws.into(),
        }
    }
}

impl RngCore for ReplayRng {
    fn next_u32(&mut self) -> u32 {
        panic!("unexpected next_u32 draw")
    }
    fn next_u64(&mut self) -> u64 {
        panic!("unexpected next_u64 draw")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert_eq!(dest.len(), 32, "unexpected draw size");
        let d = self
            .draws
            .pop_front()
            .expect("more key draws than recorded");
        dest.copy_from_slice(&d);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for ReplayRng {}
