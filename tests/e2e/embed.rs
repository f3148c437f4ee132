//! Sharing: a public video's link unfurls (Open Graph and Twitter tags on `/watch/{id}`, oEmbed at
//! `/oembed`), its `/embed/{id}` page plays inside an `<iframe>` of another site in Chromium with
//! no token; a signed video is never unfurled, its title never shown without a signature, and its
//! embed URL (`playback.embed`) carries the expiring signature its playback URLs carry.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_public_video_unfurls_and_plays_in_an_iframe_and_a_signed_one_only_with_its_signature() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "shared.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 6.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("sharer", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let public = common::upload_with(
            &base,
            &token,
            &clip,
            "Our <launch> & \"demo\"",
            &[("visibility", "public")],
        )
        .await;
        let signed = common::upload(&base, &token, &clip, "Private board meeting").await;
        for id in [&public, &signed] {
            let row =
                wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(180)).await;
            assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        }
        let video = |id: String| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move {
                client
                    .get(format!("{base}/v1/videos/{id}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };

        // Public: the embed page names the master; no token, framable anywhere.
        let v = video(public.clone()).await;
        let embed = v["playback"]["embed"].as_str().unwrap().to_owned();
        assert!(embed.ends_with(&format!("/embed/{public}")), "{v}");
        let (s, page, headers) = get(&client, &embed).await;
        assert_eq!(s, 200, "{page}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors *"), "{csp}");
        assert!(headers.get("x-frame-options").is_none());
        let master = v["playback"]["master"].as_str().unwrap();
        assert!(
            page.contains(&format!("data-master=\"{master}\"")),
            "{page}"
        );
        assert!(!page.contains(&token), "no token in the page");
        assert!(
            page.contains("Our &lt;launch&gt; &amp; &quot;demo&quot;"),
            "escaped: {page}"
        );

        // Its watch page unfurls.
        let watch = embed.replace("/embed/", "/watch/");
        let (s, page, _) = get(&client, &watch).await;
        assert_eq!(s, 200);
        assert!(
            page.contains(
                "<meta property=\"og:title\" content=\"Our &lt;launch&gt; &amp; &quot;demo&quot;\">"
            ),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                "<meta name=\"twitter:player\" content=\"{embed}\">"
            )),
            "{page}"
        );
        assert!(page.contains("application/json+oembed"), "{page}");

        // oEmbed.
        let oembed = |url: String, extra: &str| {
            let q = format!(
                "{base}/oembed?url={}{extra}",
                url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
            );
            let client = client.clone();
            async move {
                let r = client.get(q).send().await.unwrap();
                (
                    r.status().as_u16(),
                    r.json::<serde_json::Value>().await.unwrap_or_default(),
                )
            }
        };
        let (s, o) = oembed(watch.clone(), "&maxwidth=320").await;
        assert_eq!(s, 200, "{o}");
        assert_eq!(o["type"], "video");
        assert_eq!(o["version"], "1.0");
        assert_eq!(
            (o["width"].as_i64(), o["height"].as_i64()),
            (Some(320), Some(180)),
            "{o}"
        );
        let html = o["html"].as_str().unwrap().to_owned();
        assert!(
            html.starts_with(&format!(
                "<iframe src=\"{embed}\" width=\"320\" height=\"180\""
            )),
            "{html}"
        );
        assert_eq!(
            oembed(embed.clone(), "").await.0,
            200,
            "an embed link unfurls too"
        );
        assert_eq!(oembed(watch.clone(), "&format=xml").await.0, 501);
        assert_eq!(oembed(watch.clone(), "&maxwidth=wide").await.0, 400);
        assert_eq!(
            oembed("https://elsewhere.example/watch/x".into(), "")
                .await
                .0,
            404
        );
        let unknown = watch.replace(&public, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(oembed(unknown, "").await.0, 404);

        // It plays from an <iframe> of another page, without a token.
        let seen =
            common::browser::run_script("embed.cjs", &[("HTML", html)], Duration::from_secs(120))
                .await;
        assert!(seen["time"].as_f64().unwrap() > 1.5, "{seen}");

        // Signed: never unfurled, title never shown without the signature.
        let v = video(signed.clone()).await;
        let signed_embed = v["playback"]["embed"].as_str().unwrap().to_owned();
        let sig = signed_embed.rsplit('/').next().unwrap().to_owned();
        assert!(sig.starts_with("sig-"), "{signed_embed}");
        let (s, page, headers) = get(&client, &signed_embed).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(
            page.contains(&format!("/play/{signed}/{sig}/master.m3u8")),
            "{page}"
        );
        let bare = signed_embed.replace(&format!("/{sig}"), "");
        let (s, page, _) = get(&client, &bare).await;
        assert_eq!(s, 403);
        assert!(!page.contains("Private board meeting"));
        let forged = signed_embed.replace(&sig, "sig-9999999999-AAAA");
        assert_eq!(get(&client, &forged).await.0, 403);
        let (s, page, _) = get(&client, &bare.replace("/embed/", "/watch/")).await;
        assert_eq!(s, 200);
        assert!(
            !page.contains("og:title") && !page.contains("Private board meeting"),
            "{page}"
        );
        assert_eq!(oembed(bare.replace("/embed/", "/watch/"), "").await.0, 401);
    })
    .await;
    owned.cleanup().await;
}
