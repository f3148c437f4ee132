//! Accounts: bearer tokens from an OAuth2 issuer's JWKS (a local JWKS server started here), the
//! attacks a verifier must refuse, key rotation, scopes, and per-owner isolation on every route.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use common::TestEnv;

const ISSUER: &str = "https://issuer.test/";
const AUDIENCE: &str = "vodflow-api";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A private key made by openssl, and its public JWK under `kid`.
struct Key {
    alg: Algorithm,
    signing: EncodingKey,
    jwk: Value,
    kid: String,
    public_pem: Vec<u8>,
}

fn make_key(dir: &Path, kid: &str, alg: Algorithm) -> Key {
    let pem = dir.join(format!("{kid}.pem"));
    let pem_s = pem.to_str().unwrap();
    match alg {
        Algorithm::RS256 => openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            pem_s,
        ]),
        Algorithm::ES256 => openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            pem_s,
        ]),
        Algorithm::EdDSA => openssl(&["genpkey", "-algorithm", "ed25519", "-out", pem_s]),
        other => panic!("no test key for {other:?}"),
    };
    let private = std::fs::read(&pem).unwrap();
    let public_pem = openssl(&["pkey", "-in", pem_s, "-pubout"]);
    let (signing, mut jwk) = match alg {
        Algorithm::RS256 => {
            let k = EncodingKey::from_rsa_pem(&private).unwrap();
            let jwk = serde_json::to_value(Jwk::from_encoding_key(&k, alg).unwrap()).unwrap();
            (k, jwk)
        }
        Algorithm::ES256 => {
            let k = EncodingKey::from_ec_pem(&private).unwrap();
            let jwk = serde_json::to_value(Jwk::from_encoding_key(&k, alg).unwrap()).unwrap();
            (k, jwk)
        }
        _ => {
            // The raw Ed25519 public key is the last 32 bytes of its SubjectPublicKeyInfo.
            let der = openssl(&["pkey", "-in", pem_s, "-pubout", "-outform", "DER"]);
            let x = B64.encode(&der[der.len() - 32..]);
            (
                EncodingKey::from_ed_pem(&private).unwrap(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            )
        }
    };
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    Key {
        alg,
        signing,
        jwk,
        kid: kid.to_owned(),
        public_pem,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str, scope: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "nbf": now() - 5,
           "iat": now(), "scope": scope})
}

fn sign(key: &Key, claims: &Value) -> String {
    let mut h = Header::new(key.alg);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, claims, &key.signing).unwrap()
}

