//! QR pairing crypto (ADV, "account/device verification"), both sides, sans-IO.
//!
//! Companion side (what `wa-client` runs):
//! 1. Show [`QrCode::to_text`] (or [`QrCode::to_deep_link`]) for each `<ref>` of `<pair-device>`.
//! 2. On `<pair-success>`, feed the bytes of `<device-identity>` to [`verify_pair_success`]; it
//!    checks the HMAC (keyed with the ADV secret from the QR) and the primary's account signature.
//! 3. [`VerifiedPairSuccess::sign`] adds our device signature and gives the bytes for the
//!    `<pair-device-sign><device-identity key-index=…>` reply ([`PairReply`]).
//!
//! Primary-phone / server side (what `wa-emulator` runs):
//! 1. [`QrCode::parse`] the scanned text.
//! 2. [`build_pair_success`] makes the `<device-identity>` content for the companion.
//! 3. [`PairSuccessPayload::verify_reply`] checks the companion's device signature in its
//!    `<pair-device-sign>` reply and returns the full signed identity the server keeps.
//!
//! [`verify_device_identity`] re-checks both signatures of such a stored identity.
//!
//! Byte layouts (protocol-transport.md §5):
//! - HMAC: `HMAC-SHA256(adv_secret, [06 05 if hosted] || ADVSignedDeviceIdentity)`; "hosted"
//!   means `ADVSignedDeviceIdentityHMAC.accountType == HOSTED`.
//! - account signature: XEdDSA by the primary over
//!   `06 00 (hosted: 06 05) || ADVDeviceIdentity || companion identity (32)`; "hosted" means
//!   `ADVDeviceIdentity.deviceType == HOSTED` (whatsmeow and Baileys; whatsapp-rust looks at the
//!   container's `accountType` instead, which [`build_pair_success`] always sets identically).
//! - device signature: XEdDSA by the companion over
//!   `06 01 || ADVDeviceIdentity || companion identity (32) || account key (32)`. whatsmeow and
//!   Baileys always use `06 01`; whatsapp-rust uses `06 06` for hosted accounts, so the verifier
//!   accepts `06 06` too when the identity is hosted.
//! - the reply is the `ADVSignedDeviceIdentity` with `deviceSignature` set and
//!   `accountSignatureKey` removed (whatsmeow, Baileys).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use prost::Message as _;
use rand_core::{CryptoRng, CryptoRngCore, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use wa_signal::{KeyPair, PrivateKey, PublicKey};

use crate::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};

/// Prefix of the primary's account-signature message.
pub const ADV_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the companion's device-signature message.
pub const ADV_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Prefix of the account-signature message (and of the HMAC input) for hosted accounts.
pub const ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 5];
/// Prefix of the device-signature message for hosted accounts (whatsapp-rust only).
pub const ADV_HOSTED_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 6];

/// The URL form of the QR text used by current whatsmeow and Baileys 7
/// (`https://wa.me/settings/linked_devices#ref,noise,identity,adv,type`).
pub const QR_DEEP_LINK_PREFIX: &str = "https://wa.me/settings/linked_devices#";

// ---------------------------------------------------------------------------
// QR text
// ---------------------------------------------------------------------------

/// The companion web-client type, the optional fifth field of the QR text
/// (one character; whatsmeow `PairClient*`, whatsapp-rust `wire_byte`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompanionClientType {
    /// `0`
    Unknown,
    /// `1`
    Chrome,
    /// `2`
    Edge,
    /// `3`
    Firefox,
    /// `4`
    Ie,
    /// `5`
    Opera,
    /// `6`
    Safari,
    /// `7`
    Electron,
    /// `8`
    Uwp,
    /// `9`
    OtherWebClient,
    /// `c` (whatsmeow)
    MacOs,
    /// `d`
    AndroidTablet,
    /// `e`
    AndroidPhone,
    /// `f` (whatsapp-rust)
    AndroidAmbiguous,
}

