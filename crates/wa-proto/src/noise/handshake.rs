//! The XX handshake state machines (client = initiator, server = responder).

use prost::Message;
use rand_core::{CryptoRng, RngCore};
use wa_signal::{KeyPair, PrivateKey, PublicKey};

use super::symmetric::SymmetricState;
use super::transport::NoiseTransport;
use super::{NOISE_XX_PROTOCOL_NAME, NOISE_XXFALLBACK_PROTOCOL_NAME, NoiseError};
use crate::cert::{TrustedRoot, VerifiedCertChain, verify_cert_chain};
use crate::frame::INTRO_HEADER;
use crate::proto::HandshakeMessage;
use crate::proto::handshake_message::{ClientFinish, ClientHello, ServerHello};

fn new_state() -> SymmetricState {
    SymmetricState::new(NOISE_XX_PROTOCOL_NAME, &INTRO_HEADER)
}

fn new_fallback_state() -> SymmetricState {
    SymmetricState::new(NOISE_XXFALLBACK_PROTOCOL_NAME, &INTRO_HEADER)
}

/// X25519 that refuses a non-contributory result (a low-order peer key).
fn dh(private: &PrivateKey, public: &PublicKey) -> Result<[u8; 32], NoiseError> {
    let shared = private.calculate_agreement(public);
    if shared == [0u8; 32] {
        return Err(NoiseError::WeakKey);
    }
    Ok(shared)
}

