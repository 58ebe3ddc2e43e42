//! Stage 2 of an `auth` section: typed, spanned values, with every
//! misconfiguration reported at start-up (the original disables the module
//! or answers 401 to everything; marmoset refuses to start — fail closed).

use std::path::PathBuf;

use crate::config::print::quote;
use crate::config::value::Span;
use crate::config::{Problem, Section};
use crate::pattern::has_option;

use super::digest::Algorithm;
use super::storage::StorageConfig;

/// How credentials travel (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `None`: asserts the configured user on `Authorization: None`, never
    /// challenges.
    None,
    /// `Basic` (RFC 7617).
    Basic,
    /// `Digest` (RFC 7616).
    Digest,
    /// `Bearer` (RFC 6750): JWTs only.
    Bearer,
    /// `wwwform`: a POST of `username` and `password` to `token_ep`.
    WwwForm,
    /// `oAuth2` / `OpenID`: sign-in at an OpenID Connect provider
    /// ([`super::oidc`]).
    OpenId,
}

impl Scheme {
    /// Parse `type` (case-insensitive, exact).
    pub fn parse(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "none" => Scheme::None,
            "basic" => Scheme::Basic,
            "digest" => Scheme::Digest,
            "bearer" => Scheme::Bearer,
            "wwwform" | "www-form" => Scheme::WwwForm,
            "oauth2" | "openid" | "oidc" => Scheme::OpenId,
            _ => return None,
        })
    }

    /// The name in `Authorization` headers, challenges and `AUTH_TYPE`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::None => "None",
            Scheme::Basic => "Basic",
            Scheme::Digest => "Digest",
            Scheme::Bearer => "Bearer",
            Scheme::WwwForm => "WWW-Form",
            Scheme::OpenId => "OpenID",
        }
    }

    fn config_name(self) -> &'static str {
        match self {
            Scheme::WwwForm => "wwwform",
            Scheme::OpenId => "oAuth2",
            s => s.name(),
        }
    }
}

/// The words of `options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthOptions {
    /// `token`: issue a token after sign-in (a JWT, as `jwt`).
    pub token: bool,
    /// `jwt`: issue a JWT after sign-in.
    pub jwt: bool,
    /// `cookie`: send the token and user as cookies.
    pub cookie: bool,
    /// `header`: send them as headers (wins over `cookie`).
    pub header: bool,
    /// `home`: redirect `/~` to `/~/`; `~` URIs always need credentials.
    pub home: bool,
    /// `redirect`: add `redirect_uri` to sign-in redirects.
    pub redirect: bool,
    /// `management`: the user management REST API at `/auth/mngt`
    /// (sqlite storage only; see [`super::mngt`]).
    pub management: bool,
}

impl AuthOptions {
    /// Whether tokens are issued.
    pub fn tokens(self) -> bool {
        self.token || self.jwt
    }

    fn words(self) -> String {
        let all = [
            (self.token, "token"),
            (self.jwt, "jwt"),
            (self.cookie, "cookie"),
            (self.header, "header"),
            (self.home, "home"),
            (self.redirect, "redirect"),
            (self.management, "management"),
        ];
        let on: Vec<&str> = all.iter().filter(|(b, _)| *b).map(|(_, w)| *w).collect();
        on.join(",")
    }
}

/// Token lifetime when `expire` is absent, in seconds (30 minutes).
pub const DEFAULT_EXPIRE: u64 = 1800;
/// Failed sign-ins from one address before it is locked out.
pub const DEFAULT_MAXFAILURES: u32 = 10;
/// How long a lock-out lasts, in seconds.
pub const DEFAULT_LOCKOUT: u64 = 60;

