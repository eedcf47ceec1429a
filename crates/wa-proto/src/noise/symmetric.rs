//! The Noise symmetric state as WhatsApp runs it (`h`, `ck`, one handshake
//! key with one counter for both directions).

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::NoiseError;
use super::transport::TransportCipher;

/// The 12-byte AES-GCM nonce: 8 zero bytes, then the counter as u32 big-endian.
pub(crate) fn nonce(counter: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&counter.to_be_bytes());
    iv
}

/// HKDF-SHA256(salt = ck, ikm, info = "", L = 64), split in two halves.
pub(crate) fn hkdf2(ck: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let hk = Hkdf::<Sha256>::new(Some(ck), ikm);
    let mut okm = [0u8; 64];
    // 64 <= 255 * 32: expand cannot fail.
    if hk.expand(&[], &mut okm).is_err() {
        unreachable!("HKDF output of 64 bytes is always valid");
    }
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    (a, b)
}

pub(crate) struct SymmetricState {
    h: [u8; 32],
    ck: [u8; 32],
    cipher: Option<Aes256Gcm>,
    counter: u32,
}

impl SymmetricState {
    /// Initialises from a protocol name and mixes in the prologue.
    pub(crate) fn new(protocol_name: &[u8], prologue: &[u8]) -> Self {
        let h: [u8; 32] = if protocol_name.len() == 32 {
            let mut h = [0u8; 32];
            h.copy_from_slice(protocol_name);
            h
        } else if protocol_name.len() < 32 {
            let mut h = [0u8; 32];
            h[..protocol_name.len()].copy_from_slice(protocol_name);
            h
        } else {
            Sha256::digest(protocol_name).into()
        };
        let mut s = Self {
            h,
            ck: h,
            cipher: None,
            counter: 0,
        };
        s.mix_hash(prologue);
        s
    }

    pub(crate) fn handshake_hash(&self) -> [u8; 32] {
        self.h
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }

    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, k) = hkdf2(&self.ck, ikm);
        self.ck = ck;
        self.cipher = Some(Aes256Gcm::new(&k.into()));
        self.counter = 0;
    }

    fn next_nonce(&mut self) -> Result<[u8; 12], NoiseError> {
        let n = nonce(self.counter);
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(NoiseError::CounterExhausted)?;
        Ok(n)
    }

    /// AES-GCM encryption with AAD = h, then MixHash(ciphertext).
    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let iv = self.next_nonce()?;
        let cipher = self.cipher.as_ref().ok_or(NoiseError::NoKey)?;
        let mut buf = Vec::with_capacity(plaintext.len() + 16);
        buf.extend_from_slice(plaintext);
        cipher
            .encrypt_in_place(Nonce::from_slice(&iv), &self.h, &mut buf)
            .map_err(|_| NoiseError::Encrypt)?;
        self.mix_hash(&buf);
        Ok(buf)
    }

    /// AES-GCM decryption with AAD = h, then MixHash(ciphertext).
    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let iv = self.next_nonce()?;
        let cipher = self.cipher.as_ref().ok_or(NoiseError::NoKey)?;
        let mut buf = ciphertext.to_vec();
        cipher
            .decrypt_in_place(Nonce::from_slice(&iv), &self.h, &mut buf)
            .map_err(|_| NoiseError::Decrypt)?;
        self.mix_hash(ciphertext);
        Ok(buf)
    }

    /// Split: (first half, second half) = (initiator->responder, responder->initiator).
    pub(crate) fn split(&self) -> (TransportCipher, TransportCipher) {
        let (a, b) = hkdf2(&self.ck, &[]);
        (TransportCipher::new(a), TransportCipher::new(b))
    }
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        // Best effort: the chaining key is the secret that matters here.
        self.ck = [0u8; 32];
        self.h = [0u8; 32];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prologue_hash_matches_reference() {
        let s = SymmetricState::new(
            super::super::NOISE_XX_PROTOCOL_NAME,
            &crate::frame::INTRO_HEADER,
        );
        let expected = [
            0xff, 0xff, 0x0c, 0x92, 0x67, 0x31, 0x09, 0x66, 0xf1, 0x31, 0x11, 0x70, 0xc0, 0x4b,
            0x38, 0xc7, 0x95, 0x04, 0x28, 0x5b, 0xf5, 0xed, 0xf7, 0x63, 0xe5, 0xc9, 0x46, 0x49,
            0x2a, 0x50, 0xa7, 0x55,
        ];
        assert_eq!(s.handshake_hash(), expected);
    }

    #[test]
    fn encrypt_without_key_fails() {
        let mut s = SymmetricState::new(b"x", b"");
        assert!(matches!(s.encrypt_and_hash(b"a"), Err(NoiseError::NoKey)));
        assert!(matches!(
            s.decrypt_and_hash(&[0; 16]),
            Err(NoiseError::NoKey)
        ));
    }

    #[test]
    fn handshake_counter_exhaustion() {
        let mut s = SymmetricState::new(b"x", b"");
        s.mix_key(b"k");
        s.counter = u32::MAX;
        assert!(matches!(
            s.encrypt_and_hash(b"a"),
            Err(NoiseError::CounterExhausted)
        ));
    }
}
