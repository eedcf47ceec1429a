//! Client configuration: where to connect, whom to trust, how to present ourselves, timeouts.
//!
//! Build one with [`ClientConfig::builder`]. Every field has a default that talks to the real
//! WhatsApp service; tests point [`ClientConfigBuilder::ws_url`] and
//! [`ClientConfigBuilder::root_public_key`] at an emulator instead (design.md §2 rule 3: trust is
//! configuration, there is no "skip verification" switch).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand_core::{CryptoRng, RngCore};

/// The production WebSocket endpoint.
pub const DEFAULT_WS_URL: &str = "wss://web.whatsapp.com/ws/chat";

/// WhatsApp's real Noise certificate root public key (X25519 / XEdDSA), protocol-transport.md §2.4.
pub const WHATSAPP_ROOT_PUBLIC_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The web client version we announce unless overridden (`primary.secondary.tertiary`).
pub const DEFAULT_APP_VERSION: AppVersion = AppVersion {
    primary: 2,
    secondary: 3000,
    tertiary: 1_035_194_821,
};

/// A WhatsApp Web build version, announced in the ClientPayload and hashed into the
/// registration's `buildHash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppVersion {
    /// Major version (2).
    pub primary: u32,
    /// Minor version (3000).
    pub secondary: u32,
    /// The web build (`client_revision` of web.whatsapp.com/sw.js).
    pub tertiary: u32,
}

impl fmt::Display for AppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.primary, self.secondary, self.tertiary)
    }
}

impl std::str::FromStr for AppVersion {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::InvalidAppVersion(s.to_owned());
        let mut it = s.trim().split('.');
        let mut next = || it.next().ok_or_else(bad)?.parse::<u32>().map_err(|_| bad());
        let v = AppVersion {
            primary: next()?,
            secondary: next()?,
            tertiary: next()?,
        };
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

/// The kind of companion we present to the phone (the `DeviceProps.platformType` and the last
/// field of the QR text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DevicePlatform {
    /// Unknown / generic.
    Unknown,
    /// Google Chrome.
    Chrome,
    /// Mozilla Firefox.
    Firefox,
    /// Apple Safari.
    Safari,
    /// Microsoft Edge.
    Edge,
    /// A desktop application.
    Desktop,
}

impl DevicePlatform {
    /// `DeviceProps.PlatformType` enum value.
    pub fn platform_type(self) -> i32 {
        match self {
            DevicePlatform::Unknown => 0,
            DevicePlatform::Chrome => 1,
            DevicePlatform::Firefox => 2,
            DevicePlatform::Safari => 5,
            DevicePlatform::Edge => 6,
            DevicePlatform::Desktop => 7,
        }
    }

    /// The companion web-client type character that ends the QR text (protocol-transport.md §5.2).
    pub fn qr_platform_id(self) -> char {
        match self {
            DevicePlatform::Unknown => '0',
            DevicePlatform::Chrome => '1',
            DevicePlatform::Edge => '2',
            DevicePlatform::Firefox => '3',
            DevicePlatform::Safari => '6',
            DevicePlatform::Desktop => '7',
        }
    }
}

/// A source of wall-clock time, injectable for tests.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

trait DynRng: RngCore + CryptoRng + Send {}
impl<T: RngCore + CryptoRng + Send> DynRng for T {}

/// A cloneable, thread-safe cryptographic RNG handle (default: the operating system's RNG).
///
/// Clones share one generator, so a seeded generator gives a reproducible sequence across the
/// whole client.
#[derive(Clone)]
pub struct SharedRng(Arc<Mutex<Box<dyn DynRng>>>);

impl SharedRng {
    /// Wrap any cryptographic RNG.
    pub fn new(rng: impl RngCore + CryptoRng + Send + 'static) -> Self {
        SharedRng(Arc::new(Mutex::new(Box::new(rng))))
    }

    /// The operating system's RNG.
    pub fn os() -> Self {
        Self::new(rand_core::OsRng)
    }

    fn with<R>(&self, f: impl FnOnce(&mut dyn DynRng) -> R) -> R {
        let mut guard = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(guard.as_mut())
    }
}

impl fmt::Debug for SharedRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedRng")
    }
}

impl RngCore for SharedRng {
    fn next_u32(&mut self) -> u32 {
        self.with(|r| r.next_u32())
    }
    fn next_u64(&mut self) -> u64 {
        self.with(|r| r.next_u64())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.with(|r| r.fill_bytes(dest))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.with(|r| r.try_fill_bytes(dest))
    }
}

impl CryptoRng for SharedRng {}