impl CompanionClientType {
    const TABLE: [(char, CompanionClientType); 14] = [
        ('0', Self::Unknown),
        ('1', Self::Chrome),
        ('2', Self::Edge),
        ('3', Self::Firefox),
        ('4', Self::Ie),
        ('5', Self::Opera),
        ('6', Self::Safari),
        ('7', Self::Electron),
        ('8', Self::Uwp),
        ('9', Self::OtherWebClient),
        ('c', Self::MacOs),
        ('d', Self::AndroidTablet),
        ('e', Self::AndroidPhone),
        ('f', Self::AndroidAmbiguous),
    ];

    /// The character written in the QR text.
    pub fn as_char(self) -> char {
        Self::TABLE
            .iter()
            .find(|(_, t)| *t == self)
            .map_or('0', |(c, _)| *c)
    }

    /// Parses the QR character; `None` for a character no client uses.
    pub fn from_char(c: char) -> Option<CompanionClientType> {
        Self::TABLE
            .iter()
            .find(|(ch, _)| *ch == c.to_ascii_lowercase())
            .map(|(_, t)| *t)
    }
}

/// The content of one pairing QR code.
///
/// Text layout: `ref,base64(noise_pub),base64(identity_pub),base64(adv_secret)` with standard
/// padded base64 over the raw 32-byte values. whatsmeow (older releases) and whatsapp-rust's
/// bare form stop there; current whatsmeow and Baileys 7 append `,<client type>` and put
/// [`QR_DEEP_LINK_PREFIX`] in front. [`QrCode::parse`] accepts every form.
#[derive(Clone, PartialEq, Eq)]
pub struct QrCode {
    /// The server's `<ref>` content (opaque ASCII).
    pub reference: String,
    /// The companion's Noise static public key (raw 32 bytes).
    pub noise_public: [u8; 32],
    /// The companion's Signal identity public key (raw 32 bytes).
    pub identity_public: [u8; 32],
    /// The 32 random bytes keying the pair-success HMAC.
    pub adv_secret: [u8; 32],
    /// Optional fifth field.
    pub client_type: Option<CompanionClientType>,
}

impl fmt::Debug for QrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrCode")
            .field("reference", &self.reference)
            .field("noise_public", &BASE64.encode(self.noise_public))
            .field("identity_public", &BASE64.encode(self.identity_public))
            .field("adv_secret", &"<redacted>")
            .field("client_type", &self.client_type)
            .finish()
    }
}

/// Why a QR text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// Fewer than four comma-separated fields.
    #[error("QR text has too few fields")]
    TooFewFields,
    /// The `ref` field is empty.
    #[error("QR text has an empty ref")]
    EmptyReference,
    /// A key field is not standard padded base64.
    #[error("QR field {field} is not valid base64")]
    BadBase64 {
        /// Which field.
        field: &'static str,
    },
    /// A key field does not decode to 32 bytes.
    #[error("QR field {field} is {len} bytes, expected 32")]
    BadKeyLength {
        /// Which field.
        field: &'static str,
        /// Its decoded length.
        len: usize,
    },
    /// The fifth field is not a known client-type character.
    #[error("QR client type {0:?} is unknown")]
    UnknownClientType(String),
}

/// The bare four-field QR text `ref,noise,identity,adv` (whatsmeow's long-standing form).
pub fn qr_text(
    reference: &str,
    noise_public: &[u8; 32],
    identity_public: &[u8; 32],
    adv_secret: &[u8; 32],
) -> String {
    let mut out = String::with_capacity(reference.len() + 3 * 45);
    out.push_str(reference);
    for part in [noise_public, identity_public, adv_secret] {
        out.push(',');
        BASE64.encode_string(part, &mut out);
    }
    out
}

impl QrCode {
    /// The bare text, with the client-type field when set, without the URL prefix.
    pub fn to_text(&self) -> String {
        let mut out = qr_text(
            &self.reference,
            &self.noise_public,
            &self.identity_public,
            &self.adv_secret,
        );
        if let Some(t) = self.client_type {
            out.push(',');
            out.push(t.as_char());
        }
        out
    }

