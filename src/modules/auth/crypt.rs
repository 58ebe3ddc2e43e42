//! Stored password formats, and checking a password against them.
//!
//! | stored value | meaning |
//! |--------------|---------|
//! | not starting with `$` | clear text |
//! | `$<id>$<base64>` | Ouistiti: base64 of `H(password)`; `1` MD5, `2` SHA1, `5` SHA-256, `6` SHA-512 |
//! | `$a<id>$realm=<r>$<base64>` | Ouistiti: base64 of `H(user:r:password)`, usable by Digest; `7` SHA-512/256 is marmoset's |
//! | `$1$<salt>$<hash>` | md5-crypt |
//! | `$5$…$…`, `$6$…$…` | sha256-crypt, sha512-crypt (with optional `rounds=`) |
//! | `$y$…` | yescrypt (Debian's default in `/etc/shadow`) |
//! | `$argon2id$…` (`argon2i`, `argon2d`) | argon2, PHC string |
//!
//! The Ouistiti forms and the crypt forms share ids: they are told apart by
//! the number of `$`-separated fields (`$5$<base64>` has one, `$5$salt$hash`
//! two or three). Anything else (`!`, `*`, an empty value, unknown ids) never
//! matches. Every comparison of secrets is constant-time ([`subtle`]); the
//! slow formats (crypt, argon2) must be checked off the async executor.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq;

use super::digest::Hash;