/// A token assembled by hand: any header, any payload, signed HS256 with `secret` (or unsigned).
fn forge(header: &Value, claims: &Value, hs256_secret: Option<&[u8]>) -> String {
    use hmac::Mac;
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = match hs256_secret {
        Some(secret) => {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            m.update(input.as_bytes());
            B64.encode(m.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{input}.{sig}")
}

struct Answer {
    status: u16,
    challenge: String,
    body: Value,
}

async fn list_with(base: &str, authorization: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new().get(format!("{base}/v1/videos"));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        challenge: r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        body: r.json().await.unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn jwks_tokens_verify_attacks_are_refused_and_rotation_needs_no_restart() {
    let scratch = std::env::temp_dir().join(common::unique("vodflow-keys-"));
    std::fs::create_dir_all(&scratch).unwrap();
    let rsa = make_key(&scratch, "rsa-1", Algorithm::RS256);
    let ec = make_key(&scratch, "ec-1", Algorithm::ES256);
    let ed = make_key(&scratch, "ed-1", Algorithm::EdDSA);
    let rotated = make_key(&scratch, "rsa-2", Algorithm::RS256);
    let stranger = make_key(&scratch, "rsa-1", Algorithm::RS256);
    let document = Arc::new(Mutex::new(json!({"keys": [rsa.jwk, ec.jwk, ed.jwk]})));
    let (jwks_url, fetches) = common::json_server(document.clone()).await;
    let env = TestEnv::new(&[
        ("VODFLOW_AUTH_JWKS_URL", &jwks_url),
        ("VODFLOW_AUTH_ISSUER", ISSUER),
        ("VODFLOW_AUTH_AUDIENCE", AUDIENCE),
        ("VODFLOW_AUTH_JWKS_REFRESH_MIN", "1s"),
    ])
    .await;
    let api = env.spawn_api().await;
    let base = api.base.clone();

    // Each key type the issuer publishes verifies its own tokens.
    for key in [&rsa, &ec, &ed] {
        let a = list_with(
            &base,
            Some(&format!(
                "Bearer {}",
                sign(key, &claims("alice", "videos:read"))
            )),
        )
        .await;
        assert_eq!(a.status, 200, "{:?}: {}", key.alg, a.body);
    }

    let good = claims("alice", "videos:read videos:write");
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let tampered = {
        let t = sign(&rsa, &good);
        let parts: Vec<&str> = t.split('.').collect();
        let evil = B64.encode(with(json!({"sub": "mallory"})).to_string());
        format!("{}.{evil}.{}", parts[0], parts[2])
    };
    let attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            forge(&json!({"alg": "none", "typ": "JWT"}), &good, None),
        ),
        (
            "alg none with a kid",
            forge(&json!({"alg": "none", "kid": "rsa-1"}), &good, None),
        ),
        (
            "HS256 signed with the RSA public key",
            forge(
                &json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}),
                &good,
                Some(&rsa.public_pem),
            ),
        ),
        (
            "the local HS256 secret, which JWKS mode must not accept",
            env.token("alice", &["videos:read"]),
        ),
        ("expired", sign(&rsa, &with(json!({"exp": now() - 120})))),
        (
            "not yet valid",
            sign(&rsa, &with(json!({"nbf": now() + 120}))),
        ),
        (
            "wrong issuer",
            sign(&rsa, &with(json!({"iss": "https://evil.test/"}))),
        ),
        (
            "wrong audience",
            sign(&rsa, &with(json!({"aud": "someone-else"}))),
        ),
        ("tampered payload", tampered),
        (
            "unknown kid",
            sign(
                &Key {
                    kid: "nobody".into(),
                    ..make_key(&scratch, "nobody", Algorithm::RS256)
                },
                &good,
            ),
        ),
        ("right kid, someone else's key", sign(&stranger, &good)),
        (
            "RS256 header on the EC key",
            forge(&json!({"alg": "RS256", "kid": "ec-1"}), &good, Some(b"x")),
        ),
        ("no sub", sign(&rsa, &with(json!({"sub": ""})))),
        ("garbage", "not.a.jwt".into()),
        ("two parts", "abc.def".into()),
    ];
    for (name, token) in &attacks {
        let a = list_with(&base, Some(&format!("Bearer {token}"))).await;
        assert_eq!(a.status, 401, "{name} was not refused: {}", a.body);
        assert!(
            a.challenge.starts_with("Bearer") && a.challenge.contains("error=\"invalid_token\""),
            "{name}: WWW-Authenticate {:?}",
            a.challenge
        );
        assert_eq!(
            a.body["type"], "https://vodflow.dev/problems/unauthorized",
            "{name}: {}",
            a.body
        );
        assert!(!a.body["detail"].as_str().unwrap_or_default().is_empty());
    }
    // Malformed or missing headers: a challenge naming the realm, no error code (RFC 6750 §3).
    for header in [
        None,
        Some("Basic YWxpY2U6c2VjcmV0"),
        Some("Bearer"),
        Some("Token abc"),
    ] {
        let a = list_with(&base, header).await;
        assert_eq!(a.status, 401, "{header:?}: {}", a.body);
        assert!(
            a.challenge.starts_with("Bearer"),
            "{header:?}: {:?}",
            a.challenge
        );
    }

    // A valid token without the scope: 403 naming the scope.
    let reader = sign(&rsa, &claims("alice", "videos:read"));
    let r = reqwest::Client::new()
        .post(format!(
            "{base}/v1/videos/00000000-0000-7000-8000-000000000000/reprocess"
        ))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"videos:write\""),
        "{challenge}"
    );

    // Unknown kids are looked up at most once per refresh interval, not once per request.
    let before = fetches.load(Ordering::SeqCst);
    let forged_kid = sign(
        &Key {
            kid: "flood".into(),
            ..make_key(&scratch, "flood", Algorithm::RS256)
        },
        &good,
    );
    for _ in 0..20 {
        assert_eq!(
            list_with(&base, Some(&format!("Bearer {forged_kid}")))
                .await
                .status,
            401
        );
    }
    let flood_fetches = fetches.load(Ordering::SeqCst) - before;
    assert!(
        flood_fetches <= 1,
        "{flood_fetches} JWKS fetches for 20 requests"
    );

    // Rotation: the issuer publishes a new key; tokens signed by it work without a restart.
    document.lock().unwrap()["keys"] = json!([rotated.jwk, rsa.jwk]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = sign(&rotated, &claims("alice", "videos:read"));
    let a = list_with(&base, Some(&format!("Bearer {fresh}"))).await;
    assert_eq!(a.status, 200, "rotated key refused: {}", a.body);

    api.stop().await;
    env.cleanup().await;
    let _ = std::fs::remove_dir_all(&scratch);
}

