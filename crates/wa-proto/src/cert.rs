//! The server's Noise certificate chain: verification (client side) and
//! minting (emulator and tests).
//!
//! The plaintext of `ServerHello.payload` is a `CertChain` protobuf holding
//! an intermediate certificate, signed (XEdDSA) by a root key that the client
//! trusts, and a leaf certificate, signed by the intermediate's key, whose key
//! must equal the server's Noise static key. WhatsApp's root is
//! [`WA_ROOT_PUBLIC_KEY`]; an emulator uses a root of its own and its clients
//! are configured to trust it.
//!
//! ```
//! use wa_proto::cert::{CertChainBuilder, TrustedRoot, verify_cert_chain};
//! use wa_signal::KeyPair;
//!
//! let mut rng = rand::thread_rng();
//! let root = KeyPair::generate(&mut rng);
//! let intermediate = KeyPair::generate(&mut rng);
//! let server_static = KeyPair::generate(&mut rng);
//!
//! let chain = CertChainBuilder::new(1_700_000_000, 2_000_000_000).mint(
//!     &root.private,
//!     &intermediate,
//!     &server_static.public,
//!     &mut rng,
//! );
//! let trust = TrustedRoot::new(*root.public.as_djb());
//! let verified =
//!     verify_cert_chain(&chain, &trust, server_static.public.as_djb(), 1_800_000_000).unwrap();
//! assert_eq!(verified.leaf.key, *server_static.public.as_djb());
//! ```

use prost::Message;
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use wa_signal::{KeyPair, PrivateKey, PublicKey};

use crate::proto::CertChain;
use crate::proto::cert_chain::NoiseCertificate;
use crate::proto::cert_chain::noise_certificate::Details;

/// WhatsApp's Noise root public key (raw X25519), hard-coded in every client.
pub const WA_ROOT_PUBLIC_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The serial of WhatsApp's root: the intermediate's `issuerSerial`.
pub const WA_ROOT_SERIAL: u32 = 0;

/// The trust anchor a client verifies the server's chain against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrustedRoot {
    /// The root's X25519 public key (raw 32 bytes).
    pub public_key: [u8; 32],
    /// The root's serial, which the intermediate names as its issuer.
    pub serial: u32,
}

impl TrustedRoot {
    /// WhatsApp's real root ([`WA_ROOT_PUBLIC_KEY`], serial 0).
    pub const WHATSAPP: TrustedRoot = TrustedRoot {
        public_key: WA_ROOT_PUBLIC_KEY,
        serial: WA_ROOT_SERIAL,
    };

    /// A root with the given public key and serial 0 (what an emulator uses).
    pub const fn new(public_key: [u8; 32]) -> Self {
        Self {
            public_key,
            serial: WA_ROOT_SERIAL,
        }
    }
}

impl Default for TrustedRoot {
    fn default() -> Self {
        Self::WHATSAPP
    }
}

/// Which certificate of the chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// The intermediate, signed by the root.
    Intermediate,
    /// The leaf, signed by the intermediate; its key is the server static key.
    Leaf,
}

impl std::fmt::Display for CertRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertRole::Intermediate => "intermediate",
            CertRole::Leaf => "leaf",
        })
    }
}

/// Why a server certificate chain is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CertError {
    /// The chain or a certificate does not decode, or a field is missing.
    #[error("malformed certificate chain: {0}")]
    Malformed(&'static str),
    /// A signature is not 64 bytes long.
    #[error("{role} signature has {len} bytes, expected 64")]
    SignatureLength {
        /// The certificate concerned.
        role: CertRole,
        /// The length found.
        len: usize,
    },
    /// A certificate key is not 32 bytes long.
    #[error("{role} key has {len} bytes, expected 32")]
    KeyLength {
        /// The certificate concerned.
        role: CertRole,
        /// The length found.
        len: usize,
    },
    /// A signature does not verify under its issuer's key.
    #[error("{role} signature does not verify under its issuer's key")]
    BadSignature {
        /// The certificate concerned.
        role: CertRole,
    },
    /// A certificate names an issuer serial other than its issuer's serial.
    #[error("{role} issuer serial is {found}, expected {expected}")]
    IssuerSerial {
        /// The certificate concerned.
        role: CertRole,
        /// The issuer's serial.
        expected: u32,
        /// The `issuerSerial` found.
        found: u32,
    },
    /// The leaf key is not the server static key of the handshake.
    #[error("leaf key does not match the server static key")]
    LeafKeyMismatch,
    /// `now` is before the certificate's `notBefore`.
    #[error("{role} certificate not valid before {not_before} (now {now})")]
    NotYetValid {
        /// The certificate concerned.
        role: CertRole,
        /// Its `notBefore` (unix seconds).
        not_before: u64,
        /// The time checked (unix seconds).
        now: u64,
    },
    /// `now` is after the certificate's `notAfter`.
    #[error("{role} certificate expired at {not_after} (now {now})")]
    Expired {
        /// The certificate concerned.
        role: CertRole,
        /// Its `notAfter` (unix seconds).
        not_after: u64,
        /// The time checked (unix seconds).
        now: u64,
    },
}

