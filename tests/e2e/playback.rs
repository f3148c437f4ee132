//! Playback from the origin (`/play/{id}/...`): signed and public videos, the resource's playback
//! URLs, and the HTTP a player and a CDN rely on — streamed bodies, ranges, ETags, caching, CORS.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::media::{Spec, make_video};
use common::{TestEnv, upload_with, wait_for_status, with_platform};
use serde_json::Value;
use vodflow_core::playback;

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_and_public_videos_play_over_http_with_ranges_etags_and_cors() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 6.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    with_platform(env, |base| async move {
        let signed = upload_with(&base, &token, &clip, "signed", &[]).await;
        let public = upload_with(&base, &token, &clip, "public", &[("visibility", "public")]).await;
        for id in [&signed, &public] {
            let row =
                wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(240)).await;
            assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        }
        let video = |id: String| {
            let (base, token) = (base.clone(), token.clone());
            async move {
                reqwest::Client::new()
                    .get(format!("{base}/v1/videos/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };

        // The resource names every playable URL of a ready video, signed for a private one.
        let v = video(signed.clone()).await;
        assert_eq!(v["visibility"], "signed");
        let pb = &v["playback"];
        let master = pb["master"].as_str().unwrap().to_owned();
        assert!(
            master.starts_with(&format!("{base}/play/{signed}/sig-")),
            "{master}"
        );
        assert_eq!(
            v["links"]["playback"]
                .as_str()
                .unwrap()
                .split("/sig-")
                .next(),
            master.split("/sig-").next()
        );
        assert!(pb["expires_at"].is_string(), "{pb}");
        let names: Vec<&str> = pb["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        for want in ["144p", "240p", "360p", "audio"] {
            assert!(names.contains(&want), "{want} missing: {names:?}");
        }
        let poster = get(pb["poster"].as_str().unwrap(), &[]).await;
        assert_eq!(poster.status(), 200);
        assert_eq!(header(&poster, "content-type"), "image/jpeg");
        for r in pb["renditions"].as_array().unwrap() {
            let resp = get(r["url"].as_str().unwrap(), &[]).await;
            assert_eq!(resp.status(), 200, "{r}");
            assert!(
                resp.text()
                    .await
                    .unwrap()
                    .contains("#EXT-X-MAP:URI=\"init.mp4\"")
            );
        }

        // A player follows the playlists' relative URLs: the signature rides along, so FFmpeg
        // decodes the whole adaptive presentation over HTTP.
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i", &master, "-f", "null", "-"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "ffmpeg over HTTP: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Refused: no signature, a tampered one, one for another video, an expired one.
        let plain = format!("{base}/play/{signed}/master.m3u8");
        let secret = &env.cfg.playback.signing_secret;
        let now = playback::unix_now();
        let vid: vodflow_core::VideoId = signed.parse().unwrap();
        let other: vodflow_core::VideoId = public.parse().unwrap();
        let sig = master.split('/').rev().nth(1).unwrap().to_owned();
        let mut flipped = sig.clone().into_bytes();
        // Not the last character: its low bits are padding, and a non-canonical one is
        // "malformed" rather than "does not match".
        let at = flipped.len() - 5;
        flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let later = {
            let (exp, mac) = sig.trim_start_matches("sig-").split_once('-').unwrap();
            format!("sig-{}-{mac}", exp.parse::<u64>().unwrap() + 3600)
        };
        for (what, url, why) in [
            ("unsigned", plain.clone(), "must be signed"),
            (
                "tampered mac",
                master.replace(&sig, &flipped),
                "does not match",
            ),
            (
                "extended expiry",
                master.replace(&sig, &later),
                "does not match",
            ),
            (
                "another video's signature",
                master.replace(&sig, &playback::signature_segment(secret, other, now + 600)),
                "does not match",
            ),
            (
                "expired",
                master.replace(&sig, &playback::signature_segment(secret, vid, now - 1)),
                "expired",
            ),
        ] {
            let r = get(&url, &[]).await;
            assert_eq!(r.status(), 403, "{what}: {url}");
            let body: Value = r.json().await.unwrap();
            assert!(
                body["detail"].as_str().unwrap().contains(why),
                "{what}: {body}"
            );
        }
        // A fresh signature for this video works, on every file of its tree.
        let fresh = playback::signature_segment(secret, vid, now + 60);
        let r = get(&format!("{base}/play/{signed}/{fresh}/360p/init.mp4"), &[]).await;
        assert_eq!(r.status(), 200);

        // A public video plays from plain URLs.
        let v = video(public.clone()).await;
        assert_eq!(v["visibility"], "public");
        assert_eq!(
            v["playback"]["master"],
            format!("{base}/play/{public}/master.m3u8")
        );
        assert!(v["playback"]["expires_at"].is_null());
        let m = get(
            &format!("{base}/play/{public}/master.m3u8"),
            &[("Origin", "https://player.example")],
        )
        .await;
        assert_eq!(m.status(), 200);
        assert_eq!(header(&m, "content-type"), "application/vnd.apple.mpegurl");
        assert_eq!(header(&m, "cache-control"), "public, max-age=60");
        assert_eq!(header(&m, "access-control-allow-origin"), "*");

        // A media segment: immutable, ranged, revalidated by ETag.
        let seg_url = format!("{base}/play/{public}/240p/seg_00001.m4s");
        let full = get(&seg_url, &[]).await;
        assert_eq!(full.status(), 200);
        assert_eq!(header(&full, "content-type"), "video/iso.segment");
        assert_eq!(
            header(&full, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header(&full, "accept-ranges"), "bytes");
        let etag = header(&full, "etag");
        assert!(!etag.is_empty());
        let len: usize = header(&full, "content-length").parse().unwrap();
        let bytes = full.bytes().await.unwrap();
        assert_eq!(bytes.len(), len);
        let stored = env
            .s3
            .get_object()
            .bucket(&env.cfg.s3.bucket)
            .key(vodflow_core::layout::segment_key(other, 0, "240p", 1))
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(bytes, stored);
        let part = get(&seg_url, &[("Range", "bytes=100-199")]).await;
        assert_eq!(part.status(), 206);
        assert_eq!(
            header(&part, "content-range"),
            format!("bytes 100-199/{len}")
        );
        assert_eq!(part.bytes().await.unwrap(), bytes.slice(100..200));
        let tail = get(&seg_url, &[("Range", "bytes=-10")]).await;
        assert_eq!(tail.status(), 206);
        assert_eq!(tail.bytes().await.unwrap(), bytes.slice(len - 10..));
        let same = get(&seg_url, &[("If-None-Match", &etag)]).await;
        assert_eq!(same.status(), 304);
        assert_eq!(header(&same, "etag"), etag);
        let beyond = get(&seg_url, &[("Range", &format!("bytes={}-", len + 10))]).await;
        assert_eq!(beyond.status(), 416);

        // CORS preflight for a player on another origin sending Range.
        let pre = reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, &seg_url)
            .header("Origin", "https://player.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "range")
            .send()
            .await
            .unwrap();
        assert_eq!(pre.status(), 204);
        assert_eq!(header(&pre, "access-control-allow-origin"), "*");
        assert!(header(&pre, "access-control-allow-headers").contains("Range"));

        // Only the playback tree is reachable; nothing else in the bucket.
        for path in [
            format!("/play/{public}/source"),
            format!("/play/{public}/../../uploads/{public}/source"),
            format!("/play/{public}/240p/seg_1.m4s"),
            format!("/play/{public}/chunks/0/manifest.json"),
            format!("/play/{public}/240p/seg_09999.m4s"),
            "/play/not-a-uuid/master.m3u8".to_owned(),
            "/play/00000000-0000-7000-8000-000000000000/master.m3u8".to_owned(),
            // One URL per object of a public video: invented signature segments are other
            // cache keys for the same bytes.
            format!("/play/{public}/sig-9999999999-deadbeef/master.m3u8"),
            format!("/play/{public}/sig-1-x/240p/seg_00001.m4s"),
        ] {
            let r = get(&format!("{base}{path}"), &[]).await;
            assert_eq!(r.status(), 404, "{path}");
        }

        // A link signed while the public video was `signed`, still valid, goes to its one URL
        // (not cached); the same link expired is not found.
        let pid: vodflow_core::VideoId = public.parse().unwrap();
        let secret = &env.cfg.playback.signing_secret;
        let valid = playback::signature_segment(secret, pid, playback::unix_now() + 600);
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{base}/play/{public}/{valid}/240p/index.m3u8"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        assert_eq!(
            header(&r, "location"),
            format!("/play/{public}/240p/index.m3u8")
        );
        assert_eq!(header(&r, "cache-control"), "no-store");
        let expired = playback::signature_segment(secret, pid, playback::unix_now() - 10);
        let r = get(&format!("{base}/play/{public}/{expired}/master.m3u8"), &[]).await;
        assert_eq!(r.status(), 404);

        // An nginx edge cache in front (docs/nginx-edge-cache.conf): the second request for a
        // segment is a cache hit, and the origin served it once.
        let edge = common::edge::Edge::start(&env.scratch, &base).await;
        let path = format!("/play/{public}/360p/seg_00001.m4s");
        let origin_hits = || async {
            let text = get(&format!("{base}/metrics"), &[])
                .await
                .text()
                .await
                .unwrap();
            text.lines()
                .filter(|l| {
                    l.starts_with("vodflow_http_requests_total")
                        && l.contains("route=\"/play\"")
                        && l.contains("status=\"200\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        let before = origin_hits().await;
        let first = get(&format!("{}{path}", edge.base), &[]).await;
        assert_eq!(first.status(), 200);
        assert_eq!(header(&first, "x-cache-status"), "MISS");
        let first = first.bytes().await.unwrap();
        let second = get(&format!("{}{path}", edge.base), &[]).await;
        assert_eq!(header(&second, "x-cache-status"), "HIT");
        assert_eq!(second.bytes().await.unwrap(), first);
        let ranged = get(&format!("{}{path}", edge.base), &[("Range", "bytes=0-9")]).await;
        assert_eq!(
            (ranged.status().as_u16(), header(&ranged, "x-cache-status")),
            (206, "HIT".to_owned())
        );
        assert_eq!(
            origin_hits().await - before,
            1.0,
            "the origin served the segment once"
        );
        // An image is keyed by its query too: two times are two images, each cached once.
        let thumb = |q: &str| format!("{}/play/{public}/thumbnail.jpg?{q}", edge.base);
        let at1 = get(&thumb("time=1"), &[]).await;
        assert_eq!(at1.status(), 200);
        let at1 = at1.bytes().await.unwrap();
        let at5 = get(&thumb("time=5"), &[]).await;
        assert_eq!(header(&at5, "x-cache-status"), "MISS");
        assert_ne!(
            at5.bytes().await.unwrap(),
            at1,
            "time=5 is not time=1's image"
        );
        let again = get(&thumb("time=1"), &[]).await;
        assert_eq!(header(&again, "x-cache-status"), "HIT");
        assert_eq!(again.bytes().await.unwrap(), at1);
        // One object, one URL: another spelling of the id is not served (a CDN would cache each).
        let upper = public.to_uppercase();
        assert_eq!(
            get(&format!("{base}/play/{upper}/360p/seg_00001.m4s"), &[])
                .await
                .status(),
            404
        );
        let bare = public.replace('-', "");
        assert_eq!(
            get(&format!("{base}/play/{bare}/master.m3u8"), &[])
                .await
                .status(),
            404
        );
        // A signed URL's max-age never outlives its signature.
        let short = playback::signature_segment(secret, vid, playback::unix_now() + 30);
        let r = get(
            &format!("{base}/play/{signed}/{short}/360p/seg_00001.m4s"),
            &[],
        )
        .await;
        let age: u64 = header(&r, "cache-control")
            .split("max-age=")
            .nth(1)
            .and_then(|a| a.split(',').next())
            .and_then(|a| a.parse().ok())
            .unwrap();
        assert!(age <= 30, "{}", header(&r, "cache-control"));
        drop(edge);

        // Deleted: gone from playback too.
        let r = reqwest::Client::new()
            .delete(format!("{base}/v1/videos/{public}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(get(&seg_url, &[]).await.status(), 404);
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test]
async fn with_cloudfront_playback_urls_use_its_domain_and_a_delete_invalidates_local_listener() {
    // CloudFront cannot run here: its API is a local listener that records the SDK's request.
    let (addr, cloudfront) = common::cloudfront_listener().await;
    let endpoint = format!("http://{addr}");
    let env = TestEnv::new(&[
        ("VODFLOW_CLOUDFRONT_DISTRIBUTION_ID", "E2EXAMPLE"),
        ("VODFLOW_CLOUDFRONT_ENDPOINT", &endpoint),
        ("VODFLOW_CLOUDFRONT_DOMAIN", "d111111abcdef8.cloudfront.net"),
    ])
    .await;
    let api = env.spawn_api().await;
    // The purge is the delete workflow's: it runs on a processing worker.
    let _worker = common::spawn_processing_worker(&env);
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let id = upload_with(&api.base, &token, &clip, "cdn", &[]).await;
    let v = common::video_json(&api.base, &token, &id).await;
    let link = v["links"]["playback"].as_str().unwrap();
    assert!(
        link.starts_with(&format!(
            "https://d111111abcdef8.cloudfront.net/play/{id}/sig-"
        )),
        "{link}"
    );
    let r = reqwest::Client::new()
        .delete(api.url(&format!("/v1/videos/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let req = tokio::time::timeout(Duration::from_secs(20), cloudfront)
        .await
        .expect("an invalidation request")
        .unwrap();
    assert!(
        req.starts_with("POST /2020-05-31/distribution/E2EXAMPLE/invalidation HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.contains(&format!("<Path>/videos/{id}/*</Path>"))
            && req.contains(&format!("<Path>/play/{id}/*</Path>")),
        "{req}"
    );
    api.stop().await;
    env.cleanup().await;
}
