//! HTTP Digest authentication (RFC 7616, `qop=auth`).
//!
//! Nonces are stateless and bound to this server: `base64url(t ‖ mac)`
//! where `t` is the issue time (8 bytes, big endian, seconds) and `mac` the
//! first 16 bytes of `HMAC-SHA256(key, t ‖ realm)`. The key is derived from
//! the authenticator's `secret` when there is one (so nonces survive
//! restarts and are shared by every instance with the same secret), else it
//! is random per process. A nonce older than its lifetime is *stale*: a
//! correct response with it gets a new challenge with `stale=true`.
//!
//! Replays are refused with nonce counts: for each nonce in use the server
//! keeps the highest `nc` seen and a 64-bit window below it; an `nc` seen
//! before is a replay. The table is bounded; when it is full the oldest
//! nonces are forgotten and every nonce issued up to then is treated as
//! stale, so a forgotten nonce can never be replayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use md5::Digest as _;

use super::crypt::{ct_eq, hex};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The hash functions of Digest and of Ouistiti's stored passwords.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// MD5.
    Md5,
    /// SHA-1 (Ouistiti's `SHA1`; not in RFC 7616).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512 (Ouistiti's `SHA-512`; not in RFC 7616).
    Sha512,
    /// SHA-512/256 (RFC 7616's `SHA-512-256`).
    Sha512_256,
}

impl Hash {
    /// The hash of Ouistiti's `$<id>$` prefixes (`7` is marmoset's).
    pub fn from_ouistiti_id(id: &str) -> Option<Hash> {
        Some(match id {
            "1" => Hash::Md5,
            "2" => Hash::Sha1,
            "5" => Hash::Sha256,
            "6" => Hash::Sha512,
            "7" => Hash::Sha512_256,
            _ => return None,
        })
    }

    /// The `$<id>$` of this hash.
    pub fn ouistiti_id(self) -> &'static str {
        match self {
            Hash::Md5 => "1",
            Hash::Sha1 => "2",
            Hash::Sha256 => "5",
            Hash::Sha512 => "6",
            Hash::Sha512_256 => "7",
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Hash::Md5 => 16,
            Hash::Sha1 => 20,
            Hash::Sha256 | Hash::Sha512_256 => 32,
            Hash::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Md5 => md5::Md5::digest(data).to_vec(),
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Hash::Sha512_256 => sha2::Sha512_256::digest(data).to_vec(),
        }
    }

    /// The digest of `data` as lowercase hex.
    pub fn hex(self, data: &[u8]) -> String {
        hex(&self.digest(data))
    }
}

/// A Digest `algorithm`: a hash, plain or `-sess`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorithm {
    /// The hash function.
    pub hash: Hash,
    /// The `-sess` variant (HA1 also covers the nonces).
    pub sess: bool,
}

impl Algorithm {
    /// Parse an algorithm name (case-insensitive): `MD5`, `SHA1`, `SHA-256`,
    /// `SHA-512`, `SHA-512-256`, each optionally with `-sess`.
    pub fn parse(name: &str) -> Option<Algorithm> {
        let lower = name.to_ascii_lowercase();
        let (base, sess) = match lower.strip_suffix("-sess") {
            Some(b) => (b, true),
            None => (lower.as_str(), false),
        };
        let hash = match base {
            "md5" => Hash::Md5,
            "sha1" | "sha-1" => Hash::Sha1,
            "sha-256" | "sha256" => Hash::Sha256,
            "sha-512" | "sha512" => Hash::Sha512,
            "sha-512-256" => Hash::Sha512_256,
            _ => return None,
        };
        Some(Algorithm { hash, sess })
    }