    /// [`QR_DEEP_LINK_PREFIX`] followed by [`to_text`](Self::to_text).
    pub fn to_deep_link(&self) -> String {
        let mut out = String::from(QR_DEEP_LINK_PREFIX);
        out.push_str(&self.to_text());
        out
    }

    /// Parses any form written by [`to_text`](Self::to_text), [`to_deep_link`](Self::to_deep_link)
    /// or [`qr_text`]. Surrounding whitespace is ignored. A `ref` that itself contains commas is
    /// kept whole (the fields are taken from the right).
    pub fn parse(text: &str) -> Result<QrCode, QrError> {
        let text = text.trim();
        let body = text.strip_prefix(QR_DEEP_LINK_PREFIX).unwrap_or(text);
        // A client type is a short last field; a key field is 44 base64 characters.
        let (head, client_type) = match body.rsplit_once(',') {
            Some((head, last)) if !last.is_empty() && last.len() <= 2 => {
                let mut chars = last.chars();
                let t = match (chars.next(), chars.next()) {
                    (Some(c), None) => CompanionClientType::from_char(c),
                    _ => None,
                };
                match t {
                    Some(t) => (head, Some(t)),
                    None => return Err(QrError::UnknownClientType(last.to_owned())),
                }
            }
            _ => (body, None),
        };
        let mut fields = head.rsplitn(4, ',');
        let adv = fields.next().ok_or(QrError::TooFewFields)?;
        let identity = fields.next().ok_or(QrError::TooFewFields)?;
        let noise = fields.next().ok_or(QrError::TooFewFields)?;
        let reference = fields.next().ok_or(QrError::TooFewFields)?;
        if reference.is_empty() {
            return Err(QrError::EmptyReference);
        }
        Ok(QrCode {
            reference: reference.to_owned(),
            noise_public: decode_key(noise, "noise_public")?,
            identity_public: decode_key(identity, "identity_public")?,
            adv_secret: decode_key(adv, "adv_secret")?,
            client_type,
        })
    }
}

