//! TOTP second factor (`authz = "totp"`, RFC 6238), with totp-rs.
//!
//! A `totp` authenticator checks a one-time code where the other storages
//! check a password: `Authorization: Basic base64(user:code)` or a
//! `wwwform` POST of `username` and `password=code` to its `token_ep`.
//! Put after a password factor in an `auth` list, it makes the chain
//! `sqlite+totp` (see `docs/totp.md` for the whole flow).
//!
//! # Keys
//!
//! `dbname` (per-user random keys, [`storage::totp`]), else `secret`
//! (Ouistiti's derived keys); `digits` (6–8, default 6), `period` (seconds,
//! default 30), `window` (steps accepted on each side of now, default 1),
//! `algorithm` (`SHA1` default, `SHA256`, `SHA512`); `maxfailures` and
//! `lockout` also limit wrong codes per user. Bad values stop the server
//! at start-up with their location.
//!
//! # Enrolment (`GET token_ep`)
//!
//! The `otpauth://` URL carries the key, so who may read it matters:
//!
//! - no user, or an earlier factor of the chain not satisfied → the
//!   challenge of the first factor missing (401, or 302 to its `signin`);
//! - stored keys, user without a key → a random 160-bit key is generated,
//!   stored, and its URL returned (first enrolment);
//! - user with a key → the URL only if this session also passed TOTP
//!   (its token's `iss` has this issuer, or a code came with the request);
//!   otherwise the factor's challenge (`401` asking for `user:code`, or
//!   `302` to `signin`): a stolen password cannot re-read the key.
//!
//! Derived keys exist for every user, so they are only ever shown after
//! TOTP (as in Ouistiti); the administrator hands out the first URL.
//!
//! [`storage::totp`]: super::storage::totp

use std::path::PathBuf;
use std::sync::Arc;

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::basic::Credentials;
use super::config::{DEFAULT_LOCKOUT, DEFAULT_MAXFAILURES};
use super::factor::{Factor, page_path};
use super::storage::totp::{Check, Db, Keys, Throttle, encode_key};
use super::storage::{ACTIVATED, Account, Storage, StorageError};
use crate::body::Body;
use crate::config::{Problem, Section};
use crate::error::HttpError;
use crate::pipeline::{RequestCtx, RequestHead, Response};

/// Default number of digits.
pub const DEFAULT_DIGITS: u8 = 6;
/// Default time step, in seconds.
pub const DEFAULT_PERIOD: u64 = 30;
/// Default steps accepted on each side of the current one.
pub const DEFAULT_WINDOW: u16 = 1;
/// Size of a generated key (RFC 4226 §4 recommends 160 bits).
pub const KEY_BYTES: usize = 20;

/// The TOTP keys of an `auth` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpConfig {
    /// `digits`: code length, 6 to 8.
    pub digits: u8,
    /// `period`: seconds per time step, 1 to 3600.
    pub period: u64,
    /// `window`: steps accepted before and after now, 0 to 10.
    pub window: u16,
    /// `algorithm`: the HMAC hash.
    pub algorithm: totp_rs::Algorithm,
    /// `dbname`: the sqlite file of per-user keys.
    pub dbname: Option<PathBuf>,
    /// `secret`: the key of Ouistiti's derived keys (used without `dbname`).
    pub secret: Option<String>,
    /// `maxfailures` and `lockout` of the section, applied per user too.
    pub throttle: Throttle,
}

