//! Bearer-token authentication and scope checks. Tokens come either from an OAuth2/OIDC issuer
//! (verified against its JWKS) or, for local use, from an HS256 shared secret; the owner of
//! everything a request creates is the token's `sub`.

mod claims;
mod jwks;
mod token;
mod verifier;

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

pub use claims::Claims;
pub use token::{IssueError, issue};
pub use verifier::{AuthError, Verifier};

use crate::problem::ApiError;

pub const SCOPE_READ: &str = "videos:read";
pub const SCOPE_WRITE: &str = "videos:write";
pub const SCOPE_ADMIN: &str = "videos:admin";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub sub: String,
    pub scopes: Vec<String>,
    pub email: Option<String>,
}

impl Caller {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Admins act on any owner's videos; `write` implies `read` for one's own.
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        let ok = self.has(SCOPE_ADMIN)
            || self.has(scope)
            || (scope == SCOPE_READ && self.has(SCOPE_WRITE));
        if ok {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scope))
        }
    }

    /// The owner filter for repository queries: `None` (any owner) for admins.
    pub fn owner_filter(&self) -> Option<&str> {
        if self.has(SCOPE_ADMIN) {
            None
        } else {
            Some(&self.sub)
        }
    }
}

/// JWT bearer token (`Authorization: Bearer <jwt>`); `vodflow token issue` mints one for local use.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::KeysUnavailable(_) => Self::Unavailable(e.to_string()),
            other => Self::Unauthorized(other.to_string()),
        }
    }
}

/// The app shares its `Arc<Verifier>` as request data (see `crate::app`).
async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let verifier = req.data::<std::sync::Arc<Verifier>>().ok_or_else(|| {
        poem::Error::from_string(
            "token verifier missing",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })?;
    verifier.verify(&bearer.token).await.map_err(|e| {
        let err = ApiError::from(e);
        let resp = crate::problem::problem_response_for(&err, req.uri().path());
        poem::Error::from_response(resp)
    })
}
