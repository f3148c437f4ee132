//! The issuer's published signing keys (JWKS), cached. An unknown `kid` triggers a refetch (at most
//! once per `refresh_min`, so forged kids cannot make us hammer the issuer); the whole set is also
//! refetched once it is older than `ttl`, so a key the issuer withdrew stops being accepted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

#[derive(Debug, thiserror::Error)]
pub(super) enum JwksError {
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    #[error("token has no kid")]
    MissingKid,
    #[error("GET {url}: {reason}")]
    Fetch { url: String, reason: String },
}

#[derive(Clone)]
pub(super) struct KeyEntry {
    pub(super) key: DecodingKey,
    /// What this key may verify: derived from its type (and its `alg`, when the issuer states one).
    pub(super) algorithms: Vec<Algorithm>,
}

pub(super) struct Jwks {
    url: String,
    http: reqwest::Client,
    keys: RwLock<Arc<HashMap<String, KeyEntry>>>,
    /// When the set was last fetched; the lock also makes concurrent refetches wait for one.
    fetched: Mutex<Option<Instant>>,
    refresh_min: Duration,
    ttl: Duration,
}

impl Jwks {
    pub(super) fn new(url: String, refresh_min: Duration, ttl: Duration) -> Self {
        Self {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            keys: RwLock::new(Arc::new(HashMap::new())),
            fetched: Mutex::new(None),
            refresh_min,
            ttl,
        }
    }

    pub(super) async fn key(&self, kid: Option<&str>) -> Result<KeyEntry, JwksError> {
        {
            let mut fetched = self.fetched.lock().await;
            if fetched.is_none_or(|at| at.elapsed() >= self.ttl) {
                self.refetch(&mut fetched).await?;
            }
        }
        if let Some(found) = self.lookup(kid).await? {
            return Ok(found);
        }
        // Unknown kid: the issuer may have rotated. Refetch, unless we just did.
        {
            let mut fetched = self.fetched.lock().await;
            if fetched.is_some_and(|at| at.elapsed() < self.refresh_min) {
                return Err(JwksError::UnknownKid(kid.unwrap_or_default().to_owned()));
            }
            self.refetch(&mut fetched).await?;
        }
        self.lookup(kid)
            .await?
            .ok_or_else(|| JwksError::UnknownKid(kid.unwrap_or_default().to_owned()))
    }

    async fn lookup(&self, kid: Option<&str>) -> Result<Option<KeyEntry>, JwksError> {
        let keys = self.keys.read().await.clone();
        match kid {
            Some(kid) => Ok(keys.get(kid).cloned()),
            // A kid-less token is only unambiguous when the issuer has exactly one key.
            None if keys.len() == 1 => Ok(keys.values().next().cloned()),
            None => Err(JwksError::MissingKid),
        }
    }

    async fn refetch(&self, fetched: &mut Option<Instant>) -> Result<(), JwksError> {
        let err = |reason: String| JwksError::Fetch {
            url: self.url.clone(),
            reason,
        };
        // Counted as a fetch even when it fails, so an unreachable issuer is not retried per request.
        *fetched = Some(Instant::now());
        // Parsed key by key: one key of a kind we do not know must not hide the others.
        let set: serde_json::Value = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| err(e.to_string()))?
            .json()
            .await
            .map_err(|e| err(e.to_string()))?;
        let jwks: Vec<Jwk> = set
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| err("the document has no \"keys\" array".into()))?
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        let mut keys = HashMap::new();
        for jwk in &jwks {
            match (jwk.common.key_id.clone(), entry(jwk)) {
                (Some(kid), Some(e)) => {
                    keys.insert(kid, e);
                }
                // Kid-less keys are only usable as the issuer's single key.
                (None, Some(e)) if jwks.len() == 1 => {
                    keys.insert(String::new(), e);
                }
                (kid, _) => tracing::warn!(?kid, url = %self.url, "ignoring unusable JWKS key"),
            }
        }
        tracing::info!(url = %self.url, keys = keys.len(), "fetched signing keys");
        *self.keys.write().await = Arc::new(keys);
        Ok(())
    }
}

/// Only asymmetric signing keys are usable: a shared secret published in a JWKS would let anyone sign.
fn entry(jwk: &Jwk) -> Option<KeyEntry> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        Some(stated) => {
            let a = signing_algorithm(stated)?;
            if !by_type.contains(&a) {
                return None;
            }
            vec![a]
        }
        None => by_type,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(KeyEntry { key, algorithms })
}

fn signing_algorithm(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
