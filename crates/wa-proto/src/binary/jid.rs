//! WhatsApp JIDs (addresses): `user[_agent][:device]@server`.

use std::fmt;
use std::str::FromStr;

/// The server (domain) part of a [`Jid`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users, and the WhatsApp server itself.
    Pn,
    /// `lid`: hidden "LID" users.
    Lid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: broadcast lists and `status@broadcast`.
    Broadcast,
    /// `c.us`: legacy user server.
    Legacy,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: hosted (Cloud API) phone-number accounts.
    Hosted,
    /// `hosted.lid`: hosted LID accounts.
    HostedLid,
    /// `interop`: interoperability (third-party messenger) users.
    Interop,
    /// `msgr`: Messenger users.
    Messenger,
    /// `bot`: Meta AI bots.
    Bot,
    /// `call`: call links.
    Call,
    /// Any other server name. Build it with [`Server::from_name`], which never puts a known
    /// name here.
    Other(String),
}

impl Server {
    /// Maps a server name to its kind (unknown names become [`Server::Other`]).
    pub fn from_name(name: &str) -> Server {
        match name {
            "s.whatsapp.net" => Server::Pn,
            "lid" => Server::Lid,
            "g.us" => Server::Group,
            "broadcast" => Server::Broadcast,
            "c.us" => Server::Legacy,
            "newsletter" => Server::Newsletter,
            "hosted" => Server::Hosted,
            "hosted.lid" => Server::HostedLid,
            "interop" => Server::Interop,
            "msgr" => Server::Messenger,
            "bot" => Server::Bot,
            "call" => Server::Call,
            other => Server::Other(other.to_owned()),
        }
    }

