//! Media crypto against the Baileys/OpenSSL vectors (tests/data/media), plus
//! property and robustness tests across every API path.

use aes::Aes256;
use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wa_proto::media::*;

struct Case {
    id: String,
    media_type: MediaType,
    hkdf_info: String,
    key: MediaKey,
    expanded: Vec<u8>,
    iv: Vec<u8>,
    cipher_key: Vec<u8>,
    mac_key: Vec<u8>,
    ref_key: Vec<u8>,
    plaintext: Vec<u8>,
    enc_file: Vec<u8>,
    mac: Vec<u8>,
    file_sha256: Vec<u8>,
    file_enc_sha256: Vec<u8>,
    token: String,
    file_length: u64,
    ciphertext_len: usize,
}

fn hex_field(c: &Value, k: &str) -> Vec<u8> {
    hex::decode(c[k].as_str().unwrap_or_else(|| panic!("field {k}"))).expect("hex")
}

fn key32(c: &Value) -> MediaKey {
    MediaKey(hex_field(c, "media_key").try_into().expect("32-byte key"))
}

fn num_field(c: &Value, k: &str) -> u64 {
    match &c[k] {
        Value::String(s) => s.parse().expect("number string"),
        Value::Number(n) => n.as_u64().expect("u64"),
        _ => panic!("field {k}"),
    }
}

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/media/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("json")
}

fn cases() -> Vec<Case> {
    let v = load("media.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len() as u64, num_field(&v, "count"));
    cases
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().expect("id").to_owned(),
            media_type: MediaType::from_name(c["media_type"].as_str().expect("type"))
                .expect("known media type"),
            hkdf_info: c["hkdf_info"].as_str().expect("info").to_owned(),
            key: key32(c),
            expanded: hex_field(c, "expanded"),
            iv: hex_field(c, "iv"),
            cipher_key: hex_field(c, "cipher_key"),
            mac_key: hex_field(c, "mac_key"),
            ref_key: hex_field(c, "ref_key"),
            plaintext: hex_field(c, "plaintext"),
            enc_file: hex_field(c, "enc_file"),
            mac: hex_field(c, "mac"),
            file_sha256: hex_field(c, "file_sha256"),
            file_enc_sha256: hex_field(c, "file_enc_sha256"),
            token: c["file_enc_sha256_b64url"]
                .as_str()
                .expect("token")
                .to_owned(),
            file_length: num_field(c, "file_length"),
            ciphertext_len: num_field(c, "ciphertext_len") as usize,
        })
        .collect()
}

fn expected_of(c: &Case) -> Expected {
    Expected {
        file_enc_sha256: Some(c.file_enc_sha256.clone().try_into().expect("32")),
        file_sha256: Some(c.file_sha256.clone().try_into().expect("32")),
        file_length: Some(c.file_length),
    }
}

fn encrypt_chunked(key: &MediaKey, t: MediaType, plain: &[u8], sizes: &[usize]) -> EncryptedMedia {
    let mut e = MediaEncryptor::new(key, t);
    let mut out = Vec::new();
    let mut rest = plain;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        e.update(&rest[..n], &mut out);
        rest = &rest[n..];
        i += 1;
    }
    e.update(&[], &mut out);
    let info = e.finish(&mut out);
    EncryptedMedia {
        enc_file: out,
        info,
    }
}

fn encrypt_stream(key: &MediaKey, t: MediaType, plain: &[u8], piece: usize) -> EncryptedMedia {
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = plain.chunks(piece.max(1)).collect();
    let info =
        encrypt_stream_parallel(key, t, pieces, |c| out.extend_from_slice(c)).expect("workers");
    EncryptedMedia {
        enc_file: out,
        info,
    }
}

fn two_pass(
    key: &MediaKey,
    t: MediaType,
    blob: &[u8],
    piece: usize,
    expected: &Expected,
) -> Result<Vec<u8>, MediaError> {
    let mut v = MediaVerifier::new(key, t);
    for p in blob.chunks(piece.max(1)) {
        v.update(p);
    }
    let verified = v.finish(expected.file_enc_sha256.as_ref())?;
    let mut d = MediaDecryptor::new(key, t, &verified);
    let mut out = Vec::new();
    for p in blob.chunks(piece.max(1)) {
        d.update(p, &mut out)?;
    }
    d.finish(&mut out, expected)?;
    Ok(out)
}