fn decode_key(field: &str, name: &'static str) -> Result<[u8; 32], QrError> {
    // 32 bytes are 44 base64 characters; refuse long input before decoding it.
    if field.len() > 64 {
        return Err(QrError::BadKeyLength {
            field: name,
            len: field.len() * 3 / 4,
        });
    }
    let bytes = BASE64
        .decode(field)
        .map_err(|_| QrError::BadBase64 { field: name })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| QrError::BadKeyLength {
        field: name,
        len: bytes.len(),
    })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a pairing message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairError {
    /// A protobuf did not decode.
    #[error("malformed {what}: {source}")]
    Decode {
        /// Which message.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A key or signature field has the wrong length.
    #[error("field {field} is {actual} bytes, expected {expected}")]
    BadLength {
        /// Which field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// The HMAC over the signed identity does not match the ADV secret.
    #[error("device identity HMAC mismatch")]
    HmacMismatch,
    /// The primary's account signature does not verify.
    #[error("account signature mismatch")]
    AccountSignatureMismatch,
    /// The companion's device signature does not verify.
    #[error("device signature mismatch")]
    DeviceSignatureMismatch,
    /// The reply does not carry the details / account signature / account key we issued.
    #[error("reply does not match the issued identity: {0}")]
    ReplyMismatch(&'static str),
    /// The private key given for signing is not the identity the HMAC container was verified for.
    #[error("signing key does not match the verified companion identity")]
    IdentityMismatch,
}

impl PairError {
    /// The `<error code=… text=…>` a companion answers the `<pair-success>` IQ with
    /// (whatsmeow `sendPairError`): 401 `hmac-mismatch`, 401 `signature-mismatch`, or 500
    /// `internal-error`.
    pub fn iq_error(&self) -> (u16, &'static str) {
        match self {
            PairError::HmacMismatch => (401, "hmac-mismatch"),
            PairError::AccountSignatureMismatch
            | PairError::DeviceSignatureMismatch
            | PairError::BadLength { .. } => (401, "signature-mismatch"),
            _ => (500, "internal-error"),
        }
    }
}

// ---------------------------------------------------------------------------
// Signature messages
// ---------------------------------------------------------------------------

/// `HMAC-SHA256(adv_secret, [06 05 if hosted] || signed_identity)`.
pub fn adv_hmac(adv_secret: &[u8; 32], signed_identity: &[u8], hosted: bool) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(adv_secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    if hosted {
        mac.update(&ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX);
    }
    mac.update(signed_identity);
    mac.finalize().into_bytes().into()
}

/// The message the primary signs: `06 00 (hosted: 06 05) || details || companion identity`.
pub fn account_signature_message(
    details: &[u8],
    companion_identity: &[u8; 32],
    hosted: bool,
) -> Vec<u8> {
    let prefix = if hosted {
        ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        ADV_ACCOUNT_SIGNATURE_PREFIX
    };
    let mut m = Vec::with_capacity(2 + details.len() + 32);
    m.extend_from_slice(&prefix);
    m.extend_from_slice(details);
    m.extend_from_slice(companion_identity);
    m
}

/// The message the companion signs: `prefix || details || companion identity || account key`,
/// with `prefix` one of [`ADV_DEVICE_SIGNATURE_PREFIX`] (what we sign with) or
/// [`ADV_HOSTED_DEVICE_SIGNATURE_PREFIX`].
pub fn device_signature_message(
    prefix: [u8; 2],
    details: &[u8],
    companion_identity: &[u8; 32],
    account_public: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(2 + details.len() + 64);
    m.extend_from_slice(&prefix);
    m.extend_from_slice(details);
    m.extend_from_slice(companion_identity);
    m.extend_from_slice(account_public);
    m
}

/// How a signature nonce is chosen.
enum Nonce<'a> {
    /// 64 random bytes mixed in (libsignal Rust/Java, whatsmeow).
    Random(&'a mut dyn CryptoRngCore),
    /// libsignal-node's deterministic nonce (Baileys), for byte-exact reproduction.
    Deterministic,
}

impl Nonce<'_> {
    fn sign(&mut self, key: &PrivateKey, msg: &[u8]) -> [u8; 64] {
        match self {
            Nonce::Random(rng) => key.calculate_signature(msg, *rng),
            Nonce::Deterministic => key.calculate_signature_deterministic(msg),
        }
    }
}

fn decode<M: prost::Message + Default>(bytes: &[u8], what: &'static str) -> Result<M, PairError> {
    M::decode(bytes).map_err(|source| PairError::Decode { what, source })
}

fn fixed<const N: usize>(bytes: Option<&[u8]>, field: &'static str) -> Result<[u8; N], PairError> {
    let bytes = bytes.ok_or(PairError::MissingField(field))?;
    <[u8; N]>::try_from(bytes).map_err(|_| PairError::BadLength {
        field,
        expected: N,
        actual: bytes.len(),
    })
}

fn is_hosted(v: Option<i32>) -> bool {
    v == Some(AdvEncryptionType::Hosted as i32)
}

// ---------------------------------------------------------------------------
// The details both sides agree on
// ---------------------------------------------------------------------------

/// The content of `ADVDeviceIdentity` (what the primary vouches for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceIdentityDetails {
    /// `rawID`: the account's ADV raw id.
    pub raw_id: u32,
    /// `timestamp`: unix seconds of the pairing.
    pub timestamp: u64,
    /// `keyIndex`: the companion's index in the account's key-index list (the `key-index`
    /// attribute of the reply).
    pub key_index: u32,
    /// Hosted (business-hosted) account: `accountType = deviceType = HOSTED`, and the hosted
    /// prefixes are used. When false both fields are left out, as the public vectors do.
    pub hosted: bool,
}

impl DeviceIdentityDetails {
    /// Serializes to `ADVDeviceIdentity` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let hosted = self.hosted.then_some(AdvEncryptionType::Hosted as i32);
        AdvDeviceIdentity {
            raw_id: Some(self.raw_id),
            timestamp: Some(self.timestamp),
            key_index: Some(self.key_index),
            account_type: hosted,
            device_type: hosted,
        }
        .encode_to_vec()
    }

    /// Parses `ADVDeviceIdentity` bytes. Absent numbers read as 0 (as whatsmeow's getters do);
    /// `hosted` is `deviceType == HOSTED`.
    pub fn decode(bytes: &[u8]) -> Result<DeviceIdentityDetails, PairError> {
        let d: AdvDeviceIdentity = decode(bytes, "ADVDeviceIdentity")?;
        Ok(DeviceIdentityDetails {
            raw_id: d.raw_id.unwrap_or(0),
            timestamp: d.timestamp.unwrap_or(0),
            key_index: d.key_index.unwrap_or(0),
            hosted: is_hosted(d.device_type),
        })
    }
}

