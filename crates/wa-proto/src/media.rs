//! Media encryption as WhatsApp uses it (protocol-messaging.md §5.1–5.2, §5.6).
//!
//! A 32-byte media key is expanded with HKDF-SHA256 (info string chosen by
//! [`MediaType`]) into an IV, an AES-256 key, an HMAC key and an unused ref
//! key. The uploaded blob (`enc_file`) is
//! `AES-256-CBC(cipher_key, iv, PKCS#7(plaintext)) ‖ HMAC-SHA256(mac_key, iv ‖ ciphertext)[..10]`,
//! and the message carries `file_sha256 = SHA-256(plaintext)`,
//! `file_enc_sha256 = SHA-256(enc_file)` and `file_length`.
//!
//! Encryption:
//! - [`MediaEncryptor`]: incremental, constant memory; feed plaintext chunks
//!   of any size, receive ciphertext, then [`MediaEncryptor::finish`].
//! - [`encrypt`]: whole buffer, one thread.
//! - [`encrypt_parallel`] / [`encrypt_stream_parallel`]: AES-CBC is serial,
//!   so the plaintext SHA-256 and the ciphertext HMAC + SHA-256 run on other
//!   threads beside it (scoped threads, bounded queues, constant memory for
//!   the streaming form). Output is byte-identical to the sequential path.
//!
//! Decryption always authenticates before it releases plaintext:
//! - [`decrypt`] / [`decrypt_parallel`]: whole buffer; checks, in order, the
//!   length, `file_enc_sha256` (if given), the MAC (constant time), the block
//!   length, the padding, then `file_sha256` and `file_length` (if given).
//! - [`MediaVerifier`] then [`MediaDecryptor`]: the streaming form in two
//!   passes. The verifier consumes the blob and yields a [`VerifiedMedia`]
//!   proof, which the decryptor requires before it emits any plaintext.
//!
//! Nothing here does IO; randomness (the media key) is chosen by the caller,
//! e.g. [`MediaKey::generate`].

use std::sync::mpsc;

use aes::Aes256;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, inout::InOutBuf};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;
type CbcEnc = cbc::Encryptor<Aes256>;
type CbcDec = cbc::Decryptor<Aes256>;

/// Length of the truncated HMAC appended to the ciphertext.
pub const MAC_LEN: usize = 10;
/// AES block size.
pub const BLOCK_LEN: usize = 16;
/// Length of the HKDF output a media key expands to.
pub const EXPANDED_LEN: usize = 112;
/// Chunk size used by the parallel paths: large enough to amortise the
/// hand-off between threads, small enough to stay in L2.
pub const PARALLEL_CHUNK: usize = 256 * 1024;

/// What a media blob is; selects the HKDF info string and the upload path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// Image message (`WhatsApp Image Keys`, `/mms/image`).
    Image,
    /// Video, GIF and PTV messages (`WhatsApp Video Keys`, `/mms/video`).
    Video,
    /// Audio and PTT messages (`WhatsApp Audio Keys`, `/mms/audio`).
    Audio,
    /// Document message (`WhatsApp Document Keys`, `/mms/document`).
    Document,
    /// Sticker: Image keys and the image path.
    Sticker,
    /// History-sync blob (`WhatsApp History Keys`, `/mms/md-msg-hist`).
    History,
    /// App-state blob (`WhatsApp App State Keys`, `/mms/md-app-state`).
    AppState,
    /// Sticker pack archive (`WhatsApp Sticker Pack Keys`, `/mms/sticker-pack`).
    StickerPack,
    /// Sticker pack thumbnail (`WhatsApp Sticker Pack Thumbnail Keys`, `/mms/thumbnail-sticker-pack`).
    StickerPackThumbnail,
    /// Link-preview thumbnail (`WhatsApp Link Thumbnail Keys`, `/mms/thumbnail-link`).
    LinkThumbnail,
}

impl MediaType {
    /// Every media type, in declaration order.
    pub const ALL: [MediaType; 10] = [
        MediaType::Image,
        MediaType::Video,
        MediaType::Audio,
        MediaType::Document,
        MediaType::Sticker,
        MediaType::History,
        MediaType::AppState,
        MediaType::StickerPack,
        MediaType::StickerPackThumbnail,
        MediaType::LinkThumbnail,
    ];