/// Timeouts and timer intervals. The defaults follow the anchor clients (protocol-transport.md).
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// TCP + TLS + WebSocket upgrade.
    pub connect: Duration,
    /// Waiting for the server hello (20 s in every anchor client).
    pub handshake: Duration,
    /// Default IQ response timeout.
    pub iq: Duration,
    /// How long the first QR code is valid (60 s on the protocol schedule).
    pub qr_first: Duration,
    /// How long each later QR code is valid (20 s).
    pub qr_next: Duration,
    /// Minimum interval between keepalive pings.
    pub keepalive_min: Duration,
    /// Maximum interval between keepalive pings.
    pub keepalive_max: Duration,
    /// Deadline for a keepalive response; a miss means the socket is dead.
    pub keepalive_response: Duration,
    /// First reconnect delay.
    pub reconnect_initial: Duration,
    /// Cap of the exponential reconnect delay.
    pub reconnect_max: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(20),
            handshake: Duration::from_secs(20),
            iq: Duration::from_secs(75),
            qr_first: Duration::from_secs(60),
            qr_next: Duration::from_secs(20),
            keepalive_min: Duration::from_secs(20),
            keepalive_max: Duration::from_secs(30),
            keepalive_response: Duration::from_secs(20),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
        }
    }
}

/// Errors from building a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The WebSocket URL is not `ws://` or `wss://`.
    #[error("invalid websocket url {0:?}: must start with ws:// or wss://")]
    InvalidUrl(String),
    /// The app version is not `a.b.c`.
    #[error("invalid app version {0:?}: expected primary.secondary.tertiary")]
    InvalidAppVersion(String),
    /// The media CA PEM holds no certificate or cannot be parsed.
    #[error("invalid media CA PEM: {0}")]
    InvalidPem(String),
    /// The root key is not 64 hex characters.
    #[error("invalid root key: expected 64 hex characters")]
    InvalidRootKey,
}

/// Everything a [`crate::Client`] needs besides its store.
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) ws_url: String,
    pub(crate) root_public_key: [u8; 32],
    pub(crate) device_name: String,
    pub(crate) platform: DevicePlatform,
    pub(crate) app_version: AppVersion,
    pub(crate) push_name: Option<String>,
    pub(crate) media_ca_pem: Vec<String>,
    pub(crate) media_ca_der: Vec<Vec<u8>>,
    pub(crate) timeouts: Timeouts,
    pub(crate) auto_reconnect: bool,
    pub(crate) event_capacity: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: SharedRng,
    pub(crate) memory_dialer: Option<crate::transport::MemoryDialer>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ws_url", &self.ws_url)
            .field("root_public_key", &hex::encode(self.root_public_key))
            .field("device_name", &self.device_name)
            .field("platform", &self.platform)
            .field("app_version", &self.app_version)
            .field("media_ca_pem", &self.media_ca_pem.len())
            .field("timeouts", &self.timeouts)
            .field("auto_reconnect", &self.auto_reconnect)
            .finish_non_exhaustive()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ws_url: DEFAULT_WS_URL.to_owned(),
            root_public_key: WHATSAPP_ROOT_PUBLIC_KEY,
            device_name: "wa-rs".to_owned(),
            platform: DevicePlatform::Chrome,
            app_version: DEFAULT_APP_VERSION,
            push_name: None,
            media_ca_pem: Vec::new(),
            media_ca_der: Vec::new(),
            timeouts: Timeouts::default(),
            auto_reconnect: true,
            event_capacity: 256,
            clock: Arc::new(SystemClock),
            rng: SharedRng::os(),
            memory_dialer: None,
        }
    }
}

impl ClientConfig {
    /// Start from the defaults (the real WhatsApp service).
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder {
            config: ClientConfig::default(),
            error: None,
        }
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }
    /// The trusted Noise root public key.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.root_public_key
    }
    /// The device name shown on the phone ("Linked devices").
    pub fn device_name(&self) -> &str {
        &self.device_name
    }
    /// The platform we present.
    pub fn platform(&self) -> DevicePlatform {
        self.platform
    }
    /// The announced web client version.
    pub fn app_version(&self) -> AppVersion {
        self.app_version
    }
    /// Extra PEM certificates trusted for media hosts, as given.
    pub fn media_ca_pem(&self) -> &[String] {
        &self.media_ca_pem
    }
    /// Extra trusted media certificates, DER-encoded (parsed from [`Self::media_ca_pem`]).
    pub fn media_ca_der(&self) -> &[Vec<u8>] {
        &self.media_ca_der
    }
    /// Timeouts and intervals.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }
    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    /// A handle to the injected RNG.
    pub fn rng(&self) -> SharedRng {
        self.rng.clone()
    }
    /// Whether network losses are retried automatically.
    pub fn auto_reconnect(&self) -> bool {
        self.auto_reconnect
    }
}

/// Builder for [`ClientConfig`]; errors surface in [`ClientConfigBuilder::build`].
#[derive(Debug)]
pub struct ClientConfigBuilder {
    config: ClientConfig,
    error: Option<ConfigError>,
}