// ---------------------------------------------------------------------------
// Companion side
// ---------------------------------------------------------------------------

/// A `<pair-success>` device identity whose HMAC and account signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPairSuccess {
    /// The decoded `ADVDeviceIdentity`.
    pub details: DeviceIdentityDetails,
    /// The exact `ADVDeviceIdentity` bytes that were signed (kept verbatim).
    pub details_bytes: Vec<u8>,
    /// The container said `accountType = HOSTED` (the HMAC used the hosted prefix).
    pub container_hosted: bool,
    /// The primary device's identity key (`accountSignatureKey`): trust it as the identity of
    /// device 0 of the account's LID.
    pub account_signature_key: PublicKey,
    /// The primary's signature.
    pub account_signature: [u8; 64],
    /// Our identity key the account signature was checked against.
    pub companion_identity: PublicKey,
}

/// What the companion sends back and keeps after signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairReply {
    /// The `key-index` attribute of the reply's `<device-identity>`.
    pub key_index: u32,
    /// Our XEdDSA device signature.
    pub device_signature: [u8; 64],
    /// The full signed identity **including** `accountSignatureKey`: persist it (whatsmeow
    /// `Store.Account`); it is sent as `<device-identity>` with later prekey messages.
    pub account: AdvSignedDeviceIdentity,
    /// Content of `<pair-device-sign><device-identity key-index=…>`: the serialized
    /// `ADVSignedDeviceIdentity` without `accountSignatureKey`.
    pub device_identity: Vec<u8>,
}

/// Verifies the content of `<pair-success><device-identity>` (a serialized
/// `ADVSignedDeviceIdentityHMAC`) against our ADV secret and identity key.
///
/// Checks, in whatsmeow's order: container decodes; HMAC matches (constant time); the signed
/// identity and its details decode; `accountSignatureKey` is 32 bytes and `accountSignature` 64;
/// the account signature verifies over `prefix || details || companion_identity`.
pub fn verify_pair_success(
    device_identity: &[u8],
    adv_secret: &[u8; 32],
    companion_identity: &PublicKey,
) -> Result<VerifiedPairSuccess, PairError> {
    let container: AdvSignedDeviceIdentityHmac =
        decode(device_identity, "ADVSignedDeviceIdentityHMAC")?;
    let signed_bytes = container.details.as_deref().ok_or(PairError::MissingField(
        "ADVSignedDeviceIdentityHMAC.details",
    ))?;
    let their_mac = container
        .hmac
        .as_deref()
        .ok_or(PairError::MissingField("ADVSignedDeviceIdentityHMAC.HMAC"))?;
    let container_hosted = is_hosted(container.account_type);
    let our_mac = adv_hmac(adv_secret, signed_bytes, container_hosted);
    if !bool::from(our_mac.as_slice().ct_eq(their_mac)) {
        return Err(PairError::HmacMismatch);
    }

    let signed: AdvSignedDeviceIdentity = decode(signed_bytes, "ADVSignedDeviceIdentity")?;
    let details_bytes = signed
        .details
        .ok_or(PairError::MissingField("ADVSignedDeviceIdentity.details"))?;
    let details = DeviceIdentityDetails::decode(&details_bytes)?;
    let account_key: [u8; 32] = fixed(
        signed.account_signature_key.as_deref(),
        "ADVSignedDeviceIdentity.accountSignatureKey",
    )?;
    let account_signature: [u8; 64] = fixed(
        signed.account_signature.as_deref(),
        "ADVSignedDeviceIdentity.accountSignature",
    )?;
    let account_signature_key = PublicKey::from_djb(account_key);
    let msg =
        account_signature_message(&details_bytes, companion_identity.as_djb(), details.hosted);
    if !account_signature_key.verify_signature(&msg, &account_signature) {
        return Err(PairError::AccountSignatureMismatch);
    }
    Ok(VerifiedPairSuccess {
        details,
        details_bytes,
        container_hosted,
        account_signature_key,
        account_signature,
        companion_identity: *companion_identity,
    })
}