fn all_decrypts(
    key: &MediaKey,
    t: MediaType,
    blob: &[u8],
    expected: &Expected,
) -> Vec<(&'static str, Result<Vec<u8>, MediaError>)> {
    vec![
        ("decrypt", decrypt(key, t, blob, expected)),
        ("decrypt_parallel", decrypt_parallel(key, t, blob, expected)),
        ("two_pass/1", two_pass(key, t, blob, 1, expected)),
        ("two_pass/7", two_pass(key, t, blob, 7, expected)),
        ("two_pass/4096", two_pass(key, t, blob, 4096, expected)),
    ]
}

#[test]
fn vectors_key_expansion() {
    let cs = cases();
    assert_eq!(cs.len(), 12);
    for c in &cs {
        assert_eq!(c.media_type.hkdf_info(), c.hkdf_info, "{}", c.id);
        let e = expand_media_key(&c.key.0, c.hkdf_info.as_bytes());
        assert_eq!(e.to_vec(), c.expanded, "{}", c.id);
        let k = c.key.expand(c.media_type);
        assert_eq!(k.iv.to_vec(), c.iv, "{}", c.id);
        assert_eq!(k.cipher_key.to_vec(), c.cipher_key, "{}", c.id);
        assert_eq!(k.mac_key.to_vec(), c.mac_key, "{}", c.id);
        assert_eq!(k.ref_key.to_vec(), c.ref_key, "{}", c.id);
        assert_eq!(MediaKeys::from_expanded(&e), k);
    }
}

#[test]
fn vectors_encrypt_all_paths() {
    for c in cases() {
        assert_eq!(c.plaintext.len() as u64, c.file_length);
        let outs = [
            ("encrypt", encrypt(&c.key, c.media_type, &c.plaintext)),
            (
                "encrypt_parallel",
                encrypt_parallel(&c.key, c.media_type, &c.plaintext).expect("workers"),
            ),
            (
                "chunked/1",
                encrypt_chunked(&c.key, c.media_type, &c.plaintext, &[1]),
            ),
            (
                "chunked/3,17",
                encrypt_chunked(&c.key, c.media_type, &c.plaintext, &[3, 17]),
            ),
            (
                "stream/5",
                encrypt_stream(&c.key, c.media_type, &c.plaintext, 5),
            ),
            (
                "stream/4096",
                encrypt_stream(&c.key, c.media_type, &c.plaintext, 4096),
            ),
        ];
        for (path, m) in outs {
            let ctx = format!("{} via {path}", c.id);
            assert_eq!(m.enc_file, c.enc_file, "{ctx}");
            assert_eq!(m.enc_file.len(), c.ciphertext_len + MAC_LEN, "{ctx}");
            assert_eq!(m.info.mac.to_vec(), c.mac, "{ctx}");
            assert_eq!(m.info.file_sha256.to_vec(), c.file_sha256, "{ctx}");
            assert_eq!(m.info.file_enc_sha256.to_vec(), c.file_enc_sha256, "{ctx}");
            assert_eq!(m.info.file_length, c.file_length, "{ctx}");
            assert_eq!(m.info.enc_length(), c.enc_file.len() as u64, "{ctx}");
            assert_eq!(m.info.upload_token(), c.token, "{ctx}");
        }
    }
}

#[test]
fn vectors_decrypt_all_paths() {
    for c in cases() {
        for exp in [Expected::NONE, expected_of(&c)] {
            for (path, r) in all_decrypts(&c.key, c.media_type, &c.enc_file, &exp) {
                assert_eq!(r.as_deref(), Ok(&c.plaintext[..]), "{} via {path}", c.id);
            }
        }
    }
}