fn key32(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

/// The client (initiator) before the server hello: holds the ephemeral and
/// static keys and the trust anchor.
///
/// See the [module documentation](super) for the whole flow.
pub struct ClientHandshake {
    state: SymmetricState,
    static_key: KeyPair,
    ephemeral: KeyPair,
    trust: TrustedRoot,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("ephemeral", &self.ephemeral.public)
            .field("static", &self.static_key.public)
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake with the long-term Noise static key (`creds.noiseKey`)
    /// and a fresh ephemeral key drawn from `rng`.
    pub fn new<R: RngCore + CryptoRng + ?Sized>(
        static_key: KeyPair,
        trust: TrustedRoot,
        rng: &mut R,
    ) -> Self {
        Self::with_ephemeral(static_key, KeyPair::generate(rng), trust)
    }

    /// Starts a handshake with a given ephemeral key. Deterministic: for test
    /// vectors only; never reuse an ephemeral key on a real connection.
    pub fn with_ephemeral(static_key: KeyPair, ephemeral: KeyPair, trust: TrustedRoot) -> Self {
        let mut state = new_state();
        state.mix_hash(ephemeral.public.as_djb());
        Self {
            state,
            static_key,
            ephemeral,
            trust,
        }
    }

    /// The XXfallback continuation of an IK attempt made with `ephemeral`
    /// (used by the tests of the responder's fallback path).
    #[cfg(test)]
    pub(crate) fn fallback_with_ephemeral(
        static_key: KeyPair,
        ephemeral: KeyPair,
        trust: TrustedRoot,
    ) -> Self {
        let mut state = new_fallback_state();
        state.mix_hash(ephemeral.public.as_djb());
        Self {
            state,
            static_key,
            ephemeral,
            trust,
        }
    }

    /// The serialized `HandshakeMessage{clientHello{ephemeral}}` to send as
    /// the first frame (behind the intro header).
    pub fn client_hello(&self) -> Vec<u8> {
        HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(self.ephemeral.public.as_djb().to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// Processes the server's `HandshakeMessage{serverHello}` (the payload of
    /// its first frame): decrypts the server static key and certificate chain
    /// and verifies the chain against the trust anchor at `now_unix_secs`.
    pub fn read_server_hello(
        mut self,
        message: &[u8],
        now_unix_secs: u64,
    ) -> Result<ClientAwaitingFinish, NoiseError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::BadServerHello("not a HandshakeMessage"))?;
        let hello = msg
            .server_hello
            .ok_or(NoiseError::BadServerHello("no serverHello"))?;
        let ephemeral = hello
            .ephemeral
            .as_deref()
            .and_then(key32)
            .ok_or(NoiseError::BadServerHello("ephemeral is not 32 bytes"))?;
        let static_ct = hello
            .r#static
            .ok_or(NoiseError::BadServerHello("static missing"))?;
        let payload_ct = hello
            .payload
            .ok_or(NoiseError::BadServerHello("payload missing"))?;
        let server_ephemeral = PublicKey::from_djb(ephemeral);

        self.state.mix_hash(&ephemeral);
        self.state
            .mix_key(&dh(&self.ephemeral.private, &server_ephemeral)?);
        let server_static = self.state.decrypt_and_hash(&static_ct)?;
        let server_static = key32(&server_static).ok_or(NoiseError::BadServerHello(
            "decrypted static is not 32 bytes",
        ))?;
        let server_static_key = PublicKey::from_djb(server_static);
        self.state
            .mix_key(&dh(&self.ephemeral.private, &server_static_key)?);
        let chain = self.state.decrypt_and_hash(&payload_ct)?;
        let certificate = verify_cert_chain(&chain, &self.trust, &server_static, now_unix_secs)?;
        Ok(ClientAwaitingFinish {
            state: self.state,
            static_key: self.static_key,
            server_ephemeral,
            server_static: server_static_key,
            certificate,
            cert_chain: chain,
        })
    }
}

/// The client after a valid, trusted server hello, ready to send its finish.
pub struct ClientAwaitingFinish {
    state: SymmetricState,
    static_key: KeyPair,
    server_ephemeral: PublicKey,
    server_static: PublicKey,
    certificate: VerifiedCertChain,
    cert_chain: Vec<u8>,
}

impl std::fmt::Debug for ClientAwaitingFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAwaitingFinish")
            .field("server_static", &self.server_static)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl ClientAwaitingFinish {
    /// The server's static key (equal to the verified leaf key).
    pub fn server_static(&self) -> &PublicKey {
        &self.server_static
    }

    /// The verified certificate chain (for caching the validity windows).
    pub fn certificate(&self) -> &VerifiedCertChain {
        &self.certificate
    }

    /// The decrypted `CertChain` bytes as the server sent them.
    pub fn cert_chain_bytes(&self) -> &[u8] {
        &self.cert_chain
    }

    /// Encrypts the client static key and `client_payload` (a serialized
    /// `ClientPayload`) into `HandshakeMessage{clientFinish}` and splits the
    /// transport keys. Send [`ClientFinished::message`] as the next frame;
    /// every frame after that goes through [`ClientFinished::transport`].
    pub fn finish(mut self, client_payload: &[u8]) -> Result<ClientFinished, NoiseError> {
        let static_ct = self
            .state
            .encrypt_and_hash(self.static_key.public.as_djb())?;
        self.state
            .mix_key(&dh(&self.static_key.private, &self.server_ephemeral)?);
        let payload_ct = self.state.encrypt_and_hash(client_payload)?;
        let message = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let (c2s, s2c) = self.state.split();
        Ok(ClientFinished {
            message,
            transport: NoiseTransport::new(c2s, s2c),
            handshake_hash: self.state.handshake_hash(),
        })
    }
}

/// What the client gets at the end of the handshake.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientFinished {
    /// The serialized `HandshakeMessage{clientFinish}` to send (one frame).
    pub message: Vec<u8>,
    /// Transport ciphers: encrypt = client->server, decrypt = server->client.
    pub transport: NoiseTransport,
    /// The final handshake hash `h`.
    pub handshake_hash: [u8; 32],
}

/// The server (responder) before the client hello: holds its static key and
/// the serialized certificate chain it presents.
pub struct ServerHandshake {
    static_key: KeyPair,
    cert_chain: Vec<u8>,
}

