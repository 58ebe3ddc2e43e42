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

/// Basic credentials decoded in place, into a stack buffer, so checking
/// them on every request allocates nothing (credentials longer than the
/// buffer go to the heap). [`Decoded::split`] borrows the user name and
/// password from it.
pub struct Decoded {
    buf: Buf,
    len: usize,
}

enum Buf {
    Stack([u8; INLINE]),
    Heap(Vec<u8>),
}

/// Decoded bytes kept on the stack: user names and passwords up to about
/// this long (together) cost no allocation.
const INLINE: usize = 192;

impl Decoded {
    /// Decode the part after `Basic ` (trimmed). `None` when it is not
    /// base64.
    pub fn parse(b64: &str) -> Option<Decoded> {
        let b64 = b64.as_bytes();
        let mut d = Decoded {
            buf: Buf::Stack([0; INLINE]),
            len: 0,
        };
        if let Buf::Stack(stack) = &mut d.buf
            && let Some(n) = decode_slice(b64, stack)
        {
            d.len = n;
            return Some(d);
        }
        // It would have fitted: not base64.
        if b64.len().div_ceil(4) * 3 <= INLINE {
            return None;
        }
        let raw = STANDARD
            .decode(b64)
            .or_else(|_| STANDARD_NO_PAD.decode(b64))
            .ok()?;
        Some(Decoded {
            len: raw.len(),
            buf: Buf::Heap(raw),
        })
    }

    /// The user name and password: `None` unless the text is UTF-8 with a
    /// `:` (the user name ends at the first one).
    pub fn split(&self) -> Option<(&str, &str)> {
        let bytes = match &self.buf {
            Buf::Stack(b) => &b[..self.len],
            Buf::Heap(v) => v,
        };
        let colon = bytes.iter().position(|&b| b == b':')?;
        let text = std::str::from_utf8(bytes).ok()?;
        Some((&text[..colon], &text[colon + 1..]))
    }
}

/// Padded or unpadded base64 into `out`; `None` when it is not base64 or
/// does not fit.
fn decode_slice(b64: &[u8], out: &mut [u8]) -> Option<usize> {
    STANDARD
        .decode_slice(b64, out)
        .or_else(|_| STANDARD_NO_PAD.decode_slice(b64, out))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b64: &str) -> Option<Credentials> {
        let d = Decoded::parse(b64)?;
        let (user, password) = d.split()?;
        Some(Credentials {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

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

    #[test]
    fn long_credentials_on_the_heap() {
        for n in [INLINE - 10, INLINE - 1, INLINE, INLINE + 1, 4 * INLINE] {
            let password = "p".repeat(n);
            let text = format!("user:{password}");
            for engine in [STANDARD, STANDARD_NO_PAD] {
                let c = parse(&engine.encode(&text)).unwrap();
                assert_eq!((c.user.as_str(), c.password.as_str()), ("user", &*password));
                let bad = format!("{}!", engine.encode(&text));
                assert!(Decoded::parse(&bad).is_none(), "{n}");
            }
        }
    }
}