    /// The HKDF info string used to expand the media key.
    pub const fn hkdf_info(self) -> &'static str {
        match self {
            MediaType::Image | MediaType::Sticker => "WhatsApp Image Keys",
            MediaType::Video => "WhatsApp Video Keys",
            MediaType::Audio => "WhatsApp Audio Keys",
            MediaType::Document => "WhatsApp Document Keys",
            MediaType::History => "WhatsApp History Keys",
            MediaType::AppState => "WhatsApp App State Keys",
            MediaType::StickerPack => "WhatsApp Sticker Pack Keys",
            MediaType::StickerPackThumbnail => "WhatsApp Sticker Pack Thumbnail Keys",
            MediaType::LinkThumbnail => "WhatsApp Link Thumbnail Keys",
        }
    }

    /// The MMS type (`mms-type` query parameter, last upload path segment).
    pub const fn mms_type(self) -> &'static str {
        match self {
            MediaType::Image | MediaType::Sticker => "image",
            MediaType::Video => "video",
            MediaType::Audio => "audio",
            MediaType::Document => "document",
            MediaType::History => "md-msg-hist",
            MediaType::AppState => "md-app-state",
            MediaType::StickerPack => "sticker-pack",
            MediaType::StickerPackThumbnail => "thumbnail-sticker-pack",
            MediaType::LinkThumbnail => "thumbnail-link",
        }
    }

    /// The upload path, `/mms/<mms type>`.
    pub const fn upload_path(self) -> &'static str {
        match self {
            MediaType::Image | MediaType::Sticker => "/mms/image",
            MediaType::Video => "/mms/video",
            MediaType::Audio => "/mms/audio",
            MediaType::Document => "/mms/document",
            MediaType::History => "/mms/md-msg-hist",
            MediaType::AppState => "/mms/md-app-state",
            MediaType::StickerPack => "/mms/sticker-pack",
            MediaType::StickerPackThumbnail => "/mms/thumbnail-sticker-pack",
            MediaType::LinkThumbnail => "/mms/thumbnail-link",
        }
    }

    /// Parses a media-type name as the reference clients spell it
    /// (`image`, `sticker`, `video`, `gif`, `ptv`, `audio`, `ptt`, `document`,
    /// `history`, `md-msg-hist`, `app-state`, `md-app-state`, `sticker-pack`,
    /// `thumbnail-sticker-pack`, `thumbnail-link`).
    pub fn from_name(name: &str) -> Option<MediaType> {
        Some(match name {
            "image" => MediaType::Image,
            "sticker" => MediaType::Sticker,
            "video" | "gif" | "ptv" => MediaType::Video,
            "audio" | "ptt" => MediaType::Audio,
            "document" => MediaType::Document,
            "history" | "md-msg-hist" => MediaType::History,
            "app-state" | "md-app-state" => MediaType::AppState,
            "sticker-pack" => MediaType::StickerPack,
            "thumbnail-sticker-pack" => MediaType::StickerPackThumbnail,
            "thumbnail-link" => MediaType::LinkThumbnail,
            _ => return None,
        })
    }
}

/// A 32-byte media key (random per upload).
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKey(pub [u8; 32]);

impl MediaKey {
    /// Draws a fresh media key from `rng`.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> MediaKey {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        MediaKey(k)
    }

    /// Expands this key for `media_type`.
    pub fn expand(&self, media_type: MediaType) -> MediaKeys {
        MediaKeys::derive(&self.0, media_type)
    }
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKey(..)")
    }
}

/// The keys a media key expands to (HKDF-SHA256, 112 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKeys {
    /// AES-CBC IV, expanded[0..16].
    pub iv: [u8; 16],
    /// AES-256 key, expanded[16..48].
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key, expanded[48..80].
    pub mac_key: [u8; 32],
    /// Ref key, expanded[80..112] (unused by clients).
    pub ref_key: [u8; 32],
}

impl std::fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKeys(..)")
    }
}

impl MediaKeys {
    /// Expands `media_key` with the info string of `media_type`.
    pub fn derive(media_key: &[u8; 32], media_type: MediaType) -> MediaKeys {
        MediaKeys::from_expanded(&expand_media_key(
            media_key,
            media_type.hkdf_info().as_bytes(),
        ))
    }

    /// Splits a 112-byte expansion into its four keys.
    pub fn from_expanded(e: &[u8; EXPANDED_LEN]) -> MediaKeys {
        let mut k = MediaKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
            ref_key: [0; 32],
        };
        k.iv.copy_from_slice(&e[0..16]);
        k.cipher_key.copy_from_slice(&e[16..48]);
        k.mac_key.copy_from_slice(&e[48..80]);
        k.ref_key.copy_from_slice(&e[80..112]);
        k
    }

    fn cbc_enc(&self) -> CbcEnc {
        CbcEnc::new(&self.cipher_key.into(), &self.iv.into())
    }

    fn cbc_dec(&self) -> CbcDec {
        CbcDec::new(&self.cipher_key.into(), &self.iv.into())
    }

    fn hmac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; 32 bytes can never fail.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.mac_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(&self.iv);
        m
    }
}

/// HKDF-SHA256(ikm = `media_key`, salt = none, `info`) to 112 bytes.
pub fn expand_media_key(media_key: &[u8; 32], info: &[u8]) -> [u8; EXPANDED_LEN] {
    let mut out = [0u8; EXPANDED_LEN];
    Hkdf::<Sha256>::new(None, media_key)
        .expand(info, &mut out)
        .unwrap_or_else(|_| unreachable!("112 <= 255 * 32"));
    out
}

/// What an encryption produced besides the ciphertext: the fields of the
/// media message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// The 10-byte truncated HMAC (the tail of `enc_file`).
    pub mac: [u8; MAC_LEN],
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of `ciphertext ‖ mac` (`fileEncSha256`).
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length (`fileLength`).
    pub file_length: u64,
}

impl MediaInfo {
    /// Length of the uploaded blob, `ciphertext ‖ mac`.
    pub fn enc_length(&self) -> u64 {
        enc_length_for(self.file_length)
    }

    /// The upload token: base64url without padding of `file_enc_sha256`.
    pub fn upload_token(&self) -> String {
        base64url_nopad(&self.file_enc_sha256)
    }
}

/// Length of `enc_file` for a plaintext of `file_length` bytes.
pub const fn enc_length_for(file_length: u64) -> u64 {
    (file_length / BLOCK_LEN as u64 + 1) * BLOCK_LEN as u64 + MAC_LEN as u64
}

/// Base64url (RFC 4648 §5) without padding.
pub fn base64url_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 63;
            s.push(char::from(ALPHABET[idx as usize]));
        }
    }
    s
}

