//! Resumable uploads (tus 1.0) against the real store and database: a real client (tus-js-client
//! in Node) killed at 40 % and resumed, the same with the api killed instead, the protocol's error
//! statuses, clients that vanish or drip, and many uploads at once. Loopback only.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::media::{Spec, make_video};
use common::tus::*;
use common::{TestEnv, eventually};
use sha2::{Digest, Sha256};

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tus_js_client_killed_at_40_percent_resumes_from_the_server_offset_byte_identical() {
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let file = video_file(env, "big.bin", 20 * 1024 * 1024 + 12_345);
    let data = std::fs::read(&file).unwrap();
    let endpoint = format!("{base}/v1/uploads/tus/");

    // 1 MiB per PATCH (each ends inside a part: the pending-part path), a little slowly.
    let t = Instant::now();
    let mut first = tus_client(&[
        ("FILE", file.to_str().unwrap()),
        ("ENDPOINT", &endpoint),
        ("TOKEN", &token),
        ("CHUNK_SIZE", "1048576"),
        ("DELAY_MS", "40"),
    ]);
    let seen = events(&mut first, |e| {
        e["event"] == "progress" && e["sent"].as_f64().unwrap() >= 0.4 * data.len() as f64
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let killed_after = t.elapsed();
    let url = url_of(&seen);
    let upload_path = path_of(&url);
    // The server finishes the killed request with what reached it, then lets go of the upload.
    // The lease is also free between two requests, and a PATCH the killed client had already
    // sent can still land after the previous one ended: the offset is the server's once no
    // request holds the upload and it has stopped moving.
    let id: uuid::Uuid = upload_path.rsplit('/').next().unwrap().parse().unwrap();
    let unleased = || async {
        let row = vodflow_core::uploads::get(&env.pool, id).await.ok()??;
        row.lock_token.is_none().then_some(())
    };
    let at = eventually(
        "the killed client's requests to end on the server",
        Duration::from_secs(30),
        || async {
            unleased().await?;
            let before = offset(&head(&base, &upload_path, Some(&token)).await);
            tokio::time::sleep(Duration::from_millis(500)).await;
            unleased().await?;
            (offset(&head(&base, &upload_path, Some(&token)).await) == before).then_some(before)
        },
    )
    .await;
    assert!(at > 0 && (at as usize) < data.len(), "offset {at}");

    // A new client (whole rest in one PATCH: the part-flushing path) resumes where the server is.
    let t2 = Instant::now();
    let mut second = tus_client(&[
        ("FILE", file.to_str().unwrap()),
        ("UPLOAD_URL", &url),
        ("TOKEN", &token),
    ]);
    let seen = events(&mut second, |e| {
        e["event"] == "success" || e["event"] == "error"
    });
    assert!(second.wait().unwrap().success(), "{seen:?}");
    let resumed = seen
        .iter()
        .find(|e| e["event"] == "resumed")
        .expect("a HEAD first");
    assert_eq!(resumed["offset"], at, "resumed from the server's offset");
    let (video, stored) = finished(env, &base, &token, &upload_path).await;
    assert_eq!(stored.len(), data.len());
    assert_eq!(sha256_hex(&stored), sha256_hex(&data), "byte-identical");
    let row = vodflow_core::repo::get_video(&env.pool, video.parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sha256, "", "the worker computes the digest");
    assert_eq!(row.title, "tus upload");
    assert_eq!(row.status, "uploaded");
    assert_eq!(env.multipart_uploads().await, 0);
    assert!(
        env.object_keys_all("uploads/")
            .await
            .iter()
            .all(|k| !k.contains(".pending"))
    );
    eprintln!(
        "tus-js-client: killed at {:.0} % after {:.2} s, resumed from {at} bytes and finished in {:.2} s",
        at as f64 * 100.0 / data.len() as f64,
        killed_after.as_secs_f64(),
        t2.elapsed().as_secs_f64()
    );
    api.stop().await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_killed_mid_upload_is_resumed_by_its_restarted_self() {
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let env = &owned;
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let file = video_file(env, "big.bin", 16 * 1024 * 1024);
    let data = std::fs::read(&file).unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut api = common::spawn_api_process(env, port, "api-1.log");
    common::wait_healthy(&base).await;
    let mut client = tus_client(&[
        ("FILE", file.to_str().unwrap()),
        ("ENDPOINT", &format!("{base}/v1/uploads/tus/")),
        ("TOKEN", &token),
        ("CHUNK_SIZE", "1048576"),
        ("DELAY_MS", "60"),
        // Retries long enough to outlast the restart: the client itself resumes, no one helps.
        ("RETRY_DELAYS", "0,200,500,1000,2000,4000,8000"),
    ]);
    let seen = events(&mut client, |e| {
        e["event"] == "progress" && e["sent"].as_f64().unwrap() >= 0.4 * data.len() as f64
    });
    let url = url_of(&seen);
    // What the api had acknowledged before it died: durable, so the restarted api must know it.
    let acknowledged = seen
        .iter()
        .filter(|e| e["event"] == "accepted")
        .filter_map(|e| e["offset"].as_i64())
        .max()
        .expect("PATCHes acknowledged before the kill");
    api.kill().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut api = common::spawn_api_process(env, port, "api-2.log");
    let seen = events(&mut client, |e| {
        e["event"] == "success" || e["event"] == "error"
    });
    assert!(client.wait().unwrap().success(), "{seen:?}");
    // The client asked the restarted api where to go on, and was told at least what had been
    // acknowledged (not 0: nothing was sent twice from the start).
    let resumed = seen
        .iter()
        .find(|e| e["event"] == "head" && e["status"] == 200)
        .and_then(|e| e["offset"].as_i64())
        .unwrap_or_else(|| panic!("the client resumed with a HEAD: {seen:?}"));
    assert!(
        resumed >= acknowledged && acknowledged >= 4 * 1024 * 1024,
        "resumed at {resumed}, {acknowledged} acknowledged before the kill"
    );
    let (_, stored) = finished(env, &base, &token, &path_of(&url)).await;
    assert_eq!(sha256_hex(&stored), sha256_hex(&data), "byte-identical");
    assert_eq!(env.multipart_uploads().await, 0);
    api.kill().ok();
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_protocol_answers_409_460_410_412_415_423_and_termination_aborts_the_parts() {
    let owned = common::processing_env(&[
        ("VODFLOW_UPLOAD_PART_BYTES", "5242880"),
        ("VODFLOW_RECONCILE_INTERVAL", "2s"),
    ])
    .await;
    let env = &owned;
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let file = video_file(env, "f.bin", 6 * 1024 * 1024);
    let data = std::fs::read(&file).unwrap();
    let roles = vodflow_activities::worker::Roles {
        processing: true,
        transcode: false,
    };
    common::with_platform_roles(env, roles, |base| async move {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        // OPTIONS tells what the server speaks.
        let r = reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{base}/v1/uploads/tus/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let ext = r.headers()["tus-extension"].to_str().unwrap().to_owned();
        for e in [
            "creation",
            "creation-with-upload",
            "creation-defer-length",
            "termination",
            "expiration",
            "checksum",
        ] {
            assert!(ext.split(',').any(|x| x == e), "{e} in {ext}");
        }
        assert_eq!(r.headers()["tus-checksum-algorithm"], "sha1,sha256");

        // No Tus-Resumable: 412 with the version we speak. No token: 401.
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/uploads/tus/"))
            .bearer_auth(&token)
            .header("Upload-Length", "10")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 412);
        assert_eq!(r.headers()["tus-version"], TUS);
        assert_eq!(create(&base, "nope", Some(10), "").await.status(), 401);
        assert_eq!(create(&base, &token, Some(1 << 50), "").await.status(), 413);
        assert_eq!(
            create(&base, &token, Some(10), &format!("title {}", b64("")))
                .await
                .status(),
            400
        );

        // Creation, then a wrong offset (409), a bad checksum (460: nothing kept), a good one.
        let r = create(
            &base,
            &token,
            Some(data.len()),
            &format!("title {},filename {}", b64("Checked"), b64("c.mp4")),
        )
        .await;
        assert_eq!(r.status(), 201);
        assert!(r.headers().contains_key("upload-expires"));
        let up = location(&r);
        let r = patch(&base, &up, &token, 5, data[..100].to_vec(), &[]).await;
        assert_eq!(r.status(), 409);
        let first = &data[..3 * 1024 * 1024];
        let wrong = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"other"));
        let r = patch(
            &base,
            &up,
            &token,
            0,
            first.to_vec(),
            &[("Upload-Checksum", format!("sha256 {wrong}"))],
        )
        .await;
        assert_eq!(r.status(), 460);
        assert_eq!(
            offset(&head(&base, &up, Some(&token)).await),
            0,
            "a mismatching body is not kept"
        );
        let sha1 = {
            use sha1::Digest as _;
            base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(first))
        };
        let r = patch(
            &base,
            &up,
            &token,
            0,
            first.to_vec(),
            &[("Upload-Checksum", format!("sha1 {sha1}"))],
        )
        .await;
        assert_eq!(r.status(), 204);
        assert_eq!(offset(&r), first.len() as i64);
        // Someone else's upload does not exist for them.
        let bob = env.token("bob", &["videos:read", "videos:write"]);
        assert_eq!(head(&base, &up, Some(&bob)).await.status(), 404);
        // The rest, with a sha256 checksum: complete, and the video exists.
        let rest = &data[first.len()..];
        let sum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(rest));
        let r = patch(
            &base,
            &up,
            &token,
            first.len(),
            rest.to_vec(),
            &[("Upload-Checksum", format!("sha256 {sum}"))],
        )
        .await;
        assert_eq!(r.status(), 204);
        let video = r.headers()["video-id"].to_str().unwrap().to_owned();
        let (v, stored) = finished(env, &base, &token, &up).await;
        assert_eq!(v, video);
        assert_eq!(sha256_hex(&stored), sha256_hex(&data));
        let row = vodflow_core::repo::get_video(&env.pool, video.parse().unwrap(), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.title, "Checked");
        // A repeated final PATCH (a client that missed the answer) is answered, not doubled.
        let r = patch(&base, &up, &token, data.len(), Vec::new(), &[]).await;
        assert_eq!(r.status(), 204);
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
            .fetch_one(&env.pool)
            .await
            .unwrap();
        assert_eq!(rows, 1);

        // Creation-with-upload and a deferred length.
        let small = &data[..200_000];
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/uploads/tus/"))
            .header("Tus-Resumable", TUS)
            .header("Upload-Defer-Length", "1")
            .header("Content-Type", "application/offset+octet-stream")
            .bearer_auth(&token)
            .body(small[..100_000].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(offset(&r), 100_000);
        let deferred = location(&r);
        let h = head(&base, &deferred, Some(&token)).await;
        assert_eq!(h.headers()["upload-defer-length"], "1");
        let r = patch(
            &base,
            &deferred,
            &token,
            100_000,
            small[100_000..].to_vec(),
            &[("Upload-Length", "200000".into())],
        )
        .await;
        assert_eq!(r.status(), 204, "{:?}", r.text().await);
        let (_, stored) = finished(env, &base, &token, &deferred).await;
        assert_eq!(stored, small);

        // Not a video: 415 at the first bytes, and the upload is gone.
        let r = create(&base, &token, Some(5000), "").await;
        let text = location(&r);
        let r = patch(&base, &text, &token, 0, vec![b'x'; 5000], &[]).await;
        assert_eq!(r.status(), 415);
        assert_eq!(head(&base, &text, Some(&token)).await.status(), 404);

        // Two writers at once: the second waits its turn (423) instead of interleaving.
        let r = create(&base, &token, Some(data.len() + 1024 * 1024), "").await;
        let busy = location(&r);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        tx.send(Ok(data[..1024 * 1024].to_vec())).await.unwrap();
        let slow = reqwest::Client::new()
            .patch(format!("{base}{busy}"))
            .header("Tus-Resumable", TUS)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .bearer_auth(&token)
            .body(reqwest::Body::wrap_stream(futures::stream::unfold(
                rx,
                |mut rx| async { rx.recv().await.map(|item| (item, rx)) },
            )))
            .send();
        let slow = tokio::spawn(slow);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = patch(&base, &busy, &token, 0, data[..10].to_vec(), &[]).await;
        assert_eq!(r.status(), 423);
        tx.send(Ok(data[1024 * 1024..6 * 1024 * 1024].to_vec()))
            .await
            .unwrap();
        drop(tx);
        let r = slow.await.unwrap().unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(offset(&r), 6 * 1024 * 1024);
        assert!(env.multipart_uploads().await >= 1, "a part is in the store");
        // Termination aborts the multipart upload and removes the pending part.
        let r = reqwest::Client::new()
            .delete(format!("{base}{busy}"))
            .header("Tus-Resumable", TUS)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(env.multipart_uploads().await, 0);
        assert_eq!(head(&base, &busy, Some(&token)).await.status(), 404);

        // Expiry: 410 at once, and the sweep aborts its parts.
        let r = create(&base, &token, Some(data.len()), "").await;
        let old = location(&r);
        assert_eq!(
            patch(
                &base,
                &old,
                &token,
                0,
                data[..5 * 1024 * 1024 + 10].to_vec(),
                &[]
            )
            .await
            .status(),
            204
        );
        assert_eq!(env.multipart_uploads().await, 1);
        sqlx::query("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = $1")
            .bind(
                old.rsplit('/')
                    .next()
                    .unwrap()
                    .parse::<uuid::Uuid>()
                    .unwrap(),
            )
            .execute(&env.pool)
            .await
            .unwrap();
        assert_eq!(head(&base, &old, Some(&token)).await.status(), 410);
        assert_eq!(
            patch(&base, &old, &token, 5 * 1024 * 1024 + 10, vec![0; 10], &[])
                .await
                .status(),
            410
        );
        eventually(
            "the expired upload's parts to be aborted",
            Duration::from_secs(60),
            || async { (env.multipart_uploads().await == 0).then_some(()) },
        )
        .await;
        assert!(
            env.object_keys_all("uploads/")
                .await
                .iter()
                .all(|k| !k.contains(".pending"))
        );
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_small_and_ten_256_mib_uploads_at_once_all_complete_and_leave_nothing_behind() {
    // A pool sized for 110 concurrent writers (the tests' default is 5 connections), and room
    // for 11 streams per owner and 110 in all (a PATCH holds an upload slot while it streams).
    let owned = TestEnv::new(&[
        ("VODFLOW_DATABASE_MAX_CONNECTIONS", "20"),
        ("VODFLOW_MAX_UPLOADS_PER_OWNER", "16"),
        ("VODFLOW_MAX_UPLOADS", "128"),
    ])
    .await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    // Ten owners (each may hold up to 100 open uploads; 110 from one would meet that limit).
    let tokens: Vec<String> = (0..10)
        .map(|o| env.token(&format!("owner-{o}"), &["videos:read", "videos:write"]))
        .collect();
    let small = std::fs::read(video_file(env, "s.bin", 64 * 1024)).unwrap();
    let head_bytes = std::fs::read(video_file(env, "h.bin", 64 * 1024)).unwrap();
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (base, token, small) = (base.clone(), tokens[i % 10].clone(), small.clone());
        tasks.spawn(async move {
            let r = create(&base, &token, Some(small.len()), "").await;
            assert_eq!(r.status(), 201, "small {i}");
            let up = location(&r);
            // As a tus client does: a busy server (503, 423, 429) is retried from the offset HEAD
            // gives.
            let mut tries = 0;
            loop {
                let h = head(&base, &up, Some(&token)).await;
                if h.status() != 200 {
                    tries += 1;
                    let status = h.status().as_u16();
                    assert!(
                        (status == 503 || status == 429) && tries < 20,
                        "small {i}: HEAD {status}"
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                let at = offset(&h) as usize;
                let r = patch(&base, &up, &token, at, small[at..].to_vec(), &[]).await;
                let status = r.status().as_u16();
                if status == 204 {
                    break;
                }
                tries += 1;
                assert!(
                    (status == 503 || status == 423 || status == 429) && tries < 20,
                    "small {i}: {status} {:?}",
                    r.text().await
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (up, sha256_hex(&small))
        });
    }
    const BIG: usize = 256 * 1024 * 1024;
    for i in 0..10u64 {
        let (base, token, head_bytes) =
            (base.clone(), tokens[i as usize].clone(), head_bytes.clone());
        tasks.spawn(async move {
            let r = create(&base, &token, Some(BIG), "").await;
            assert_eq!(r.status(), 201, "big {i}");
            let up = location(&r);
            // Generated as it is sent (never held whole), and hashed on the way.
            let hasher = std::sync::Arc::new(std::sync::Mutex::new(Sha256::new()));
            let h = hasher.clone();
            let start = (Some(head_bytes), BIG - 64 * 1024, 0x2545F4914F6CDD1Du64 ^ i);
            let body = futures::stream::unfold(start, move |(head, left, mut x)| {
                let h = h.clone();
                async move {
                    let chunk = match head {
                        Some(b) => b,
                        None if left == 0 => return None,
                        None => {
                            let n = left.min(1 << 20);
                            let mut c = Vec::with_capacity(n + 8);
                            while c.len() < n {
                                x ^= x << 13;
                                x ^= x >> 7;
                                x ^= x << 17;
                                c.extend_from_slice(&x.to_le_bytes());
                            }
                            c.truncate(n);
                            return {
                                h.lock().unwrap().update(&c);
                                Some((Ok::<_, std::io::Error>(c), (None, left - n, x)))
                            };
                        }
                    };
                    h.lock().unwrap().update(&chunk);
                    Some((Ok(chunk), (None, left, x)))
                }
            });
            let r = reqwest::Client::new()
                .patch(format!("{base}{up}"))
                .header("Tus-Resumable", TUS)
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", "0")
                .bearer_auth(&token)
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204, "big {i}: {:?}", r.text().await);
            let digest = hasher.lock().unwrap().clone().finalize();
            (up, hex::encode(digest))
        });
    }
    let mut done = Vec::new();
    while let Some(r) = tasks.join_next().await {
        done.push(r.unwrap());
    }
    let took = t.elapsed();
    assert_eq!(done.len(), 110);
    for (up, sha) in &done {
        let id: uuid::Uuid = up.rsplit('/').next().unwrap().parse().unwrap();
        let row = vodflow_core::uploads::get(&env.pool, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state, "complete");
        let video =
            vodflow_core::repo::get_video(&env.pool, vodflow_core::VideoId(row.video_id), None)
                .await
                .unwrap()
                .unwrap();
        assert_eq!(&env.object_sha256(&video.source_key).await, sha);
    }
    assert_eq!(env.multipart_uploads().await, 0);
    assert!(
        env.object_keys_all("uploads/")
            .await
            .iter()
            .all(|k| !k.contains(".pending"))
    );
    eprintln!(
        "110 concurrent uploads (2.5 GiB) in {:.1} s",
        took.as_secs_f64()
    );
    api.stop().await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vodflow_upload_killed_mid_file_continues_with_resume() {
    let owned = TestEnv::new(&[]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let file = video_file(env, "cli.bin", 160 * 1024 * 1024);
    let data = std::fs::read(&file).unwrap();
    let state = env.scratch.join("cli-state");
    let cli = move |resume: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vodflow"));
        c.args([
            "upload",
            "--title",
            "from the CLI",
            "--api",
            &base,
            "--token",
            &token,
        ])
        .arg(&file)
        .env("VODFLOW_STATE_DIR", &state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if resume {
            c.arg("--resume");
        }
        c
    };
    // 1 MiB requests, each ending in a record: the offset moves visibly and the kill lands
    // mid-file (one request of the whole file can finish before any record is read).
    let mut first = cli(false)
        .args(["--chunk-bytes", "1048576"])
        .spawn()
        .unwrap();
    eventually(
        "40 % of the file on the server",
        Duration::from_secs(60),
        || async {
            let at: Option<i64> = sqlx::query_scalar("SELECT max(upload_offset) FROM uploads")
                .fetch_one(&env.pool)
                .await
                .ok()?;
            (at? as usize >= data.len() * 2 / 5).then_some(())
        },
    )
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let mut again = cli(true);
    // The rest in 16 MiB requests, as behind a proxy that caps bodies.
    again.args(["--chunk-bytes", "16777216"]);
    let out = tokio::task::spawn_blocking(move || again.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming"), "{stderr}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let row = vodflow_core::repo::get_video(&env.pool, id.parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.title, "from the CLI");
    assert_eq!(env.object_sha256(&row.source_key).await, sha256_hex(&data));
    let uploads: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(uploads, 1, "resumed, not started again");
    eprintln!(
        "{}",
        stderr
            .lines()
            .find(|l| l.contains("resuming"))
            .unwrap_or_default()
    );
    api.stop().await;
    owned.cleanup().await;
}

/// A client that sends a PATCH's whole body and vanishes before the answer: the server drops the
/// request, and with it the lease it held. The client's next PATCH takes the upload straight
/// away; a lease still renewed by the dropped request would answer 423 for as long as the
/// server runs.
#[tokio::test]
async fn a_client_that_vanishes_after_its_body_leaves_the_upload_free_for_its_next_patch() {
    use tokio::io::AsyncWriteExt;
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let data = std::fs::read(video_file(env, "f.bin", 12 * 1024 * 1024)).unwrap();
    let r = create(&base, &token, Some(data.len()), "").await;
    assert_eq!(r.status(), 201);
    let up = location(&r);

    let first = 7 * 1024 * 1024;
    let mut sock = raw_patch(&base, &up, &token, first).await;
    sock.write_all(&data[..first]).await.unwrap();
    sock.flush().await.unwrap();
    drop(sock);

    // Whatever the vanished request managed to store, the rest goes in at HEAD's offset; a 409
    // only means it was still finishing when HEAD looked.
    let mut tries = 0;
    loop {
        tries += 1;
        assert!(tries < 20, "the upload never took the rest");
        let h = head(&base, &up, Some(&token)).await;
        assert_eq!(h.status(), 200);
        let at = offset(&h) as usize;
        let r = patch(&base, &up, &token, at, data[at..].to_vec(), &[]).await;
        match r.status().as_u16() {
            204 => break,
            409 => continue,
            other => panic!("the next PATCH after a vanished client: {other}"),
        }
    }
    let (_, stored) = finished(env, &base, &token, &up).await;
    assert_eq!(sha256_hex(&stored), sha256_hex(&data), "byte-identical");
    api.stop().await;
    owned.cleanup().await;
}

/// A finish that dies between the store's completion and the commit (here the database refuses
/// the video row; a killed api would never have sent it) leaves every byte recorded: the next
/// HEAD finishes it from that record, the completed object standing in for the part list the
/// store has forgotten, and exactly one video results.
#[tokio::test]
async fn a_finish_that_died_after_the_store_completed_is_finished_by_the_next_head() {
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    // Two whole parts and a short last one.
    let data = std::fs::read(video_file(env, "f.bin", 12 * 1024 * 1024 + 777)).unwrap();
    for sql in [
        "CREATE FUNCTION refuse_video() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON videos FOR EACH ROW EXECUTE FUNCTION refuse_video()",
    ] {
        sqlx::query(sql).execute(&env.pool).await.unwrap();
    }
    let r = create(&base, &token, Some(data.len()), "").await;
    assert_eq!(r.status(), 201);
    let up = location(&r);
    let r = patch(&base, &up, &token, 0, data.clone(), &[]).await;
    assert!(r.status().is_server_error(), "{}", r.status());

    let (at, state, pending): (i64, String, i64) =
        sqlx::query_as("SELECT upload_offset, state, pending FROM uploads")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        (at, state.as_str(), pending),
        (data.len() as i64, "uploading", 0),
        "every byte recorded in parts before the store completed"
    );
    assert_eq!(env.multipart_uploads().await, 0, "the store completed it");

    sqlx::query("DROP TRIGGER refuse ON videos")
        .execute(&env.pool)
        .await
        .unwrap();
    let h = head(&base, &up, Some(&token)).await;
    assert_eq!(h.status(), 200);
    assert_eq!(offset(&h), data.len() as i64);
    let (_, stored) = finished(env, &base, &token, &up).await;
    assert_eq!(sha256_hex(&stored), sha256_hex(&data), "byte-identical");
    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(videos, 1);
    api.stop().await;
    owned.cleanup().await;
}

/// A PATCH whose checksum does not match keeps none of its bytes, but the part it already gave
/// the store belongs to the upload from that moment: terminating it leaves nothing in the store.
#[tokio::test]
async fn a_checksum_mismatched_patch_leaves_no_store_upload_behind() {
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let data = std::fs::read(video_file(env, "c.bin", 12 * 1024 * 1024)).unwrap();
    let r = create(&base, &token, Some(data.len()), "").await;
    assert_eq!(r.status(), 201);
    let up = location(&r);
    // More than one part's worth: the first part reaches the store before the digest is known.
    let wrong = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"other"));
    let r = patch(
        &base,
        &up,
        &token,
        0,
        data[..6 * 1024 * 1024].to_vec(),
        &[("Upload-Checksum", format!("sha256 {wrong}"))],
    )
    .await;
    assert_eq!(r.status(), 460);
    assert_eq!(offset(&head(&base, &up, Some(&token)).await), 0);
    let r = reqwest::Client::new()
        .delete(format!("{base}{up}"))
        .header("Tus-Resumable", TUS)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.multipart_uploads().await, 0, "no orphan in the store");
    api.stop().await;
    owned.cleanup().await;
}

/// A tus PATCH streams like a POST upload and counts against the same per-owner slots: while
/// one owner's only slot streams, their next PATCH and their next POST upload are 429.
#[tokio::test]
async fn a_tus_patch_holds_an_upload_slot_like_a_post_upload() {
    use tokio::io::AsyncWriteExt;
    let owned = TestEnv::new(&[("VODFLOW_MAX_UPLOADS_PER_OWNER", "1")]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let data = std::fs::read(video_file(env, "s.bin", 1024 * 1024)).unwrap();
    let first = location(&create(&base, &token, Some(data.len()), "").await);
    let second = location(&create(&base, &token, Some(data.len()), "").await);
    // The first PATCH sends its head and a little of its body, then waits.
    let mut sock = raw_patch(&base, &first, &token, data.len()).await;
    sock.write_all(&data[..64 * 1024]).await.unwrap();
    sock.flush().await.unwrap();
    // Time for the server to read that head and take the slot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = patch(&base, &second, &token, 0, data.clone(), &[]).await;
    assert_eq!(
        r.status(),
        429,
        "the second PATCH while the first holds the only slot"
    );
    assert!(r.headers().contains_key("retry-after"));
    let clip = make_video(&env.scratch, "c.mp4", &Spec::default());
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(&clip).unwrap()).file_name("c.mp4"),
    );
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/videos"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "a POST upload meets the same slot");
    // Once the first finishes, the slot is free again.
    sock.write_all(&data[64 * 1024..]).await.unwrap();
    sock.flush().await.unwrap();
    eventually(
        "the first PATCH to finish",
        Duration::from_secs(20),
        || async {
            (offset(&head(&base, &first, Some(&token)).await) == data.len() as i64).then_some(())
        },
    )
    .await;
    // The first PATCH's record says complete a moment before its request ends (and frees the
    // slot): a client that is told 429 comes back.
    eventually(
        "the second PATCH to be taken",
        Duration::from_secs(20),
        || async {
            let r = patch(&base, &second, &token, 0, data.clone(), &[]).await;
            match r.status().as_u16() {
                204 => Some(()),
                429 => None,
                other => panic!("the second PATCH: {other}"),
            }
        },
    )
    .await;
    drop(sock);
    api.stop().await;
    owned.cleanup().await;
}

/// A client sending 64 KiB PATCHes (a browser on a poor link, a client with a small chunk size)
/// costs the store what it uploads: each PATCH writes its own bytes once, and they are read back
/// once, when they fill a part. Before, every PATCH read and rewrote the whole pending remainder:
/// for this 6 MiB file, about 200 MiB read back instead of 5.
#[tokio::test]
async fn small_patches_cost_the_store_what_they_carry_not_a_part_each() {
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let data = std::fs::read(video_file(env, "small.bin", 6 * 1024 * 1024 + 1000)).unwrap();
    let r = create(&base, &token, Some(data.len()), "").await;
    assert_eq!(r.status(), 201);
    let up = location(&r);
    let before = pending_read_bytes(&base).await;
    let step = 64 * 1024;
    let mut at = 0;
    while at < data.len() {
        let end = (at + step).min(data.len());
        let r = patch(&base, &up, &token, at, data[at..end].to_vec(), &[]).await;
        assert_eq!(r.status(), 204, "PATCH at {at}");
        assert_eq!(offset(&r), end as i64);
        at = end;
        // Halfway through a part, the offset a client resumes from holds (HEAD from the record).
        if at == 40 * step {
            assert_eq!(offset(&head(&base, &up, Some(&token)).await), at as i64);
        }
    }
    let read = pending_read_bytes(&base).await - before;
    assert!(
        read <= 6 * 1024 * 1024,
        "{read} bytes of pending segments read back for a {} byte upload",
        data.len()
    );
    let (_, stored) = finished(env, &base, &token, &up).await;
    assert!(stored == data, "the stored source is byte-identical");
    // Nothing of the segments is left once the upload is complete.
    let id = up.rsplit('/').next().unwrap();
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/uploads/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let video: vodflow_core::VideoId = v["video_id"].as_str().unwrap().parse().unwrap();
    let left = env
        .object_keys(&vodflow_core::layout::pending_prefix(
            &vodflow_core::layout::source_key(video),
        ))
        .await;
    assert!(left.is_empty(), "{left:?}");
    api.stop().await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_sending_tiny_patches_keeps_the_upload_record_bounded() {
    // One segment per PATCH would grow the record (rewritten on every PATCH) and the store reads
    // of the next part without bound: past 256 they are merged into one.
    let owned = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let env = &owned;
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let data = std::fs::read(video_file(env, "tiny.bin", 64 * 1024)).unwrap();
    let r = create(&base, &token, Some(data.len()), "").await;
    assert_eq!(r.status(), 201);
    let up = location(&r);
    let id: uuid::Uuid = up.rsplit('/').next().unwrap().parse().unwrap();
    let segments = || async {
        sqlx::query_scalar::<_, i32>(
            "SELECT jsonb_array_length(pending_segments::jsonb) FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap()
    };
    // 4 KiB, then 700 PATCHes of 64 bytes (all under the 64 KiB sniffing window and a part).
    let mut at = 0;
    let mut most = 0;
    for n in 0..=700 {
        let end = if n == 0 { 4096 } else { at + 64 };
        let r = patch(&base, &up, &token, at, data[at..end].to_vec(), &[]).await;
        assert_eq!(r.status(), 204, "PATCH at {at}");
        assert_eq!(offset(&r), end as i64);
        at = end;
        if n % 50 == 0 {
            most = most.max(segments().await);
        }
    }
    most = most.max(segments().await);
    assert!(most > 200, "the PATCHes were kept as segments: {most}");
    assert!(most <= 256, "at most 256 segments recorded, saw {most}");
    let pending = env
        .object_keys(&vodflow_core::layout::pending_prefix(
            &vodflow_core::layout::source_key(vodflow_core::VideoId(
                sqlx::query_scalar::<_, uuid::Uuid>("SELECT video_id FROM uploads WHERE id = $1")
                    .bind(id)
                    .fetch_one(&env.pool)
                    .await
                    .unwrap(),
            )),
        ))
        .await;
    assert!(
        pending.len() <= 256,
        "merged segments are removed from the store: {}",
        pending.len()
    );
    while at < data.len() {
        let end = (at + 8192).min(data.len());
        let r = patch(&base, &up, &token, at, data[at..end].to_vec(), &[]).await;
        assert_eq!(r.status(), 204);
        at = end;
    }
    let (_, stored) = finished(env, &base, &token, &up).await;
    assert!(stored == data, "the stored source is byte-identical");
    api.stop().await;
    owned.cleanup().await;
}