impl TotpConfig {
    /// Read the TOTP keys of a section; errors are recorded, `None` then.
    pub fn from_section(sec: &Section<'_>) -> Option<TotpConfig> {
        let mut ok = true;
        let mut bad = |key: &str, why: String| {
            sec.error(key, Problem::BadValue(why));
            ok = false;
        };
        let digits = match sec.uint("digits") {
            None => DEFAULT_DIGITS,
            Some(d @ 6..=8) => d as u8,
            Some(d) => {
                bad("digits", format!("must be 6, 7 or 8, got {d}"));
                DEFAULT_DIGITS
            }
        };
        let period = match sec.uint("period") {
            None => DEFAULT_PERIOD,
            Some(p @ 1..=3600) => p,
            Some(p) => {
                bad("period", format!("must be 1 to 3600 seconds, got {p}"));
                DEFAULT_PERIOD
            }
        };
        let window = match sec.uint("window") {
            None => DEFAULT_WINDOW,
            Some(w @ 0..=10) => w as u16,
            Some(w) => {
                bad("window", format!("must be 0 to 10 steps, got {w}"));
                DEFAULT_WINDOW
            }
        };
        let algorithm = match sec.str("algorithm") {
            None => totp_rs::Algorithm::SHA1,
            Some(a) => parse_algorithm(&a).unwrap_or_else(|| {
                bad(
                    "algorithm",
                    format!("unknown TOTP algorithm `{a}` (SHA1, SHA256, SHA512)"),
                );
                totp_rs::Algorithm::SHA1
            }),
        };
        let throttle = Throttle {
            max: sec.uint("maxfailures").map_or(DEFAULT_MAXFAILURES, |n| {
                u32::try_from(n).unwrap_or(u32::MAX)
            }),
            lockout: sec.uint("lockout").unwrap_or(DEFAULT_LOCKOUT),
        };
        let dbname = sec.str("dbname").map(PathBuf::from);
        let secret = sec.str("secret").filter(|s| !s.is_empty());
        if dbname.is_none() && secret.is_none() {
            bad(
                "dbname",
                "totp needs `dbname` (per-user keys) or `secret` (Ouistiti's derived keys)".into(),
            );
        }
        ok.then_some(TotpConfig {
            digits,
            period,
            window,
            algorithm,
            dbname,
            secret,
            throttle,
        })
    }

    /// The keys as libconfig text (for `-C`), `secret` excepted (printed
    /// with the section's other keys).
    pub fn print(&self) -> String {
        let mut o = String::new();
        if let Some(d) = &self.dbname {
            o.push_str(&format!(
                " dbname = {};",
                crate::config::print::quote(&d.to_string_lossy())
            ));
        }
        o.push_str(&format!(
            " digits = {}; period = {}; window = {}; algorithm = \"{}\";",
            self.digits, self.period, self.window, self.algorithm
        ));
        o
    }
}

impl Default for TotpConfig {
    /// The defaults, with neither `dbname` nor `secret`.
    fn default() -> Self {
        TotpConfig {
            digits: DEFAULT_DIGITS,
            period: DEFAULT_PERIOD,
            window: DEFAULT_WINDOW,
            algorithm: totp_rs::Algorithm::SHA1,
            dbname: None,
            secret: None,
            throttle: Throttle {
                max: DEFAULT_MAXFAILURES,
                lockout: DEFAULT_LOCKOUT,
            },
        }
    }
}

/// `SHA1`, `SHA256`, `SHA512` (also with a dash or an `hmac-` prefix).
pub fn parse_algorithm(s: &str) -> Option<totp_rs::Algorithm> {
    let s = s.to_ascii_lowercase();
    let s = s.strip_prefix("hmac-").unwrap_or(&s).replace('-', "");
    Some(match s.as_str() {
        "sha1" => totp_rs::Algorithm::SHA1,
        "sha256" => totp_rs::Algorithm::SHA256,
        "sha512" => totp_rs::Algorithm::SHA512,
        _ => return None,
    })
}

/// A TOTP verifier with its keys.
pub struct Totp {
    cfg: TotpConfig,
    keys: Keys,
}

impl Totp {
    /// Open the keys `cfg` names (creating the table or file).
    pub fn open(cfg: &TotpConfig) -> Result<Totp, StorageError> {
        let keys = match (&cfg.dbname, &cfg.secret) {
            (Some(p), _) => Keys::Stored(Db::open(p)?),
            (None, s) => Keys::derived(s.as_deref().unwrap_or_default()),
        };
        Ok(Totp {
            cfg: cfg.clone(),
            keys,
        })
    }