/// An encrypted blob with its message fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedMedia {
    /// `ciphertext ‖ mac`, the bytes to upload.
    pub enc_file: Vec<u8>,
    /// Hashes, MAC and length.
    pub info: MediaInfo,
}

/// Why a media blob was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The blob is too short to hold a MAC and a ciphertext (or ended early).
    #[error("media blob truncated: {len} bytes")]
    Truncated {
        /// Bytes received.
        len: u64,
    },
    /// SHA-256 of the blob differs from the expected `file_enc_sha256`.
    #[error("file_enc_sha256 mismatch")]
    EncHashMismatch,
    /// The HMAC does not authenticate `iv ‖ ciphertext`.
    #[error("media MAC mismatch")]
    BadMac,
    /// The ciphertext is not a whole number of AES blocks.
    #[error("ciphertext length {len} is not a positive multiple of 16")]
    BadCiphertextLength {
        /// Ciphertext length (without the MAC).
        len: u64,
    },
    /// PKCS#7 padding is malformed.
    #[error("bad PKCS#7 padding")]
    BadPadding,
    /// SHA-256 of the plaintext differs from the expected `file_sha256`.
    #[error("file_sha256 mismatch")]
    PlaintextHashMismatch,
    /// The plaintext length differs from the expected `file_length`.
    #[error("file_length mismatch: expected {expected}, got {actual}")]
    LengthMismatch {
        /// The expected length.
        expected: u64,
        /// The decrypted length.
        actual: u64,
    },
    /// More data was fed to a [`MediaDecryptor`] than the verified blob held.
    #[error("more data than the verified blob")]
    TrailingData,
    /// A worker thread of a parallel path panicked (a bug, never input-driven).
    #[error("media worker thread failed")]
    Worker,
}

/// Optional expectations checked by decryption (from the media message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    /// `fileEncSha256`: checked against the whole blob before the MAC.
    pub file_enc_sha256: Option<[u8; 32]>,
    /// `fileSha256`: checked against the plaintext after decryption.
    pub file_sha256: Option<[u8; 32]>,
    /// `fileLength`: checked against the plaintext length.
    pub file_length: Option<u64>,
}

impl Expected {
    /// Nothing beyond the MAC is checked.
    pub const NONE: Expected = Expected {
        file_enc_sha256: None,
        file_sha256: None,
        file_length: None,
    };
}

// ---------------------------------------------------------------------------
// Encryption
// ---------------------------------------------------------------------------

fn encrypt_blocks_in_place(cipher: &mut CbcEnc, data: &mut [u8]) {
    let (blocks, tail) = InOutBuf::from(data).into_chunks();
    debug_assert!(tail.is_empty());
    cipher.encrypt_blocks_inout_mut(blocks);
}

fn encrypt_blocks_b2b(cipher: &mut CbcEnc, input: &[u8], out: &mut [u8]) {
    let Ok(buf) = InOutBuf::new(input, out) else {
        unreachable!("callers pass equal lengths")
    };
    let (blocks, tail) = buf.into_chunks();
    debug_assert!(tail.is_empty());
    cipher.encrypt_blocks_inout_mut(blocks);
}

fn decrypt_blocks_in_place(cipher: &mut CbcDec, data: &mut [u8]) {
    let (blocks, tail) = InOutBuf::from(data).into_chunks();
    debug_assert!(tail.is_empty());
    cipher.decrypt_blocks_inout_mut(blocks);
}

fn decrypt_blocks_b2b(cipher: &mut CbcDec, input: &[u8], out: &mut [u8]) {
    let Ok(buf) = InOutBuf::new(input, out) else {
        unreachable!("callers pass equal lengths")
    };
    let (blocks, tail) = buf.into_chunks();
    debug_assert!(tail.is_empty());
    cipher.decrypt_blocks_inout_mut(blocks);
}

/// AES-CBC over a stream: buffers a partial block between calls.
struct CbcStream {
    cipher: CbcEnc,
    buf: [u8; BLOCK_LEN],
    buf_len: usize,
}

impl CbcStream {
    fn new(keys: &MediaKeys) -> CbcStream {
        CbcStream {
            cipher: keys.cbc_enc(),
            buf: [0; BLOCK_LEN],
            buf_len: 0,
        }
    }

    /// Appends the ciphertext of every completed block to `out`; returns the
    /// offset in `out` where the new ciphertext starts.
    fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> usize {
        let start = out.len();
        if self.buf_len > 0 {
            let take = (BLOCK_LEN - self.buf_len).min(input.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&input[..take]);
            self.buf_len += take;
            input = &input[take..];
            if self.buf_len < BLOCK_LEN {
                return start;
            }
            out.extend_from_slice(&self.buf);
            self.buf_len = 0;
        }
        let whole = input.len() - input.len() % BLOCK_LEN;
        out.extend_from_slice(&input[..whole]);
        let rest = &input[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
        encrypt_blocks_in_place(&mut self.cipher, &mut out[start..]);
        start
    }

    /// The final, PKCS#7-padded block.
    fn finish(mut self) -> [u8; BLOCK_LEN] {
        let pad = BLOCK_LEN - self.buf_len;
        self.buf[self.buf_len..].fill(pad as u8);
        let mut block = self.buf;
        encrypt_blocks_in_place(&mut self.cipher, &mut block);
        block
    }
}

/// Incremental media encryptor (one thread, constant memory).
///
/// ```
/// # use wa_proto::media::*;
/// let key = MediaKey([7; 32]);
/// let mut enc = MediaEncryptor::new(&key, MediaType::Image);
/// let mut blob = Vec::new();
/// enc.update(b"hello ", &mut blob);
/// enc.update(b"world", &mut blob);
/// let info = enc.finish(&mut blob);
/// assert_eq!(blob.len() as u64, info.enc_length());
/// let plain = decrypt(&key, MediaType::Image, &blob, &Expected::NONE).unwrap();
/// assert_eq!(plain, b"hello world");
/// ```
pub struct MediaEncryptor {
    cbc: CbcStream,
    mac: HmacSha256,
    plain_hash: Sha256,
    enc_hash: Sha256,
    file_length: u64,
}

impl std::fmt::Debug for MediaEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEncryptor")
            .field("file_length", &self.file_length)
            .finish_non_exhaustive()
    }
}