/// The decoded `CertChain.NoiseCertificate.Details` of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetails {
    /// This certificate's serial.
    pub serial: u32,
    /// The serial of the certificate (or root) that signed it.
    pub issuer_serial: u32,
    /// The certified X25519 public key.
    pub key: [u8; 32],
    /// Start of validity (unix seconds).
    pub not_before: u64,
    /// End of validity (unix seconds).
    pub not_after: u64,
}

impl CertDetails {
    /// Serializes the details (the bytes that get signed).
    pub fn encode(&self) -> Vec<u8> {
        Details {
            serial: Some(self.serial),
            issuer_serial: Some(self.issuer_serial),
            key: Some(self.key.to_vec()),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        }
        .encode_to_vec()
    }

    /// Decodes serialized details. Absent numeric fields read as 0 (as
    /// protobuf readers do); the key must be present and 32 bytes.
    pub fn decode(bytes: &[u8], role: CertRole) -> Result<Self, CertError> {
        let d =
            Details::decode(bytes).map_err(|_| CertError::Malformed("details do not decode"))?;
        let key = d.key.unwrap_or_default();
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| CertError::KeyLength {
                role,
                len: key.len(),
            })?;
        Ok(Self {
            serial: d.serial.unwrap_or(0),
            issuer_serial: d.issuer_serial.unwrap_or(0),
            key,
            not_before: d.not_before.unwrap_or(0),
            not_after: d.not_after.unwrap_or(0),
        })
    }

    fn check_validity(&self, role: CertRole, now: u64) -> Result<(), CertError> {
        if now < self.not_before {
            return Err(CertError::NotYetValid {
                role,
                not_before: self.not_before,
                now,
            });
        }
        if now > self.not_after {
            return Err(CertError::Expired {
                role,
                not_after: self.not_after,
                now,
            });
        }
        Ok(())
    }
}

/// A chain that passed [`verify_cert_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCertChain {
    /// The intermediate certificate.
    pub intermediate: CertDetails,
    /// The leaf certificate (its key is the server static key).
    pub leaf: CertDetails,
}

fn split_cert(
    cert: Option<NoiseCertificate>,
    role: CertRole,
) -> Result<(Vec<u8>, [u8; 64]), CertError> {
    let cert = cert.ok_or(CertError::Malformed(match role {
        CertRole::Intermediate => "intermediate certificate missing",
        CertRole::Leaf => "leaf certificate missing",
    }))?;
    let details = cert
        .details
        .ok_or(CertError::Malformed("certificate details missing"))?;
    let sig = cert.signature.unwrap_or_default();
    let sig: [u8; 64] = sig
        .as_slice()
        .try_into()
        .map_err(|_| CertError::SignatureLength {
            role,
            len: sig.len(),
        })?;
    Ok((details, sig))
}

/// Verifies a serialized `CertChain` (the decrypted server hello payload).
///
/// Checks, in order: both certificates present with 64-byte signatures; the
/// intermediate's signature under `root`, its issuer serial == `root.serial`,
/// its validity window; the leaf's signature under the intermediate key, its
/// issuer serial == the intermediate's serial, its validity window; and
/// finally leaf key == `server_static` (raw X25519). `now_unix_secs` is the
/// caller's clock; the windows are inclusive.
pub fn verify_cert_chain(
    chain: &[u8],
    root: &TrustedRoot,
    server_static: &[u8; 32],
    now_unix_secs: u64,
) -> Result<VerifiedCertChain, CertError> {
    let chain =
        CertChain::decode(chain).map_err(|_| CertError::Malformed("chain does not decode"))?;
    let (inter_bytes, inter_sig) = split_cert(chain.intermediate, CertRole::Intermediate)?;
    let (leaf_bytes, leaf_sig) = split_cert(chain.leaf, CertRole::Leaf)?;

    let root_key = PublicKey::from_djb(root.public_key);
    if !root_key.verify_signature(&inter_bytes, &inter_sig) {
        return Err(CertError::BadSignature {
            role: CertRole::Intermediate,
        });
    }
    let intermediate = CertDetails::decode(&inter_bytes, CertRole::Intermediate)?;
    if intermediate.issuer_serial != root.serial {
        return Err(CertError::IssuerSerial {
            role: CertRole::Intermediate,
            expected: root.serial,
            found: intermediate.issuer_serial,
        });
    }
    intermediate.check_validity(CertRole::Intermediate, now_unix_secs)?;

    let inter_key = PublicKey::from_djb(intermediate.key);
    if !inter_key.verify_signature(&leaf_bytes, &leaf_sig) {
        return Err(CertError::BadSignature {
            role: CertRole::Leaf,
        });
    }
    let leaf = CertDetails::decode(&leaf_bytes, CertRole::Leaf)?;
    if leaf.issuer_serial != intermediate.serial {
        return Err(CertError::IssuerSerial {
            role: CertRole::Leaf,
            expected: intermediate.serial,
            found: leaf.issuer_serial,
        });
    }
    leaf.check_validity(CertRole::Leaf, now_unix_secs)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        &leaf.key[..],
        &server_static[..],
    )) {
        return Err(CertError::LeafKeyMismatch);
    }
    Ok(VerifiedCertChain { intermediate, leaf })
}

