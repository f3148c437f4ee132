//! Webhooks on the real stack: registration (secret shown once), signed deliveries retried by a
//! Temporal workflow until the receiver answers 2xx, the delivery log, redelivery, `video.deleted`,
//! isolation, and the SSRF guard.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::{TestEnv, header, upload, wait_for_status, with_platform};
use serde_json::{Value, json};

async fn call(method: &str, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The delivery log once its newest delivery succeeded after `attempts` attempts.
async fn logged(url: &str, token: &str, attempts: usize) -> Value {
    common::eventually(
        &format!("a succeeded delivery with {attempts} attempts in the log"),
        Duration::from_secs(30),
        || async {
            let (_, log) = call("GET", url.to_owned(), token, None).await;
            let newest = &log["items"][0];
            (newest["status"] == "succeeded" && newest["attempts"].as_array()?.len() == attempts)
                .then_some(log)
        },
    )
    .await
}

async fn next_post(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) -> (String, String) {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a delivery within 60 s")
        .expect("receiver alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_failing_twice_gets_one_signed_delivery_after_two_retries_all_logged() {
    let owned = common::processing_env(&[
        ("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("VODFLOW_WEBHOOK_RETRY_INITIAL", "1s"),
    ])
    .await;
    let env = &owned;
    let alice = env.token("alice", &["videos:read", "videos:write"]);
    let bob = env.token("bob", &["videos:read", "videos:write"]);
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    with_platform(env, |base| async move {
        let (hook_url, mut posts) = common::scripted_receiver(vec![500, 500]).await;
        let (s, bad) = call(
            "POST",
            format!("{base}/v1/webhooks"),
            &alice,
            Some(json!({"url": hook_url, "events": ["video.exploded"]})),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        let (s, bad) = call(
            "POST",
            format!("{base}/v1/webhooks"),
            &alice,
            Some(json!({"url": "ftp://example.com/x"})),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        let (s, hook) = call(
            "POST",
            format!("{base}/v1/webhooks"),
            &alice,
            Some(json!({"url": hook_url})),
        )
        .await;
        assert_eq!(s, 201, "{hook}");
        let secret = hook["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_") && secret.len() > 40);
        let hook_id = hook["id"].as_str().unwrap().to_owned();
        assert_eq!(
            hook["events"],
            json!(["video.ready", "video.failed", "video.deleted"])
        );

        // The secret is shown once; Bob sees nothing of Alice's endpoint.
        let (_, list) = call("GET", format!("{base}/v1/webhooks"), &alice, None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(list["items"][0].get("secret").is_none(), "{list}");
        let (_, list) = call("GET", format!("{base}/v1/webhooks"), &bob, None).await;
        assert!(list["items"].as_array().unwrap().is_empty());
        let (s, _) = call(
            "GET",
            format!("{base}/v1/webhooks/{hook_id}/deliveries"),
            &bob,
            None,
        )
        .await;
        assert_eq!(s, 404);
        let (s, _) = call(
            "DELETE",
            format!("{base}/v1/webhooks/{hook_id}"),
            &bob,
            None,
        )
        .await;
        assert_eq!(s, 404);

        let video = upload(&base, &alice, &clip, "hooked").await;
        let row =
            wait_for_status(env, &video, &["ready", "failed"], Duration::from_secs(240)).await;
        assert_eq!(row.status, "ready");

        // 500, 500, then 200: the same signed event three times.
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let (head, body) = next_post(&mut posts).await;
            assert_eq!(header(&head, "vodflow-event"), Some("video.ready"));
            common::assert_signed(&head, &body, &secret);
            bodies.push(body);
        }
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "one event, resent as is"
        );
        let event: Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(event["type"], "video.ready");
        assert_eq!(event["data"]["video_id"], video.as_str());
        assert!(
            event["data"]["playback_url"]
                .as_str()
                .unwrap()
                .contains("/play/")
        );

        let log_url = format!("{base}/v1/webhooks/{hook_id}/deliveries");
        let log = logged(&log_url, &alice, 3).await;
        let items = log["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{log}");
        let codes: Vec<i64> = items[0]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status_code"].as_i64().unwrap())
            .collect();
        assert_eq!(codes, vec![500, 500, 200], "{log}");
        assert!(
            items[0]["attempts"][0]["error"]
                .as_str()
                .unwrap()
                .contains("500")
        );
        assert!(
            tokio::time::timeout(Duration::from_secs(2), posts.recv())
                .await
                .is_err(),
            "delivered exactly once"
        );

        // Redelivery: once more, logged as a fourth attempt.
        let delivery = items[0]["id"].as_str().unwrap();
        let (s, r) = call(
            "POST",
            format!("{base}/v1/webhooks/{hook_id}/deliveries/{delivery}/redeliver"),
            &alice,
            None,
        )
        .await;
        assert_eq!(s, 202, "{r}");
        let (_, body) = next_post(&mut posts).await;
        assert_eq!(body, bodies[0]);
        logged(&log_url, &alice, 4).await;

        // A second endpoint, only for deletions, that keeps failing: its delivery stays pending
        // and redelivering it meanwhile is a conflict.
        let (down_url, mut down_posts) = common::scripted_receiver(vec![503; 1000]).await;
        let (s, down) = call(
            "POST",
            format!("{base}/v1/webhooks"),
            &alice,
            Some(json!({"url": down_url, "events": ["video.deleted"]})),
        )
        .await;
        assert_eq!(s, 201, "{down}");
        assert_eq!(down["events"], json!(["video.deleted"]));
        let down_id = down["id"].as_str().unwrap().to_owned();

        // Deleting the video announces it.
        let (s, _) = call("DELETE", format!("{base}/v1/videos/{video}"), &alice, None).await;
        assert_eq!(s, 204);
        next_post(&mut down_posts).await;
        next_post(&mut down_posts).await;
        // An attempt is logged once its answer is in, a moment after the receiver saw it.
        let down_log = format!("{base}/v1/webhooks/{down_id}/deliveries");
        let log = common::eventually(
            "two failed attempts logged",
            Duration::from_secs(30),
            || async {
                let (_, log) = call("GET", down_log.clone(), &alice, None).await;
                (log["items"][0]["attempts"].as_array()?.len() >= 2).then_some(log)
            },
        )
        .await;
        let pending = &log["items"][0];
        assert_eq!(pending["status"], "pending", "{log}");
        assert_eq!(pending["last_status_code"], 503, "{log}");
        let (s, r) = call(
            "POST",
            format!(
                "{base}/v1/webhooks/{down_id}/deliveries/{}/redeliver",
                pending["id"].as_str().unwrap()
            ),
            &alice,
            None,
        )
        .await;
        assert_eq!(s, 409, "{r}");
        // Removing the endpoint ends its retries (the next attempt finds it gone).
        let (s, _) = call(
            "DELETE",
            format!("{base}/v1/webhooks/{down_id}"),
            &alice,
            None,
        )
        .await;
        assert_eq!(s, 204);

        let (head, body) = next_post(&mut posts).await;
        assert_eq!(header(&head, "vodflow-event"), Some("video.deleted"));
        let event: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (event["type"].as_str(), event["data"]["video_id"].as_str()),
            (Some("video.deleted"), Some(video.as_str()))
        );

        let (s, _) = call(
            "DELETE",
            format!("{base}/v1/webhooks/{hook_id}"),
            &alice,
            None,
        )
        .await;
        assert_eq!(s, 204);
        let (_, list) = call("GET", format!("{base}/v1/webhooks"), &alice, None).await;
        assert!(list["items"].as_array().unwrap().is_empty());
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test]
async fn endpoints_on_private_loopback_or_link_local_addresses_are_refused() {
    let env = TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let token = env.token("alice", &["videos:write"]);
    let (receiver, _) = common::callback_receiver().await;
    for url in [
        receiver.as_str(),
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://192.168.0.10:8443/hook",
        "http://[::1]:9/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/",
    ] {
        let (s, body) = call(
            "POST",
            api.url("/v1/webhooks"),
            &token,
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!(s, 400, "{url} accepted: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("url refused"),
            "{body}"
        );
    }
    let (_, list) = call("GET", api.url("/v1/webhooks"), &token, None).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    api.stop().await;
    env.cleanup().await;
}