impl MediaEncryptor {
    /// Starts encrypting with `media_key` expanded for `media_type`.
    pub fn new(media_key: &MediaKey, media_type: MediaType) -> MediaEncryptor {
        MediaEncryptor::with_keys(&media_key.expand(media_type))
    }

    /// Starts encrypting with already expanded keys.
    pub fn with_keys(keys: &MediaKeys) -> MediaEncryptor {
        MediaEncryptor {
            cbc: CbcStream::new(keys),
            mac: keys.hmac(),
            plain_hash: Sha256::new(),
            enc_hash: Sha256::new(),
            file_length: 0,
        }
    }

    /// Feeds plaintext; appends the ciphertext of every completed block to
    /// `out` (up to 15 bytes stay buffered until the next call or `finish`).
    pub fn update(&mut self, plaintext: &[u8], out: &mut Vec<u8>) {
        self.file_length += plaintext.len() as u64;
        self.plain_hash.update(plaintext);
        let start = self.cbc.update(plaintext, out);
        self.mac.update(&out[start..]);
        self.enc_hash.update(&out[start..]);
    }

    /// Appends the last (padded) ciphertext block and then the 10-byte MAC
    /// to `out`, and returns the message fields. All bytes appended to `out`
    /// across `update` and `finish` form `enc_file`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> MediaInfo {
        let last = self.cbc.finish();
        self.mac.update(&last);
        self.enc_hash.update(last);
        let mac = truncate_mac(self.mac);
        self.enc_hash.update(mac);
        out.extend_from_slice(&last);
        out.extend_from_slice(&mac);
        MediaInfo {
            mac,
            file_sha256: self.plain_hash.finalize().into(),
            file_enc_sha256: self.enc_hash.finalize().into(),
            file_length: self.file_length,
        }
    }
}

fn truncate_mac(mac: HmacSha256) -> [u8; MAC_LEN] {
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// Encrypts a whole buffer on the calling thread.
pub fn encrypt(media_key: &MediaKey, media_type: MediaType, plaintext: &[u8]) -> EncryptedMedia {
    encrypt_with_keys(&media_key.expand(media_type), plaintext)
}

/// [`encrypt`] with already expanded keys.
pub fn encrypt_with_keys(keys: &MediaKeys, plaintext: &[u8]) -> EncryptedMedia {
    let mut enc_file = Vec::with_capacity(enc_length_for(plaintext.len() as u64) as usize);
    let mut e = MediaEncryptor::with_keys(keys);
    e.update(plaintext, &mut enc_file);
    let info = e.finish(&mut enc_file);
    EncryptedMedia { enc_file, info }
}

/// Encrypts a whole buffer using a second and third thread for the hashes:
/// the caller's thread runs AES-CBC chunk by chunk, one worker hashes the
/// plaintext, another MACs and hashes each ciphertext chunk as soon as it is
/// written. Output equals [`encrypt`].
pub fn encrypt_parallel(
    media_key: &MediaKey,
    media_type: MediaType,
    plaintext: &[u8],
) -> Result<EncryptedMedia, MediaError> {
    encrypt_parallel_with_keys(&media_key.expand(media_type), plaintext)
}

/// [`encrypt_parallel`] with already expanded keys.
pub fn encrypt_parallel_with_keys(
    keys: &MediaKeys,
    plaintext: &[u8],
) -> Result<EncryptedMedia, MediaError> {
    let whole = plaintext.len() - plaintext.len() % BLOCK_LEN;
    let ct_len = whole + BLOCK_LEN;
    let mut enc_file = vec![0u8; ct_len + MAC_LEN];
    let mut cipher = keys.cbc_enc();
    let mut mac = keys.hmac();
    let (body, tail) = enc_file.split_at_mut(whole);
    let (last_block, mac_out) = tail.split_at_mut(BLOCK_LEN);

    // Final padded block (independent of the worker threads).
    let rest = &plaintext[whole..];
    last_block[..rest.len()].copy_from_slice(rest);
    last_block[rest.len()..].fill((BLOCK_LEN - rest.len()) as u8);

    let (file_sha256, enc_hash) = std::thread::scope(|s| {
        // Worker 1 hands out output chunks after touching every page of
        // them (so the page faults of the fresh buffer are not taken on the
        // AES thread), and hashes the plaintext.
        let (out_tx, out_rx) = mpsc::sync_channel::<&mut [u8]>(4);
        let plain_worker = s.spawn(move || -> [u8; 32] {
            let mut h = Sha256::new();
            let mut outs = body.chunks_mut(PARALLEL_CHUNK);
            for p in plaintext[..whole].chunks(PARALLEL_CHUNK) {
                if let Some(c) = outs.next() {
                    for b in c.iter_mut().step_by(4096) {
                        *b = 0;
                    }
                    // If the AES thread stopped, keep hashing regardless.
                    let _ = out_tx.send(c);
                }
                h.update(p);
            }
            h.update(&plaintext[whole..]);
            h.finalize().into()
        });
        // Worker 2 MACs and hashes each ciphertext chunk once written.
        let (tx, rx) = mpsc::sync_channel::<&[u8]>(64);
        let mac_worker = s.spawn(move || {
            let mut enc_hash = Sha256::new();
            for chunk in rx {
                mac.update(chunk);
                enc_hash.update(chunk);
            }
            (mac, enc_hash)
        });
        // This thread: AES-CBC, chunk after chunk.
        for p in plaintext[..whole].chunks(PARALLEL_CHUNK) {
            let Ok(c) = out_rx.recv() else { break };
            encrypt_blocks_b2b(&mut cipher, p, c);
            let done: &[u8] = c;
            if tx.send(done).is_err() {
                break;
            }
        }
        encrypt_blocks_in_place(&mut cipher, last_block);
        let _ = tx.send(last_block);
        drop(tx);
        // Unblocks worker 1 if this loop stopped early.
        drop(out_rx);
        let plain = plain_worker.join();
        let macs = mac_worker.join();
        match (plain, macs) {
            (Ok(p), Ok((m, h))) => Ok((p, (m, h))),
            _ => Err(MediaError::Worker),
        }
    })?;
    let (mac, mut enc_hash) = enc_hash;
    let tag = truncate_mac(mac);
    mac_out.copy_from_slice(&tag);
    enc_hash.update(tag);
    Ok(EncryptedMedia {
        info: MediaInfo {
            mac: tag,
            file_sha256,
            file_enc_sha256: enc_hash.finalize().into(),
            file_length: plaintext.len() as u64,
        },
        enc_file,
    })
}

/// Streaming encryption on three threads in bounded memory.
///
/// `chunks` yields plaintext pieces of any size (e.g. buffers read from a
/// file); `sink` receives `enc_file` in order, in pieces (the last call
/// carries the MAC). The caller's thread runs AES-CBC and calls `sink`; one
/// worker hashes the plaintext pieces, another MACs and hashes the ciphertext.
/// At most a few pieces are in flight, so memory stays bounded by the piece
/// size. Output equals [`encrypt`] over the concatenated pieces.
pub fn encrypt_stream_parallel<I, B, F>(
    media_key: &MediaKey,
    media_type: MediaType,
    chunks: I,
    sink: F,
) -> Result<MediaInfo, MediaError>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]> + Send,
    F: FnMut(&[u8]),
{
    encrypt_stream_parallel_with_keys(&media_key.expand(media_type), chunks, sink)
}