/// A parsed stored password.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored<'a> {
    /// Clear text.
    Clear(&'a str),
    /// Ouistiti `$<id>$<base64>`: a digest of the password alone.
    Hashed {
        /// The hash function.
        hash: Hash,
        /// The decoded digest.
        digest: Vec<u8>,
    },
    /// Ouistiti `$a<id>$realm=<r>$<base64>`: `H(user:realm:password)`.
    Realm {
        /// The hash function.
        hash: Hash,
        /// The realm the digest is bound to.
        realm: &'a str,
        /// The decoded digest (Digest's HA1, binary).
        ha1: Vec<u8>,
    },
    /// `$1$salt$hash`.
    Md5Crypt(&'a str),
    /// `$5$…` / `$6$…` sha-crypt.
    ShaCrypt(&'a str),
    /// `$y$…`.
    Yescrypt(&'a str),
    /// `$argon2…$…`.
    Argon2(&'a str),
    /// Nothing can match (locked account, empty or unknown format).
    Unusable,
}

impl<'a> Stored<'a> {
    /// Parse a stored value.
    pub fn parse(s: &'a str) -> Stored<'a> {
        if s.is_empty() {
            return Stored::Unusable;
        }
        let Some(rest) = s.strip_prefix('$') else {
            return Stored::Clear(s);
        };
        let fields: Vec<&str> = rest.split('$').collect();
        let id = fields[0];
        if id.starts_with("argon2") {
            return Stored::Argon2(s);
        }
        if id == "y" {
            return Stored::Yescrypt(s);
        }
        if let Some(n) = id.strip_prefix('a') {
            // $a<id>$realm=<realm>$<base64>; the realm may not contain `$`.
            let (Some(hash), [_, realm, b64]) = (Hash::from_ouistiti_id(n), fields.as_slice())
            else {
                return Stored::Unusable;
            };
            let (Some(realm), Ok(ha1)) = (realm.strip_prefix("realm="), STANDARD.decode(b64))
            else {
                return Stored::Unusable;
            };
            return Stored::Realm { hash, realm, ha1 };
        }
        match (id, fields.len()) {
            (_, 2) => match (Hash::from_ouistiti_id(id), STANDARD.decode(fields[1])) {
                (Some(hash), Ok(digest)) if digest.len() == hash.output_len() => {
                    Stored::Hashed { hash, digest }
                }
                _ => Stored::Unusable,
            },
            ("1", 3) => Stored::Md5Crypt(s),
            ("5" | "6", 3 | 4) => Stored::ShaCrypt(s),
            _ => Stored::Unusable,
        }
    }

    /// Whether checking costs more than a few hash rounds (then it runs on a
    /// blocking thread).
    pub fn is_slow(&self) -> bool {
        matches!(
            self,
            Stored::Md5Crypt(_) | Stored::ShaCrypt(_) | Stored::Yescrypt(_) | Stored::Argon2(_)
        )
    }

    /// Whether `password` of `user` matches.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let pw = password.as_bytes();
        match self {
            Stored::Clear(s) => ct_eq(s.as_bytes(), pw),
            Stored::Hashed { hash, digest } => ct_eq(&hash.digest(pw), digest),
            Stored::Realm { hash, realm, ha1 } => ct_eq(
                &hash.digest(format!("{user}:{realm}:{password}").as_bytes()),
                ha1,
            ),
            Stored::Md5Crypt(s) => md5_crypt_verify(pw, s),
            Stored::ShaCrypt(s) => {
                use sha_crypt::PasswordVerifier as _;
                sha_crypt::ShaCrypt::default()
                    .verify_password(pw, *s)
                    .is_ok()
            }
            Stored::Yescrypt(s) => {
                use yescrypt::PasswordVerifier as _;
                yescrypt::Yescrypt::default()
                    .verify_password(pw, *s)
                    .is_ok()
            }
            Stored::Argon2(s) => {
                use argon2::password_hash::PasswordVerifier as _;
                use argon2::password_hash::phc::PasswordHash;
                PasswordHash::new(s)
                    .is_ok_and(|h| argon2::Argon2::default().verify_password(pw, &h).is_ok())
            }
            Stored::Unusable => false,
        }
    }

    /// Digest's `HA1 = H(user:realm:password)` as lowercase hex, when this
    /// stored form allows computing it for `hash` and `realm`.
    pub fn ha1(&self, hash: Hash, user: &str, realm: &str) -> Option<String> {
        match self {
            Stored::Clear(pw) => Some(hash.hex(format!("{user}:{realm}:{pw}").as_bytes())),
            Stored::Realm {
                hash: h,
                realm: r,
                ha1,
            } if *h == hash && *r == realm && ha1.len() == hash.output_len() => Some(hex(ha1)),
            _ => None,
        }
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// md5-crypt (`$1$`), the FreeBSD/glibc algorithm: 1000 rounds of MD5.
pub fn md5_crypt(password: &[u8], salt: &str) -> String {
    let salt = salt.split('$').next().unwrap_or("");
    let salt = &salt.as_bytes()[..salt.len().min(8)];
    let alt = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(b"$1$")
        .chain_update(salt);
    let mut n = password.len();
    while n > 0 {
        let k = n.min(16);
        ctx.update(&alt[..k]);
        n -= k;
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let mut out = format!("$1${}$", String::from_utf8_lossy(salt));
    let mut to64 = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(char::from(ITOA64[(v & 0x3f) as usize]));
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(
            (u32::from(fin[a]) << 16) | (u32::from(fin[b]) << 8) | u32::from(fin[c]),
            4,
        );
    }
    to64(u32::from(fin[11]), 2);
    out
}

fn md5_crypt_verify(password: &[u8], stored: &str) -> bool {
    let salt = stored
        .strip_prefix("$1$")
        .and_then(|r| r.split('$').next())
        .unwrap_or("");
    ct_eq(md5_crypt(password, salt).as_bytes(), stored.as_bytes())
}

/// Random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // getrandom only fails when the OS has no entropy source at all; a
    // zeroed key would then be a silent weakness, so refuse loudly.
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("no random source: {e}");
    }
    b
}

/// A random salt of `n` characters from the crypt alphabet.
pub fn crypt_salt(n: usize) -> String {
    random::<32>()
        .iter()
        .take(n)
        .map(|b| char::from(ITOA64[usize::from(b & 63)]))
        .collect()
}

/// The password-hashing formats `marmoset-passwd` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Clear text (not recommended).
    Plain,
    /// Ouistiti `$<id>$<base64>` with this hash.
    Ouistiti(Hash),
    /// Ouistiti `$a<id>$realm=…$…` for Digest, with this hash.
    Realm(Hash),
    /// `$1$` md5-crypt (legacy).
    Md5Crypt,
    /// `$5$` sha256-crypt.
    Sha256Crypt,
    /// `$6$` sha512-crypt.
    Sha512Crypt,
    /// `$y$` yescrypt.
    Yescrypt,
    /// `$argon2id$` (the default).
    Argon2,
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

impl Format {
    /// Encode `password` of `user` (the realm is used by [`Format::Realm`]).
    pub fn encode(self, user: &str, realm: &str, password: &str) -> Result<String, HashError> {
        let pw = password.as_bytes();
        let err = |e: &dyn std::fmt::Display| HashError(e.to_string());
        Ok(match self {
            Format::Plain => password.to_string(),
            Format::Ouistiti(h) => {
                format!("${}${}", h.ouistiti_id(), STANDARD.encode(h.digest(pw)))
            }
            Format::Realm(h) => format!(
                "$a{}$realm={realm}${}",
                h.ouistiti_id(),
                STANDARD.encode(h.digest(format!("{user}:{realm}:{password}").as_bytes()))
            ),
            Format::Md5Crypt => md5_crypt(pw, &crypt_salt(8)),
            Format::Sha256Crypt | Format::Sha512Crypt => {
                use sha_crypt::PasswordHasher as _;
                let c = if self == Format::Sha256Crypt {
                    sha_crypt::ShaCrypt::SHA256
                } else {
                    sha_crypt::ShaCrypt::SHA512
                };
                // 12 random bytes are 16 salt characters, the most
                // crypt(3) reads: sha-crypt's default salt is longer, and
                // glibc would not verify the string it writes.
                c.hash_password_with_salt(pw, &random::<12>())
                    .map_err(|e| err(&e))?
                    .to_string()
            }
            Format::Yescrypt => {
                use yescrypt::PasswordHasher as _;
                yescrypt::Yescrypt::default()
                    .hash_password(pw)
                    .map_err(|e| err(&e))?
                    .to_string()
            }
            Format::Argon2 => {
                use argon2::password_hash::PasswordHasher as _;
                argon2::Argon2::default()
                    .hash_password(pw)
                    .map_err(|e| err(&e))?
                    .to_string()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_text_is_exact() {
        let s = Stored::parse("secret");
        assert_eq!(s, Stored::Clear("secret"));
        assert!(s.verify("u", "secret"));
        // The original accepted prefixes and other cases.
        for wrong in ["", "s", "secre", "SECRET", "secret ", "secrets"] {
            assert!(!s.verify("u", wrong), "{wrong:?}");
        }
        assert!(!Stored::parse("").verify("u", ""));
    }

    #[test]
    fn ouistiti_hashes() {
        let s = Stored::parse("$5$K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=");
        assert!(matches!(
            s,
            Stored::Hashed {
                hash: Hash::Sha256,
                ..
            }
        ));
        assert!(s.verify("u", "secret"));
        assert!(!s.verify("u", "secreT"));
        // A digest of the wrong length is unusable, not a prefix.
        assert_eq!(Stored::parse("$5$K7gNU3sdo+OL0w=="), Stored::Unusable);
        let r = Stored::parse("$a1$realm=example$oRA4MFb1VrgYvXAm/tdFGw==");
        assert!(matches!(
            r,
            Stored::Realm {
                hash: Hash::Md5,
                realm: "example",
                ..
            }
        ));
        assert!(r.verify("alice", "secret"));
        assert!(!r.verify("bob", "secret"));
        assert_eq!(
            r.ha1(Hash::Md5, "alice", "example").as_deref(),
            Some("a110383056f556b818bd7026fed7451b")
        );
        assert_eq!(r.ha1(Hash::Md5, "alice", "other"), None);
        assert_eq!(r.ha1(Hash::Sha256, "alice", "example"), None);
        assert_eq!(
            Stored::parse("secret")
                .ha1(Hash::Md5, "alice", "example")
                .as_deref(),
            Some("a110383056f556b818bd7026fed7451b")
        );
        assert!(!Stored::parse("$9$AAAA").verify("u", ""));
        assert_eq!(Stored::parse("$a9$realm=x$AAAA"), Stored::Unusable);
    }

    /// Vectors from `openssl passwd` and glibc/libxcrypt `crypt(3)`.
    #[test]
    fn crypt_formats() {
        let cases = [
            "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
            "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.",
            "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$tnSYvahCwPBHKZUspmcxMfb0.WiB9W.zEaKlOBL35rC",
        ];
        for c in cases {
            let s = Stored::parse(c);
            assert!(s.is_slow(), "{c}");
            assert!(s.verify("u", "password"), "{c}");
            assert!(!s.verify("u", "passwore"), "{c}");
            assert_eq!(s.ha1(Hash::Md5, "u", "r"), None);
        }
        let rounds =
            Stored::parse("$5$rounds=1000$abcdefgh$XIppta5rT8zJUu4vAOKQXrwq9uY4Ijlz6VjyOmkx5i4");
        assert!(matches!(rounds, Stored::ShaCrypt(_)));
        assert!(rounds.verify("u", "secret"));
        assert_eq!(md5_crypt(b"password", "saltsalt"), cases[0]);
        for locked in ["!", "*", "!$6$saltsalt$x", "$2b$10$abc", "$x$y$z"] {
            assert!(!Stored::parse(locked).verify("u", "password"), "{locked}");
        }
    }

    #[test]
    fn every_format_round_trips() {
        let formats = [
            Format::Plain,
            Format::Ouistiti(Hash::Md5),
            Format::Ouistiti(Hash::Sha1),
            Format::Ouistiti(Hash::Sha256),
            Format::Ouistiti(Hash::Sha512),
            Format::Realm(Hash::Md5),
            Format::Realm(Hash::Sha256),
            Format::Realm(Hash::Sha512_256),
            Format::Md5Crypt,
            Format::Sha256Crypt,
            Format::Sha512Crypt,
            Format::Yescrypt,
            Format::Argon2,
        ];
        for f in formats {
            let enc = f.encode("alice", "realm", "pa:ss wörd").unwrap();
            let s = Stored::parse(&enc);
            assert!(s.verify("alice", "pa:ss wörd"), "{f:?} {enc}");
            assert!(!s.verify("alice", "pa:ss word"), "{f:?} {enc}");
            if let Format::Realm(h) = f {
                assert_eq!(
                    s.ha1(h, "alice", "realm"),
                    Stored::Clear("pa:ss wörd").ha1(h, "alice", "realm")
                );
            }
        }
        // crypt(3) reads at most 16 salt characters.
        for f in [Format::Sha256Crypt, Format::Sha512Crypt] {
            let enc = f.encode("a", "r", "x").unwrap();
            assert_eq!(enc.split('$').nth(3).unwrap().len(), 16, "{enc}");
        }
        assert!(
            Format::Argon2
                .encode("a", "r", "x")
                .unwrap()
                .starts_with("$argon2id$")
        );
        assert!(
            Format::Yescrypt
                .encode("a", "r", "x")
                .unwrap()
                .starts_with("$y$")
        );
    }
}