impl VerifiedPairSuccess {
    /// Signs with our identity private key (random XEdDSA nonce) and builds the reply.
    /// Fails with [`PairError::IdentityMismatch`] if `identity` is not the key the account
    /// signature was verified for.
    pub fn sign<R: RngCore + CryptoRng>(
        &self,
        identity: &PrivateKey,
        rng: &mut R,
    ) -> Result<PairReply, PairError> {
        self.sign_with(identity, Nonce::Random(rng))
    }

    /// Like [`sign`](Self::sign) with libsignal-node's deterministic nonce, so the reply is
    /// byte-identical to Baileys'.
    pub fn sign_deterministic(&self, identity: &PrivateKey) -> Result<PairReply, PairError> {
        self.sign_with(identity, Nonce::Deterministic)
    }

    fn sign_with(
        &self,
        identity: &PrivateKey,
        mut nonce: Nonce<'_>,
    ) -> Result<PairReply, PairError> {
        if identity.public_key() != self.companion_identity {
            return Err(PairError::IdentityMismatch);
        }
        let msg = device_signature_message(
            ADV_DEVICE_SIGNATURE_PREFIX,
            &self.details_bytes,
            self.companion_identity.as_djb(),
            self.account_signature_key.as_djb(),
        );
        let device_signature = nonce.sign(identity, &msg);
        let mut account = AdvSignedDeviceIdentity {
            details: Some(self.details_bytes.clone()),
            account_signature_key: Some(self.account_signature_key.as_djb().to_vec()),
            account_signature: Some(self.account_signature.to_vec()),
            device_signature: Some(device_signature.to_vec()),
        };
        let key = account.account_signature_key.take();
        let device_identity = account.encode_to_vec();
        account.account_signature_key = key;
        Ok(PairReply {
            key_index: self.details.key_index,
            device_signature,
            account,
            device_identity,
        })
    }
}

/// One-shot companion handling of `<pair-success>`: [`verify_pair_success`] then
/// [`VerifiedPairSuccess::sign`].
pub fn handle_pair_success<R: RngCore + CryptoRng>(
    device_identity: &[u8],
    adv_secret: &[u8; 32],
    identity: &KeyPair,
    rng: &mut R,
) -> Result<(VerifiedPairSuccess, PairReply), PairError> {
    let verified = verify_pair_success(device_identity, adv_secret, &identity.public)?;
    let reply = verified.sign(&identity.private, rng)?;
    Ok((verified, reply))
}

// ---------------------------------------------------------------------------
// Primary / server side
// ---------------------------------------------------------------------------

/// A `<pair-success>` device identity built for one companion, with everything needed to check
/// the companion's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairSuccessPayload {
    /// What was vouched for.
    pub details: DeviceIdentityDetails,
    /// Serialized `ADVDeviceIdentity`.
    pub details_bytes: Vec<u8>,
    /// The primary's identity key (`accountSignatureKey`).
    pub account_public: PublicKey,
    /// The primary's account signature.
    pub account_signature: [u8; 64],
    /// The companion identity key it was issued for (from the QR code or `eIdent`).
    pub companion_identity: PublicKey,
    /// Serialized `ADVSignedDeviceIdentity` (without device signature).
    pub signed_device_identity: Vec<u8>,
    /// Content of `<pair-success><device-identity>`: serialized `ADVSignedDeviceIdentityHMAC`.
    pub device_identity: Vec<u8>,
}

