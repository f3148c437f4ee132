//! Presigned multipart uploads (the Companion-shaped routes Uppy's AWS S3 plugin calls), with an
//! owner token and through a direct upload URL in a real browser.

use std::time::Duration;

use common::TestEnv;
use common::presigned::*;
use common::tus::*;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_presigned_multipart_upload_becomes_a_video_and_tampered_or_missing_parts_are_refused() {
    let owned = TestEnv::new(&[]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let data = std::fs::read(video_file(env, "p.bin", 11 * 1024 * 1024)).unwrap();
    let http = reqwest::Client::new();
    let mp = format!("{base}/v1/uploads/s3/multipart");
    // As Uppy's @uppy/aws-s3 does it: create, sign each part, PUT it to the store, complete.
    let (_key, id, q) = s3_create(
        &http,
        &mp,
        Some(&token),
        serde_json::json!({"filename": "p.mp4", "type": "video/mp4", "metadata": {"title": "Presigned"}}),
    )
    .await;
    let mut etags = Vec::new();
    for (i, chunk) in data.chunks(5 * 1024 * 1024).enumerate() {
        let n = i + 1;
        let url = s3_sign(&http, &mp, &token, &id, n, &q).await;
        // No credentials: the URL is the permission.
        let put = http.put(&url).body(chunk.to_vec()).send().await.unwrap();
        assert!(put.status().is_success(), "{}", put.status());
        etags.push(put.headers()["etag"].to_str().unwrap().to_owned());
    }
    let listed: serde_json::Value = http
        .get(format!("{mp}/{id}?{q}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    let complete = |parts: serde_json::Value| {
        http.post(format!("{mp}/{id}/complete?{q}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "parts": parts }))
            .send()
    };
    let parts = |tamper: Option<usize>, skip: Option<usize>| -> serde_json::Value {
        etags
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(i, e)| {
                let etag = if Some(i) == tamper {
                    "\"0123456789abcdef\"".to_owned()
                } else {
                    e.clone()
                };
                serde_json::json!({"PartNumber": i + 1, "ETag": etag})
            })
            .collect()
    };
    // A tampered ETag, a part that is not there, a small part in the middle: refused.
    assert_eq!(complete(parts(Some(1), None)).await.unwrap().status(), 400);
    let mut ghost = parts(None, None);
    ghost
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"PartNumber": 9, "ETag": etags[0]}));
    assert_eq!(complete(ghost).await.unwrap().status(), 400);
    assert_eq!(
        complete(parts(None, Some(1))).await.unwrap().status(),
        400,
        "a part left out"
    );
    assert_eq!(
        complete(parts(None, Some(2))).await.unwrap().status(),
        400,
        "the last part left out"
    );
    // Someone else cannot complete or sign it.
    let bob = env.token("bob", &["videos:write"]);
    let r = http
        .get(format!("{mp}/{id}/1?{q}"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The honest claim: a video.
    let r = complete(parts(None, None)).await.unwrap();
    assert_eq!(r.status(), 200);
    let done: serde_json::Value = r.json().await.unwrap();
    let video = done["video_id"].as_str().unwrap();
    let row = vodflow_core::repo::get_video(&env.pool, video.parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.title, "Presigned");
    assert_eq!(env.object_sha256(&row.source_key).await, sha256_hex(&data));
    assert_eq!(row.size_bytes as usize, data.len());
    assert_eq!(
        complete(parts(None, None)).await.unwrap().status(),
        409,
        "once"
    );

    // Not a video: refused at completion, and nothing stays in the store.
    let (key, id, q) = s3_create(
        &http,
        &mp,
        Some(&token),
        serde_json::json!({"filename": "x.txt"}),
    )
    .await;
    let url = s3_sign(&http, &mp, &token, &id, 1, &q).await;
    let put = http
        .put(&url)
        .body(vec![b'x'; 10_000])
        .send()
        .await
        .unwrap();
    let etag = put.headers()["etag"].to_str().unwrap().to_owned();
    let r = http
        .post(format!("{mp}/{id}/complete?{q}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"parts": [{"PartNumber": 1, "ETag": etag}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(env.object_keys_all(&key).await.is_empty());
    assert_eq!(env.multipart_uploads().await, 0);
    api.stop().await;
    owned.cleanup().await;
}

/// Uppy 6 in Chromium, on a page of another origin, with a direct upload's URL as
/// `@uppy/aws-s3`'s `companionEndpoint` and no token: the parts go to the store through presigned
/// URLs, the completion makes the video (with the URL creator's title), and the URL is spent. A
/// store that refused the first creation did not spend it.
#[tokio::test]
async fn uppy_aws_s3_in_a_browser_uploads_through_a_direct_upload_url_without_a_token() {
    let origin = &format!("http://127.0.0.1:{}", common::free_port());
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_CORS_ORIGINS", origin)]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let file = video_file(env, "u.mp4", 11 * 1024 * 1024 + 99);
    let data = std::fs::read(&file).unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Uppy's"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let d: serde_json::Value = r.json().await.unwrap();
    let endpoint = format!("{base}{}", path_of(d["upload_url"].as_str().unwrap()));

    // A store that refuses the creation (its bucket gone) leaves the URL unspent for a retry.
    let bucket = env.cfg.s3.bucket.clone();
    env.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let r = client
        .post(format!("{endpoint}/s3/multipart"))
        .json(&serde_json::json!({"filename": "u.mp4", "type": "video/mp4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    env.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // The page PUTs parts to the store itself: the bucket lets that origin do so and read ETags.
    let rule = aws_sdk_s3::types::CorsRule::builder()
        .allowed_origins(origin.as_str())
        .allowed_methods("PUT")
        .allowed_methods("GET")
        .allowed_headers("*")
        .expose_headers("ETag")
        .build()
        .unwrap();
    env.s3
        .put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(
            aws_sdk_s3::types::CorsConfiguration::builder()
                .cors_rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let uppy = common::cache_dir().join("node/node_modules/uppy/dist/uppy.min.js");
    let out = common::browser::run_script(
        "uppy_s3.cjs",
        &[
            ("UPPY", uppy.display().to_string()),
            ("FILE", file.display().to_string()),
            ("UPLOAD_URL", endpoint.clone()),
            ("ORIGIN", origin.to_owned()),
        ],
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(out["parts"], serde_json::json!([1, 2, 3]), "{out}");

    let v: serde_json::Value = client
        .get(format!("{base}/v1/uploads/{}", d["id"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "complete", "{v}");
    let row = vodflow_core::repo::get_video(
        &env.pool,
        v["video_id"].as_str().unwrap().parse().unwrap(),
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (row.owner.as_str(), row.title.as_str()),
        ("alice", "Uppy's")
    );
    assert_eq!(env.object_sha256(&row.source_key).await, sha256_hex(&data));
    assert_eq!(env.multipart_uploads().await, 0);
    // Spent: the URL starts nothing more, and another upload's id is not reachable through it.
    let again = client
        .post(format!("{endpoint}/s3/multipart"))
        .json(&serde_json::json!({"filename": "again.mp4", "type": "video/mp4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let theirs: serde_json::Value = client
        .post(format!("{base}/v1/uploads/s3/multipart"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"filename": "b.mp4", "type": "video/mp4"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (key, id) = (
        theirs["key"].as_str().unwrap(),
        theirs["uploadId"].as_str().unwrap(),
    );
    let via_url = |path: String| client.get(format!("{endpoint}/s3/multipart/{path}")).send();
    let r = via_url(format!("{id}/1?key={key}")).await.unwrap();
    assert_eq!(
        r.status(),
        404,
        "a token's upload is not reachable without the token"
    );
    let r = via_url(format!("{id}/1")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    api.stop().await;
    owned.cleanup().await;
}

/// A presigned part is signed only for bytes the upload may hold: no part number past what its
/// maximum needs, no declared size over it, and a URL signed for a size takes only that size.
#[tokio::test]
async fn a_presigned_part_cannot_carry_more_than_the_upload_may_hold() {
    let owned = TestEnv::new(&[]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let client = reqwest::Client::new();
    let (endpoint, _key, id, q) = direct_multipart(&client, &base, &token, 1_000_000).await;
    let sign = |n: usize, size: Option<i64>| sign_direct(&client, &endpoint, &id, &q, n, size);
    // 1 MB fits in one part: a second part could only carry bytes past the maximum.
    assert_eq!(sign(2, None).await.status(), 400);
    assert_eq!(sign(10_000, None).await.status(), 400);
    assert_eq!(sign(1, Some(2_000_000)).await.status(), 413);
    assert_eq!(sign(1, Some(0)).await.status(), 400);
    let signed: serde_json::Value = sign(1, Some(1000)).await.json().await.unwrap();
    let url = signed["url"].as_str().unwrap();
    // The store itself refuses a body of another length on that URL.
    let put = client
        .put(url)
        .body(vec![7u8; 50_000])
        .send()
        .await
        .unwrap();
    assert!(put.status().is_client_error(), "{}", put.status());
    // On a new connection: the store answers the refused PUT without reading its body and
    // closes that one, and a pooled reuse of it would fail the next request, not the store.
    let put = reqwest::Client::new()
        .put(url)
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    // A URL signed without a size (Uppy's `signPart` sends none) takes whatever the store takes;
    // once the store holds more than the upload's maximum, no further part is signed and the
    // upload is over, its parts gone from the store.
    let (endpoint, key, id, q) = direct_multipart(&client, &base, &token, 6 << 20).await;
    put_part(&client, &endpoint, &id, &q, None, 7 << 20).await;
    let r = sign_direct(&client, &endpoint, &id, &q, 2, None).await;
    assert_eq!(r.status(), 413);
    let problem: serde_json::Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("more than its maximum of 6291456 bytes"),
        "{problem}"
    );
    let listed = env
        .s3
        .list_parts()
        .bucket(&env.cfg.s3.bucket)
        .key(&key)
        .upload_id(&id)
        .send()
        .await;
    assert!(listed.is_err(), "its parts are aborted: {listed:?}");
    let again = sign_direct(&client, &endpoint, &id, &q, 2, None).await;
    assert!(again.status().is_client_error(), "{}", again.status());
    // A declared size that would take the store past the maximum is not signed either.
    let (endpoint, _key, id, q) = direct_multipart(&client, &base, &token, 6 << 20).await;
    put_part(&client, &endpoint, &id, &q, Some(5 << 20), 5 << 20).await;
    let r = sign_direct(&client, &endpoint, &id, &q, 2, Some((1 << 20) + 1)).await;
    assert_eq!(r.status(), 413);
    let r = sign_direct(&client, &endpoint, &id, &q, 2, Some(1 << 20)).await;
    assert_eq!(r.status(), 200);

    // An owner's presigned upload is bounded the same way, by the server's maximum.
    let mp = format!("{base}/v1/uploads/s3/multipart");
    let (_key, id, q) = s3_create(
        &client,
        &mp,
        Some(&token),
        serde_json::json!({"filename": "o.mp4", "type": "video/mp4"}),
    )
    .await;
    let r = client
        .get(format!("{mp}/{id}/10000?{q}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "past the server's maximum");
    api.stop().await;
    owned.cleanup().await;
}