impl std::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("static", &self.static_key.public)
            .finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// A responder with the server static key and the `CertChain` bytes
    /// (see [`CertChainBuilder`](crate::cert::CertChainBuilder)) whose leaf
    /// certifies that key.
    pub fn new(static_key: KeyPair, cert_chain: Vec<u8>) -> Self {
        Self {
            static_key,
            cert_chain,
        }
    }

    /// Processes the client's `HandshakeMessage{clientHello}` with a fresh
    /// ephemeral key from `rng`, and prepares the server hello.
    pub fn read_client_hello<R: RngCore + CryptoRng + ?Sized>(
        self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<ServerAwaitingFinish, NoiseError> {
        self.read_client_hello_with_ephemeral(message, KeyPair::generate(rng))
    }

    /// Like [`read_client_hello`](Self::read_client_hello) with a given
    /// ephemeral key. Deterministic: for test vectors only.
    ///
    /// A client hello that carries `static` (a Noise IK resume attempt, made
    /// by whatsapp-rust for registered devices) is answered the way a server
    /// that cannot complete IK answers: with an XX-shaped server hello under
    /// `Noise_XXfallback_25519_AESGCM_SHA256`, reusing the client's ephemeral
    /// (see [`ServerAwaitingFinish::is_fallback`]). The IK ciphertexts are
    /// ignored. A `payload` without `static` is rejected.
    pub fn read_client_hello_with_ephemeral(
        self,
        message: &[u8],
        ephemeral: KeyPair,
    ) -> Result<ServerAwaitingFinish, NoiseError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::BadClientHello("not a HandshakeMessage"))?;
        let hello = msg
            .client_hello
            .ok_or(NoiseError::BadClientHello("no clientHello"))?;
        let fallback = hello.r#static.is_some();
        if !fallback && hello.payload.is_some() {
            return Err(NoiseError::BadClientHello("payload without static"));
        }
        let client_ephemeral = hello
            .ephemeral
            .as_deref()
            .and_then(key32)
            .map(PublicKey::from_djb)
            .ok_or(NoiseError::BadClientHello("ephemeral is not 32 bytes"))?;

        let mut state = if fallback {
            new_fallback_state()
        } else {
            new_state()
        };
        state.mix_hash(client_ephemeral.as_djb());
        state.mix_hash(ephemeral.public.as_djb());
        state.mix_key(&dh(&ephemeral.private, &client_ephemeral)?);
        let static_ct = state.encrypt_and_hash(self.static_key.public.as_djb())?;
        state.mix_key(&dh(&self.static_key.private, &client_ephemeral)?);
        let payload_ct = state.encrypt_and_hash(&self.cert_chain)?;
        let server_hello = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public.as_djb().to_vec()),
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        Ok(ServerAwaitingFinish {
            state,
            ephemeral,
            client_ephemeral,
            server_hello,
            fallback,
        })
    }
}

/// The server after the client hello: send [`server_hello`](Self::server_hello),
/// then feed the client's finish to [`read_client_finish`](Self::read_client_finish).
pub struct ServerAwaitingFinish {
    state: SymmetricState,
    ephemeral: KeyPair,
    client_ephemeral: PublicKey,
    server_hello: Vec<u8>,
    fallback: bool,
}

impl std::fmt::Debug for ServerAwaitingFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAwaitingFinish")
            .field("client_ephemeral", &self.client_ephemeral)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl ServerAwaitingFinish {
    /// The serialized `HandshakeMessage{serverHello}` to send (one frame).
    pub fn server_hello(&self) -> &[u8] {
        &self.server_hello
    }

    /// The client's ephemeral key.
    pub fn client_ephemeral(&self) -> &PublicKey {
        &self.client_ephemeral
    }

    /// Whether the client attempted Noise IK and this handshake continues
    /// as XXfallback (the rest of the flow is the same as XX).
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// Processes the client's `HandshakeMessage{clientFinish}`: decrypts the
    /// client static key and the ClientPayload bytes and splits the transport.
    pub fn read_client_finish(mut self, message: &[u8]) -> Result<ServerFinished, NoiseError> {
        let msg = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::BadClientFinish("not a HandshakeMessage"))?;
        let finish = msg
            .client_finish
            .ok_or(NoiseError::BadClientFinish("no clientFinish"))?;
        let static_ct = finish
            .r#static
            .ok_or(NoiseError::BadClientFinish("static missing"))?;
        let payload_ct = finish
            .payload
            .ok_or(NoiseError::BadClientFinish("payload missing"))?;
        let client_static = self.state.decrypt_and_hash(&static_ct)?;
        let client_static =
            key32(&client_static)
                .map(PublicKey::from_djb)
                .ok_or(NoiseError::BadClientFinish(
                    "decrypted static is not 32 bytes",
                ))?;
        self.state
            .mix_key(&dh(&self.ephemeral.private, &client_static)?);
        let client_payload = self.state.decrypt_and_hash(&payload_ct)?;
        let (c2s, s2c) = self.state.split();
        Ok(ServerFinished {
            client_static,
            client_payload,
            transport: NoiseTransport::new(s2c, c2s),
            handshake_hash: self.state.handshake_hash(),
        })
    }
}