    /// The server name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Server::Pn => "s.whatsapp.net",
            Server::Lid => "lid",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Legacy => "c.us",
            Server::Newsletter => "newsletter",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Interop => "interop",
            Server::Messenger => "msgr",
            Server::Bot => "bot",
            Server::Call => "call",
            Server::Other(s) => s,
        }
    }

    /// The AD_JID domain byte of this server, if it has one (0, 1, 128, 129).
    pub(crate) fn ad_domain(&self) -> Option<u8> {
        match self {
            Server::Pn => Some(0),
            Server::Lid => Some(1),
            Server::Hosted => Some(128),
            Server::HostedLid => Some(129),
            _ => None,
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WhatsApp address: `user[_agent][:device]@server`, or
/// `integrator-user[:device]@interop` for interop users.
///
/// Text forms ([`FromStr`] / [`Display`](fmt::Display)):
/// - `5511999999999@s.whatsapp.net`, `5511999999999:12@s.whatsapp.net` (device 0 is omitted),
///   `123456789012345:3@lid`, `120363000000000000@g.us`, `status@broadcast`;
/// - a server-only JID prints as `@s.whatsapp.net` (parsing also accepts a bare known server name
///   such as `s.whatsapp.net`);
/// - a non-zero agent prints in Baileys' form `user_agent:device@server`; parsing accepts that and
///   whatsmeow's `user.agent:device@server`;
/// - interop JIDs print as `integrator-user:device@interop` (as Baileys does).
///
/// ```
/// use wa_proto::binary::{Jid, Server};
/// let jid: Jid = "5511999999999:12@s.whatsapp.net".parse().unwrap();
/// assert_eq!(jid.user, "5511999999999");
/// assert_eq!(jid.device, 12);
/// assert_eq!(jid.server, Server::Pn);
/// assert_eq!(jid.to_non_ad().to_string(), "5511999999999@s.whatsapp.net");
/// assert_eq!(Jid::server().to_string(), "@s.whatsapp.net");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    /// The user part (phone number, LID, group id...), empty for a server JID.
    pub user: String,
    /// The agent; 0 for ordinary JIDs. On the wire it is the AD_JID domain byte of a
    /// `s.whatsapp.net` device JID, so the values 1, 128 and 129 (the LID and hosted domains)
    /// cannot be sent as agents, and other servers carry none.
    pub agent: u8,
    /// The device id; 0 is the primary device. AD_JID carries only 8 bits of it.
    pub device: u16,
    /// The integrator id of an interop JID, else 0.
    pub integrator: u16,
    /// The server.
    pub server: Server,
}

impl Jid {
    /// A JID with the given user and server, agent and device 0.
    pub fn new(user: impl Into<String>, server: Server) -> Jid {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            integrator: 0,
            server,
        }
    }

    /// The WhatsApp server itself: empty user, `s.whatsapp.net` (written as `fa 00 03`).
    pub fn server() -> Jid {
        Jid::new("", Server::Pn)
    }

    /// The server-only JID of any server (for example `@g.us`).
    pub fn server_of(server: Server) -> Jid {
        Jid::new("", server)
    }

    /// A phone-number user: `phone@s.whatsapp.net` (the digits are taken as given).
    pub fn user(phone: impl Into<String>) -> Jid {
        Jid::new(phone, Server::Pn)
    }

    /// Same as [`Jid::user`].
    pub fn pn(phone: impl Into<String>) -> Jid {
        Jid::new(phone, Server::Pn)
    }

    /// A LID user: `lid@lid`.
    pub fn lid(lid: impl Into<String>) -> Jid {
        Jid::new(lid, Server::Lid)
    }

    /// A group: `id@g.us`.
    pub fn group(id: impl Into<String>) -> Jid {
        Jid::new(id, Server::Group)
    }

    /// `status@broadcast`.
    pub fn status_broadcast() -> Jid {
        Jid::new("status", Server::Broadcast)
    }

    /// This JID with another device.
    #[must_use]
    pub fn with_device(mut self, device: u16) -> Jid {
        self.device = device;
        self
    }

    /// This JID with another agent.
    #[must_use]
    pub fn with_agent(mut self, agent: u8) -> Jid {
        self.agent = agent;
        self
    }

    /// The same user without device and agent (`user@server`).
    #[must_use]
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            agent: 0,
            device: 0,
            integrator: self.integrator,
            server: self.server.clone(),
        }
    }

    /// True for a server-only JID (empty user).
    pub fn is_server_jid(&self) -> bool {
        self.user.is_empty()
    }

    /// True for a group (`@g.us`).
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }

    /// True for a phone-number user (`@s.whatsapp.net` with a user).
    pub fn is_pn(&self) -> bool {
        self.server == Server::Pn && !self.user.is_empty()
    }

    /// True for a LID user (`@lid` with a user).
    pub fn is_lid(&self) -> bool {
        self.server == Server::Lid && !self.user.is_empty()
    }

    /// True for any `@broadcast` JID (including `status@broadcast`).
    pub fn is_broadcast(&self) -> bool {
        self.server == Server::Broadcast
    }

    /// True for `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == Server::Broadcast && self.user == "status"
    }

    /// True for a newsletter (channel).
    pub fn is_newsletter(&self) -> bool {
        self.server == Server::Newsletter
    }

    /// True for hosted accounts (`hosted`, `hosted.lid`).
    pub fn is_hosted(&self) -> bool {
        matches!(self.server, Server::Hosted | Server::HostedLid)
    }

    /// True for a bot (`@bot`).
    pub fn is_bot(&self) -> bool {
        self.server == Server::Bot
    }

    /// True if this JID names one device of a user (a non-zero device).
    pub fn is_ad(&self) -> bool {
        self.device != 0
    }

    /// True if both JIDs name the same user on the same server (device and agent ignored).
    pub fn same_user(&self, other: &Jid) -> bool {
        self.user == other.user && self.server == other.server
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.server == Server::Interop && self.integrator != 0 {
            write!(f, "{}-", self.integrator)?;
        }
        f.write_str(&self.user)?;
        if self.agent != 0 {
            write!(f, "_{}", self.agent)?;
        }
        if self.device != 0 {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server.as_str())
    }
}

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JidParseError {
    /// No `@` and not a known server name.
    #[error("not a JID (no '@' and not a known server name)")]
    NoServer,
    /// Nothing after the `@`.
    #[error("empty server")]
    EmptyServer,
    /// More than one `@`.
    #[error("more than one '@'")]
    ExtraAt,
    /// The device after `:` is not a number in 0..=65535.
    #[error("invalid device {0:?}")]
    InvalidDevice(String),
    /// The agent after `_` (or `.`) is not a number in 0..=255.
    #[error("invalid agent {0:?}")]
    InvalidAgent(String),
    /// The integrator before `-` of an interop JID is not a number in 0..=65535.
    #[error("invalid integrator {0:?}")]
    InvalidIntegrator(String),
}

/// whatsmeow's agent suffix: `user.agent` with 1 to 3 digits of agent (0..=255). The string
/// encoder uses the same rule, so a string and its parsed JID encode alike.
pub(crate) fn split_dot_agent(user_agent: &str) -> Option<(&str, u8)> {
    let (user, agent) = user_agent.rsplit_once('.')?;
    if agent.is_empty() || agent.len() > 3 || !agent.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((user, agent.parse().ok()?))
}

