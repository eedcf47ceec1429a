//! The ClientPayload sent in the Noise ClientFinish: registration of a new device, or login of a
//! paired one (protocol-transport.md §3).

use md5::{Digest, Md5};
use wa_proto::proto::{ClientPayload, DeviceProps, client_payload, device_props};

use crate::config::ClientConfig;

/// The public halves of our Signal keys, announced at registration.
#[derive(Debug, Clone)]
pub(crate) struct RegistrationKeys {
    pub(crate) registration_id: u32,
    pub(crate) identity_pub: [u8; 32],
    pub(crate) signed_prekey_id: u32,
    pub(crate) signed_prekey_pub: [u8; 32],
    pub(crate) signed_prekey_sig: [u8; 64],
}

fn base_payload(config: &ClientConfig) -> ClientPayload {
    let v = config.app_version;
    ClientPayload {
        user_agent: Some(client_payload::UserAgent {
            platform: Some(client_payload::user_agent::Platform::Web as i32),
            app_version: Some(client_payload::user_agent::AppVersion {
                primary: Some(v.primary),
                secondary: Some(v.secondary),
                tertiary: Some(v.tertiary),
                quaternary: None,
                quinary: None,
            }),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some("0.1".into()),
            manufacturer: Some(String::new()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1".into()),
            release_channel: Some(client_payload::user_agent::ReleaseChannel::Release as i32),
            locale_language_iso6391: Some("en".into()),
            locale_country_iso31661_alpha2: Some("US".into()),
            ..Default::default()
        }),
        web_info: Some(client_payload::WebInfo {
            web_sub_platform: Some(client_payload::web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        connect_type: Some(client_payload::ConnectType::WifiUnknown as i32),
        connect_reason: Some(client_payload::ConnectReason::UserActivated as i32),
        ..Default::default()
    }
}

/// MD5 of "primary.secondary.tertiary".
pub(crate) fn build_hash(config: &ClientConfig) -> [u8; 16] {
    Md5::digest(config.app_version.to_string().as_bytes()).into()
}

/// The serialized DeviceProps: the name the phone shows, our version and platform.
pub(crate) fn device_props(config: &ClientConfig) -> Vec<u8> {
    use prost::Message;
    DeviceProps {
        os: Some(config.device_name.clone()),
        version: Some(device_props::AppVersion {
            primary: Some(0),
            secondary: Some(1),
            tertiary: Some(0),
            quaternary: None,
            quinary: None,
        }),
        platform_type: Some(config.platform.platform_type()),
        require_full_sync: Some(false),
        history_sync_config: Some(device_props::HistorySyncConfig {
            storage_quota_mb: Some(10240),
            inline_initial_payload_in_e2ee_msg: Some(true),
            support_call_log_history: Some(false),
            thumbnail_sync_days_limit: Some(60),
            ..Default::default()
        }),
    }
    .encode_to_vec()
}

/// Payload for a device that has no JID yet (§3.3).
pub(crate) fn registration_payload(
    config: &ClientConfig,
    keys: &RegistrationKeys,
) -> ClientPayload {
    let mut p = base_payload(config);
    p.passive = Some(false);
    p.pull = Some(false);
    p.push_name = config.push_name.clone();
    let id = keys.signed_prekey_id.to_be_bytes();
    p.device_pairing_data = Some(client_payload::DevicePairingRegistrationData {
        e_regid: Some(keys.registration_id.to_be_bytes().to_vec()),
        e_keytype: Some(vec![0x05]),
        e_ident: Some(keys.identity_pub.to_vec()),
        e_skey_id: Some(id[1..].to_vec()),
        e_skey_val: Some(keys.signed_prekey_pub.to_vec()),
        e_skey_sig: Some(keys.signed_prekey_sig.to_vec()),
        build_hash: Some(build_hash(config).to_vec()),
        device_props: Some(device_props(config)),
    });
    p
}

/// Payload for a paired device (§3.4): `username` is the phone number, `device` the device id.
pub(crate) fn login_payload(config: &ClientConfig, username: u64, device: u32) -> ClientPayload {
    let mut p = base_payload(config);
    p.username = Some(username);
    p.device = Some(device);
    p.passive = Some(true);
    p.pull = Some(true);
    p.lid_db_migrated = Some(true);
    p.lc = Some(1);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn build_hash_is_md5_of_the_version() {
        let c = ClientConfig::builder()
            .app_version_str("2.3000.1")
            .build()
            .unwrap();
        // md5("2.3000.1")
        assert_eq!(
            hex::encode(build_hash(&c)),
            hex::encode(Md5::digest(b"2.3000.1"))
        );
        assert_eq!(
            hex::encode(Md5::digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn registration_payload_layout() {
        let c = ClientConfig::builder().device_name("bot").build().unwrap();
        let keys = RegistrationKeys {
            registration_id: 0x0102_0304,
            identity_pub: [7; 32],
            signed_prekey_id: 1,
            signed_prekey_pub: [8; 32],
            signed_prekey_sig: [9; 64],
        };
        let p = registration_payload(&c, &keys);
        let bytes = p.encode_to_vec();
        let back = ClientPayload::decode(bytes.as_slice()).unwrap();
        let d = back.device_pairing_data.unwrap();
        assert_eq!(d.e_regid.unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(d.e_keytype.unwrap(), vec![5]);
        assert_eq!(d.e_skey_id.unwrap(), vec![0, 0, 1]);
        assert_eq!(d.e_skey_sig.unwrap().len(), 64);
        let props = DeviceProps::decode(d.device_props.unwrap().as_slice()).unwrap();
        assert_eq!(props.os.as_deref(), Some("bot"));
        assert_eq!(back.passive, Some(false));
        assert!(back.username.is_none());
    }

    #[test]
    fn login_payload_layout() {
        let c = ClientConfig::default();
        let p = login_payload(&c, 5511999999999, 42);
        assert_eq!(p.username, Some(5511999999999));
        assert_eq!(p.device, Some(42));
        assert_eq!(p.passive, Some(true));
        assert!(p.device_pairing_data.is_none());
    }
}
