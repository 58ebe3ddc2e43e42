//! The OpenID keys of an `auth` section (stage 2: typed and checked at
//! start-up, every mistake reported at its `file:line:col`).

use std::path::PathBuf;

use crate::config::Problem;
use crate::config::Section;
use crate::config::print::quote;

/// Scope asked for when `scope` is absent.
pub const DEFAULT_SCOPE: &str = "openid profile email";
/// Group given to users when no `group_claim` names one.
pub const DEFAULT_GROUP: &str = "users";

/// How the client authenticates at the token end point (`client_auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the id and secret (default
    /// with a `client_secret`).
    Basic,
    /// `client_secret_post`: id and secret in the form body.
    Post,
    /// `none`: a public client, only `client_id` in the body (PKCE alone
    /// binds the code; default without a `client_secret`).
    None,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s.to_ascii_lowercase().as_str() {
            "basic" | "client_secret_basic" => ClientAuth::Basic,
            "post" | "client_secret_post" => ClientAuth::Post,
            "none" => ClientAuth::None,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Post => "client_secret_post",
            ClientAuth::None => "none",
        }
    }
}

/// The OpenID Connect relying-party settings of one `auth` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcConfig {
    /// `issuer_url`: the provider's issuer; the ID tokens' `iss` must be
    /// exactly this, and discovery reads
    /// `<issuer_url>/.well-known/openid-configuration`.
    pub issuer_url: String,
    /// `auth_ep`: authorization end point (default: discovered).
    pub auth_ep: Option<String>,
    /// `token_ep`: token end point (default: discovered).
    pub token_ep: Option<String>,
    /// `jwks_uri`: the provider's signing keys (default: discovered).
    pub jwks_uri: Option<String>,
    /// `client_id`, registered at the provider.
    pub client_id: String,
    /// `client_secret` (absent: a public client).
    pub client_secret: Option<String>,
    /// `client_auth`: how the secret is sent.
    pub client_auth: ClientAuth,
    /// `redirect_uri`: the callback on this server, a path (the absolute
    /// URL is built from the request's `Host`) or an absolute URL.
    pub redirect_uri: String,
    /// `scope` (must contain `openid`).
    pub scope: String,
    /// `cafile`: extra trust anchors (PEM) for the provider's certificate.
    pub cafile: Option<PathBuf>,
    /// `user_claim`: the claim naming the user (default
    /// `preferred_username`; `sub` when it is absent).
    pub user_claim: Option<String>,
    /// `group_claim`: the claim giving the group (a string, or the first
    /// of an array).
    pub group_claim: Option<String>,
    /// `group`: the group when no claim gives one.
    pub group: String,
    /// `home`: the home template, `{user}` replaced by the user name.
    pub home: Option<String>,
}

impl OidcConfig {
    /// Read the OpenID keys of `sec`; errors are recorded, `None` when the
    /// section cannot be used.
    pub fn from_section(sec: &Section<'_>) -> Option<OidcConfig> {
        let issuer_url = sec.str("issuer_url");
        let endpoint = |key: &'static str| {
            let v = sec.str(key)?;
            if is_http_url(&v) {
                Some(v)
            } else {
                sec.error(
                    key,
                    Problem::BadValue(format!("`{v}` is not an http(s) URL")),
                );
                None
            }
        };
        let (auth_ep, token_ep, jwks_uri) = (
            endpoint("auth_ep"),
            endpoint("token_ep"),
            endpoint("jwks_uri"),
        );
        let client_id = sec.str("client_id").filter(|s| !s.is_empty());
        let client_secret = sec.str("client_secret").filter(|s| !s.is_empty());
        let client_auth = match sec.str("client_auth") {
            None if client_secret.is_some() => Some(ClientAuth::Basic),
            None => Some(ClientAuth::None),
            Some(a) => ClientAuth::parse(&a).or_else(|| {
                sec.error(
                    "client_auth",
                    Problem::BadValue(format!(
                        "unknown client_auth `{a}` (client_secret_basic, client_secret_post, none)"
                    )),
                );
                None
            }),
        };
        let redirect_uri = sec.str("redirect_uri");
        let scope = sec.str("scope").unwrap_or_else(|| DEFAULT_SCOPE.into());
        let cafile = sec.str("cafile").map(PathBuf::from);
        let user_claim = sec.str("user_claim").filter(|s| !s.is_empty());
        let group_claim = sec.str("group_claim").filter(|s| !s.is_empty());
        let group = sec.str("group").unwrap_or_else(|| DEFAULT_GROUP.into());
        let home = sec.str("home").filter(|s| !s.is_empty());

