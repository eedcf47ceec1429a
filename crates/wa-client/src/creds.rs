//! Our device's long-term credentials and how they are kept in the [`Store`].

use wa_proto::binary::Jid;
use wa_proto::pairing::{PairReply, VerifiedPairSuccess};
use wa_signal::{IdentityKeyPair, KeyPair, PrivateKey, SignedPreKeyRecord};

use crate::config::{ClientConfig, DevicePlatform};
use crate::error::ClientError;
use crate::events::Me;
use crate::payload::RegistrationKeys;
use crate::store::{Batch, DeviceRecord, KeyPairBytes, SignedPreKeyBytes, Store, StoreError};

/// Everything that identifies this companion device.
#[derive(Clone)]
pub(crate) struct Creds {
    pub(crate) noise: KeyPair,
    pub(crate) identity: KeyPair,
    pub(crate) registration_id: u32,
    pub(crate) signed_prekey: SignedPreKeyRecord,
    pub(crate) adv_secret: [u8; 32],
    pub(crate) jid: Option<Jid>,
    pub(crate) lid: Option<Jid>,
    pub(crate) push_name: String,
    pub(crate) platform: String,
    pub(crate) account: Option<Vec<u8>>,
}

fn corrupt(what: &str) -> ClientError {
    ClientError::Store(format!("corrupt credentials: {what}"))
}

impl Creds {
    fn generate(config: &ClientConfig) -> Creds {
        let mut rng = config.rng.clone();
        let identity = IdentityKeyPair::generate(&mut rng);
        let now_ms = config
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let signed_prekey = wa_signal::generate_signed_pre_key(&identity, 1, now_ms, &mut rng);
        let mut adv_secret = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rng, &mut adv_secret);
        Creds {
            noise: KeyPair::generate(&mut rng),
            identity: identity.key_pair().clone(),
            registration_id: wa_signal::generate_registration_id(&mut rng),
            signed_prekey,
            adv_secret,
            jid: None,
            lid: None,
            push_name: config.push_name.clone().unwrap_or_default(),
            platform: String::new(),
            account: None,
        }
    }

    pub(crate) fn registration_keys(&self) -> RegistrationKeys {
        RegistrationKeys {
            registration_id: self.registration_id,
            identity_pub: *self.identity.public.as_djb(),
            signed_prekey_id: self.signed_prekey.id,
            signed_prekey_pub: *self.signed_prekey.key_pair.public.as_djb(),
            signed_prekey_sig: self.signed_prekey.signature,
        }
    }

    /// The QR text for one server ref.
    /// The QR text for one server ref, in the form current whatsmeow and Baileys show:
    /// `https://wa.me/settings/linked_devices#ref,noise,identity,adv,platform`.
    pub(crate) fn qr_text(&self, reference: &str, platform: DevicePlatform) -> String {
        wa_proto::pairing::QrCode {
            reference: reference.to_owned(),
            noise_public: *self.noise.public.as_djb(),
            identity_public: *self.identity.public.as_djb(),
            adv_secret: self.adv_secret,
            client_type: wa_proto::pairing::CompanionClientType::from_char(
                platform.qr_platform_id(),
            ),
        }
        .to_deep_link()
    }

    fn to_record(&self) -> DeviceRecord {
        let pair = |k: &KeyPair| KeyPairBytes {
            private: k.private.to_bytes(),
            public: *k.public.as_djb(),
        };
        DeviceRecord {
            noise_key: pair(&self.noise),
            identity_key: pair(&self.identity),
            registration_id: self.registration_id,
            signed_prekey: SignedPreKeyBytes {
                id: self.signed_prekey.id,
                key_pair: pair(&self.signed_prekey.key_pair),
                signature: self.signed_prekey.signature,
                timestamp_ms: self.signed_prekey.timestamp,
            },
            adv_secret_key: self.adv_secret,
            jid: self.jid.as_ref().map(|j| j.to_string()),
            lid: self.lid.as_ref().map(|j| j.to_string()),
            adv_signed_identity: self.account.clone(),
            push_name: self.push_name.clone(),
            platform: self.platform.clone(),
        }
    }

    fn from_record(r: DeviceRecord) -> Result<Creds, ClientError> {
        let key = |k: &KeyPairBytes| KeyPair::from_private(PrivateKey::from_bytes(k.private));
        Ok(Creds {
            noise: key(&r.noise_key),
            identity: key(&r.identity_key),
            registration_id: r.registration_id,
            signed_prekey: SignedPreKeyRecord {
                id: r.signed_prekey.id,
                key_pair: key(&r.signed_prekey.key_pair),
                signature: r.signed_prekey.signature,
                timestamp: r.signed_prekey.timestamp_ms,
            },
            adv_secret: r.adv_secret_key,
            jid: r
                .jid
                .map(|j| j.parse())
                .transpose()
                .map_err(|_| corrupt("jid"))?,
            lid: r
                .lid
                .map(|j| j.parse())
                .transpose()
                .map_err(|_| corrupt("lid"))?,
            push_name: r.push_name,
            platform: r.platform,
            account: r.adv_signed_identity,
        })
    }
}

