//! Curve25519 keys with the Signal `0x05` type byte, X25519 agreement and
//! XEdDSA signatures in the variant WhatsApp peers (libsignal) use.
//!
//! The XEdDSA variant differs from the published specification: the private
//! key is *not* negated to force a zero sign bit on the Edwards public key.
//! Instead the sign bit of the Edwards form of the public key travels in the
//! top bit of the last signature byte, and the verifier takes it from there.

use core::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The type byte that prefixes a serialized Curve25519 public key ("DJB" type).
pub const DJB_TYPE: u8 = 0x05;

/// Errors from decoding keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The serialized key has the wrong length.
    #[error("bad key length {0}")]
    BadLength(usize),
    /// The serialized public key does not start with the 0x05 type byte.
    #[error("bad key type byte {0:#04x}")]
    BadType(u8),
}

/// A Curve25519 private key (32 bytes, clamped).
#[derive(Clone)]
pub struct PrivateKey([u8; 32]);

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for PrivateKey {}

fn hash_to_scalar(h: Sha512) -> Scalar {
    let out: [u8; 64] = h.finalize().into();
    Scalar::from_bytes_mod_order_wide(&out)
}

fn clamp(mut k: [u8; 32]) -> [u8; 32] {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

impl PrivateKey {
    /// Builds a private key from 32 bytes, clamping them.
    pub fn from_bytes(bytes: [u8; 32]) -> PrivateKey {
        PrivateKey(clamp(bytes))
    }

    /// Draws a fresh private key from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> PrivateKey {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        let key = PrivateKey::from_bytes(k);
        k.zeroize();
        key
    }

    /// The 32 clamped key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The matching public key (X25519 base-point multiple).
    pub fn public_key(&self) -> PublicKey {
        PublicKey(MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }

    /// X25519 agreement between this key and `their` public key.
    pub fn calculate_agreement(&self, their: &PublicKey) -> [u8; 32] {
        MontgomeryPoint(their.0).mul_clamped(self.0).to_bytes()
    }

    fn scalar(&self) -> Scalar {
        Scalar::from_bytes_mod_order(self.0)
    }

    /// XEdDSA signature (libsignal variant) with 64 random bytes from `rng`
    /// mixed into the nonce, as libsignal (Rust/Java) and whatsmeow do.
    pub fn calculate_signature<R: RngCore + CryptoRng + ?Sized>(
        &self,
        msg: &[u8],
        rng: &mut R,
    ) -> [u8; 64] {
        let mut z = [0u8; 64];
        rng.fill_bytes(&mut z);
        let mut hash_prefix = [0xFFu8; 32];
        hash_prefix[0] = 0xFE;
        let mut h = Sha512::new();
        h.update(hash_prefix);
        h.update(self.0);
        h.update(msg);
        h.update(z);
        z.zeroize();
        let r = hash_to_scalar(h);
        self.finish_signature(msg, r)
    }

    /// XEdDSA signature with the deterministic nonce libsignal-node (Baileys)
    /// uses: `r = SHA-512(a || msg) mod L`. The result verifies exactly like
    /// [`calculate_signature`](Self::calculate_signature); it exists so that
    /// signatures made by Baileys can be reproduced byte for byte.
    pub fn calculate_signature_deterministic(&self, msg: &[u8]) -> [u8; 64] {
        let mut h = Sha512::new();
        h.update(self.0);
        h.update(msg);
        let r = hash_to_scalar(h);
        self.finish_signature(msg, r)
    }

    fn finish_signature(&self, msg: &[u8], mut r: Scalar) -> [u8; 64] {
        let mut a = self.scalar();
        let a_enc = EdwardsPoint::mul_base(&a).compress().to_bytes();
        let sign_bit = a_enc[31] & 0x80;
        let r_enc = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let mut h = Sha512::new();
        h.update(r_enc);
        h.update(a_enc);
        h.update(msg);
        let hs = hash_to_scalar(h);
        let s = r + hs * a;
        r.zeroize();
        a.zeroize();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_enc);
        sig[32..].copy_from_slice(s.as_bytes());
        sig[63] |= sign_bit;
        sig
    }
}

/// A Curve25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl PublicKey {
    /// A public key from its raw 32-byte X25519 form (as in Noise and ADV).
    pub fn from_djb(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// Parses the 33-byte serialized form (`0x05 || key`).
    pub fn deserialize(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        if bytes.len() != 33 {
            return Err(KeyError::BadLength(bytes.len()));
        }
        if bytes[0] != DJB_TYPE {
            return Err(KeyError::BadType(bytes[0]));
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&bytes[1..]);
        Ok(PublicKey(k))
    }

    /// The 33-byte serialized form (`0x05 || key`).
    pub fn serialize(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// The raw 32-byte X25519 form.
    pub fn as_djb(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies an XEdDSA signature (libsignal variant: the Edwards sign bit
    /// is taken from the top bit of the last signature byte). Returns false
    /// on any malformed input.
    pub fn verify_signature(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <&[u8; 64]>::try_from(sig) else {
            return false;
        };
        let mut u = self.0;
        u[31] &= 0x7F;
        let sign_bit = (sig[63] & 0x80) >> 7;
        let Some(a) = MontgomeryPoint(u).to_edwards(sign_bit) else {
            return false;
        };
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&sig[32..]);
        s_bytes[31] &= 0x7F;
        if s_bytes[31] & 0xE0 != 0 {
            return false;
        }
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let mut r_enc = [0u8; 32];
        r_enc.copy_from_slice(&sig[..32]);
        if CompressedEdwardsY(r_enc).decompress().is_none() {
            return false;
        }
        let a_enc = a.compress().to_bytes();
        let mut h = Sha512::new();
        h.update(r_enc);
        h.update(a_enc);
        h.update(msg);
        let hs = hash_to_scalar(h);
        let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&hs, &(-a), &s);
        bool::from(r_check.compress().as_bytes().ct_eq(&r_enc))
    }
}

/// A Curve25519 key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The private half.
    pub private: PrivateKey,
    /// The public half.
    pub public: PublicKey,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Draws a fresh key pair from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> KeyPair {
        KeyPair::from_private(PrivateKey::generate(rng))
    }

    /// The key pair of a private key.
    pub fn from_private(private: PrivateKey) -> KeyPair {
        let public = private.public_key();
        KeyPair { private, public }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_symmetric() {
        let a = PrivateKey::from_bytes([1u8; 32]);
        let b = PrivateKey::from_bytes([2u8; 32]);
        assert_eq!(
            a.calculate_agreement(&b.public_key()),
            b.calculate_agreement(&a.public_key())
        );
    }

    #[test]
    fn deserialize_rejects_bad_input() {
        assert_eq!(
            PublicKey::deserialize(&[5u8; 32]),
            Err(KeyError::BadLength(32))
        );
        let mut k = [0u8; 33];
        k[0] = 6;
        assert_eq!(PublicKey::deserialize(&k), Err(KeyError::BadType(6)));
        k[0] = 5;
        assert!(PublicKey::deserialize(&k).is_ok());
    }
}
