//! Key derivation of the Double Ratchet and the sender-key chains.

use zeroize::Zeroize;

use hmac::Mac;

use crate::crypto::{HmacSha256, hkdf_sha256};
use crate::error::SignalError;

const MESSAGE_KEY_SEED: u8 = 0x01;
const CHAIN_KEY_SEED: u8 = 0x02;

/// Skipped message-key seeds: (index, seed).
pub(crate) type SkippedSeeds = Vec<(u32, [u8; 32])>;

/// A symmetric chain key with its index (counter or iteration).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ChainKey {
    pub key: [u8; 32],
    pub index: u32,
}

impl Drop for ChainKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ChainKey {
    pub fn new(key: [u8; 32], index: u32) -> ChainKey {
        ChainKey { key, index }
    }

    /// The message-key seed for this index: HMAC(CK, 0x01).
    #[cfg(test)]
    pub fn seed(&self) -> [u8; 32] {
        crate::crypto::hmac_sha256(&self.key, &[&[MESSAGE_KEY_SEED]])
    }

    /// The next chain key: HMAC(CK, 0x02), index + 1.
    #[cfg(test)]
    pub fn next(&self) -> Result<ChainKey, SignalError> {
        Ok(self.step()?.1)
    }

    /// The message-key seed for this index and the next chain key, with
    /// one HMAC key setup.
    pub fn step(&self) -> Result<([u8; 32], ChainKey), SignalError> {
        let index = self
            .index
            .checked_add(1)
            .ok_or(SignalError::ChainExhausted)?;
        let keyed = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        let mut m = keyed.clone();
        m.update(&[MESSAGE_KEY_SEED]);
        let seed: [u8; 32] = m.finalize().into_bytes().into();
        let mut m = keyed;
        m.update(&[CHAIN_KEY_SEED]);
        let key: [u8; 32] = m.finalize().into_bytes().into();
        Ok((seed, ChainKey { key, index }))
    }

    /// Steps the chain to `target` (>= self.index, at most `max_jump` ahead).
    /// Returns the seeds of the skipped indexes, the seed for `target` and
    /// the chain key after `target`. Does not modify `self`.
    pub fn advance_to(
        &self,
        target: u32,
        max_jump: u32,
    ) -> Result<(SkippedSeeds, [u8; 32], ChainKey), SignalError> {
        debug_assert!(target >= self.index);
        if target - self.index > max_jump {
            return Err(SignalError::TooFarInFuture {
                counter: target,
                chain_index: self.index,
            });
        }
        let mut skipped = Vec::with_capacity((target - self.index) as usize);
        let (mut seed, mut next) = self.step()?;
        while next.index <= target {
            skipped.push((next.index - 1, seed));
            (seed, next) = next.step()?;
        }
        Ok((skipped, seed, next))
    }
}

/// The keys of one 1:1 message.
pub(crate) struct MessageKeys {
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    pub iv: [u8; 16],
}

impl Drop for MessageKeys {
    fn drop(&mut self) {
        self.cipher_key.zeroize();
        self.mac_key.zeroize();
        self.iv.zeroize();
    }
}

impl MessageKeys {
    /// HKDF(seed, zero salt, "WhisperMessageKeys", 80) = cipher ‖ mac ‖ iv.
    pub fn derive(seed: &[u8; 32]) -> MessageKeys {
        let mut okm: [u8; 80] = hkdf_sha256(None, seed, b"WhisperMessageKeys");
        let mut k = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        k.cipher_key.copy_from_slice(&okm[..32]);
        k.mac_key.copy_from_slice(&okm[32..64]);
        k.iv.copy_from_slice(&okm[64..]);
        okm.zeroize();
        k
    }
}

/// The keys of one sender-key (group) message.
pub(crate) struct SenderMessageKeys {
    pub iv: [u8; 16],
    pub cipher_key: [u8; 32],
}

impl Drop for SenderMessageKeys {
    fn drop(&mut self) {
        self.cipher_key.zeroize();
        self.iv.zeroize();
    }
}

impl SenderMessageKeys {
    /// HKDF(seed, zero salt, "WhisperGroup", 48) = iv ‖ cipher.
    pub fn derive(seed: &[u8; 32]) -> SenderMessageKeys {
        let mut okm: [u8; 48] = hkdf_sha256(None, seed, b"WhisperGroup");
        let mut k = SenderMessageKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
        };
        k.iv.copy_from_slice(&okm[..16]);
        k.cipher_key.copy_from_slice(&okm[16..]);
        okm.zeroize();
        k
    }
}

/// KDF_RK: HKDF(dh, salt = root key, "WhisperRatchet", 64) = new root ‖ chain.
pub(crate) fn kdf_rk(root_key: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let mut okm: [u8; 64] = hkdf_sha256(Some(root_key), dh, b"WhisperRatchet");
    let mut rk = [0u8; 32];
    let mut ck = [0u8; 32];
    rk.copy_from_slice(&okm[..32]);
    ck.copy_from_slice(&okm[32..]);
    okm.zeroize();
    (rk, ck)
}

/// The X3DH derivation: HKDF(0xFF×32 ‖ DH…, zero salt, "WhisperText", 64) = root ‖ chain.
pub(crate) fn kdf_x3dh(agreements: &[[u8; 32]]) -> ([u8; 32], [u8; 32]) {
    let mut ikm = Vec::with_capacity(32 * (agreements.len() + 1));
    ikm.extend_from_slice(&[0xFF; 32]);
    for a in agreements {
        ikm.extend_from_slice(a);
    }
    let mut okm: [u8; 64] = hkdf_sha256(None, &ikm, b"WhisperText");
    ikm.zeroize();
    let mut rk = [0u8; 32];
    let mut ck = [0u8; 32];
    rk.copy_from_slice(&okm[..32]);
    ck.copy_from_slice(&okm[32..]);
    okm.zeroize();
    (rk, ck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_matches_seed_and_next() {
        let ck = ChainKey::new([7u8; 32], 5);
        let (seed, next) = ck.step().unwrap();
        assert_eq!(seed, ck.seed());
        assert!(next == ck.next().unwrap());
        assert_eq!(next.index, 6);
        let (skipped, s3, n3) = ck.advance_to(8, 10).unwrap();
        assert_eq!(
            skipped.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
        assert_eq!(skipped[0].1, seed);
        assert_eq!(skipped[1].1, next.seed());
        assert_eq!(n3.index, 9);
        assert_eq!(s3, next.next().unwrap().next().unwrap().seed());
        assert!(matches!(
            ck.advance_to(16, 10),
            Err(SignalError::TooFarInFuture {
                counter: 16,
                chain_index: 5
            })
        ));
        assert!(matches!(
            ChainKey::new([0; 32], u32::MAX).step(),
            Err(SignalError::ChainExhausted)
        ));
    }
}
