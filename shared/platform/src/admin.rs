//! Operator endpoints (stock changes, injected faults) kept apart from the public API: they answer
//! only a request that carries `Authorization: Bearer <ADMIN_TOKEN>`, the token the service was
//! started with. A service started without one keeps them off (403), so the safe default is the
//! one a forgotten setting gives.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;

use crate::api::ApiError;

/// The shortest token a service accepts: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// `ADMIN_TOKEN`, as every service with operator endpoints reads it.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AdminAuth {
    /// Bearer token for the operator endpoints (at least 16 characters); unset, they answer 403.
    #[arg(long = "admin-token", env = "ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// What a request's bearer token is checked against: its SHA-256, so comparing takes the same
/// time whichever byte differs.
#[derive(Clone)]
pub struct AdminToken(Option<Arc<[u8; 32]>>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.is_some() { "set" } else { "unset" };
        f.debug_tuple("AdminToken").field(&state).finish()
    }
}

impl AdminToken {
    /// The token of `config`; an empty one counts as unset, a short one is an error.
    pub fn new(config: &AdminAuth) -> Result<Self, String> {
        match config.token.as_deref().map(str::trim) {
            None | Some("") => Ok(Self(None)),
            Some(token) if token.len() < MIN_TOKEN_LEN => Err(format!(
                "ADMIN_TOKEN must have at least {MIN_TOKEN_LEN} characters"
            )),
            Some(token) => Ok(Self(Some(Arc::new(digest(token))))),
        }
    }

    /// `router`'s routes answer only requests that carry this token. Their handlers say so in
    /// their documentation: `security(("admin_token" = []))`.
    pub fn protect<S: Clone + Send + Sync + 'static>(
        &self,
        router: OpenApiRouter<S>,
    ) -> OpenApiRouter<S> {
        router.route_layer(axum::middleware::from_fn_with_state(
            self.clone(),
            require_token,
        ))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

async fn require_token(State(token): State<AdminToken>, request: Request, next: Next) -> Response {
    let Some(expected) = token.0 else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "operator endpoints are off: start the service with ADMIN_TOKEN set",
        )
        .into_response();
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| digest(token.trim()));
    if presented.as_ref() == Some(&*expected) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "an operator endpoint: send Authorization: Bearer <ADMIN_TOKEN>",
    )
    .with_field("Authorization")
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token: Option<&str>) -> AdminAuth {
        AdminAuth {
            token: token.map(str::to_owned),
        }
    }

    #[test]
    fn an_empty_token_is_unset_and_a_short_one_is_refused() {
        assert!(AdminToken::new(&config(None)).unwrap().0.is_none());
        assert!(AdminToken::new(&config(Some("  "))).unwrap().0.is_none());
        let error = AdminToken::new(&config(Some("short"))).unwrap_err();
        assert!(error.contains("16"), "{error}");
        assert!(
            AdminToken::new(&config(Some("a-long-enough-token")))
                .unwrap()
                .0
                .is_some()
        );
    }
}
