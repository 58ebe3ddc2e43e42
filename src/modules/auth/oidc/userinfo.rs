//! Claims from the userinfo end point, when the ID token lacks them.
//!
//! Providers that follow OpenID Connect Core §5.4 to the letter put the
//! claims of the `profile` and `email` scopes only at the userinfo end
//! point when an access token is issued (oidc-provider's default, some
//! Keycloak set-ups). When the ID token misses the claim naming the user
//! (or the group claim), marmoset asks the userinfo end point with the
//! access token, checks that its `sub` is the ID token's (§5.3.2: otherwise
//! the answer is about someone else and must not be used), and adds the
//! claims the ID token did not have. The ID token's own claims win.

use http::StatusCode;
use serde_json::{Map, Value};

use super::Oidc;

impl Oidc {
    /// `claims` completed from the userinfo end point when needed; a status
    /// and reason when that fails.
    pub(super) async fn complete(
        &self,
        mut claims: Map<String, Value>,
        access_token: Option<&str>,
    ) -> Result<Map<String, Value>, (StatusCode, String)> {
        let has = |c: &Map<String, Value>, k: &str| c.get(k).is_some_and(|v| !v.is_null());
        let user_claim = self
            .cfg
            .user_claim
            .as_deref()
            .unwrap_or("preferred_username");
        let wanted = [Some(user_claim), self.cfg.group_claim.as_deref()];
        if wanted.iter().flatten().all(|k| has(&claims, k)) {
            return Ok(claims);
        }
        let endpoints = self
            .provider
            .endpoints()
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
        let (Some(url), Some(token)) = (endpoints.userinfo.as_deref(), access_token) else {
            return Ok(claims);
        };
        let info = self
            .provider
            .client()
            .get_json_as(url, Some(token))
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, format!("userinfo: {e}")))?;
        let Value::Object(info) = info else {
            return Err((
                StatusCode::BAD_GATEWAY,
                "userinfo: not a JSON object".into(),
            ));
        };
        if info.get("sub") != claims.get("sub") {
            return Err((
                StatusCode::UNAUTHORIZED,
                "userinfo: `sub` is not the ID token's".into(),
            ));
        }
        for (k, v) in info {
            if !has(&claims, &k) {
                claims.insert(k, v);
            }
        }
        Ok(claims)
    }
}