#[tokio::test]
async fn alices_video_is_invisible_to_bob_on_every_route_and_visible_to_an_admin() {
    let env = TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let alice = env.token("alice", &["videos:read", "videos:write"]);
    let bob = env.token("bob", &["videos:read", "videos:write"]);
    let admin = env.token("operator", &["videos:admin"]);
    let clip = common::media::make_video(&env.scratch, "clip.mp4", &common::media::Spec::default());
    let id = common::upload(&api.base, &alice, &clip, "alice's").await;
    let http = reqwest::Client::new();
    let missing = "00000000-0000-7000-8000-000000000000";

    let routes = [
        ("GET", format!("/v1/videos/{id}")),
        ("GET", format!("/v1/videos/{id}/workflow")),
        ("GET", format!("/v1/videos/{id}/events")),
        ("POST", format!("/v1/videos/{id}/reprocess?force=true")),
        ("POST", format!("/v1/videos/{id}/cancel")),
        ("DELETE", format!("/v1/videos/{id}")),
    ];
    for (method, path) in &routes {
        let send = |token: &str, path: &str| {
            http.request(method.parse().unwrap(), api.url(path))
                .bearer_auth(token)
                .send()
        };
        let r = send(&bob, path).await.unwrap();
        let bobs = (r.status().as_u16(), r.text().await.unwrap());
        let r = send(&bob, &path.replace(&id, missing)).await.unwrap();
        let absent = (r.status().as_u16(), r.text().await.unwrap());
        assert_eq!(bobs.0, 404, "{method} {path} as bob: {}", bobs.1);
        // Indistinguishable from a missing id, apart from the id itself.
        assert_eq!(bobs.1.replace(&id, missing), absent.1, "{method} {path}");
    }
    let list = |token: String| {
        let http = http.clone();
        let url = api.url("/v1/videos");
        async move {
            let v: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert!(list(bob.clone()).await.is_empty());
    assert_eq!(list(alice.clone()).await, vec![id.clone()]);
    assert_eq!(list(admin.clone()).await, vec![id.clone()]);
    let r = http
        .get(api.url(&format!("/v1/videos/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["owner"], "alice");
    // Still there for Alice: none of Bob's attempts touched it.
    let r = http
        .get(api.url(&format!("/v1/videos/{id}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An admin may delete it (its delete workflow runs on a processing worker).
    let _worker = common::spawn_processing_worker(&env);
    let r = http
        .delete(api.url(&format!("/v1/videos/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    api.stop().await;
    env.cleanup().await;
}
