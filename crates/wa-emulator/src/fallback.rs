//! Noise `XXfallback` responder, for clients that try to resume with Noise IK
//! (whatsapp-rust does once it has cached the server's certificate chain).
//!
//! The emulator answers an IK `ClientHello` (one that carries `static`/`payload`) with an
//! XX-style `ServerHello` that includes `static`: the client then restarts the handshake as
//! `Noise_XXfallback_25519_AESGCM_SHA256` over the same ephemeral key, exactly like XX from
//! the server hello on, and sends a normal `ClientFinish`.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use prost::Message as _;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use wa_proto::noise::{NoiseTransport, TransportCipher};
use wa_proto::proto::HandshakeMessage;
use wa_proto::proto::handshake_message::ServerHello;
use wa_signal::{KeyPair, PublicKey};

/// The fallback protocol name (36 bytes, so `h = SHA-256(name)`).
pub(crate) const XX_FALLBACK_NAME: &[u8] = b"Noise_XXfallback_25519_AESGCM_SHA256";

/// Why the fallback handshake failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FallbackError {
    #[error("bad client finish: {0}")]
    BadFinish(&'static str),
    #[error("decryption failed")]
    Decrypt,
    #[error("weak key")]
    WeakKey,
}

/// Noise symmetric state (SHA-256, HKDF, AES-256-GCM with a 32-bit big-endian counter IV).
struct Symmetric {
    h: [u8; 32],
    ck: [u8; 32],
    k: [u8; 32],
    n: u32,
}

fn hkdf64(salt: &[u8; 32], ikm: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    // 64 bytes is a valid HKDF-SHA256 output length.
    let _ = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm).expand(&[], &mut out);
    out
}

fn iv(n: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&n.to_be_bytes());
    iv
}

impl Symmetric {
    fn new(name: &[u8], prologue: &[u8]) -> Symmetric {
        let h: [u8; 32] = if name.len() <= 32 {
            let mut h = [0u8; 32];
            h[..name.len()].copy_from_slice(name);
            h
        } else {
            Sha256::digest(name).into()
        };
        let mut s = Symmetric {
            h,
            ck: h,
            k: [0; 32],
            n: 0,
        };
        s.mix_hash(prologue);
        s
    }

    fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }

    fn mix_key(&mut self, ikm: &[u8]) {
        let out = hkdf64(&self.ck, ikm);
        self.ck.copy_from_slice(&out[..32]);
        self.k.copy_from_slice(&out[32..]);
        self.n = 0;
    }

    fn encrypt_and_hash(&mut self, pt: &[u8]) -> Vec<u8> {
        let gcm = Aes256Gcm::new((&self.k).into());
        let ct = gcm
            .encrypt(
                (&iv(self.n)).into(),
                Payload {
                    msg: pt,
                    aad: &self.h,
                },
            )
            .unwrap_or_default();
        self.n = self.n.wrapping_add(1);
        self.mix_hash(&ct);
        ct
    }

    fn decrypt_and_hash(&mut self, ct: &[u8]) -> Result<Vec<u8>, FallbackError> {
        let gcm = Aes256Gcm::new((&self.k).into());
        let pt = gcm
            .decrypt(
                (&iv(self.n)).into(),
                Payload {
                    msg: ct,
                    aad: &self.h,
                },
            )
            .map_err(|_| FallbackError::Decrypt)?;
        self.n = self.n.wrapping_add(1);
        self.mix_hash(ct);
        Ok(pt)
    }

    fn split(&self) -> ([u8; 32], [u8; 32]) {
        let out = hkdf64(&self.ck, &[]);
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a.copy_from_slice(&out[..32]);
        b.copy_from_slice(&out[32..]);
        (a, b)
    }
}

fn dh(private: &KeyPair, public: &PublicKey) -> Result<[u8; 32], FallbackError> {
    let s = private.private.calculate_agreement(public);
    if s == [0u8; 32] {
        return Err(FallbackError::WeakKey);
    }
    Ok(s)
}

/// The server after sending the fallback `ServerHello`.
pub(crate) struct FallbackResponder {
    sym: Symmetric,
    ephemeral: KeyPair,
    server_hello: Vec<u8>,
}

/// The result of a completed fallback handshake.
pub(crate) struct FallbackFinished {
    pub(crate) client_static: PublicKey,
    pub(crate) client_payload: Vec<u8>,
    pub(crate) transport: NoiseTransport,
}

impl FallbackResponder {
    /// Starts XXfallback over the client's IK ephemeral key.
    pub(crate) fn new<R: RngCore + CryptoRng>(
        prologue: &[u8],
        client_ephemeral: &PublicKey,
        server_static: &KeyPair,
        cert_chain: &[u8],
        rng: &mut R,
    ) -> Result<FallbackResponder, FallbackError> {
        let mut sym = Symmetric::new(XX_FALLBACK_NAME, prologue);
        sym.mix_hash(client_ephemeral.as_djb());
        let ephemeral = KeyPair::generate(rng);
        sym.mix_hash(ephemeral.public.as_djb());
        sym.mix_key(&dh(&ephemeral, client_ephemeral)?);
        let static_ct = sym.encrypt_and_hash(server_static.public.as_djb());
        sym.mix_key(&dh(server_static, client_ephemeral)?);
        let payload_ct = sym.encrypt_and_hash(cert_chain);
        let server_hello = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public.as_djb().to_vec()),
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        Ok(FallbackResponder {
            sym,
            ephemeral,
            server_hello,
        })
    }

    /// The serialized `HandshakeMessage{serverHello}` to send.
    pub(crate) fn server_hello(&self) -> &[u8] {
        &self.server_hello
    }

    /// Processes the client's `ClientFinish` and splits the transport.
    pub(crate) fn finish(mut self, message: &[u8]) -> Result<FallbackFinished, FallbackError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| FallbackError::BadFinish("not a HandshakeMessage"))?;
        let finish = msg
            .client_finish
            .ok_or(FallbackError::BadFinish("no clientFinish"))?;
        let static_ct = finish
            .r#static
            .ok_or(FallbackError::BadFinish("static missing"))?;
        let payload_ct = finish
            .payload
            .ok_or(FallbackError::BadFinish("payload missing"))?;
        let s = self.sym.decrypt_and_hash(&static_ct)?;
        let client_static = PublicKey::from_djb(
            s.as_slice()
                .try_into()
                .map_err(|_| FallbackError::BadFinish("static is not 32 bytes"))?,
        );
        self.sym.mix_key(&dh(&self.ephemeral, &client_static)?);
        let client_payload = self.sym.decrypt_and_hash(&payload_ct)?;
        let (c2s, s2c) = self.sym.split();
        Ok(FallbackFinished {
            client_static,
            client_payload,
            transport: NoiseTransport::new(TransportCipher::new(s2c), TransportCipher::new(c2s)),
        })
    }
}
