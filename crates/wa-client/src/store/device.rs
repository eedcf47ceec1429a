//! The device record: this companion's long-term keys and identity, with a
//! small versioned binary encoding of our own.
//!
//! Layout (version 1, integers big-endian):
//! `"WADR" 0x01`, noise key pair (32 private ‖ 32 public), identity key pair
//! (same), registration id (u32), signed prekey (id u32, private 32, public
//! 32, signature 64, timestamp u64), ADV secret key (32), then the optional
//! and variable fields: jid, lid (option: tag byte 0/1 then string),
//! ADV signed identity (option of bytes), push name, platform (strings).
//! Strings and byte strings are a u32 length then the bytes. No trailing
//! bytes are allowed.

use super::StoreError;

const MAGIC: &[u8; 4] = b"WADR";
const VERSION: u8 = 1;

/// A raw X25519 key pair (32-byte private scalar, 32-byte public point).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPairBytes {
    /// Private key bytes.
    pub private: [u8; 32],
    /// Public key bytes (djb form, without the 0x05 prefix).
    pub public: [u8; 32],
}

impl std::fmt::Debug for KeyPairBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPairBytes")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// The signed prekey: key pair, XEdDSA signature by the identity key, creation time.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedPreKeyBytes {
    /// Prekey id (24-bit in practice).
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPairBytes,
    /// Signature over the serialised (0x05-prefixed) public key.
    pub signature: [u8; 64],
    /// Creation time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Everything that identifies this companion device, as raw bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeviceRecord {
    /// Noise static key pair.
    pub noise_key: KeyPairBytes,
    /// Signal identity key pair.
    pub identity_key: KeyPairBytes,
    /// Signal registration id.
    pub registration_id: u32,
    /// Signed prekey.
    pub signed_prekey: SignedPreKeyBytes,
    /// ADV secret key (HMAC key for the pairing device identity).
    pub adv_secret_key: [u8; 32],
    /// Our device JID once paired (`user:device@s.whatsapp.net`).
    pub jid: Option<String>,
    /// Our LID device JID once paired.
    pub lid: Option<String>,
    /// The serialised ADV signed device identity from pair-success (the "account").
    pub adv_signed_identity: Option<Vec<u8>>,
    /// Push name.
    pub push_name: String,
    /// Platform string reported by the server or chosen at registration.
    pub platform: String,
}

impl DeviceRecord {
    /// Encodes the record (versioned binary).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(512);
        w.extend_from_slice(MAGIC);
        w.push(VERSION);
        put_pair(&mut w, &self.noise_key);
        put_pair(&mut w, &self.identity_key);
        w.extend_from_slice(&self.registration_id.to_be_bytes());
        let spk = &self.signed_prekey;
        w.extend_from_slice(&spk.id.to_be_bytes());
        put_pair(&mut w, &spk.key_pair);
        w.extend_from_slice(&spk.signature);
        w.extend_from_slice(&spk.timestamp_ms.to_be_bytes());
        w.extend_from_slice(&self.adv_secret_key);
        put_opt(&mut w, self.jid.as_deref().map(str::as_bytes));
        put_opt(&mut w, self.lid.as_deref().map(str::as_bytes));
        put_opt(&mut w, self.adv_signed_identity.as_deref());
        put_bytes(&mut w, self.push_name.as_bytes());
        put_bytes(&mut w, self.platform.as_bytes());
        w
    }

    /// Decodes a record written by [`DeviceRecord::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<DeviceRecord, StoreError> {
        let mut r = Reader { b: bytes };
        if r.take(4)? != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let version = r.array::<1>()?[0];
        if version != VERSION {
            return Err(corrupt(format!("unknown record version {version}")));
        }
        let noise_key = r.pair()?;
        let identity_key = r.pair()?;
        let registration_id = r.u32()?;
        let signed_prekey = SignedPreKeyBytes {
            id: r.u32()?,
            key_pair: r.pair()?,
            signature: r.array()?,
            timestamp_ms: u64::from_be_bytes(r.array()?),
        };
        let adv_secret_key = r.array()?;
        let jid = r.opt()?.map(utf8).transpose()?;
        let lid = r.opt()?.map(utf8).transpose()?;
        let adv_signed_identity = r.opt()?.map(<[u8]>::to_vec);
        let push_name = utf8(r.bytes()?)?;
        let platform = utf8(r.bytes()?)?;
        if !r.b.is_empty() {
            return Err(corrupt(format!("{} trailing bytes", r.b.len())));
        }
        Ok(DeviceRecord {
            noise_key,
            identity_key,
            registration_id,
            signed_prekey,
            adv_secret_key,
            jid,
            lid,
            adv_signed_identity,
            push_name,
            platform,
        })
    }
}

fn corrupt(detail: impl Into<String>) -> StoreError {
    StoreError::corrupt("device record", detail)
}

fn utf8(b: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(b.to_vec()).map_err(|_| corrupt("string is not UTF-8"))
}

fn put_pair(w: &mut Vec<u8>, p: &KeyPairBytes) {
    w.extend_from_slice(&p.private);
    w.extend_from_slice(&p.public);
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    // Fields are far below 4 GiB; saturate rather than wrap if ever not.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    w.extend_from_slice(&len.to_be_bytes());
    w.extend_from_slice(&b[..len as usize]);
}

fn put_opt(w: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => w.push(0),
        Some(b) => {
            w.push(1);
            put_bytes(w, b);
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.b.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn pair(&mut self) -> Result<KeyPairBytes, StoreError> {
        Ok(KeyPairBytes {
            private: self.array()?,
            public: self.array()?,
        })
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn opt(&mut self) -> Result<Option<&'a [u8]>, StoreError> {
        match self.array::<1>()?[0] {
            0 => Ok(None),
            1 => self.bytes().map(Some),
            t => Err(corrupt(format!("bad option tag {t}"))),
        }
    }
}
