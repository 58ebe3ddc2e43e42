//! OpenID Connect compiled out (cargo feature `openid` off): an `auth`
//! section of type `oAuth2` / `OpenID` is an error — serving without the
//! sign-in the configuration asks for would fail open.

use crate::config::{Section, Severity};
use crate::pipeline::{RequestCtx, RequestHead, Response, User};

/// Stands for the OpenID keys of a section; never produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OidcConfig {}

impl OidcConfig {
    /// Record that OpenID is not built (an error); always `None`.
    pub fn from_section(sec: &Section<'_>) -> Option<OidcConfig> {
        sec.not_built("openid", Severity::Error);
        None
    }

    /// Never called (no value exists).
    pub fn print(&self) -> String {
        match *self {}
    }
}

/// The answer to a callback (never produced).
pub enum Callback {
    /// Signed in.
    SignedIn(User, Response),
    /// Refused.
    Refused(Response),
}

/// The relying party that is not there: it has no values.
pub enum Oidc {}

impl Oidc {
    /// Never reached: no [`OidcConfig`] exists.
    pub fn build(cfg: &OidcConfig, _secret: &str) -> Result<Oidc, String> {
        match *cfg {}
    }

    /// Never called.
    pub fn is_callback(&self, _path: &str) -> bool {
        match *self {}
    }

    /// Never called.
    pub async fn login(&self, _head: &RequestHead, _ctx: &RequestCtx) -> Response {
        match *self {}
    }

    /// Never called.
    pub async fn callback(&self, _head: &RequestHead, _ctx: &RequestCtx) -> Callback {
        match *self {}
    }
}