/// What the server gets at the end of the handshake.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerFinished {
    /// The client's Noise static key (its `noiseKey`).
    pub client_static: PublicKey,
    /// The decrypted, still serialized `ClientPayload`.
    pub client_payload: Vec<u8>,
    /// Transport ciphers: encrypt = server->client, decrypt = client->server.
    pub transport: NoiseTransport,
    /// The final handshake hash `h`.
    pub handshake_hash: [u8; 32],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::CertChainBuilder;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ik_attempt_is_answered_with_xxfallback() {
        let mut rng = StdRng::seed_from_u64(77);
        let root = KeyPair::generate(&mut rng);
        let intermediate = KeyPair::generate(&mut rng);
        let server_static = KeyPair::generate(&mut rng);
        let client_static = KeyPair::generate(&mut rng);
        let ephemeral = KeyPair::generate(&mut rng);
        let chain = CertChainBuilder::new(0, 10).mint(
            &root.private,
            &intermediate,
            &server_static.public,
            &mut rng,
        );
        let trust = TrustedRoot::new(*root.public.as_djb());
        // An IK client hello: ephemeral plus (here opaque) encrypted static
        // and payload, as whatsapp-rust sends on reconnect.
        let ik_hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public.as_djb().to_vec()),
                r#static: Some(vec![0xab; 48]),
                payload: Some(vec![0xcd; 40]),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let server = ServerHandshake::new(server_static.clone(), chain.clone())
            .read_client_hello(&ik_hello, &mut rng)
            .unwrap();
        assert!(server.is_fallback());
        let sent = HandshakeMessage::decode(server.server_hello()).unwrap();
        assert!(
            sent.server_hello.unwrap().r#static.is_some(),
            "fallback hello carries static"
        );

        // A plain XX client cannot read it (different protocol name) ...
        let xx = ClientHandshake::with_ephemeral(client_static.clone(), ephemeral.clone(), trust);
        assert_eq!(
            xx.read_server_hello(server.server_hello(), 5).unwrap_err(),
            NoiseError::Decrypt
        );
        // ... the fallback continuation can, and the handshake completes.
        let client =
            ClientHandshake::fallback_with_ephemeral(client_static.clone(), ephemeral, trust)
                .read_server_hello(server.server_hello(), 5)
                .unwrap()
                .finish(b"login payload")
                .unwrap();
        let done = server.read_client_finish(&client.message).unwrap();
        assert_eq!(done.client_static, client_static.public);
        assert_eq!(done.client_payload, b"login payload");
        let (mut c, mut s) = (client.transport, done.transport);
        assert_eq!(s.decrypt(&c.encrypt(b"x").unwrap()).unwrap(), b"x");
        assert_eq!(c.decrypt(&s.encrypt(b"y").unwrap()).unwrap(), b"y");

        // Without IK the responder stays on plain XX.
        let plain = ClientHandshake::new(client_static, trust, &mut rng);
        let server = ServerHandshake::new(server_static, chain)
            .read_client_hello(&plain.client_hello(), &mut rng)
            .unwrap();
        assert!(!server.is_fallback());
    }
}