/// [`encrypt_stream_parallel`] with already expanded keys.
pub fn encrypt_stream_parallel_with_keys<I, B, F>(
    keys: &MediaKeys,
    chunks: I,
    mut sink: F,
) -> Result<MediaInfo, MediaError>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]> + Send,
    F: FnMut(&[u8]),
{
    const IN_FLIGHT: usize = 4;
    let mut cbc = CbcStream::new(keys);
    let mac = keys.hmac();
    let mut file_length = 0u64;

    let joined = std::thread::scope(|s| {
        let (plain_tx, plain_rx) = mpsc::sync_channel::<B>(IN_FLIGHT);
        let plain_worker = s.spawn(move || {
            let mut h = Sha256::new();
            for b in plain_rx {
                h.update(b.as_ref());
            }
            <[u8; 32]>::from(h.finalize())
        });
        let (ct_tx, ct_rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let mac_worker = s.spawn(move || {
            let mut mac = mac;
            let mut enc_hash = Sha256::new();
            for buf in ct_rx {
                mac.update(&buf);
                enc_hash.update(&buf);
                // Return the buffer for reuse; if the producer is gone, drop it.
                let _ = free_tx.try_send(buf);
            }
            (mac, enc_hash)
        });
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let mut workers_alive = true;
        for piece in chunks {
            let mut buf = free_rx
                .try_recv()
                .ok()
                .or_else(|| pool.pop())
                .unwrap_or_default();
            buf.clear();
            let p = piece.as_ref();
            file_length += p.len() as u64;
            cbc.update(p, &mut buf);
            if plain_tx.send(piece).is_err() {
                workers_alive = false;
                break;
            }
            if !buf.is_empty() {
                sink(&buf);
                if ct_tx.send(buf).is_err() {
                    workers_alive = false;
                    break;
                }
            } else {
                pool.push(buf);
            }
        }
        drop(plain_tx);
        let last = cbc.finish();
        if workers_alive {
            let _ = ct_tx.send(last.to_vec());
        }
        drop(ct_tx);
        let plain = plain_worker.join();
        let macs = mac_worker.join();
        match (workers_alive, plain, macs) {
            (true, Ok(p), Ok((m, h))) => Ok((last, p, m, h)),
            _ => Err(MediaError::Worker),
        }
    });
    let (last, file_sha256, mac, mut enc_hash) = joined?;
    let tag = truncate_mac(mac);
    enc_hash.update(tag);
    let mut tail = [0u8; BLOCK_LEN + MAC_LEN];
    tail[..BLOCK_LEN].copy_from_slice(&last);
    tail[BLOCK_LEN..].copy_from_slice(&tag);
    sink(&tail);
    Ok(MediaInfo {
        mac: tag,
        file_sha256,
        file_enc_sha256: enc_hash.finalize().into(),
        file_length,
    })
}

// ---------------------------------------------------------------------------
// Decryption
// ---------------------------------------------------------------------------

/// Splits `enc_file` into ciphertext and MAC; `Truncated` if it is too short.
fn split_blob(enc_file: &[u8]) -> Result<(&[u8], &[u8]), MediaError> {
    if enc_file.len() <= MAC_LEN {
        return Err(MediaError::Truncated {
            len: enc_file.len() as u64,
        });
    }
    Ok(enc_file.split_at(enc_file.len() - MAC_LEN))
}

fn check_ct_len(len: usize) -> Result<(), MediaError> {
    if len == 0 || len % BLOCK_LEN != 0 {
        return Err(MediaError::BadCiphertextLength { len: len as u64 });
    }
    Ok(())
}

fn check_mac(mac: HmacSha256, tag: &[u8]) -> Result<(), MediaError> {
    mac.verify_truncated_left(tag)
        .map_err(|_| MediaError::BadMac)
}

fn check_hash(
    actual: &[u8; 32],
    expected: &Option<[u8; 32]>,
    err: MediaError,
) -> Result<(), MediaError> {
    match expected {
        Some(e) if !bool::from(actual.ct_eq(e)) => Err(err),
        _ => Ok(()),
    }
}

/// Returns the plaintext length of a decrypted padded buffer, checking PKCS#7.
fn unpad_len(padded: &[u8]) -> Result<usize, MediaError> {
    let Some(&last) = padded.last() else {
        return Err(MediaError::BadPadding);
    };
    let n = usize::from(last);
    if n == 0 || n > BLOCK_LEN || n > padded.len() {
        return Err(MediaError::BadPadding);
    }
    if padded[padded.len() - n..].iter().any(|&b| b != last) {
        return Err(MediaError::BadPadding);
    }
    Ok(padded.len() - n)
}

fn check_length(actual: u64, expected: Option<u64>) -> Result<(), MediaError> {
    match expected {
        Some(e) if e != actual => Err(MediaError::LengthMismatch {
            expected: e,
            actual,
        }),
        _ => Ok(()),
    }
}

/// Authenticates and decrypts a whole blob on the calling thread.
///
/// Order: length, `file_enc_sha256` (if expected), MAC (constant time),
/// block length, AES-CBC + PKCS#7, `file_length` and `file_sha256` (if
/// expected). No plaintext is produced unless the MAC verifies.
pub fn decrypt(
    media_key: &MediaKey,
    media_type: MediaType,
    enc_file: &[u8],
    expected: &Expected,
) -> Result<Vec<u8>, MediaError> {
    decrypt_with_keys(&media_key.expand(media_type), enc_file, expected)
}

/// [`decrypt`] with already expanded keys.
pub fn decrypt_with_keys(
    keys: &MediaKeys,
    enc_file: &[u8],
    expected: &Expected,
) -> Result<Vec<u8>, MediaError> {
    let (ct, tag) = split_blob(enc_file)?;
    if expected.file_enc_sha256.is_some() {
        let h: [u8; 32] = Sha256::digest(enc_file).into();
        check_hash(&h, &expected.file_enc_sha256, MediaError::EncHashMismatch)?;
    }
    let mut mac = keys.hmac();
    mac.update(ct);
    check_mac(mac, tag)?;
    check_ct_len(ct.len())?;
    let mut out = ct.to_vec();
    decrypt_blocks_in_place(&mut keys.cbc_dec(), &mut out);
    let n = unpad_len(&out)?;
    out.truncate(n);
    check_length(n as u64, expected.file_length)?;
    if expected.file_sha256.is_some() {
        let h: [u8; 32] = Sha256::digest(&out).into();
        check_hash(&h, &expected.file_sha256, MediaError::PlaintextHashMismatch)?;
    }
    Ok(out)
}

/// [`decrypt`] using a second thread: the blob hash runs beside the MAC,
/// and the plaintext hash follows the decryption chunk by chunk. Same checks,
/// same order of verdicts (the MAC is verified before any decryption).
pub fn decrypt_parallel(
    media_key: &MediaKey,
    media_type: MediaType,
    enc_file: &[u8],
    expected: &Expected,
) -> Result<Vec<u8>, MediaError> {
    decrypt_parallel_with_keys(&media_key.expand(media_type), enc_file, expected)
}

/// [`decrypt_parallel`] with already expanded keys.
pub fn decrypt_parallel_with_keys(
    keys: &MediaKeys,
    enc_file: &[u8],
    expected: &Expected,
) -> Result<Vec<u8>, MediaError> {
    let (ct, tag) = split_blob(enc_file)?;
    // Phase 1: authenticate (blob hash on a worker, MAC here).
    let (enc_hash, mac) = std::thread::scope(|s| {
        let worker = expected
            .file_enc_sha256
            .map(|_| s.spawn(|| <[u8; 32]>::from(Sha256::digest(enc_file))));
        let mut mac = keys.hmac();
        mac.update(ct);
        let h = match worker {
            Some(w) => Some(w.join().map_err(|_| MediaError::Worker)?),
            None => None,
        };
        Ok::<_, MediaError>((h, mac))
    })?;
    if let Some(h) = enc_hash {
        check_hash(&h, &expected.file_enc_sha256, MediaError::EncHashMismatch)?;
    }
    check_mac(mac, tag)?;
    check_ct_len(ct.len())?;

    // Phase 2: decrypt here, hash the plaintext on a worker behind it. The
    // last block holds the padding, so it is hashed after unpadding.
    let mut out = vec![0u8; ct.len()];
    let mut cipher = keys.cbc_dec();
    let body_len = ct.len() - BLOCK_LEN;
    let want_hash = expected.file_sha256.is_some();
    let (body, last) = out.split_at_mut(body_len);
    let plain_hash = std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<&[u8]>(64);
        let worker = want_hash.then(|| {
            s.spawn(move || {
                let mut h = Sha256::new();
                for c in rx {
                    h.update(c);
                }
                h
            })
        });
        for (c_in, c_out) in ct[..body_len]
            .chunks(PARALLEL_CHUNK)
            .zip(body.chunks_mut(PARALLEL_CHUNK))
        {
            decrypt_blocks_b2b(&mut cipher, c_in, c_out);
            if want_hash {
                let done: &[u8] = c_out;
                if tx.send(done).is_err() {
                    break;
                }
            }
        }
        drop(tx);
        match worker {
            Some(w) => w.join().map(Some).map_err(|_| MediaError::Worker),
            None => Ok(None),
        }
    })?;
    decrypt_blocks_b2b(&mut cipher, &ct[body_len..], last);
    let n = body_len + unpad_len(last)?;
    out.truncate(n);
    check_length(n as u64, expected.file_length)?;
    if let Some(mut h) = plain_hash {
        h.update(&out[body_len..]);
        let h: [u8; 32] = h.finalize().into();
        check_hash(&h, &expected.file_sha256, MediaError::PlaintextHashMismatch)?;
    }
    Ok(out)
}