    /// Whether `s` has the shape of a code (so a password sent to this
    /// factor by mistake is no failed attempt).
    pub fn is_code(&self, s: &str) -> bool {
        s.len() == usize::from(self.cfg.digits) && s.bytes().all(|b| b.is_ascii_digit())
    }

    /// The step within the window whose code is `code`, at Unix time `now`.
    pub fn matching_step(&self, key: &[u8], code: &str, now: u64) -> Option<u64> {
        let totp = totp_rs::Builder::new()
            .with_algorithm(self.cfg.algorithm)
            .with_digits(self.cfg.digits)
            .with_skew(self.cfg.window)
            .with_step_duration(self.cfg.period)
            .with_secret(key.to_vec())
            .build()
            .map_err(|e| log::error!("auth: unusable TOTP key: {e}"))
            .ok()?;
        totp.check(code, now)
    }

    /// Check a user's code and record its step. Blocking.
    pub fn check(&self, user: &str, code: &str) -> Result<Check, StorageError> {
        let now = unix_now();
        let period = self.cfg.period;
        self.keys.accept(user, now, self.cfg.throttle, |key| {
            self.matching_step(key, code, now)
                .map(|step| step.saturating_mul(period))
        })
    }

    /// The `otpauth://` URL of `key` for `user`, labelled with `issuer`.
    pub fn url(&self, issuer: &str, user: &str, key: &[u8]) -> String {
        const LABEL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');
        let (i, u) = (
            utf8_percent_encode(issuer, LABEL),
            utf8_percent_encode(user, LABEL),
        );
        let mut url = format!(
            "otpauth://totp/{i}:{u}?secret={}&issuer={i}&digits={}&period={}",
            encode_key(key),
            self.cfg.digits,
            self.cfg.period
        );
        if self.cfg.algorithm != totp_rs::Algorithm::SHA1 {
            url.push_str(&format!("&algorithm={}", self.cfg.algorithm));
        }
        url
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Check `c` (user and code) against the TOTP storage, off the executor.
/// The account of an accepted code: group `users`, status `activated`
/// (a chain keeps the first factor's user).
pub async fn check(storage: Arc<Storage>, c: Credentials) -> Result<Option<Account>, HttpError> {
    let outcome = tokio::task::spawn_blocking(move || match &*storage {
        Storage::Totp(t) if t.is_code(&c.password) => t.check(&c.user, &c.password).map(|r| (c, r)),
        _ => Ok((c, Check::Wrong)),
    })
    .await
    .map_err(HttpError::internal)?
    .map_err(HttpError::internal)?;
    let (c, result) = outcome;
    match result {
        Check::Accepted(_) => Ok(Some(Account {
            name: c.user,
            password: String::new(),
            group: Some("users".into()),
            home: None,
            status: ACTIVATED.into(),
        })),
        Check::Replayed => {
            log::warn!("auth: TOTP code of {:?} replayed", c.user);
            Ok(None)
        }
        Check::Locked => {
            log::warn!(
                "auth: TOTP of {:?} locked after repeated wrong codes",
                c.user
            );
            Ok(None)
        }
        Check::Wrong | Check::NotEnrolled => Ok(None),
    }
}

/// Whether the request is a `GET`/`HEAD` of a TOTP factor's `token_ep`.
pub fn is_enrolment(f: &Factor, method: &Method, path: &str) -> bool {
    matches!(**f.storage(), Storage::Totp(_))
        && (method == Method::GET || method == Method::HEAD)
        && f.token_ep.as_deref().is_some_and(|p| page_path(p) == path)
}

/// Answer a `GET token_ep` of `factors[i]` (a TOTP factor) for a session
/// that satisfied `issuers` (rules in the module doc).
pub async fn enrolment(
    factors: &[Factor],
    i: usize,
    issuers: &[String],
    head: &RequestHead,
    ctx: &RequestCtx,
) -> Result<Response, HttpError> {
    let f = &factors[i];
    // Not signed in far enough: the first factor missing asks.
    let missing = factors[..i].iter().find(|e| !issuers.contains(&e.issuer));
    let user = match (ctx.user.as_ref(), missing) {
        (Some(user), None) => user,
        (_, Some(e)) => return Ok(e.challenge(head, ctx, false, false)),
        (None, None) => return Ok(f.challenge(head, ctx, false, false)),
    };
    let passed = issuers.contains(&f.issuer);
    let storage = f.storage().clone();
    let name = user.name.clone();
    let issuer = f.issuer.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<_, StorageError> {
        let Storage::Totp(t) = &*storage else {
            return Ok(None);
        };
        let key = match (t.keys.key(&name)?, &t.keys) {
            (Some(k), _) if passed => Some((k, false)),
            (Some(_), _) => None,
            (None, Keys::Stored(db)) => {
                let fresh = super::crypt::random::<KEY_BYTES>();
                Some((db.enrol(&name, &fresh)?, true))
            }
            (None, Keys::Derived { .. }) => None,
        };
        Ok(key.map(|(k, new)| (t.url(&issuer, &name, &k), new)))
    })
    .await
    .map_err(HttpError::internal)?
    .map_err(HttpError::internal)?;
    let Some((url, new)) = found else {
        // Enrolled: a code first.
        return Ok(f.challenge(head, ctx, false, false));
    };
    if new {
        log::info!(
            "auth: {} enrolled user {:?} for TOTP",
            ctx.peer.ip(),
            user.name
        );
    }
    let mut r = text(StatusCode::OK, &url);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    /// A one-line server with `auth = <auth>`.
    fn load(auth: &str) -> Result<super::super::AuthConfig, Vec<String>> {
        let text = format!("servers = ({{ port = 8080; auth = {auth}; }});");
        match load_str(&text) {
            Ok(l) => Ok(l.config.servers[0].modules.auth[0].clone()),
            Err(e) => Err(e.diagnostics.iter().map(ToString::to_string).collect()),
        }
    }

    fn totp_of(auth: &str) -> TotpConfig {
        match load(auth).unwrap().storage {
            StorageConfig::Totp(t) => t,
            other => panic!("not totp: {other:?}"),
        }
    }

    use super::super::storage::StorageConfig;

    #[test]
    fn defaults_and_keys() {
        let t = totp_of(r#"{ type = "Basic"; authz = "totp"; dbname = "x.db"; }"#);
        assert_eq!(
            (t.digits, t.period, t.window, t.algorithm),
            (6, 30, 1, totp_rs::Algorithm::SHA1)
        );
        assert_eq!(t.dbname.as_deref(), Some(std::path::Path::new("x.db")));
        let t = totp_of(
            r#"{ type = "wwwform"; token_ep = "/totp"; secret = "0123456789abcdef"; authz = "TOTP"; digits = 8; period = 60; window = 0; algorithm = "SHA-512"; }"#,
        );
        assert_eq!(
            (t.digits, t.period, t.window, t.algorithm),
            (8, 60, 0, totp_rs::Algorithm::SHA512)
        );
        assert_eq!(t.dbname, None);
        assert_eq!(t.secret.as_deref(), Some("0123456789abcdef"));
        // Ouistiti's inference: a bare `secret` is a TOTP section.
        let t = totp_of(r#"{ type = "Basic"; secret = "0123456789abcdef"; }"#);
        assert_eq!(t.secret.as_deref(), Some("0123456789abcdef"));
        for (name, alg) in [
            ("sha1", totp_rs::Algorithm::SHA1),
            ("HMAC-SHA256", totp_rs::Algorithm::SHA256),
            ("SHA512", totp_rs::Algorithm::SHA512),
        ] {
            assert_eq!(parse_algorithm(name), Some(alg));
        }
        assert_eq!(parse_algorithm("MD5"), None);
    }

    #[test]
    fn bad_values_are_errors_at_their_place() {
        let cases = [
            ("digits = 5;", "1:", "digits: must be 6, 7 or 8, got 5"),
            ("digits = 9;", "1:", "digits: must be 6, 7 or 8, got 9"),
            (
                "period = 0;",
                "1:",
                "period: must be 1 to 3600 seconds, got 0",
            ),
            (
                "window = 11;",
                "1:",
                "window: must be 0 to 10 steps, got 11",
            ),
            ("window = -1;", "1:", "window: must not be negative"),
            ("algorithm = \"MD5\";", "1:", "unknown TOTP algorithm `MD5`"),
            ("digits = \"six\";", "1:", "digits: expected integer"),
        ];
        for (keys, at, msg) in cases {
            let auth = format!(r#"{{ type = "Basic"; authz = "totp"; dbname = "x.db"; {keys} }}"#);
            let errs = load(&auth).unwrap_err().join("\n");
            assert!(errs.contains(msg), "{keys}: {errs}");
            // file:line:col of the value.
            let prefix = "servers = ({ port = 8080; auth = ".len();
            let col = prefix + auth.find(keys).unwrap() + keys.find('=').unwrap() + 2 + 1;
            assert!(
                errs.contains(&format!("<string>:{at}{col}:")),
                "{keys}: {errs}"
            );
        }
        let errs = load(r#"{ type = "Basic"; authz = "totp"; }"#)
            .unwrap_err()
            .join("\n");
        assert!(errs.contains("totp needs `dbname`"), "{errs}");
        let errs = load(r#"{ type = "Digest"; authz = "totp"; dbname = "x.db"; }"#)
            .unwrap_err()
            .join("\n");
        assert!(errs.contains("reads codes from Basic"), "{errs}");
    }

    #[test]
    fn printed_config_loads_again() {
        let cfg = load(
            r#"{ type = "Basic"; authz = "totp"; dbname = "t.db"; digits = 7; period = 45; window = 2; algorithm = "SHA256"; }"#,
        )
        .unwrap();
        let printed = cfg.print();
        assert!(
            printed.contains(r#"authz = "totp"; "#)
                && printed.contains(
                    r#"dbname = "t.db"; digits = 7; period = 45; window = 2; algorithm = "SHA256";"#
                ),
            "{printed}"
        );
        let again = load(&printed).unwrap();
        assert_eq!(again.storage, cfg.storage);
        assert_eq!(again.print(), printed);
    }

    /// RFC 6238 appendix B (SHA1, 8 digits, 30 s, key "1234…890").
    #[test]
    fn rfc6238_vectors_and_window() {
        let cfg = TotpConfig {
            digits: 8,
            period: 30,
            window: 1,
            algorithm: totp_rs::Algorithm::SHA1,
            dbname: None,
            secret: Some("s".into()),
            throttle: Throttle { max: 0, lockout: 0 },
        };
        let t = Totp::open(&cfg).unwrap();
        let key = b"12345678901234567890";
        assert_eq!(t.matching_step(key, "94287082", 59), Some(1));
        assert_eq!(t.matching_step(key, "07081804", 1111111109), Some(37037036));
        assert_eq!(t.matching_step(key, "14050471", 1111111111), Some(37037037));
        // One step each side, not two.
        assert_eq!(t.matching_step(key, "94287082", 59 + 30), Some(1));
        assert_eq!(t.matching_step(key, "94287082", 59 + 60), None);
        assert_eq!(t.matching_step(key, "94287083", 59), None);
        assert!(t.is_code("12345678") && !t.is_code("1234567") && !t.is_code("1234567a"));
        assert_eq!(
            t.url("my dev", "foo@x", key),
            "otpauth://totp/my%20dev:foo%40x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=my%20dev&digits=8&period=30"
        );
    }
}
