//! Symmetric primitives shared by the 1:1 ratchet and sender keys.

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::OnceLock;
use zeroize::Zeroize;

use crate::error::SignalError;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC keyed with 32 zero bytes (the HKDF salt used by every Signal KDF
/// but the root-key step), with its pads precomputed once.
fn zero_key_hmac() -> &'static HmacSha256 {
    static ZERO: OnceLock<HmacSha256> = OnceLock::new();
    ZERO.get_or_init(|| {
        HmacSha256::new_from_slice(&[0u8; 32]).expect("HMAC accepts any key length")
    })
}

/// HKDF-SHA256 with the given salt (None = 32 zero bytes, which HKDF treats alike).
pub(crate) fn hkdf_sha256<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut extract = match salt {
        None => zero_key_hmac().clone(),
        Some(s) => HmacSha256::new_from_slice(s).expect("HMAC accepts any key length"),
    };
    extract.update(ikm);
    let mut prk: [u8; 32] = extract.finalize().into_bytes().into();
    let hk = Hkdf::<Sha256>::from_prk(&prk).expect("PRK has the hash length");
    prk.zeroize();
    let mut out = [0u8; N];
    hk.expand(info, &mut out)
        .expect("output length is within HKDF limits");
    out
}

/// AES-256-CBC with PKCS#7 padding.
pub(crate) fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// AES-256-CBC decryption with PKCS#7 padding removal.
pub(crate) fn aes_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SignalError> {
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(SignalError::InvalidCiphertext);
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| SignalError::InvalidCiphertext)
}
