//! HTTP Basic credentials (RFC 7617): `Authorization: Basic
//! base64(user:password)`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// A user name and password, as sent by a client.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password (never logged).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Decode the part after `Basic `. `None` when it is not base64 of UTF-8
/// text containing a `:` (the user name ends at the first one).
pub fn parse(b64: &str) -> Option<Credentials> {
    let b64 = b64.trim();
    let raw = STANDARD
        .decode(b64)
        .or_else(|_| STANDARD_NO_PAD.decode(b64))
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(Credentials {
        user: user.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7617_example_and_errors() {
        let c = parse("QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("Aladdin", "open sesame")
        );
        let c = parse("dTpwOnE").unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p:q"));
        assert_eq!(parse("Og==").unwrap().user, "");
        assert!(parse("bm9jb2xvbg==").is_none()); // "nocolon"
        assert!(parse("!!!").is_none());
        assert!(parse("/w==").is_none()); // not UTF-8
        assert!(!format!("{:?}", parse("dTpzZWNyZXQ=").unwrap()).contains("secret"));
    }
}