/// Parameters of a certificate chain to mint; see [`CertChainBuilder::mint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChainBuilder {
    /// The root's serial (the intermediate's issuer serial). Default 0.
    pub root_serial: u32,
    /// The intermediate's serial. Default 1.
    pub intermediate_serial: u32,
    /// The leaf's serial. Default 2.
    pub leaf_serial: u32,
    /// Start of validity of both certificates (unix seconds).
    pub not_before: u64,
    /// End of validity of both certificates (unix seconds).
    pub not_after: u64,
}

impl CertChainBuilder {
    /// Serials 0 (root) / 1 (intermediate) / 2 (leaf) and the given window.
    pub fn new(not_before: u64, not_after: u64) -> Self {
        Self {
            root_serial: WA_ROOT_SERIAL,
            intermediate_serial: 1,
            leaf_serial: 2,
            not_before,
            not_after,
        }
    }

    /// The details of the intermediate certificate for `intermediate_key`.
    pub fn intermediate_details(&self, intermediate_key: &PublicKey) -> CertDetails {
        CertDetails {
            serial: self.intermediate_serial,
            issuer_serial: self.root_serial,
            key: *intermediate_key.as_djb(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }

    /// The details of the leaf certificate for the server static key.
    pub fn leaf_details(&self, server_static: &PublicKey) -> CertDetails {
        CertDetails {
            serial: self.leaf_serial,
            issuer_serial: self.intermediate_serial,
            key: *server_static.as_djb(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }

    /// Mints the serialized `CertChain`: the intermediate (for
    /// `intermediate.public`) signed by `root`, the leaf (for
    /// `server_static`) signed by `intermediate.private`, XEdDSA with random
    /// nonces from `rng`.
    pub fn mint<R: RngCore + CryptoRng + ?Sized>(
        &self,
        root: &PrivateKey,
        intermediate: &KeyPair,
        server_static: &PublicKey,
        rng: &mut R,
    ) -> Vec<u8> {
        let inter = self.intermediate_details(&intermediate.public).encode();
        let leaf = self.leaf_details(server_static).encode();
        let inter_sig = root.calculate_signature(&inter, rng);
        let leaf_sig = intermediate.private.calculate_signature(&leaf, rng);
        assemble(inter, inter_sig, leaf, leaf_sig)
    }

    /// Like [`mint`](Self::mint) but with the deterministic XEdDSA nonce of
    /// libsignal-node (Baileys), so the same inputs give the same bytes.
    pub fn mint_deterministic(
        &self,
        root: &PrivateKey,
        intermediate: &KeyPair,
        server_static: &PublicKey,
    ) -> Vec<u8> {
        let inter = self.intermediate_details(&intermediate.public).encode();
        let leaf = self.leaf_details(server_static).encode();
        let inter_sig = root.calculate_signature_deterministic(&inter);
        let leaf_sig = intermediate
            .private
            .calculate_signature_deterministic(&leaf);
        assemble(inter, inter_sig, leaf, leaf_sig)
    }
}

fn assemble(inter: Vec<u8>, inter_sig: [u8; 64], leaf: Vec<u8>, leaf_sig: [u8; 64]) -> Vec<u8> {
    CertChain {
        leaf: Some(NoiseCertificate {
            details: Some(leaf),
            signature: Some(leaf_sig.to_vec()),
        }),
        intermediate: Some(NoiseCertificate {
            details: Some(inter),
            signature: Some(inter_sig.to_vec()),
        }),
    }
    .encode_to_vec()
}
