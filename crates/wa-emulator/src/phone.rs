//! The simulated primary phone (device 0) of each account: a Signal party with its own
//! identity and prekeys, an inbox of decrypted messages, and the ability to send.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use wa_signal::{KeyPair, PrivateKey};

/// How many one-time prekeys a phone generates at a time.
const PREKEY_BATCH: u32 = 50;

/// A message the simulated phone received and decrypted (JSON shape of design.md §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboxMessage {
    /// The sender's message id.
    pub id: String,
    /// The sender's phone-number JID (`<phone>@s.whatsapp.net`).
    pub from: String,
    /// The message timestamp (unix seconds, from the server).
    pub timestamp: u64,
    /// `text`, `image`, `video`, `audio`, `document`, `sticker` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    /// The caption of a media message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub caption: Option<String>,
    /// The mimetype of a media message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mimetype: Option<String>,
    /// Hex SHA-256 of the downloaded and verified media plaintext.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// Size in bytes of the media plaintext.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size: Option<u64>,
}

/// Device 0's keys and Signal state, persisted with the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PhoneState {
    pub(crate) identity_private: [u8; 32],
    pub(crate) registration_id: u32,
    pub(crate) signed_prekey_id: u32,
    pub(crate) signed_prekey_private: [u8; 32],
    pub(crate) signed_prekey_signature: Vec<u8>,
    pub(crate) next_prekey_id: u32,
    /// Private one-time prekeys not yet used by an incoming pkmsg.
    pub(crate) prekeys: BTreeMap<u32, [u8; 32]>,
    /// Ids of one-time prekeys not yet handed out by the server.
    pub(crate) unserved: BTreeSet<u32>,
    /// Serialized Signal session records by address (`user.device` on `s.whatsapp.net`).
    #[serde(default)]
    pub(crate) sessions: BTreeMap<String, Vec<u8>>,
    /// Decrypted received messages, oldest first.
    #[serde(default)]
    pub(crate) inbox: Vec<InboxMessage>,
}

impl PhoneState {
    /// A fresh phone: identity, signed prekey 1 and a batch of one-time prekeys.
    pub(crate) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> PhoneState {
        let identity = KeyPair::generate(rng);
        let spk = KeyPair::generate(rng);
        let sig = identity
            .private
            .calculate_signature(&spk.public.serialize(), rng);
        let mut st = PhoneState {
            identity_private: identity.private.to_bytes(),
            registration_id: (rng.next_u32() & 0x3fff).max(1),
            signed_prekey_id: 1,
            signed_prekey_private: spk.private.to_bytes(),
            signed_prekey_signature: sig.to_vec(),
            next_prekey_id: 1,
            prekeys: BTreeMap::new(),
            unserved: BTreeSet::new(),
            sessions: BTreeMap::new(),
            inbox: Vec::new(),
        };
        st.top_up_prekeys(rng);
        st
    }

    pub(crate) fn identity(&self) -> KeyPair {
        KeyPair::from_private(PrivateKey::from_bytes(self.identity_private))
    }

    pub(crate) fn signed_prekey(&self) -> KeyPair {
        KeyPair::from_private(PrivateKey::from_bytes(self.signed_prekey_private))
    }

    /// Generates another batch of one-time prekeys.
    pub(crate) fn top_up_prekeys<R: RngCore + CryptoRng>(&mut self, rng: &mut R) {
        for _ in 0..PREKEY_BATCH {
            let id = self.next_prekey_id;
            self.next_prekey_id = if id >= 0x00ff_ffff { 1 } else { id + 1 };
            let k = PrivateKey::generate(rng);
            self.prekeys.insert(id, k.to_bytes());
            self.unserved.insert(id);
        }
    }

    /// Hands out one one-time prekey (id, public) for a bundle fetch, consuming it.
    pub(crate) fn take_prekey<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
    ) -> Option<(u32, [u8; 32])> {
        if self.unserved.len() < 5 {
            self.top_up_prekeys(rng);
        }
        let id = self.unserved.pop_first()?;
        let private = self.prekeys.get(&id)?;
        Some((id, *PrivateKey::from_bytes(*private).public_key().as_djb()))
    }
}