impl ClientConfigBuilder {
    fn fail(&mut self, e: ConfigError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// The WebSocket URL (`ws://` for an emulator, `wss://` otherwise).
    pub fn ws_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            self.fail(ConfigError::InvalidUrl(url.clone()));
        }
        self.config.ws_url = url;
        self
    }

    /// The trusted Noise root public key (default: WhatsApp's).
    pub fn root_public_key(mut self, key: [u8; 32]) -> Self {
        self.config.root_public_key = key;
        self
    }

    /// The trusted Noise root public key as 64 hex characters.
    pub fn root_public_key_hex(mut self, hex_key: &str) -> Self {
        match hex::decode(hex_key.trim())
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
        {
            Some(k) => self.config.root_public_key = k,
            None => self.fail(ConfigError::InvalidRootKey),
        }
        self
    }

    /// The device name shown in the phone's linked-devices list.
    pub fn device_name(mut self, name: impl Into<String>) -> Self {
        self.config.device_name = name.into();
        self
    }

    /// The platform we present to the phone.
    pub fn platform(mut self, platform: DevicePlatform) -> Self {
        self.config.platform = platform;
        self
    }

    /// Override the announced web client version.
    pub fn app_version(mut self, version: AppVersion) -> Self {
        self.config.app_version = version;
        self
    }

    /// Override the announced web client version from `a.b.c`.
    pub fn app_version_str(mut self, version: &str) -> Self {
        match version.parse() {
            Ok(v) => self.config.app_version = v,
            Err(e) => self.fail(e),
        }
        self
    }

    /// The push name announced at registration.
    pub fn push_name(mut self, name: impl Into<String>) -> Self {
        self.config.push_name = Some(name.into());
        self
    }

    /// Trust the certificates in this PEM text for media hosts, on top of the web PKI roots.
    /// May be called several times.
    pub fn media_ca_pem(mut self, pem: impl Into<String>) -> Self {
        let pem = pem.into();
        match crate::transport::parse_pem_certs(&pem) {
            Ok(ders) if !ders.is_empty() => {
                self.config.media_ca_der.extend(ders);
                self.config.media_ca_pem.push(pem);
            }
            Ok(_) => self.fail(ConfigError::InvalidPem("no certificate found".into())),
            Err(e) => self.fail(ConfigError::InvalidPem(e)),
        }
        self
    }

    /// Replace every timeout.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

    /// Set the QR code lifetimes (first code, then each later code).
    pub fn qr_timeouts(mut self, first: Duration, next: Duration) -> Self {
        self.config.timeouts.qr_first = first;
        self.config.timeouts.qr_next = next;
        self
    }

    /// Set the IQ response timeout.
    pub fn iq_timeout(mut self, t: Duration) -> Self {
        self.config.timeouts.iq = t;
        self
    }

    /// Set the reconnect backoff (first delay, cap).
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.timeouts.reconnect_initial = initial;
        self.config.timeouts.reconnect_max = max;
        self
    }

    /// Turn automatic reconnection on network loss on or off (default on).
    pub fn auto_reconnect(mut self, on: bool) -> Self {
        self.config.auto_reconnect = on;
        self
    }

    /// Capacity of the bounded event channel (default 256, minimum 1).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.config.event_capacity = n.max(1);
        self
    }

    /// Inject a clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// Inject an RNG.
    pub fn rng(mut self, rng: SharedRng) -> Self {
        self.config.rng = rng;
        self
    }

    /// Connect through an in-memory network instead of a WebSocket (tests and scripted
    /// servers; see [`crate::transport::memory_network`]).
    pub fn memory_transport(mut self, dialer: crate::transport::MemoryDialer) -> Self {
        self.config.memory_dialer = Some(dialer);
        self
    }

    /// Finish, or report the first invalid setting.
    pub fn build(self) -> Result<ClientConfig, ConfigError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_whatsapp() {
        let c = ClientConfig::builder().build().unwrap();
        assert_eq!(c.ws_url(), DEFAULT_WS_URL);
        assert_eq!(
            hex::encode(c.root_public_key()),
            "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"
        );
    }

    #[test]
    fn builder_validates() {
        assert!(matches!(
            ClientConfig::builder().ws_url("http://x").build(),
            Err(ConfigError::InvalidUrl(_))
        ));
        assert!(matches!(
            ClientConfig::builder().app_version_str("2.3000").build(),
            Err(ConfigError::InvalidAppVersion(_))
        ));
        assert!(matches!(
            ClientConfig::builder().root_public_key_hex("abcd").build(),
            Err(ConfigError::InvalidRootKey)
        ));
        assert!(matches!(
            ClientConfig::builder().media_ca_pem("not a pem").build(),
            Err(ConfigError::InvalidPem(_))
        ));
        let c = ClientConfig::builder()
            .ws_url("ws://127.0.0.1:1/ws/chat")
            .app_version_str("2.3000.7")
            .build()
            .unwrap();
        assert_eq!(c.app_version().to_string(), "2.3000.7");
    }

    #[test]
    fn shared_rng_is_shared() {
        use rand::SeedableRng;
        let a = SharedRng::new(rand::rngs::StdRng::seed_from_u64(7));
        let mut b = a.clone();
        let mut a2 = a;
        let x = a2.next_u64();
        let y = b.next_u64();
        assert_ne!(x, y, "clones draw from one sequence");
    }
}
