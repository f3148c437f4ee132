//! Bearer-token authentication (HS256 shared secret for local use) and scope checks.
//! The owner of everything a request creates is the token's `sub`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use serde::{Deserialize, Serialize};
use vodflow_core::config::AuthConfig;

use crate::problem::ApiError;
use crate::state::AppState;

pub const SCOPE_READ: &str = "videos:read";
pub const SCOPE_WRITE: &str = "videos:write";
pub const SCOPE_ADMIN: &str = "videos:admin";

/// Clock skew tolerated on `exp`/`nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default)]
    pub nbf: Option<u64>,
    #[serde(default)]
    pub iat: Option<u64>,
    /// Space-separated scopes (OAuth2 convention).
    #[serde(default)]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

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
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        let ok = self.has(SCOPE_ADMIN)
            || self.has(scope)
            || (scope == SCOPE_READ && self.has(SCOPE_WRITE));
        if ok {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this operation needs the {scope} scope"
            )))
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

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = req.data::<AppState>().ok_or_else(|| {
        poem::Error::from_string(
            "state missing",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })?;
    verify(&state.cfg.auth, &bearer.token).map_err(|e| {
        let resp = crate::problem::problem_response(
            e.status(),
            &e.problem(Some(req.uri().path().to_owned())),
        );
        let mut resp = resp;
        resp.headers_mut().insert(
            poem::http::header::WWW_AUTHENTICATE,
            poem::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        poem::Error::from_response(resp)
    })
}

pub fn verify(cfg: &AuthConfig, token: &str) -> Result<Caller, ApiError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[&cfg.issuer]);
    v.set_audience(&[&cfg.audience]);
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECONDS;
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(cfg.hs256_secret.as_bytes()),
        &v,
    )
    .map_err(|e| ApiError::Unauthorized(format!("invalid bearer token: {e}")))?;
    let c = data.claims;
    if c.sub.is_empty() {
        return Err(ApiError::Unauthorized(
            "invalid bearer token: empty sub".into(),
        ));
    }
    Ok(Caller {
        sub: c.sub,
        scopes: c.scope.split_whitespace().map(str::to_owned).collect(),
        email: c.email,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot sign token: {0}")]
pub struct IssueError(#[from] jsonwebtoken::errors::Error);

/// Mints an HS256 token for local use and tests.
pub fn issue(
    cfg: &AuthConfig,
    sub: &str,
    scopes: &[String],
    ttl: std::time::Duration,
    email: Option<&str>,
) -> Result<String, IssueError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub: sub.to_owned(),
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone(),
        exp: now + ttl.as_secs(),
        nbf: Some(now),
        iat: Some(now),
        scope: scopes.join(" "),
        email: email.map(str::to_owned),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(cfg.hs256_secret.as_bytes()),
    )?)
}