fn parse_decimal<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for Jid {
    type Err = JidParseError;

    fn from_str(s: &str) -> Result<Jid, JidParseError> {
        let Some((left, server_name)) = s.split_once('@') else {
            return match Server::from_name(s) {
                Server::Other(_) => Err(JidParseError::NoServer),
                server => Ok(Jid::server_of(server)),
            };
        };
        if server_name.is_empty() {
            return Err(JidParseError::EmptyServer);
        }
        if server_name.contains('@') {
            return Err(JidParseError::ExtraAt);
        }
        let server = Server::from_name(server_name);
        let (mut user, device) = match left.rsplit_once(':') {
            Some((u, d)) => (
                u,
                parse_decimal::<u16>(d).ok_or_else(|| JidParseError::InvalidDevice(d.into()))?,
            ),
            None => (left, 0),
        };
        let mut jid = Jid::new("", server).with_device(device);
        if jid.server == Server::Interop {
            if let Some((integrator, u)) = user.split_once('-') {
                jid.integrator = parse_decimal(integrator)
                    .ok_or_else(|| JidParseError::InvalidIntegrator(integrator.into()))?;
                user = u;
            }
        } else if let Some((u, agent)) = user
            .rsplit_once('_')
            .filter(|(_, a)| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        {
            jid.agent =
                parse_decimal(agent).ok_or_else(|| JidParseError::InvalidAgent(agent.into()))?;
            user = u;
        } else if jid.server == Server::Pn && left.contains(':') {
            // whatsmeow's agent form `user.agent:device@s.whatsapp.net`.
            if let Some((u, agent)) = split_dot_agent(user) {
                jid.agent = agent;
                user = u;
            }
        }
        jid.user = user.to_owned();
        Ok(jid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Jid {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_and_prints_the_usual_forms() {
        for s in [
            "5511999999999@s.whatsapp.net",
            "5511999999999:12@s.whatsapp.net",
            "123456789012345:3@lid",
            "120363000000000000@g.us",
            "71915661721-9699623338@g.us",
            "status@broadcast",
            "@s.whatsapp.net",
            "@g.us",
            "120363495398659782@newsletter",
            "980980993684:5@hosted",
            "338151081771172:82@hosted.lid",
            "13135558400@bot",
            "A21FB82EAA66E7C34163C647C7C568EF@call",
            "12345:7@msgr",
            "17-999:2@interop",
            "53506080048_5:12@s.whatsapp.net",
            "x@example.org",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
    }

    #[test]
    fn fields_of_parsed_jids() {
        let j = p("53506080048_5:12@s.whatsapp.net");
        assert_eq!((j.user.as_str(), j.agent, j.device), ("53506080048", 5, 12));
        let j = p("53506080048.5:12@s.whatsapp.net");
        assert_eq!((j.user.as_str(), j.agent, j.device), ("53506080048", 5, 12));
        let j = p("17-999:2@interop");
        assert_eq!((j.integrator, j.user.as_str(), j.device), (17, "999", 2));
        assert_eq!(p("s.whatsapp.net"), Jid::server());
        assert_eq!(p("g.us"), Jid::server_of(Server::Group));
        assert_eq!(p("1.5@s.whatsapp.net").user, "1.5");
        assert_eq!(p("5511:0@s.whatsapp.net"), Jid::user("5511"));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!("hello".parse::<Jid>(), Err(JidParseError::NoServer));
        assert_eq!("a@".parse::<Jid>(), Err(JidParseError::EmptyServer));
        assert_eq!("a@b@c".parse::<Jid>(), Err(JidParseError::ExtraAt));
        assert!(matches!(
            "a:x@lid".parse::<Jid>(),
            Err(JidParseError::InvalidDevice(_))
        ));
        assert!(matches!(
            "a:70000@lid".parse::<Jid>(),
            Err(JidParseError::InvalidDevice(_))
        ));
        assert!(matches!(
            "a_300:1@s.whatsapp.net".parse::<Jid>(),
            Err(JidParseError::InvalidAgent(_))
        ));
        assert_eq!(p("a_b:1@s.whatsapp.net").user, "a_b");
        assert!(matches!(
            "x-1@interop".parse::<Jid>(),
            Err(JidParseError::InvalidIntegrator(_))
        ));
    }

    #[test]
    fn helpers() {
        let j = Jid::user("5511").with_device(3);
        assert!(j.is_pn() && j.is_ad() && !j.is_group());
        assert_eq!(j.to_non_ad(), Jid::user("5511"));
        assert!(Jid::group("1").is_group());
        assert!(Jid::status_broadcast().is_status_broadcast());
        assert!(Jid::server().is_server_jid() && !Jid::server().is_pn());
        assert!(Jid::lid("1").is_lid());
        assert!(j.same_user(&Jid::pn("5511")));
    }
}