/// One `auth` section (one authenticator; a list is a multi-factor chain).
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Where the section starts.
    pub span: Span,
    /// Dotted path of the section.
    pub path: String,
    /// `type`.
    pub scheme: Scheme,
    /// `authz`, or the storage inferred from the keys present.
    pub storage: StorageConfig,
    /// `realm` (default: `issuer`, else the server's host name).
    pub realm: Option<String>,
    /// `issuer` (default: `realm`, else the storage name).
    pub issuer: Option<String>,
    /// `algorithm` for Digest (default SHA-256, as the original's code).
    pub algorithm: Algorithm,
    /// `opaque` sent and checked by Digest (optional in marmoset).
    pub opaque: Option<String>,
    /// `protect`: URIs needing credentials even when `unprotect` matches.
    pub protect: Option<String>,
    /// `unprotect`: URIs served without credentials.
    pub unprotect: Option<String>,
    /// `signin`: sign-in page; challenges become 302 to it.
    pub signin: Option<String>,
    /// `token_ep`: token end point (the wwwform POST target).
    pub token_ep: Option<String>,
    /// `secret`: HMAC key of tokens and Digest nonces.
    pub secret: Option<String>,
    /// `expire`: token and nonce lifetime in seconds (as the issue and
    /// Ouistiti's documentation say; its code reads minutes).
    pub expire: u64,
    /// `options`.
    pub options: AuthOptions,
    /// `maxfailures`: failed sign-ins before lock-out (0: never).
    pub maxfailures: u32,
    /// `lockout`: lock-out duration in seconds.
    pub lockout: u64,
    /// The provider keys of type `oAuth2` / `OpenID`.
    pub oidc: Option<super::oidc::OidcConfig>,
}

impl AuthConfig {
    /// Read a section. Errors are recorded; `None` when the section cannot
    /// be used.
    pub fn from_section(sec: &Section<'_>) -> Option<AuthConfig> {
        let kind = sec.str("type");
        let authz = sec.str("authz");
        let realm = sec.str("realm");
        let issuer = sec.str("issuer");
        let totp = authz
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("totp"));
        let algorithm = match sec.str("algorithm") {
            // A TOTP section's `algorithm` is its HMAC hash (super::totp).
            _ if totp => Algorithm::parse("SHA-256"),
            None => Algorithm::parse("SHA-256"),
            Some(a) => Algorithm::parse(&a).or_else(|| {
                sec.error(
                    "algorithm",
                    Problem::BadValue(format!(
                        "unknown algorithm `{a}` (MD5, SHA1, SHA-256, SHA-512, SHA-512-256, each also -sess)"
                    )),
                );
                None
            }),
        };
        let opaque = sec.str("opaque");
        let protect = sec.str("protect");
        let unprotect = sec.str("unprotect");
        let signin = sec.str("signin");
        let token_ep = sec.str("token_ep");
        let secret = sec.str("secret");
        let expire = sec.uint("expire").unwrap_or(DEFAULT_EXPIRE);
        let maxfailures = sec.uint("maxfailures").map_or(DEFAULT_MAXFAILURES, |n| {
            u32::try_from(n).unwrap_or(u32::MAX)
        });
        let lockout = sec.uint("lockout").unwrap_or(DEFAULT_LOCKOUT);
        let text = sec.str("options").unwrap_or_default();
        let options = AuthOptions {
            token: has_option(&text, "token"),
            jwt: has_option(&text, "jwt"),
            cookie: has_option(&text, "cookie"),
            header: has_option(&text, "header"),
            home: has_option(&text, "home"),
            redirect: has_option(&text, "redirect"),
            management: has_option(&text, "management"),
        };
        for word in ["chown"] {
            if has_option(&text, word) {
                sec.warn(
                    "options",
                    Problem::BadValue(format!("option `{word}` is not supported yet, ignored")),
                );
            }
        }
        let parsed = kind.as_deref().and_then(Scheme::parse);
        let openid = parsed == Some(Scheme::OpenId);
        let oidc = if openid {
            super::oidc::OidcConfig::from_section(sec)
        } else {
            None
        };
        if sec.has("auth_ep") && !openid {
            sec.warn(
                "auth_ep",
                Problem::BadValue("only type oAuth2 (OpenID) uses `auth_ep`".into()),
            );
            sec.accept(&["auth_ep"]);
        }
        let bearer = parsed == Some(Scheme::Bearer);
        let storage = storage(sec, authz.as_deref(), options.tokens() || bearer || openid);

