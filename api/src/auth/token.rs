use jsonwebtoken::{Algorithm, EncodingKey, Header};
use vodflow_core::config::AuthConfig;

use super::Claims;

#[derive(Debug, thiserror::Error)]
#[error("cannot sign token: {0}")]
pub struct IssueError(#[from] jsonwebtoken::errors::Error);

/// Mints an HS256 token for local use and tests (`vodflow token issue`).
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
        aud: cfg.audience.clone().into(),
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
