//! Direct upload URLs: one upload, without a token, with the creator's settings only; and the
//! per-owner open-uploads cap across every creation path.

use base64::Engine;

use common::TestEnv;
use common::tus::*;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_direct_upload_url_works_without_a_token_once_and_never_after_it_expires() {
    let owned = TestEnv::new(&[]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let file = video_file(env, "d.bin", 300_000);
    let data = std::fs::read(&file).unwrap();
    let client = reqwest::Client::new();
    let direct = |body: serde_json::Value| {
        client
            .post(format!("{base}/v1/uploads"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = direct(serde_json::json!({"title": "From a browser", "max_bytes": 1_000_000}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(d["status"], "waiting");
    let endpoint = format!("{base}{}", path_of(d["upload_url"].as_str().unwrap()));

    // tus-js-client with no token at all.
    let mut c = tus_client(&[
        ("FILE", file.to_str().unwrap()),
        ("ENDPOINT", &endpoint),
        ("TITLE", "ignored"),
    ]);
    let seen = events(&mut c, |e| e["event"] == "success" || e["event"] == "error");
    assert!(c.wait().unwrap().success(), "{seen:?}");
    let id = d["id"].as_str().unwrap();
    let r = client
        .get(format!("{base}/v1/uploads/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "complete", "{v}");
    let video = v["video_id"].as_str().unwrap();
    let row = vodflow_core::repo::get_video(&env.pool, video.parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.owner, "alice");
    assert_eq!(row.title, "From a browser", "the URL creator's title wins");
    assert_eq!(env.object_sha256(&row.source_key).await, sha256_hex(&data));

    // Used once: a second creation finds nothing; another owner cannot look at it.
    let again = client
        .post(&endpoint)
        .header("Tus-Resumable", TUS)
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let bob = env.token("bob", &["videos:read"]);
    let r = client
        .get(format!("{base}/v1/uploads/{id}"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Over its max_bytes: refused at creation.
    let r = direct(serde_json::json!({"max_bytes": 1000}))
        .await
        .unwrap();
    let small: serde_json::Value = r.json().await.unwrap();
    let r = client
        .post(format!(
            "{base}{}",
            path_of(small["upload_url"].as_str().unwrap())
        ))
        .header("Tus-Resumable", TUS)
        .header("Upload-Length", "5000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Expired before use: 410, and its status says so.
    let r = direct(serde_json::json!({})).await.unwrap();
    let late: serde_json::Value = r.json().await.unwrap();
    sqlx::query("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(late["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
        .execute(&env.pool)
        .await
        .unwrap();
    let r = client
        .post(format!(
            "{base}{}",
            path_of(late["upload_url"].as_str().unwrap())
        ))
        .header("Tus-Resumable", TUS)
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let r = client
        .get(format!(
            "{base}/v1/uploads/{}",
            late["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "expired");
    api.stop().await;
    owned.cleanup().await;
}

/// A direct URL is one upload with its creator's settings: a token-less browser that says
/// `visibility: public` (or a title) of a URL whose creator did not let it gets a signed video
/// under the creator's title; only fields the creator listed in `browser_may_set` are its to set.
#[tokio::test]
async fn a_browser_holding_a_direct_url_cannot_make_its_video_public() {
    let owned = TestEnv::new(&[]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let data = std::fs::read(video_file(env, "d.bin", 200_000)).unwrap();
    let client = reqwest::Client::new();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let upload_as_browser = |body: serde_json::Value| {
        let (client, base, token, data) = (&client, &base, &token, &data);
        async move {
            let r = client
                .post(format!("{base}/v1/uploads"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let d: serde_json::Value = r.json().await.unwrap();
            let r = client
                .post(format!(
                    "{base}{}",
                    path_of(d["upload_url"].as_str().unwrap())
                ))
                .header("Tus-Resumable", TUS)
                .header("Upload-Length", data.len().to_string())
                .header(
                    "Upload-Metadata",
                    format!(
                        "visibility {},title {},filename {},downloads {},normalize_audio {}",
                        b64("public"),
                        b64("chosen by the page"),
                        b64("clip.mp4"),
                        b64("all"),
                        b64("false")
                    ),
                )
                .header("Content-Type", "application/offset+octet-stream")
                .body(data.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
            let r = client
                .get(format!("{base}/v1/uploads/{}", d["id"].as_str().unwrap()))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["status"], "complete", "{v}");
            v["video_id"]
                .as_str()
                .unwrap()
                .parse::<vodflow_core::VideoId>()
                .unwrap()
        }
    };
    let video = |id| {
        let pool = env.pool.clone();
        async move {
            vodflow_core::repo::get_video(&pool, id, None)
                .await
                .unwrap()
                .unwrap()
        }
    };

    let locked =
        video(upload_as_browser(serde_json::json!({"title": "Set by the server"})).await).await;
    assert_eq!(
        locked.visibility, "signed",
        "the browser's visibility is not its to set"
    );
    assert_eq!(locked.title, "Set by the server");

    let untitled = video(upload_as_browser(serde_json::json!({})).await).await;
    assert_eq!(untitled.visibility, "signed");
    assert_eq!(
        untitled.title, "clip.mp4",
        "the file's name, not the page's title"
    );

    let open = video(
        upload_as_browser(serde_json::json!({"browser_may_set": ["visibility", "title"]})).await,
    )
    .await;
    assert_eq!(open.visibility, "public", "allowed by the URL's creator");
    assert_eq!(open.title, "chosen by the page");
    assert_eq!(
        open.downloads, "none",
        "the server's default, not the page's"
    );

    // Downloads and loudness are the creator's to set, never the browser's.
    let chosen = video(
        upload_as_browser(serde_json::json!({"downloads": "audio", "normalize_audio": true})).await,
    )
    .await;
    assert_eq!(chosen.downloads, "audio");
    assert!(chosen.normalize_audio);
    let r = client
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"downloads": "everything"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = client
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"browser_may_set": ["owner"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    api.stop().await;
    owned.cleanup().await;
}

/// The open-uploads cap counts every way of opening one (direct URLs not spent yet, tus,
/// presigned multipart) and holds under concurrent creations: 110 at once give exactly 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_uploads_are_capped_per_owner_across_every_creation_path_even_at_once() {
    let owned = TestEnv::new(&[]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..110 {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        tasks.spawn(async move {
            client
                .post(format!("{base}/v1/uploads"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"max_bytes": 1_000_000}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((created, refused), (100, 10), "{statuses:?}");
    // Every other path meets the same count.
    let r = create(&base, &token, Some(1000), "").await;
    assert_eq!(r.status(), 429, "tus creation");
    assert!(r.headers().contains_key("retry-after"));
    let r = client
        .post(format!("{base}/v1/uploads/s3/multipart"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"filename": "p.mp4", "type": "video/mp4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "presigned creation");
    // Another owner has their own room.
    let bob = env.token("bob", &["videos:write"]);
    assert_eq!(create(&base, &bob, Some(1000), "").await.status(), 201);
    api.stop().await;
    owned.cleanup().await;
}