/// Proof that a blob was authenticated by a [`MediaVerifier`]; required by
/// [`MediaDecryptor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMedia {
    ciphertext_len: u64,
    file_enc_sha256: [u8; 32],
    mac: [u8; MAC_LEN],
}

impl VerifiedMedia {
    /// Ciphertext length (blob length minus the MAC).
    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    /// SHA-256 of the whole blob.
    pub fn file_enc_sha256(&self) -> &[u8; 32] {
        &self.file_enc_sha256
    }
}

/// First pass of streaming decryption: authenticates a blob fed in pieces
/// (constant memory). Holds back the last 10 bytes as the MAC.
pub struct MediaVerifier {
    mac: HmacSha256,
    enc_hash: Sha256,
    held: [u8; MAC_LEN],
    held_len: usize,
    total: u64,
}

impl std::fmt::Debug for MediaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaVerifier")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl MediaVerifier {
    /// Starts verifying with `media_key` expanded for `media_type`.
    pub fn new(media_key: &MediaKey, media_type: MediaType) -> MediaVerifier {
        MediaVerifier::with_keys(&media_key.expand(media_type))
    }

    /// Starts verifying with already expanded keys.
    pub fn with_keys(keys: &MediaKeys) -> MediaVerifier {
        MediaVerifier {
            mac: keys.hmac(),
            enc_hash: Sha256::new(),
            held: [0; MAC_LEN],
            held_len: 0,
            total: 0,
        }
    }

    /// Feeds the next piece of the blob.
    pub fn update(&mut self, piece: &[u8]) {
        self.total += piece.len() as u64;
        self.enc_hash.update(piece);
        if piece.len() >= MAC_LEN {
            // Everything held plus all but the last 10 bytes is ciphertext.
            self.mac.update(&self.held[..self.held_len]);
            let (ct, tail) = piece.split_at(piece.len() - MAC_LEN);
            self.mac.update(ct);
            self.held.copy_from_slice(tail);
            self.held_len = MAC_LEN;
        } else {
            let overflow = (self.held_len + piece.len()).saturating_sub(MAC_LEN);
            self.mac.update(&self.held[..overflow]);
            self.held.copy_within(overflow..self.held_len, 0);
            self.held_len -= overflow;
            self.held[self.held_len..self.held_len + piece.len()].copy_from_slice(piece);
            self.held_len += piece.len();
        }
    }

    /// Checks length, `expected_enc_sha256` (if given), MAC and block length.
    pub fn finish(
        self,
        expected_enc_sha256: Option<&[u8; 32]>,
    ) -> Result<VerifiedMedia, MediaError> {
        if self.total <= MAC_LEN as u64 {
            return Err(MediaError::Truncated { len: self.total });
        }
        let h: [u8; 32] = self.enc_hash.finalize().into();
        check_hash(
            &h,
            &expected_enc_sha256.copied(),
            MediaError::EncHashMismatch,
        )?;
        check_mac(self.mac, &self.held)?;
        let ct_len = self.total - MAC_LEN as u64;
        if ct_len % BLOCK_LEN as u64 != 0 {
            return Err(MediaError::BadCiphertextLength { len: ct_len });
        }
        Ok(VerifiedMedia {
            ciphertext_len: ct_len,
            file_enc_sha256: h,
            mac: self.held,
        })
    }
}