#[test]
fn tampered_vectors_rejected_by_mac() {
    let v = load("tampered.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 4);
    for c in cases {
        let id = c["id"].as_str().expect("id");
        let t = MediaType::from_name(c["media_type"].as_str().expect("type")).expect("type");
        assert_eq!(t.hkdf_info(), c["hkdf_info"].as_str().expect("info"));
        assert_eq!(c["expected"].as_str(), Some("reject: MAC mismatch"));
        let key = key32(c);
        let blob = hex_field(c, "enc_file");
        for (path, r) in all_decrypts(&key, t, &blob, &Expected::NONE) {
            assert_eq!(r, Err(MediaError::BadMac), "{id} via {path}");
        }
    }
}

#[test]
fn wrong_expectations_are_typed_errors() {
    let c = &cases()[8]; // document-65536
    let good = expected_of(c);
    let mut bad_enc = good;
    bad_enc.file_enc_sha256.as_mut().expect("set")[0] ^= 1;
    let mut bad_plain = good;
    bad_plain.file_sha256.as_mut().expect("set")[31] ^= 0x80;
    let mut bad_len = good;
    bad_len.file_length = Some(c.file_length + 1);
    let cases = [
        (bad_enc, MediaError::EncHashMismatch),
        (bad_plain, MediaError::PlaintextHashMismatch),
        (
            bad_len,
            MediaError::LengthMismatch {
                expected: c.file_length + 1,
                actual: c.file_length,
            },
        ),
    ];
    for (exp, err) in cases {
        for (path, r) in all_decrypts(&c.key, c.media_type, &c.enc_file, &exp) {
            assert_eq!(r, Err(err.clone()), "{path}");
        }
    }
}

#[test]
fn short_blobs_are_truncated() {
    let key = MediaKey([9; 32]);
    for len in 0..=MAC_LEN {
        let blob = vec![0u8; len];
        for (path, r) in all_decrypts(&key, MediaType::Image, &blob, &Expected::NONE) {
            assert_eq!(
                r,
                Err(MediaError::Truncated { len: len as u64 }),
                "{len} via {path}"
            );
        }
    }
}

/// Builds a correctly MAC'd blob around raw (unpadded) CBC ciphertext.
fn raw_blob(keys: &MediaKeys, padded_plain: &[u8]) -> Vec<u8> {
    let mut ct = padded_plain.to_vec();
    if ct.len() % 16 == 0 {
        let n = ct.len();
        cbc::Encryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut ct, n)
            .expect("block multiple");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&keys.mac_key).expect("key");
    mac.update(&keys.iv);
    mac.update(&ct);
    ct.extend_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
    ct
}

#[test]
fn authenticated_but_malformed_ciphertext() {
    let key = MediaKey([3; 32]);
    let keys = key.expand(MediaType::Document);
    // Padding byte 0, 17, and inconsistent padding bytes; all correctly MAC'd.
    let mut bad_paddings = vec![[0u8; 32], [17u8; 32]];
    let mut inconsistent = [4u8; 32];
    inconsistent[29] = 5;
    bad_paddings.push(inconsistent);
    for p in bad_paddings {
        let blob = raw_blob(&keys, &p);
        for (path, r) in all_decrypts(&key, MediaType::Document, &blob, &Expected::NONE) {
            assert_eq!(r, Err(MediaError::BadPadding), "{path}");
        }
    }
    // Not a multiple of the block size (MAC'd garbage of 21 bytes).
    let blob = raw_blob(&keys, &[1u8; 21]);
    for (path, r) in all_decrypts(&key, MediaType::Document, &blob, &Expected::NONE) {
        assert_eq!(
            r,
            Err(MediaError::BadCiphertextLength { len: 21 }),
            "{path}"
        );
    }
    // A full padding block is fine.
    let blob = raw_blob(&keys, &[16u8; 16]);
    assert_eq!(
        decrypt(&key, MediaType::Document, &blob, &Expected::NONE),
        Ok(vec![])
    );
}

#[test]
fn decryptor_rejects_changed_or_extra_tail() {
    let key = MediaKey([5; 32]);
    let m = encrypt(
        &key,
        MediaType::Audio,
        b"some audio bytes, more than a block",
    );
    let mut v = MediaVerifier::new(&key, MediaType::Audio);
    v.update(&m.enc_file);
    let verified = v.finish(Some(&m.info.file_enc_sha256)).expect("verified");
    assert_eq!(
        verified.ciphertext_len() as usize,
        m.enc_file.len() - MAC_LEN
    );
    assert_eq!(verified.file_enc_sha256(), &m.info.file_enc_sha256);
    // Changed MAC bytes in the second pass.
    let mut changed = m.enc_file.clone();
    *changed.last_mut().expect("nonempty") ^= 1;
    let mut d = MediaDecryptor::new(&key, MediaType::Audio, &verified);
    assert_eq!(
        d.update(&changed, &mut Vec::new()),
        Err(MediaError::TrailingData)
    );
    // Extra bytes after the MAC.
    let mut d = MediaDecryptor::new(&key, MediaType::Audio, &verified);
    let mut out = Vec::new();
    d.update(&m.enc_file, &mut out).expect("same blob");
    assert_eq!(d.update(&[0], &mut out), Err(MediaError::TrailingData));
    // Ending early.
    let mut d = MediaDecryptor::new(&key, MediaType::Audio, &verified);
    let mut out = Vec::new();
    d.update(&m.enc_file[..20], &mut out).expect("prefix");
    assert!(matches!(
        d.finish(&mut out, &Expected::NONE),
        Err(MediaError::Truncated { .. })
    ));
    // The MAC tail may be left out entirely.
    let mut d = MediaDecryptor::new(&key, MediaType::Audio, &verified);
    let mut out = Vec::new();
    d.update(&m.enc_file[..m.enc_file.len() - MAC_LEN], &mut out)
        .expect("ct");
    d.finish(&mut out, &Expected::NONE).expect("finish");
    assert_eq!(out, b"some audio bytes, more than a block");
}

