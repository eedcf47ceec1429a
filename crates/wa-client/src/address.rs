//! Turning what people type into a JID.

use wa_proto::binary::{Jid, Server};

/// Why an address was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing was given.
    #[error("empty address")]
    Empty,
    /// A character that does not belong in a phone number.
    #[error("invalid character {0:?} in phone number")]
    InvalidCharacter(char),
    /// Too few or too many digits (E.164 numbers have 8 to 15 digits with the country code).
    #[error("phone number must have 8 to 15 digits including the country code, got {0}")]
    InvalidLength(usize),
    /// Phone numbers with a country code never start with 0.
    #[error("phone number must start with the country code, not 0")]
    LeadingZero,
    /// A JID that cannot be parsed or that does not name a user or group.
    #[error("invalid JID {0:?}")]
    InvalidJid(String),
}

const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

/// Parse a phone number in any usual form (`+55 11 91234-5678`, `(555) 123-4567` with country
/// code, `5511912345678`, `0055...` international prefix is NOT accepted) or a JID
/// (`5511912345678@s.whatsapp.net`, legacy `...@c.us`, `...@lid`, `...@g.us`) into a JID.
///
/// ```
/// let jid = wa_client::parse_phone_number("+55 11 91234-5678").unwrap();
/// assert_eq!(jid.to_string(), "5511912345678@s.whatsapp.net");
/// ```
pub fn parse_phone_number(input: &str) -> Result<Jid, AddressError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(AddressError::Empty);
    }
    if input.contains('@') {
        return parse_jid(input);
    }
    let mut digits = String::with_capacity(input.len());
    for (i, c) in input.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            other => return Err(AddressError::InvalidCharacter(other)),
        }
    }
    check_digits(&digits)?;
    Ok(Jid::pn(digits))
}

fn check_digits(digits: &str) -> Result<(), AddressError> {
    if digits.is_empty() {
        return Err(AddressError::Empty);
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(AddressError::InvalidLength(digits.len()));
    }
    if digits.starts_with('0') {
        return Err(AddressError::LeadingZero);
    }
    Ok(())
}

fn parse_jid(input: &str) -> Result<Jid, AddressError> {
    let bad = || AddressError::InvalidJid(input.to_owned());
    let jid: Jid = input.parse().map_err(|_| bad())?;
    if jid.user.is_empty() {
        return Err(bad());
    }
    match jid.server {
        Server::Pn | Server::Legacy => {
            check_digits(&jid.user).map_err(|_| bad())?;
            let mut out = Jid::pn(jid.user.clone());
            out.device = jid.device;
            Ok(out)
        }
        Server::Lid | Server::Group => Ok(jid),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_people_type() {
        for s in [
            "+55 11 91234-5678",
            "5511912345678",
            " +55 (11) 91234.5678 ",
            "5511912345678@s.whatsapp.net",
            "5511912345678@c.us",
        ] {
            assert_eq!(
                parse_phone_number(s).unwrap().to_string(),
                "5511912345678@s.whatsapp.net",
                "{s}"
            );
        }
        assert_eq!(
            parse_phone_number("15550001111").unwrap().user,
            "15550001111"
        );
        assert_eq!(
            parse_phone_number("123456789012345@lid")
                .unwrap()
                .to_string(),
            "123456789012345@lid"
        );
        assert_eq!(
            parse_phone_number("120363000000000000@g.us")
                .unwrap()
                .to_string(),
            "120363000000000000@g.us"
        );
    }

    #[test]
    fn rejects_garbage_with_clear_errors() {
        assert_eq!(parse_phone_number("  "), Err(AddressError::Empty));
        assert_eq!(parse_phone_number("+"), Err(AddressError::Empty));
        assert_eq!(
            parse_phone_number("55a11"),
            Err(AddressError::InvalidCharacter('a'))
        );
        assert_eq!(
            parse_phone_number("1+5550001111"),
            Err(AddressError::InvalidCharacter('+'))
        );
        assert_eq!(
            parse_phone_number("12345"),
            Err(AddressError::InvalidLength(5))
        );
        assert_eq!(
            parse_phone_number("1234567890123456"),
            Err(AddressError::InvalidLength(16))
        );
        assert_eq!(
            parse_phone_number("011912345678"),
            Err(AddressError::LeadingZero)
        );
        assert!(matches!(
            parse_phone_number("abc@s.whatsapp.net"),
            Err(AddressError::InvalidJid(_))
        ));
        assert!(matches!(
            parse_phone_number("@s.whatsapp.net"),
            Err(AddressError::InvalidJid(_))
        ));
        assert!(matches!(
            parse_phone_number("1555000111@broadcast"),
            Err(AddressError::InvalidJid(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_phone_number(&s);
        }

        #[test]
        fn digits_roundtrip(n in 10_000_000u64..999_999_999_999_999u64) {
            let jid = parse_phone_number(&format!("+{n}")).unwrap();
            proptest::prop_assert_eq!(jid.user, n.to_string());
        }
    }
}
