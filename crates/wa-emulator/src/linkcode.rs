//! Crypto of pairing with a phone number ("link code"), primary side: the 8-character code
//! wraps both ephemeral keys (PBKDF2-HMAC-SHA256, 131072 rounds, AES-256-CTR), the companion's
//! key bundle is AES-256-GCM under an HKDF key from the ephemeral agreement, and the new ADV
//! secret is HKDF(eph_shared || id_shared || adv_rand, info "adv_secret").

use aes::cipher::{BlockEncrypt, KeyInit};
use aes_gcm::aead::Aead;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;

/// PBKDF2 rounds (`2 << 16`).
const PBKDF2_ROUNDS: u32 = 2 << 16;
/// `salt(32) || iv(16) || ctr(pub 32)`.
pub(crate) const WRAPPED_LEN: usize = 80;
/// `salt(32) || nonce(12) || gcm(96 + 16)`.
pub(crate) const BUNDLE_LEN: usize = 32 + 12 + 96 + 16;

/// PBKDF2-HMAC-SHA256 with a 32-byte output (one block).
pub(crate) fn pbkdf2_sha256(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let Ok(prf) = <Hmac<Sha256> as Mac>::new_from_slice(password) else {
        return [0; 32];
    };
    let mut m = prf.clone();
    m.update(salt);
    m.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = m.finalize().into_bytes().into();
    let mut t = u;
    for _ in 1..rounds {
        let mut m = prf.clone();
        m.update(&u);
        u = m.finalize().into_bytes().into();
        for (a, b) in t.iter_mut().zip(u.iter()) {
            *a ^= b;
        }
    }
    t
}

/// AES-256-CTR with a 128-bit big-endian counter block starting at `iv`.
pub(crate) fn aes_ctr(key: &[u8; 32], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let cipher = aes::Aes256::new(key.into());
    let mut counter = u128::from_be_bytes(*iv);
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut block = aes::Block::from(counter.to_be_bytes());
        cipher.encrypt_block(&mut block);
        out.extend(chunk.iter().zip(block.iter()).map(|(d, k)| d ^ k));
        counter = counter.wrapping_add(1);
    }
    out
}

/// Normalises a code as typed ("ABCD-EFGH", lower case, spaces) to the 8 characters used as
/// the PBKDF2 password.
pub(crate) fn normalize_code(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (c.len() == 8 && c.chars().all(|c| c.is_ascii_alphanumeric())).then_some(c)
}

/// Unwraps a 32-byte ephemeral public key wrapped with `code`.
pub(crate) fn unwrap_ephemeral(code: &str, wrapped: &[u8]) -> Option<[u8; 32]> {
    if wrapped.len() != WRAPPED_LEN {
        return None;
    }
    let key = pbkdf2_sha256(code.as_bytes(), &wrapped[..32], PBKDF2_ROUNDS);
    let iv: [u8; 16] = wrapped[32..48].try_into().ok()?;
    aes_ctr(&key, &iv, &wrapped[48..]).try_into().ok()
}

/// Wraps a 32-byte ephemeral public key with `code` (fresh salt and IV).
pub(crate) fn wrap_ephemeral<R: RngCore + CryptoRng>(
    code: &str,
    public: &[u8; 32],
    rng: &mut R,
) -> Vec<u8> {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    let key = pbkdf2_sha256(code.as_bytes(), &salt, PBKDF2_ROUNDS);
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&iv);
    out.extend(aes_ctr(&key, &iv, public));
    out
}

fn hkdf32(ikm: &[u8], salt: Option<&[u8]>, info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hkdf::Hkdf::<Sha256>::new(salt, ikm).expand(info, &mut out);
    out
}

/// Decrypts the companion's key bundle: `companion_identity || primary_identity || adv_rand`.
pub(crate) fn open_key_bundle(eph_shared: &[u8; 32], wrapped: &[u8]) -> Option<[u8; 96]> {
    if wrapped.len() != BUNDLE_LEN {
        return None;
    }
    let key = hkdf32(
        eph_shared,
        Some(&wrapped[..32]),
        b"link_code_pairing_key_bundle_encryption_key",
    );
    let gcm = aes_gcm::Aes256Gcm::new((&key).into());
    let nonce = aes_gcm::Nonce::from_slice(&wrapped[32..44]);
    gcm.decrypt(nonce, &wrapped[44..]).ok()?.try_into().ok()
}

/// Seals a key bundle (companion side; used by tests).
#[cfg(test)]
pub(crate) fn seal_key_bundle<R: RngCore + CryptoRng>(
    eph_shared: &[u8; 32],
    plaintext: &[u8; 96],
    rng: &mut R,
) -> Vec<u8> {
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    let key = hkdf32(
        eph_shared,
        Some(&salt),
        b"link_code_pairing_key_bundle_encryption_key",
    );
    let gcm = aes_gcm::Aes256Gcm::new((&key).into());
    let ct = gcm
        .encrypt(aes_gcm::Nonce::from_slice(&nonce), plaintext.as_slice())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(BUNDLE_LEN);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend(ct);
    out
}

/// The ADV secret that replaces the QR one.
pub(crate) fn adv_secret(eph_shared: &[u8; 32], id_shared: &[u8; 32], adv_rand: &[u8]) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(96);
    ikm.extend_from_slice(eph_shared);
    ikm.extend_from_slice(id_shared);
    ikm.extend_from_slice(adv_rand);
    hkdf32(&ikm, None, b"adv_secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64), first 32 bytes.
        assert_eq!(
            hex::encode(pbkdf2_sha256(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn ctr_matches_nist_sp800_38a_f5_5() {
        // NIST SP 800-38A F.5.5 CTR-AES256.Encrypt, first block.
        let key: [u8; 32] =
            hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
                .unwrap()
                .try_into()
                .unwrap();
        let iv: [u8; 16] = hex::decode("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
            .unwrap()
            .try_into()
            .unwrap();
        let pt = hex::decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
            .unwrap();
        assert_eq!(
            hex::encode(aes_ctr(&key, &iv, &pt)),
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
        );
    }

    #[test]
    fn wrap_unwrap_and_bundle_round_trip() {
        let mut rng = rand::rngs::OsRng;
        let code = normalize_code("abcd-efgh").unwrap();
        assert_eq!(code, "ABCDEFGH");
        assert!(normalize_code("ABC").is_none());
        let public = [7u8; 32];
        let w = wrap_ephemeral(&code, &public, &mut rng);
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(unwrap_ephemeral(&code, &w), Some(public));
        assert_ne!(unwrap_ephemeral("ZZZZZZZZ", &w), Some(public));
        let shared = [9u8; 32];
        let pt = [5u8; 96];
        let sealed = seal_key_bundle(&shared, &pt, &mut rng);
        assert_eq!(sealed.len(), BUNDLE_LEN);
        assert_eq!(open_key_bundle(&shared, &sealed), Some(pt));
        assert_eq!(open_key_bundle(&[1u8; 32], &sealed), None);
    }
}