/// Builds the `<device-identity>` of a `<pair-success>` for a companion: the details, the
/// account signature by the primary's identity key `account` (random XEdDSA nonce) and the HMAC
/// keyed with the companion's ADV secret.
pub fn build_pair_success<R: RngCore + CryptoRng>(
    details: &DeviceIdentityDetails,
    account: &KeyPair,
    companion_identity: &PublicKey,
    adv_secret: &[u8; 32],
    rng: &mut R,
) -> PairSuccessPayload {
    build_with(
        details,
        account,
        companion_identity,
        adv_secret,
        Nonce::Random(rng),
    )
}

/// Like [`build_pair_success`] with libsignal-node's deterministic nonce (byte-exact with the
/// public vectors).
pub fn build_pair_success_deterministic(
    details: &DeviceIdentityDetails,
    account: &KeyPair,
    companion_identity: &PublicKey,
    adv_secret: &[u8; 32],
) -> PairSuccessPayload {
    build_with(
        details,
        account,
        companion_identity,
        adv_secret,
        Nonce::Deterministic,
    )
}

fn build_with(
    details: &DeviceIdentityDetails,
    account: &KeyPair,
    companion_identity: &PublicKey,
    adv_secret: &[u8; 32],
    mut nonce: Nonce<'_>,
) -> PairSuccessPayload {
    let details_bytes = details.encode();
    let msg =
        account_signature_message(&details_bytes, companion_identity.as_djb(), details.hosted);
    let account_signature = nonce.sign(&account.private, &msg);
    let signed_device_identity = AdvSignedDeviceIdentity {
        details: Some(details_bytes.clone()),
        account_signature_key: Some(account.public.as_djb().to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = adv_hmac(adv_secret, &signed_device_identity, details.hosted);
    let device_identity = AdvSignedDeviceIdentityHmac {
        details: Some(signed_device_identity.clone()),
        hmac: Some(hmac.to_vec()),
        account_type: details.hosted.then_some(AdvEncryptionType::Hosted as i32),
    }
    .encode_to_vec();
    PairSuccessPayload {
        details: *details,
        details_bytes,
        account_public: account.public,
        account_signature,
        companion_identity: *companion_identity,
        signed_device_identity,
        device_identity,
    }
}

impl PairSuccessPayload {
    /// Checks the content of the companion's `<pair-device-sign><device-identity>`: it must carry
    /// our details and account signature verbatim (and, if present, our account key), and a
    /// device signature by the companion identity over
    /// `06 01 || details || companion || account` (`06 06` also accepted for hosted accounts).
    ///
    /// Returns the complete signed identity (account key filled in) that the server keeps and
    /// hands out as the companion's ADV identity.
    pub fn verify_reply(&self, reply: &[u8]) -> Result<AdvSignedDeviceIdentity, PairError> {
        let signed: AdvSignedDeviceIdentity = decode(reply, "ADVSignedDeviceIdentity")?;
        let details = signed
            .details
            .as_deref()
            .ok_or(PairError::MissingField("ADVSignedDeviceIdentity.details"))?;
        if details != self.details_bytes.as_slice() {
            return Err(PairError::ReplyMismatch("details"));
        }
        let account_signature: [u8; 64] = fixed(
            signed.account_signature.as_deref(),
            "ADVSignedDeviceIdentity.accountSignature",
        )?;
        if account_signature != self.account_signature {
            return Err(PairError::ReplyMismatch("accountSignature"));
        }
        if let Some(key) = signed.account_signature_key.as_deref() {
            if key != self.account_public.as_djb().as_slice() {
                return Err(PairError::ReplyMismatch("accountSignatureKey"));
            }
        }
        let device_signature: [u8; 64] = fixed(
            signed.device_signature.as_deref(),
            "ADVSignedDeviceIdentity.deviceSignature",
        )?;
        let ok = device_signature_ok(
            &self.details_bytes,
            &self.companion_identity,
            &self.account_public,
            &device_signature,
            self.details.hosted,
        );
        if !ok {
            return Err(PairError::DeviceSignatureMismatch);
        }
        Ok(AdvSignedDeviceIdentity {
            details: Some(self.details_bytes.clone()),
            account_signature_key: Some(self.account_public.as_djb().to_vec()),
            account_signature: Some(self.account_signature.to_vec()),
            device_signature: Some(device_signature.to_vec()),
        })
    }
}

// ---------------------------------------------------------------------------
// Checking a stored / relayed signed identity
// ---------------------------------------------------------------------------

/// Verifies both signatures of a complete `ADVSignedDeviceIdentity` (the record a server keeps
/// after pairing, and the `<device-identity>` a companion attaches to its prekey messages):
/// the account signature by `account_key` (or, when `None`, by the record's own
/// `accountSignatureKey`) and the device signature by `device_identity`.
///
/// When both `account_key` and the record's key are present they must be equal.
pub fn verify_device_identity(
    signed: &AdvSignedDeviceIdentity,
    device_identity: &PublicKey,
    account_key: Option<&PublicKey>,
) -> Result<DeviceIdentityDetails, PairError> {
    let details_bytes = signed
        .details
        .as_deref()
        .ok_or(PairError::MissingField("ADVSignedDeviceIdentity.details"))?;
    let details = DeviceIdentityDetails::decode(details_bytes)?;
    let own_key: Option<[u8; 32]> = match signed.account_signature_key.as_deref() {
        Some(k) => Some(fixed(
            Some(k),
            "ADVSignedDeviceIdentity.accountSignatureKey",
        )?),
        None => None,
    };
    let account = match (account_key, own_key) {
        (Some(given), Some(own)) if given.as_djb() != &own => {
            return Err(PairError::ReplyMismatch("accountSignatureKey"));
        }
        (Some(given), _) => *given,
        (None, Some(own)) => PublicKey::from_djb(own),
        (None, None) => {
            return Err(PairError::MissingField(
                "ADVSignedDeviceIdentity.accountSignatureKey",
            ));
        }
    };
    let account_signature: [u8; 64] = fixed(
        signed.account_signature.as_deref(),
        "ADVSignedDeviceIdentity.accountSignature",
    )?;
    let device_signature: [u8; 64] = fixed(
        signed.device_signature.as_deref(),
        "ADVSignedDeviceIdentity.deviceSignature",
    )?;
    let msg = account_signature_message(details_bytes, device_identity.as_djb(), details.hosted);
    if !account.verify_signature(&msg, &account_signature) {
        return Err(PairError::AccountSignatureMismatch);
    }
    if !device_signature_ok(
        details_bytes,
        device_identity,
        &account,
        &device_signature,
        details.hosted,
    ) {
        return Err(PairError::DeviceSignatureMismatch);
    }
    Ok(details)
}

fn device_signature_ok(
    details: &[u8],
    device_identity: &PublicKey,
    account: &PublicKey,
    signature: &[u8; 64],
    hosted: bool,
) -> bool {
    let prefixes: &[[u8; 2]] = if hosted {
        &[
            ADV_DEVICE_SIGNATURE_PREFIX,
            ADV_HOSTED_DEVICE_SIGNATURE_PREFIX,
        ]
    } else {
        &[ADV_DEVICE_SIGNATURE_PREFIX]
    };
    prefixes.iter().any(|prefix| {
        let msg =
            device_signature_message(*prefix, details, device_identity.as_djb(), account.as_djb());
        device_identity.verify_signature(&msg, signature)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_type_chars_round_trip() {
        for (c, t) in CompanionClientType::TABLE {
            assert_eq!(t.as_char(), c);
            assert_eq!(CompanionClientType::from_char(c), Some(t));
        }
        assert_eq!(CompanionClientType::from_char('z'), None);
    }

    #[test]
    fn iq_error_codes() {
        assert_eq!(PairError::HmacMismatch.iq_error(), (401, "hmac-mismatch"));
        assert_eq!(
            PairError::AccountSignatureMismatch.iq_error(),
            (401, "signature-mismatch")
        );
        assert_eq!(
            PairError::MissingField("x").iq_error(),
            (500, "internal-error")
        );
    }
}