/// Second pass of streaming decryption: decrypts a blob already accepted by
/// a [`MediaVerifier`]. Feed the same bytes again (the MAC tail may be fed
/// or left out); plaintext comes out block by block, with the final block
/// held back until `finish` checks the padding.
pub struct MediaDecryptor {
    cipher: CbcDec,
    plain_hash: Sha256,
    /// Undecrypted bytes: a partial block, or the final block held back.
    buf: [u8; BLOCK_LEN],
    buf_len: usize,
    consumed: u64,
    ciphertext_len: u64,
    mac: [u8; MAC_LEN],
    mac_seen: usize,
    plain_len: u64,
}

impl std::fmt::Debug for MediaDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaDecryptor")
            .field("consumed", &self.consumed)
            .field("ciphertext_len", &self.ciphertext_len)
            .finish_non_exhaustive()
    }
}

impl MediaDecryptor {
    /// Starts decrypting a verified blob with `media_key` expanded for `media_type`.
    pub fn new(
        media_key: &MediaKey,
        media_type: MediaType,
        verified: &VerifiedMedia,
    ) -> MediaDecryptor {
        MediaDecryptor::with_keys(&media_key.expand(media_type), verified)
    }

    /// Starts decrypting a verified blob with already expanded keys.
    pub fn with_keys(keys: &MediaKeys, verified: &VerifiedMedia) -> MediaDecryptor {
        MediaDecryptor {
            cipher: keys.cbc_dec(),
            plain_hash: Sha256::new(),
            buf: [0; BLOCK_LEN],
            buf_len: 0,
            consumed: 0,
            ciphertext_len: verified.ciphertext_len,
            mac: verified.mac,
            mac_seen: 0,
            plain_len: 0,
        }
    }

