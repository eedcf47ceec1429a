//! Fuzz media decryption: arbitrary key, type, blob and piece size through
//! every decrypt path. Nothing may panic, every path must agree, and an
//! accepted blob must re-encrypt to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::media::{
    Expected, MediaDecryptor, MediaKey, MediaType, MediaVerifier, decrypt, decrypt_parallel,
    encrypt,
};

fn two_pass(key: &MediaKey, t: MediaType, blob: &[u8], piece: usize) -> Option<Vec<u8>> {
    let mut v = MediaVerifier::new(key, t);
    for p in blob.chunks(piece) {
        v.update(p);
    }
    let verified = v.finish(None).ok()?;
    let mut d = MediaDecryptor::new(key, t, &verified);
    let mut out = Vec::new();
    for p in blob.chunks(piece) {
        d.update(p, &mut out).ok()?;
    }
    d.finish(&mut out, &Expected::NONE).ok()?;
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 34 {
        return;
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&data[..32]);
    let key = MediaKey(key);
    let t = MediaType::ALL[usize::from(data[32]) % MediaType::ALL.len()];
    let piece = usize::from(data[33]) + 1;
    let blob = &data[34..];

    let a = decrypt(&key, t, blob, &Expected::NONE);
    let b = decrypt_parallel(&key, t, blob, &Expected::NONE);
    assert_eq!(a, b);
    let c = two_pass(&key, t, blob, piece);
    assert_eq!(a.as_ref().ok(), c.as_ref());
    if let Ok(plain) = a {
        // Only a correctly MAC'd blob gets here; it must be what we would produce.
        assert_eq!(encrypt(&key, t, &plain).enc_file, blob);
    }
});