fn st(e: StoreError) -> ClientError {
    ClientError::Store(e.to_string())
}

/// The stored credentials, if any.
pub(crate) fn load(store: &dyn Store) -> Result<Option<Creds>, ClientError> {
    store
        .load_device()
        .map_err(st)?
        .map(Creds::from_record)
        .transpose()
}

/// Who we are according to the store (paired devices only).
pub(crate) fn load_me(store: &dyn Store) -> Result<Option<Me>, ClientError> {
    Ok(load(store)?.and_then(|c| {
        c.jid.map(|jid| Me {
            jid,
            lid: c.lid,
            push_name: c.push_name,
        })
    }))
}

/// The stored credentials, or fresh ones (persisted before use).
pub(crate) fn load_or_create(
    store: &dyn Store,
    config: &ClientConfig,
) -> Result<Creds, ClientError> {
    if let Some(c) = load(store)? {
        return Ok(c);
    }
    let c = Creds::generate(config);
    save(store, &c)?;
    Ok(c)
}

/// Record our own push name in the stored device record (if one exists and the name is new).
/// Returns whether it changed.
pub(crate) fn save_push_name(store: &dyn Store, name: &str) -> Result<bool, ClientError> {
    let Some(mut record) = store.load_device().map_err(st)? else {
        return Ok(false);
    };
    if name.is_empty() || record.push_name == name {
        return Ok(false);
    }
    record.push_name = name.to_owned();
    store.save_device(&record).map_err(st)?;
    Ok(true)
}

/// Persist the credentials.
pub(crate) fn save(store: &dyn Store, creds: &Creds) -> Result<(), ClientError> {
    store.save_device(&creds.to_record()).map_err(st)
}

/// Persist a pairing result in one write: our JID/LID, the signed account identity, and the
/// primary device's identity key.
pub(crate) fn save_paired(
    store: &dyn Store,
    creds: &Creds,
    verified: &VerifiedPairSuccess,
    reply: &PairReply,
) -> Result<(), ClientError> {
    use prost::Message;
    let mut c = creds.clone();
    c.account = Some(reply.account.encode_to_vec());
    let mut batch = Batch::new();
    batch.put_device(&c.to_record());
    if let Some(primary) = c.lid.as_ref().or(c.jid.as_ref()) {
        batch
            .put_identity(
                &primary_identity_address(primary),
                &verified.account_signature_key.serialize(),
            )
            .map_err(st)?;
    }
    store.apply(batch).map_err(st)
}

/// The Signal address under which the primary phone's identity key (the ADV account key) is
/// trusted after pairing: `user[@lid].0` of our account (device 0).
pub(crate) fn primary_identity_address(own: &Jid) -> String {
    match own.server {
        wa_proto::binary::Server::Lid => format!("{}@lid.0", own.user),
        _ => format!("{}.0", own.user),
    }
}

/// Forget everything (logged out).
pub(crate) fn wipe(store: &dyn Store) -> Result<(), ClientError> {
    store.wipe().map_err(st)
}

/// Generate `n` fresh one-time prekeys with the next ids and persist them (and the advanced id
/// counter) in one write, before they are announced.
pub(crate) fn new_prekeys(
    store: &dyn Store,
    config: &ClientConfig,
    n: u32,
) -> Result<Vec<wa_signal::PreKeyRecord>, ClientError> {
    let next = store.next_prekey_id().map_err(st)?.max(1);
    let keys = wa_signal::generate_pre_keys(next, n, &mut config.rng.clone());
    let after = keys
        .last()
        .map(|k| {
            if k.id >= wa_signal::prekeys::MAX_PRE_KEY_ID {
                1
            } else {
                k.id + 1
            }
        })
        .unwrap_or(next);
    let privs: Vec<(u32, [u8; 32])> = keys
        .iter()
        .map(|k| (k.id, k.key_pair.private.to_bytes()))
        .collect();
    store.store_prekeys(&privs, after).map_err(st)?;
    Ok(keys)
}
