use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use vodflow_core::config::AuthConfig;

use super::jwks::{Jwks, JwksError};
use super::{Caller, Claims};

/// Why a bearer token was refused. Every variant but `KeysUnavailable` is the client's fault (401).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("malformed bearer token: {0}")]
    Malformed(String),
    #[error("token algorithm {0} is not accepted here")]
    Algorithm(String),
    #[error("token signed by unknown key id {0:?}")]
    UnknownKey(String),
    #[error("token has no key id (kid), and the issuer publishes more than one key")]
    MissingKid,
    #[error("invalid bearer token: {0}")]
    Invalid(String),
    #[error("cannot fetch the issuer's signing keys: {0}")]
    KeysUnavailable(String),
}

/// Checks bearer tokens against the configured key source.
pub struct Verifier {
    keys: KeySource,
    issuer: String,
    audience: String,
    leeway: Duration,
}

enum KeySource {
    Hs256(DecodingKey),
    Jwks(Jwks),
}

impl Verifier {
    pub fn new(cfg: &AuthConfig) -> Self {
        let keys = match &cfg.jwks_url {
            Some(url) => KeySource::Jwks(Jwks::new(
                url.clone(),
                cfg.jwks_refresh_min,
                cfg.jwks_cache_ttl,
            )),
            None => KeySource::Hs256(DecodingKey::from_secret(cfg.hs256_secret.as_bytes())),
        };
        Self {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway: cfg.leeway,
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        // `alg: none` and unknown algorithms fail here: jsonwebtoken's Algorithm has no `none`.
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::Json(_) if token_declares_none(token) => AuthError::Algorithm("none".into()),
            _ => AuthError::Malformed(e.to_string()),
        })?;
        let (key, alg) = match &self.keys {
            // The shared secret signs HS256 only; anything else claiming this key is forged.
            KeySource::Hs256(key) => {
                if header.alg != Algorithm::HS256 {
                    return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
                }
                (key.clone(), Algorithm::HS256)
            }
            // The key, not the token, decides the algorithm: an HS256 token whose secret is the
            // issuer's public key (HS/RS confusion) never matches an asymmetric key's algorithm.
            KeySource::Jwks(jwks) => {
                let entry = jwks.key(header.kid.as_deref()).await.map_err(|e| match e {
                    JwksError::UnknownKid(kid) => AuthError::UnknownKey(kid),
                    JwksError::MissingKid => AuthError::MissingKid,
                    other => AuthError::KeysUnavailable(other.to_string()),
                })?;
                if !entry.algorithms.contains(&header.alg) {
                    return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
                }
                (entry.key, header.alg)
            }
        };
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.validate_nbf = true;
        v.leeway = self.leeway.as_secs();
        v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
            .map_err(|e| AuthError::Invalid(describe(e.kind())))?
            .claims;
        if claims.sub.is_empty() {
            return Err(AuthError::Invalid("empty sub".into()));
        }
        Ok(Caller {
            sub: claims.sub,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            email: claims.email,
        })
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token has expired".into(),
        ErrorKind::ImmatureSignature => "token is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer (iss)".into(),
        ErrorKind::InvalidAudience => "wrong audience (aud)".into(),
        ErrorKind::InvalidSignature => "signature does not match".into(),
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
        other => format!("{other:?}"),
    }
}

/// Distinguishes a well-formed `alg: none` header from garbage, for a clearer refusal.
fn token_declares_none(token: &str) -> bool {
    use base64::Engine;
    let Some(head) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|h| h.get("alg").and_then(|a| a.as_str()).map(str::to_owned))
        .is_some_and(|a| a.eq_ignore_ascii_case("none"))
}
