//! Extractors that reject with `ApiError`, so axum's plain-text rejections never reach a
//! client: the authenticated principal, and the request id.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tower_http::request_id::RequestId;

use super::error::ApiError;
use super::AppState;
use crate::accounts::{Permission, Principal};
use crate::service::Actor;

/// `last_login` is written at most this often per user (SPEC §2).
const LAST_LOGIN_EVERY_MICROS: i64 = 60_000_000;

/// The caller, authenticated by `Authorization: Token <key>` or `Bearer <key>`.
pub struct AuthUser {
    pub principal: Principal,
    pub request_id: String,
}

impl AuthUser {
    /// 403 unless the caller may do `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.principal.may(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.principal.user_id,
            user_uuid: self.principal.user_uuid,
            request_id: self.request_id.clone(),
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(token_of)
            .ok_or(ApiError::Unauthorized)?;
        let principal = state
            .accounts
            .authenticate(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let now = crate::service::now().timestamp_micros();
        if principal
            .last_login
            .is_none_or(|seen| now - seen >= LAST_LOGIN_EVERY_MICROS)
        {
            // Not on the request's path: a failed write of `last_login` must not fail it.
            let accounts = state.accounts.clone();
            let user_id = principal.user_id;
            tokio::spawn(async move {
                if let Err(error) = accounts.touch_last_login(user_id, now).await {
                    tracing::warn!(%error, "could not record last_login");
                }
            });
        }
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or_default()
            .to_string();
        crate::telemetry::record_on_request("user.id", principal.user_id);
        Ok(AuthUser {
            principal,
            request_id,
        })
    }
}

/// The key of `Token <key>` or `Bearer <key>` (scheme case-insensitive).
fn token_of(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(' ')?;
    let key = key.trim();
    let known = scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
    (known && !key.is_empty() && !key.contains(' ')).then_some(key)
}

/// The absolute base of the URLs the API writes: `MEDIASTORE_PUBLIC_URL`, or else the scheme
/// and the request's `Host`.
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(base) = &state.public_base {
            return Ok(BaseUrl(base.clone()));
        }
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
            })
            .or(parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        Ok(BaseUrl(format!("http://{host}")))
    }
}

#[cfg(test)]
mod tests {
    use super::token_of;

    #[test]
    fn both_token_and_bearer_schemes_are_accepted() {
        assert_eq!(token_of("Token abc"), Some("abc"));
        assert_eq!(token_of("bearer abc"), Some("abc"));
        assert_eq!(token_of("Basic abc"), None);
        assert_eq!(token_of("Token"), None);
        assert_eq!(token_of("Token a b"), None);
    }
}