        let Some(kind) = kind else {
            if !sec.has("type") {
                sec.error("type", Problem::MissingKey("type"));
            }
            return None;
        };
        let Some(scheme) = Scheme::parse(&kind) else {
            sec.error(
                "type",
                Problem::BadValue(format!(
                    "unknown type `{kind}` (None, Basic, Digest, Bearer, wwwform, oAuth2)"
                )),
            );
            return None;
        };
        let (storage, algorithm) = (storage?, algorithm?);
        if openid && oidc.is_none() {
            return None;
        }
        // OpenID's `token_ep` is the provider's (read with its keys).
        let token_ep = if openid { None } else { token_ep };
        let cfg = AuthConfig {
            span: sec.span().clone(),
            path: sec.path().to_string(),
            scheme,
            storage,
            realm,
            issuer,
            algorithm,
            opaque,
            protect,
            unprotect,
            signin,
            token_ep,
            secret,
            expire,
            options,
            maxfailures,
            lockout,
            oidc,
        };
        cfg.validate(sec).then_some(cfg)
    }

    fn validate(&self, sec: &Section<'_>) -> bool {
        let mut ok = true;
        let mut need = |cond: bool, key: &'static str, why: &str| {
            if !cond {
                sec.error(key, Problem::BadValue(why.to_string()));
                ok = false;
            }
        };
        let has_secret = self.secret.as_deref().is_some_and(|s| !s.is_empty());
        need(
            has_secret || !(self.options.tokens() || self.scheme == Scheme::Bearer),
            "secret",
            "tokens (options `jwt`/`token`, type Bearer) need a `secret`",
        );
        need(
            self.scheme != Scheme::WwwForm || self.token_ep.is_some(),
            "token_ep",
            "type wwwform needs `token_ep`, the path its form is posted to",
        );
        need(
            self.scheme != Scheme::WwwForm || has_secret,
            "secret",
            "type wwwform keeps the session in a token and needs a `secret`",
        );
        need(
            self.scheme != Scheme::OpenId || has_secret,
            "secret",
            "type oAuth2 keeps the session in a token and needs a `secret`",
        );
        need(
            self.scheme != Scheme::OpenId || self.storage == StorageConfig::Jwt,
            "authz",
            "type oAuth2 takes its users from the provider: no password storage",
        );
        let passwordless = self.storage == StorageConfig::Jwt;
        need(
            !(passwordless
                && matches!(
                    self.scheme,
                    Scheme::Basic | Scheme::Digest | Scheme::WwwForm
                )),
            "authz",
            "the `jwt` storage has no passwords; Basic, Digest and wwwform need one",
        );
        need(
            !matches!(self.storage, StorageConfig::Totp(_))
                || matches!(self.scheme, Scheme::Basic | Scheme::WwwForm),
            "type",
            "a `totp` authenticator reads codes from Basic (`user:code`) or wwwform",
        );
        need(self.expire > 0, "expire", "must be at least 1 (seconds)");
        need(
            !self.options.management || matches!(self.storage, StorageConfig::Sqlite(_)),
            "options",
            "option `management` needs the sqlite storage (`dbname`)",
        );
        if has_secret && self.secret.as_deref().is_some_and(|s| s.len() < 16) {
            sec.warn(
                "secret",
                Problem::BadValue("a secret shorter than 16 characters is easy to guess".into()),
            );
        }
        ok
    }

    /// The `auth` value for `-C`: one group, or a list for a chain.
    pub fn print_all(cfgs: &[AuthConfig]) -> Option<String> {
        match cfgs {
            [] => None,
            [one] => Some(one.print()),
            many => Some(format!(
                "( {} )",
                many.iter()
                    .map(AuthConfig::print)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The section as libconfig text with the defaults made explicit.
    pub fn print(&self) -> String {
        let mut o = format!("{{ type = {};", quote(self.scheme.config_name()));
        let mut kv = |k: &str, v: &str| o.push_str(&format!(" {k} = {};", quote(v)));
        match &self.storage {
            StorageConfig::Simple {
                user,
                passwd,
                group,
                home,
                status,
            } => {
                kv("authz", "simple");
                kv("user", user);
                for (k, v) in [
                    ("passwd", passwd),
                    ("group", group),
                    ("home", home),
                    ("status", status),
                ] {
                    if let Some(v) = v {
                        kv(k, v);
                    }
                }
            }
            StorageConfig::File(p) => {
                kv("authz", "file");
                kv("file", &p.to_string_lossy());
            }
            StorageConfig::Sqlite(p) => {
                kv("authz", "sqlite");
                kv("dbname", &p.to_string_lossy());
            }
            StorageConfig::Unix(p) => {
                kv("authz", "unix");
                kv("file", &p.to_string_lossy());
            }
            StorageConfig::Jwt => kv("authz", "jwt"),
            StorageConfig::Totp(_) => kv("authz", "totp"),
        }
        let opt = [
            ("realm", &self.realm),
            ("issuer", &self.issuer),
            ("opaque", &self.opaque),
            ("protect", &self.protect),
            ("unprotect", &self.unprotect),
            ("signin", &self.signin),
            ("token_ep", &self.token_ep),
            ("secret", &self.secret),
        ];
        for (k, v) in opt {
            if let Some(v) = v {
                kv(k, v);
            }
        }
        let totp = match &self.storage {
            StorageConfig::Totp(t) => t.print(),
            _ => {
                kv("algorithm", self.algorithm.name());
                String::new()
            }
        };
        kv("options", &self.options.words());
        o.push_str(&totp);
        if let Some(oidc) = &self.oidc {
            o.push_str(&oidc.print());
        }
        o.push_str(&format!(
            " expire = {}; maxfailures = {}; lockout = {}; }}",
            self.expire, self.maxfailures, self.lockout
        ));
        o
    }
}

/// The storage of a section: `authz`, or the first whose keys are present
/// (`dbname`, `file` naming a shadow file, `file`, `user`, tokens: option
/// `jwt`/`token` or type Bearer, `secret`: totp).
fn storage(sec: &Section<'_>, authz: Option<&str>, tokens: bool) -> Option<StorageConfig> {
    let dbname = sec.str("dbname").map(PathBuf::from);
    let file = sec.str("file").map(PathBuf::from);
    let user = sec.str("user");
    let simple = |user: String| StorageConfig::Simple {
        user,
        passwd: sec.str("passwd"),
        group: sec.str("group"),
        home: sec.str("home"),
        status: sec.str("status"),
    };
    let is_shadow = |p: &PathBuf| p.to_string_lossy().contains("shadow");
    // Read them all, so none is reported as unknown.
    sec.accept(&["passwd", "group", "home", "status"]);
    let missing = |key: &'static str| {
        sec.error(key, Problem::MissingKey(key));
        None
    };
    match authz.map(str::to_ascii_lowercase).as_deref() {
        Some("sqlite") => dbname
            .map(StorageConfig::Sqlite)
            .or_else(|| missing("dbname")),
        Some("unix") => Some(StorageConfig::Unix(
            file.unwrap_or_else(|| PathBuf::from("shadow")),
        )),
        Some("file") => file.map(StorageConfig::File).or_else(|| missing("file")),
        Some("simple") => user.map(simple).or_else(|| missing("user")),
        Some("jwt") => Some(StorageConfig::Jwt),
        Some("totp") => super::totp::TotpConfig::from_section(sec).map(StorageConfig::Totp),
        Some(other) => {
            sec.error(
                "authz",
                Problem::BadValue(format!(
                    "storage `{other}` is not supported (sqlite, unix, file, simple, jwt, totp)"
                )),
            );
            None
        }
        None => {
            if let Some(d) = dbname {
                Some(StorageConfig::Sqlite(d))
            } else if let Some(f) = file {
                Some(if is_shadow(&f) {
                    StorageConfig::Unix(f)
                } else {
                    StorageConfig::File(f)
                })
            } else if let Some(u) = user {
                Some(simple(u))
            } else if tokens {
                Some(StorageConfig::Jwt)
            } else if sec.has("secret") {
                // Ouistiti's last inference: a bare `secret` is TOTP.
                super::totp::TotpConfig::from_section(sec).map(StorageConfig::Totp)
            } else {
                sec.error(
                    "authz",
                    Problem::BadValue(
                        "no password storage: set `dbname`, `file`, `user` or `authz` \
                         (the original would serve without authentication)"
                            .into(),
                    ),
                );
                None
            }
        }
    }
}