    /// Feeds the next piece of the blob; appends plaintext to `out`.
    ///
    /// Bytes past the ciphertext must equal the verified MAC tail; anything
    /// else is [`MediaError::TrailingData`] (the blob changed between passes).
    pub fn update(&mut self, piece: &[u8], out: &mut Vec<u8>) -> Result<(), MediaError> {
        let remaining_ct = self.ciphertext_len - self.consumed;
        let take = usize::try_from(remaining_ct)
            .unwrap_or(usize::MAX)
            .min(piece.len());
        let (mut ct, extra) = piece.split_at(take);
        if !extra.is_empty() {
            let end = self.mac_seen + extra.len();
            if end > MAC_LEN || self.mac[self.mac_seen..end] != *extra {
                return Err(MediaError::TrailingData);
            }
            self.mac_seen = end;
        }
        self.consumed += ct.len() as u64;
        let start = out.len();
        if self.buf_len > 0 && self.buf_len < BLOCK_LEN {
            let n = (BLOCK_LEN - self.buf_len).min(ct.len());
            self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&ct[..n]);
            self.buf_len += n;
            ct = &ct[n..];
        }
        if ct.is_empty() {
            return Ok(());
        }
        // A full block is buffered and more ciphertext follows: release it.
        if self.buf_len == BLOCK_LEN {
            out.extend_from_slice(&self.buf);
            self.buf_len = 0;
        }
        // Keep at least the final partial/complete block back.
        let keep = match ct.len() % BLOCK_LEN {
            0 => BLOCK_LEN,
            r => r,
        };
        let (now, later) = ct.split_at(ct.len() - keep);
        out.extend_from_slice(now);
        self.buf[..later.len()].copy_from_slice(later);
        self.buf_len = later.len();
        decrypt_blocks_in_place(&mut self.cipher, &mut out[start..]);
        self.plain_hash.update(&out[start..]);
        self.plain_len += (out.len() - start) as u64;
        Ok(())
    }

    /// Decrypts the final block, checks padding, and (if given) the plaintext
    /// length and hash; appends the last plaintext bytes to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>, expected: &Expected) -> Result<(), MediaError> {
        if self.consumed != self.ciphertext_len || self.buf_len != BLOCK_LEN {
            return Err(MediaError::Truncated { len: self.consumed });
        }
        let mut block = self.buf;
        decrypt_blocks_in_place(&mut self.cipher, &mut block);
        let n = unpad_len(&block)?;
        let tail = &block[..n];
        self.plain_hash.update(tail);
        let plain_len = self.plain_len + n as u64;
        check_length(plain_len, expected.file_length)?;
        let h: [u8; 32] = self.plain_hash.finalize().into();
        check_hash(&h, &expected.file_sha256, MediaError::PlaintextHashMismatch)?;
        out.extend_from_slice(tail);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known() {
        assert_eq!(base64url_nopad(b""), "");
        assert_eq!(base64url_nopad(b"f"), "Zg");
        assert_eq!(base64url_nopad(b"fo"), "Zm8");
        assert_eq!(base64url_nopad(b"foo"), "Zm9v");
        assert_eq!(base64url_nopad(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn enc_length_formula() {
        assert_eq!(enc_length_for(0), 26);
        assert_eq!(enc_length_for(15), 26);
        assert_eq!(enc_length_for(16), 42);
    }

    #[test]
    fn unpad_rejects_bad() {
        assert_eq!(unpad_len(&[0u8; 16]), Err(MediaError::BadPadding));
        let mut b = [1u8; 16];
        b[15] = 17;
        assert_eq!(unpad_len(&b), Err(MediaError::BadPadding));
        b[15] = 2;
        b[14] = 3;
        assert_eq!(unpad_len(&b), Err(MediaError::BadPadding));
        b[14] = 2;
        assert_eq!(unpad_len(&b), Ok(14));
    }

    #[test]
    fn names_round_trip() {
        for t in MediaType::ALL {
            assert_eq!(
                MediaType::from_name(t.mms_type()).map(|x| x.hkdf_info()),
                Some(t.hkdf_info())
            );
            assert_eq!(t.upload_path(), format!("/mms/{}", t.mms_type()));
        }
        assert_eq!(MediaType::from_name("ppic"), None);
    }
}