    /// The name sent in challenges.
    pub fn name(self) -> &'static str {
        match (self.hash, self.sess) {
            (Hash::Md5, false) => "MD5",
            (Hash::Md5, true) => "MD5-sess",
            (Hash::Sha1, false) => "SHA1",
            (Hash::Sha1, true) => "SHA1-sess",
            (Hash::Sha256, false) => "SHA-256",
            (Hash::Sha256, true) => "SHA-256-sess",
            (Hash::Sha512, false) => "SHA-512",
            (Hash::Sha512, true) => "SHA-512-sess",
            (Hash::Sha512_256, false) => "SHA-512-256",
            (Hash::Sha512_256, true) => "SHA-512-256-sess",
        }
    }
}

/// The parameters of an `Authorization: Digest …` header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`.
    pub response: String,
    /// `algorithm` (absent: MD5).
    pub algorithm: Option<String>,
    /// `cnonce`.
    pub cnonce: String,
    /// `opaque`.
    pub opaque: Option<String>,
    /// `qop`.
    pub qop: String,
    /// `nc` as written (8 hex digits).
    pub nc: String,
}

/// Parse the parameter list after `Digest `: `k=v` or `k="v"` (with `\`
/// escapes), separated by commas and/or spaces. Unknown keys are ignored;
/// a syntax error or a repeated known key gives `None`.
pub fn parse_params(s: &str) -> Option<Params> {
    let mut p = Params::default();
    let mut seen: Vec<String> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let k0 = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = s[k0..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if key.is_empty() || i == b.len() || b[i] != b'=' {
            return None;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return None,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        v.push(*b.get(i + 1)?);
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(v).ok()?
        } else {
            let v0 = i;
            while i < b.len() && b[i] != b',' && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            s[v0..i].to_string()
        };
        let slot = match key.as_str() {
            "username" => &mut p.username,
            "realm" => &mut p.realm,
            "nonce" => &mut p.nonce,
            "uri" => &mut p.uri,
            "response" => &mut p.response,
            "cnonce" => &mut p.cnonce,
            "qop" => &mut p.qop,
            "nc" => &mut p.nc,
            "algorithm" => p.algorithm.get_or_insert_default(),
            "opaque" => p.opaque.get_or_insert_default(),
            _ => continue,
        };
        if seen.contains(&key) {
            return None;
        }
        seen.push(key);
        *slot = value;
    }
    Some(p)
}

/// The expected `response` of a request.
pub fn response(alg: Algorithm, ha1: &str, p: &Params, method: &str) -> String {
    let h = alg.hash;
    let ha1 = if alg.sess {
        h.hex(format!("{ha1}:{}:{}", p.nonce, p.cnonce).as_bytes())
    } else {
        ha1.to_string()
    };
    let ha2 = h.hex(format!("{method}:{}", p.uri).as_bytes());
    h.hex(format!("{ha1}:{}:{}:{}:{}:{ha2}", p.nonce, p.nc, p.cnonce, p.qop).as_bytes())
}

/// What a nonce check says.
#[derive(Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by this server, not expired, `nc` not seen before.
    Fresh,
    /// Issued by this server but expired (or forgotten): `stale=true`.
    Stale,
    /// `nc` already used with this nonce.
    Replay,
    /// Not issued by this server, or malformed.
    Invalid,
}

const MAX_NONCES: usize = 4096;

struct Seen {
    issued: u64,
    /// Highest `nc` seen.
    high: u32,
    /// Bit `i` set: `high - i` was seen.
    window: u64,
}

/// Issues and checks nonces.
pub struct Nonces {
    key: [u8; 32],
    lifetime: u64,
    seen: Mutex<Table>,
}