        let mut ok = true;
        let mut fail = |key: &'static str, problem: Problem| {
            sec.error(key, problem);
            ok = false;
        };
        match &issuer_url {
            None => fail("issuer_url", Problem::MissingKey("issuer_url")),
            Some(u) if !is_http_url(u) => fail(
                "issuer_url",
                Problem::BadValue(format!("`{u}` is not an http(s) URL")),
            ),
            Some(_) => {}
        }
        if client_id.is_none() {
            fail("client_id", Problem::MissingKey("client_id"));
        }
        match &redirect_uri {
            None => fail("redirect_uri", Problem::MissingKey("redirect_uri")),
            Some(r) if !is_callback(r) => fail(
                "redirect_uri",
                Problem::BadValue(format!(
                    "`{r}` is neither a path (`/auth/callback`) nor an http(s) URL without query"
                )),
            ),
            Some(_) => {}
        }
        if !scope.split_whitespace().any(|s| s == "openid") {
            fail(
                "scope",
                Problem::BadValue(format!("`{scope}` lacks `openid`")),
            );
        }
        if client_auth.is_some_and(|a| a != ClientAuth::None) && client_secret.is_none() {
            fail(
                "client_secret",
                Problem::BadValue("client_auth other than `none` needs a `client_secret`".into()),
            );
        }
        if let Some(h) = &home
            && !h.starts_with('/')
        {
            fail(
                "home",
                Problem::BadValue("the home template must be an absolute path".into()),
            );
        }
        if !ok {
            return None;
        }
        Some(OidcConfig {
            issuer_url: issuer_url?.trim_end_matches('/').to_string(),
            auth_ep,
            token_ep,
            jwks_uri,
            client_id: client_id?,
            client_secret,
            client_auth: client_auth?,
            redirect_uri: redirect_uri?,
            scope,
            cafile,
            user_claim,
            group_claim,
            group,
            home,
        })
    }

    /// The path of the callback (`redirect_uri` without scheme and host).
    pub fn callback_path(&self) -> &str {
        callback_path(&self.redirect_uri)
    }

    /// The keys as libconfig text (for `-C`), secrets included as written.
    pub fn print(&self) -> String {
        let mut o = String::new();
        let mut kv = |k: &str, v: &str| o.push_str(&format!(" {k} = {};", quote(v)));
        kv("issuer_url", &self.issuer_url);
        for (k, v) in [
            ("auth_ep", &self.auth_ep),
            ("token_ep", &self.token_ep),
            ("jwks_uri", &self.jwks_uri),
            ("client_secret", &self.client_secret),
            ("user_claim", &self.user_claim),
            ("group_claim", &self.group_claim),
            ("home", &self.home),
        ] {
            if let Some(v) = v {
                kv(k, v);
            }
        }
        kv("client_id", &self.client_id);
        kv("client_auth", self.client_auth.name());
        kv("redirect_uri", &self.redirect_uri);
        kv("scope", &self.scope);
        kv("group", &self.group);
        if let Some(c) = &self.cafile {
            kv("cafile", &c.to_string_lossy());
        }
        o
    }
}

/// Whether `s` is an absolute `http://` or `https://` URL with a host.
pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains('@') && !r.chars().any(char::is_whitespace)
    })
}

fn is_callback(s: &str) -> bool {
    let no_query = !s.contains(['?', '#']);
    let path = callback_path(s);
    no_query
        && path.starts_with('/')
        && !path.starts_with("//")
        && (s.starts_with('/') || is_http_url(s))
}

fn callback_path(s: &str) -> &str {
    match s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_callbacks() {
        assert!(is_http_url("https://accounts.example"));
        assert!(is_http_url("http://127.0.0.1:9000/realms/x"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("https://user@evil/"));
        assert!(is_callback("/auth/callback"));
        assert!(is_callback("https://dev.example/auth/callback"));
        assert!(!is_callback("//evil/cb"));
        assert!(!is_callback("/cb?x=1"));
        assert!(!is_callback("auth/callback"));
        assert_eq!(callback_path("https://dev.example:8443/cb"), "/cb");
        assert_eq!(callback_path("/cb"), "/cb");
    }
}
