//! Transport-phase ciphers: AES-256-GCM, empty AAD, one counter per direction.

use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

use super::NoiseError;
use super::symmetric::nonce;

/// Length of the AES-GCM tag appended to every transport frame.
pub const TAG_LEN: usize = 16;

/// One direction of the transport: AES-256-GCM with the nonce
/// `[0; 8] || counter (u32 BE)` and empty associated data.
///
/// The counter starts at 0 and grows by one per frame, whether the frame
/// authenticates or not (as whatsmeow does: a frame that fails to decrypt
/// still consumed its nonce). After `2^32` frames every call fails with
/// [`NoiseError::CounterExhausted`]; the connection must then be replaced.
#[derive(Clone)]
pub struct TransportCipher {
    cipher: Aes256Gcm,
    counter: u64,
}

impl fmt::Debug for TransportCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportCipher")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl TransportCipher {
    /// A cipher for one direction with the given 32-byte key, counter 0.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&key.into()),
            counter: 0,
        }
    }

    /// The counter the next frame will use.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Sets the counter of the next frame (for tests and benches that need
    /// a specific nonce; a live connection never needs this).
    pub fn set_counter(&mut self, counter: u64) {
        self.counter = counter;
    }

    fn next_nonce(&mut self) -> Result<[u8; 12], NoiseError> {
        let n = u32::try_from(self.counter).map_err(|_| NoiseError::CounterExhausted)?;
        self.counter += 1;
        Ok(nonce(n))
    }

    /// Encrypts `buf` in place and appends the 16-byte tag.
    pub fn encrypt_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), NoiseError> {
        let iv = self.next_nonce()?;
        self.cipher
            .encrypt_in_place(Nonce::from_slice(&iv), &[], buf)
            .map_err(|_| NoiseError::Encrypt)
    }

    /// Returns `ciphertext || tag` of `plaintext`.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        self.encrypt_in_place(&mut buf)?;
        Ok(buf)
    }

    /// Decrypts `ciphertext || tag` in place (the tag is removed).
    ///
    /// On [`NoiseError::Decrypt`] the contents of `buf` are unspecified and
    /// the counter has still advanced.
    pub fn decrypt_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), NoiseError> {
        let iv = self.next_nonce()?;
        if buf.len() < TAG_LEN {
            return Err(NoiseError::Decrypt);
        }
        self.cipher
            .decrypt_in_place(Nonce::from_slice(&iv), &[], buf)
            .map_err(|_| NoiseError::Decrypt)
    }

    /// Returns the plaintext of `ciphertext || tag`.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut buf = ciphertext.to_vec();
        self.decrypt_in_place(&mut buf)?;
        Ok(buf)
    }
}

/// Both transport directions of one finished handshake.
///
/// `encrypt` protects frames this side sends, `decrypt` opens frames the
/// peer sent. Use [`split`](Self::split) to move the halves to different
/// tasks.
#[derive(Debug, Clone)]
pub struct NoiseTransport {
    send: TransportCipher,
    recv: TransportCipher,
}

impl NoiseTransport {
    /// Builds a transport from its two directions.
    pub fn new(send: TransportCipher, recv: TransportCipher) -> Self {
        Self { send, recv }
    }

    /// Encrypts one outgoing frame payload (a serialized binary node with its
    /// flags byte); returns `ciphertext || tag`, ready for framing.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.send.encrypt(plaintext)
    }

    /// Decrypts one incoming frame payload.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.recv.decrypt(ciphertext)
    }

    /// In-place variant of [`encrypt`](Self::encrypt).
    pub fn encrypt_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), NoiseError> {
        self.send.encrypt_in_place(buf)
    }

    /// In-place variant of [`decrypt`](Self::decrypt).
    pub fn decrypt_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), NoiseError> {
        self.recv.decrypt_in_place(buf)
    }

    /// The sending direction.
    pub fn sender(&mut self) -> &mut TransportCipher {
        &mut self.send
    }

    /// The receiving direction.
    pub fn receiver(&mut self) -> &mut TransportCipher {
        &mut self.recv
    }

    /// Separates the directions: `(send, recv)`.
    pub fn split(self) -> (TransportCipher, TransportCipher) {
        (self.send, self.recv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_counters() {
        let mut a = TransportCipher::new([7; 32]);
        let mut b = TransportCipher::new([7; 32]);
        for i in 0..5u8 {
            let ct = a.encrypt(&[i; 33]).unwrap();
            assert_eq!(ct.len(), 33 + TAG_LEN);
            assert_eq!(b.decrypt(&ct).unwrap(), vec![i; 33]);
        }
        assert_eq!(a.counter(), 5);
        assert_eq!(b.counter(), 5);
    }

    #[test]
    fn failed_decrypt_consumes_nonce() {
        let mut a = TransportCipher::new([1; 32]);
        let mut b = TransportCipher::new([1; 32]);
        let mut ct0 = a.encrypt(b"zero").unwrap();
        ct0[0] ^= 1;
        assert!(matches!(b.decrypt(&ct0), Err(NoiseError::Decrypt)));
        let ct1 = a.encrypt(b"one").unwrap();
        assert_eq!(b.decrypt(&ct1).unwrap(), b"one");
        assert!(matches!(b.decrypt(&[1, 2, 3]), Err(NoiseError::Decrypt)));
    }

    #[test]
    fn counter_exhaustion() {
        let mut a = TransportCipher::new([2; 32]);
        let mut b = TransportCipher::new([2; 32]);
        a.set_counter(u64::from(u32::MAX));
        b.set_counter(u64::from(u32::MAX));
        let ct = a.encrypt(b"last").unwrap();
        assert_eq!(b.decrypt(&ct).unwrap(), b"last");
        assert!(matches!(a.encrypt(b"x"), Err(NoiseError::CounterExhausted)));
        assert!(matches!(b.decrypt(&ct), Err(NoiseError::CounterExhausted)));
    }
}