struct Table {
    map: HashMap<String, Seen>,
    /// Nonces issued at or before this time are stale (forgotten).
    floor: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Nonces {
    /// Nonces keyed by `key`, valid for `lifetime` seconds.
    pub fn new(key: [u8; 32], lifetime: u64) -> Nonces {
        Nonces {
            key,
            lifetime: lifetime.max(1),
            seen: Mutex::new(Table {
                map: HashMap::new(),
                floor: 0,
            }),
        }
    }

    /// A key derived from a shared secret.
    pub fn key_from_secret(secret: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(b"marmoset digest nonce key");
        mac.finalize().into_bytes().into()
    }

    fn mac(&self, t: u64, salt: &[u8], realm: &str) -> [u8; 16] {
        // A key shorter than the block is zero-padded by HMAC itself, so
        // padding it here gives the same MAC without a fallible constructor.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&self.key);
        let mut mac = HmacSha256::new(&key.into());
        mac.update(&t.to_be_bytes());
        mac.update(salt);
        mac.update(realm.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A new nonce for `realm`, issued now.
    pub fn issue(&self, realm: &str) -> String {
        self.issue_at(now(), realm)
    }

    /// A nonce issued at `t` (tests forge old ones this way).
    ///
    /// Layout: issue time (8 bytes), a random salt (8 bytes) so that two
    /// clients challenged in the same second get different nonces (and
    /// their `nc` counts do not collide), then the MAC of both (16 bytes).
    pub fn issue_at(&self, t: u64, realm: &str) -> String {
        let salt = super::crypt::random::<8>();
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&t.to_be_bytes());
        raw[8..16].copy_from_slice(&salt);
        raw[16..].copy_from_slice(&self.mac(t, &salt, realm));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` was issued here for `realm`, and when.
    fn issued(&self, nonce: &str, realm: &str) -> Option<u64> {
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        if raw.len() != 32 {
            return None;
        }
        let t = u64::from_be_bytes(raw[..8].try_into().ok()?);
        ct_eq(&raw[16..], &self.mac(t, &raw[8..16], realm)).then_some(t)
    }

    /// Whether `nonce` is one of ours and not stale, without using `nc`.
    pub fn validate(&self, nonce: &str, realm: &str) -> NonceCheck {
        match self.issued(nonce, realm) {
            None => NonceCheck::Invalid,
            Some(t) if now().saturating_sub(t) > self.lifetime || t > now() + 60 => {
                NonceCheck::Stale
            }
            Some(_) => NonceCheck::Fresh,
        }
    }

    /// Check `nonce` with the count `nc` (8 hex digits) and record it. Call
    /// only once the response is known to be correct.
    pub fn accept(&self, nonce: &str, realm: &str, nc: &str) -> NonceCheck {
        let check = self.validate(nonce, realm);
        if check != NonceCheck::Fresh {
            return check;
        }
        let (Some(t), Ok(nc)) = (self.issued(nonce, realm), u32::from_str_radix(nc, 16)) else {
            return NonceCheck::Invalid;
        };
        if nc == 0 {
            return NonceCheck::Invalid;
        }
        let Ok(mut table) = self.seen.lock() else {
            return NonceCheck::Stale;
        };
        if t <= table.floor {
            return NonceCheck::Stale;
        }
        if let Some(s) = table.map.get_mut(nonce) {
            if nc > s.high {
                let shift = nc - s.high;
                s.window = if shift >= 64 { 0 } else { s.window << shift };
                s.window |= 1;
                s.high = nc;
                return NonceCheck::Fresh;
            }
            let back = s.high - nc;
            if back >= 64 || s.window & (1 << back) != 0 {
                return NonceCheck::Replay;
            }
            s.window |= 1 << back;
            return NonceCheck::Fresh;
        }
        if table.map.len() >= MAX_NONCES {
            let limit = now().saturating_sub(self.lifetime);
            table.map.retain(|_, s| s.issued >= limit);
            if table.map.len() >= MAX_NONCES {
                // Forget the older half; everything issued up to the newest
                // forgotten nonce becomes stale.
                let mut times: Vec<u64> = table.map.values().map(|s| s.issued).collect();
                times.sort_unstable();
                let floor = times[times.len() / 2];
                table.map.retain(|_, s| s.issued > floor);
                table.floor = table.floor.max(floor);
                if t <= table.floor {
                    return NonceCheck::Stale;
                }
            }
        }
        table.map.insert(
            nonce.to_string(),
            Seen {
                issued: t,
                high: nc,
                window: 1,
            },
        );
        NonceCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_quoted_unquoted_and_escapes() {
        let p = parse_params(
            r#"username="Mufasa", realm="http-auth@example.org", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", uri="/dir/index.html", algorithm=SHA-256, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", qop=auth, nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ""#,
        )
        .unwrap();
        assert_eq!(p.username, "Mufasa");
        assert_eq!(p.realm, "http-auth@example.org");
        assert_eq!(p.algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(p.qop, "auth");
        assert_eq!(p.nc, "00000001");
        assert_eq!(p.uri, "/dir/index.html");
        let p = parse_params(r#"username="a\"b",realm=x uri=/y"#).unwrap();
        assert_eq!(p.username, "a\"b");
        assert_eq!(p.realm, "x");
        assert_eq!(p.uri, "/y");
        assert!(p.opaque.is_none());
    }

    #[test]
    fn params_errors() {
        assert!(parse_params(r#"username="open"#).is_none());
        assert!(parse_params("username").is_none());
        assert!(parse_params("=x").is_none());
        assert!(parse_params("username=a, username=b").is_none());
        assert_eq!(parse_params("").unwrap(), Params::default());
    }

    /// RFC 7616 §3.9.1 examples (MD5 and SHA-256).
    #[test]
    fn rfc7616_vectors() {
        let p = Params {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into(),
            qop: "auth".into(),
            nc: "00000001".into(),
            ..Params::default()
        };
        let ha1 = |h: Hash| h.hex(b"Mufasa:http-auth@example.org:Circle of Life");
        let md5 = Algorithm::parse("MD5").unwrap();
        assert_eq!(
            response(md5, &ha1(Hash::Md5), &p, "GET"),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = Algorithm::parse("sha-256").unwrap();
        assert_eq!(
            response(sha, &ha1(Hash::Sha256), &p, "GET"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn algorithm_names_round_trip() {
        for n in [
            "MD5",
            "MD5-sess",
            "SHA1",
            "SHA-256",
            "SHA-256-sess",
            "SHA-512",
            "SHA-512-256",
            "SHA-512-256-sess",
        ] {
            assert_eq!(Algorithm::parse(n).unwrap().name(), n);
        }
        assert!(Algorithm::parse("SHA-3").is_none());
    }

    #[test]
    fn nonces_fresh_stale_replay_foreign() {
        let n = Nonces::new([7; 32], 60);
        let nonce = n.issue("r");
        assert_eq!(n.accept(&nonce, "r", "00000001"), NonceCheck::Fresh);
        assert_eq!(n.accept(&nonce, "r", "00000001"), NonceCheck::Replay);
        assert_eq!(n.accept(&nonce, "r", "00000003"), NonceCheck::Fresh);
        assert_eq!(n.accept(&nonce, "r", "00000002"), NonceCheck::Fresh);
        assert_eq!(n.accept(&nonce, "r", "00000002"), NonceCheck::Replay);
        assert_eq!(n.accept(&nonce, "other", "00000004"), NonceCheck::Invalid);
        assert_eq!(n.accept(&nonce, "r", "zz"), NonceCheck::Invalid);
        let old = n.issue_at(now() - 3600, "r");
        assert_eq!(n.accept(&old, "r", "00000001"), NonceCheck::Stale);
        let other = Nonces::new([8; 32], 60);
        assert_eq!(other.accept(&nonce, "r", "00000009"), NonceCheck::Invalid);
        assert_eq!(n.accept("bogus", "r", "00000001"), NonceCheck::Invalid);
        // Two clients challenged in the same second count on their own.
        let (a, b) = (n.issue_at(now(), "r"), n.issue_at(now(), "r"));
        assert_ne!(a, b);
        assert_eq!(n.accept(&a, "r", "00000001"), NonceCheck::Fresh);
        assert_eq!(n.accept(&b, "r", "00000001"), NonceCheck::Fresh);
        // A shared secret gives the same key everywhere.
        assert_eq!(Nonces::key_from_secret("s"), Nonces::key_from_secret("s"));
    }
}
