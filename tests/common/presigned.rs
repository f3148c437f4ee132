//! The presigned multipart routes (Uppy's `@uppy/aws-s3` against a Companion-shaped server) as
//! a client calls them.

use super::tus::path_of;

/// A direct upload URL of `max_bytes` and a presigned upload opened through it: its endpoint,
/// its key, the upload id and the `key=` query.
pub async fn direct_multipart(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    max_bytes: i64,
) -> (String, String, String, String) {
    let r = http
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(token)
        .json(&serde_json::json!({"max_bytes": max_bytes}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let d: serde_json::Value = r.json().await.unwrap();
    let endpoint = format!("{base}{}", path_of(d["upload_url"].as_str().unwrap()));
    // The URL is the credential: created as a browser holding only the URL creates it.
    let (key, id, q) = s3_create(
        http,
        &format!("{endpoint}/s3/multipart"),
        None,
        serde_json::json!({"filename": "d.mp4", "type": "video/mp4"}),
    )
    .await;
    (endpoint, key, id, q)
}

/// `signPart` on a direct upload URL (no token), with the part's size when given.
pub async fn sign_direct(
    http: &reqwest::Client,
    endpoint: &str,
    id: &str,
    q: &str,
    n: usize,
    size: Option<i64>,
) -> reqwest::Response {
    let extra = size.map(|s| format!("&size={s}")).unwrap_or_default();
    http.get(format!("{endpoint}/s3/multipart/{id}/{n}?{q}{extra}"))
        .send()
        .await
        .unwrap()
}

/// Part 1 signed (with `size` when given) and `len` bytes PUT to the store with its URL, which
/// takes them.
pub async fn put_part(
    http: &reqwest::Client,
    endpoint: &str,
    id: &str,
    q: &str,
    size: Option<i64>,
    len: usize,
) {
    let signed: serde_json::Value = sign_direct(http, endpoint, id, q, 1, size)
        .await
        .json()
        .await
        .unwrap();
    // A new connection: the store may close one after refusing a body.
    let put = reqwest::Client::new()
        .put(signed["url"].as_str().unwrap())
        .body(vec![7u8; len])
        .send()
        .await
        .unwrap();
    assert!(
        put.status().is_success(),
        "the store takes it: {}",
        put.status()
    );
}

/// Uppy's `createMultipartUpload` (with the owner's token, or none behind a direct URL): the key, the upload id, and the `key=` query of later calls.
pub async fn s3_create(
    http: &reqwest::Client,
    mp: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (String, String, String) {
    let mut req = http.post(mp);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let created: serde_json::Value = req.json(&body).send().await.unwrap().json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["uploadId"].as_str().unwrap().to_owned();
    let q = format!(
        "key={}",
        url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
    );
    (key, id, q)
}

/// Uppy's `signPart`: the presigned URL for part `n`.
pub async fn s3_sign(
    http: &reqwest::Client,
    mp: &str,
    token: &str,
    id: &str,
    n: usize,
    q: &str,
) -> String {
    let signed: serde_json::Value = http
        .get(format!("{mp}/{id}/{n}?{q}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    signed["url"].as_str().unwrap().to_owned()
}