#[test]
fn large_input_crosses_parallel_chunks() {
    let mut rng = StdRng::seed_from_u64(42);
    let mut plain = vec![0u8; 3 * PARALLEL_CHUNK + 1000 + 5];
    rng.fill_bytes(&mut plain);
    let key = MediaKey::generate(&mut rng);
    let seq = encrypt(&key, MediaType::Video, &plain);
    assert_eq!(
        encrypt_parallel(&key, MediaType::Video, &plain).expect("ok"),
        seq
    );
    assert_eq!(encrypt_stream(&key, MediaType::Video, &plain, 100_003), seq);
    assert_eq!(
        encrypt_chunked(&key, MediaType::Video, &plain, &[65536, 1, 31]),
        seq
    );
    assert_eq!(
        seq.info.file_sha256,
        <[u8; 32]>::from(Sha256::digest(&plain))
    );
    assert_eq!(
        seq.info.file_enc_sha256,
        <[u8; 32]>::from(Sha256::digest(&seq.enc_file))
    );
    let exp = Expected {
        file_enc_sha256: Some(seq.info.file_enc_sha256),
        file_sha256: Some(seq.info.file_sha256),
        file_length: Some(plain.len() as u64),
    };
    for (path, r) in all_decrypts(&key, MediaType::Video, &seq.enc_file, &exp) {
        assert!(r.as_deref() == Ok(&plain[..]), "{path}");
    }
    // A flipped bit deep inside is caught by every path.
    let mut bad = seq.enc_file.clone();
    bad[2 * PARALLEL_CHUNK + 7] ^= 4;
    for (path, r) in all_decrypts(&key, MediaType::Video, &bad, &Expected::NONE) {
        assert_eq!(r, Err(MediaError::BadMac), "{path}");
    }
}

#[test]
fn random_blobs_never_panic() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..2000 {
        let len = rng.gen_range(0..200);
        let mut blob = vec![0u8; len];
        rng.fill_bytes(&mut blob);
        let key = MediaKey::generate(&mut rng);
        let t = MediaType::ALL[rng.gen_range(0..MediaType::ALL.len())];
        for (path, r) in all_decrypts(&key, t, &blob, &Expected::NONE) {
            assert!(r.is_err(), "random blob accepted via {path}");
        }
    }
}

fn arb_media_type() -> impl Strategy<Value = MediaType> {
    (0..MediaType::ALL.len()).prop_map(|i| MediaType::ALL[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chunked_equals_whole_and_round_trips(
        plain in proptest::collection::vec(any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..300, 1..8),
        piece in 1usize..700,
        key in any::<[u8; 32]>(),
        t in arb_media_type(),
    ) {
        let key = MediaKey(key);
        let whole = encrypt(&key, t, &plain);
        prop_assert_eq!(&encrypt_chunked(&key, t, &plain, &sizes), &whole);
        prop_assert_eq!(&encrypt_parallel(&key, t, &plain).expect("workers"), &whole);
        prop_assert_eq!(&encrypt_stream(&key, t, &plain, piece), &whole);
        prop_assert_eq!(whole.enc_file.len() as u64, enc_length_for(plain.len() as u64));
        let exp = Expected {
            file_enc_sha256: Some(whole.info.file_enc_sha256),
            file_sha256: Some(whole.info.file_sha256),
            file_length: Some(plain.len() as u64),
        };
        for (path, r) in all_decrypts(&key, t, &whole.enc_file, &exp) {
            prop_assert_eq!(r.as_deref(), Ok(&plain[..]), "{}", path);
        }
        let got = two_pass(&key, t, &whole.enc_file, piece, &exp);
        prop_assert_eq!(got.as_deref(), Ok(&plain[..]));
    }

    #[test]
    fn any_single_bit_flip_is_rejected(
        plain in proptest::collection::vec(any::<u8>(), 0..200),
        key in any::<[u8; 32]>(),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let key = MediaKey(key);
        let m = encrypt(&key, MediaType::Image, &plain);
        let mut bad = m.enc_file.clone();
        let i = pos.index(bad.len());
        bad[i] ^= 1 << bit;
        for (path, r) in all_decrypts(&key, MediaType::Image, &bad, &Expected::NONE) {
            prop_assert_eq!(r, Err(MediaError::BadMac), "{}", path);
        }
    }
}
