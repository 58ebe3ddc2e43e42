//! OpenID Connect sign-in (`auth` type `oAuth2`, also `OpenID` / `oidc`):
//! marmoset as a relying party of an OpenID provider (Keycloak, Google,
//! Authentik, …) with the authorization code flow and PKCE.
//!
//! # Flow
//!
//! 1. A browser without a valid session token asks for a protected page:
//!    `302` to the provider's authorization end point with `state`,
//!    `nonce` and a PKCE S256 `code_challenge`; the login in flight goes
//!    into a signed cookie ([`state`]).
//! 2. The provider sends the browser back to `redirect_uri` with a code:
//!    the state is checked against its cookie, the code exchanged at the
//!    token end point with the verifier ([`client`]), and the ID token
//!    validated against the provider's keys ([`idtoken`], [`provider`]);
//!    claims it lacks are asked from the userinfo end point ([`userinfo`]).
//! 3. The user named by the token's claims gets the session token cookie
//!    every `auth` type uses (`X-Auth-Token`, [`crate::modules::auth::token`])
//!    and is sent back to the page first asked for (a path on this server
//!    only: no open redirect). From then on the cookie is the session, so
//!    userfilter, document homes, CGI `REMOTE_USER` see the user.
//!
//! # Why jsonwebtoken and not the openidconnect crate
//!
//! The relying party needs four things: discovery (three URLs from one
//! JSON document), a token request (one form POST), JWKS (one JSON
//! document) and ID token validation (JWS verification plus six claim
//! checks). `jsonwebtoken` (already in the build for session tokens) does
//! the JWS and JWK part with RustCrypto (RSA, PKCS#1 and PSS, P-256,
//! P-384, Ed25519); the rest is about 600 lines here, each check visible
//! and tested. `openidconnect` 4 would add `oauth2`, `chrono`,
//! `serde_with`, `serde_path_to_error` and its own crypto crates for the
//! same result, plus an `AsyncHttpClient` adapter to our client anyway.
//!
//! # Security notes
//!
//! HMAC and `none` ID tokens are refused. The state cookie is signed with
//! a key derived from `secret`. A `redirect_uri` given as a path is made
//! absolute with the request's `Host`: the provider only accepts
//! registered redirect URIs, so a forged `Host` ends at the provider's
//! error page. Plain `http://` providers are accepted (tests, a provider
//! on the same host) with a start-up warning unless on loopback.

pub mod client;
pub mod config;
pub mod flow;
pub mod idtoken;
pub mod provider;
pub mod state;
pub mod userinfo;

pub use config::OidcConfig;
pub use flow::Callback;

use self::client::HttpClient;
use self::provider::Provider;
use self::state::StateKeeper;

/// The relying party of one `auth` section.
pub struct Oidc {
    cfg: OidcConfig,
    provider: Provider,
    states: StateKeeper,
}

impl Oidc {
    /// Build from the section's keys and `secret` (which signs the state
    /// cookies); the error is a start-up message (e.g. a bad `cafile`).
    pub fn build(cfg: &OidcConfig, secret: &str) -> Result<Oidc, String> {
        let client = HttpClient::new(cfg.cafile.as_deref())?;
        for url in [Some(&cfg.issuer_url), cfg.token_ep.as_ref()]
            .into_iter()
            .flatten()
        {
            if url.starts_with("http://") && !is_loopback(url) {
                log::warn!(
                    "auth: the OpenID provider {url} is reached over plain HTTP: codes and the client secret travel in clear"
                );
            }
        }
        Ok(Oidc {
            provider: Provider::new(cfg, client),
            states: StateKeeper::new(secret),
            cfg: cfg.clone(),
        })
    }

    /// Whether `path` is the callback (`redirect_uri`'s path).
    pub fn is_callback(&self, path: &str) -> bool {
        path == self.cfg.callback_path()
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.trim_start_matches("http://");
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
