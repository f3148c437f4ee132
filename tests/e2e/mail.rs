//! Ready and failed mails (and the `video_processed` Kafka events of the same outcomes), sent through a real SMTP server (aiosmtpd from PyPI, started here and
//! writing what it receives into a Maildir) to the address in the uploader's `email` claim.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::{unique, upload, wait_for_status, with_platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_uploader_gets_a_ready_mail_with_the_watch_link_and_a_failed_mail_with_the_reason() {
    let scratch = std::env::temp_dir().join(unique("vodflow-smtp-"));
    std::fs::create_dir_all(&scratch).unwrap();
    let smtp = common::smtp::Smtp::start(&scratch).await;
    let smtp_url = smtp.url();
    let owned = common::processing_env(&[
        ("VODFLOW_SMTP_URL", &smtp_url),
        ("VODFLOW_MAIL_FROM", "vodflow <noreply@vodflow.test>"),
    ])
    .await;
    let env = &owned;
    let token = vodflow_api::auth::issue(
        &env.cfg.auth,
        "carol",
        &["videos:read".into(), "videos:write".into()],
        Duration::from_secs(3600),
        Some("carol@example.test"),
    )
    .unwrap();
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let fake = env.scratch.join("fake.mp4");
    common::media::fake_mp4(&fake, b"not a video. ");
    let smtp = &smtp;
    with_platform(env, |base| async move {
        let good = upload(&base, &token, &clip, "Holiday <3").await;
        let bad = upload(&base, &token, &fake, "Broken").await;
        assert_eq!(
            wait_for_status(env, &good, &["ready", "failed"], Duration::from_secs(240))
                .await
                .status,
            "ready"
        );
        assert_eq!(
            wait_for_status(env, &bad, &["ready", "failed"], Duration::from_secs(240))
                .await
                .status,
            "failed"
        );
        let mails = common::eventually("two mails", Duration::from_secs(60), || async {
            let m = smtp.messages();
            (m.len() >= 2).then_some(m)
        })
        .await;
        assert_eq!(mails.len(), 2, "exactly one mail per outcome");
        let ready = mails
            .iter()
            .find(|m| m.contains("is ready"))
            .expect("a ready mail");
        let failed = mails
            .iter()
            .find(|m| m.contains("could not be processed"))
            .expect("a failed mail");
        for m in [ready, failed] {
            assert!(m.contains("To: carol@example.test"), "{m}");
            assert!(m.contains("From: vodflow <noreply@vodflow.test>"), "{m}");
            assert!(m.contains("multipart/alternative"), "{m}");
            assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
        }
        let unfolded = ready.replace("=\r\n", "").replace("=\n", "");
        // The worker links to the platform's public URL (every role is configured with the same).
        assert!(
            unfolded.contains(&format!("{base}/watch/{good}")),
            "{ready}"
        );
        // The title is escaped in the HTML part.
        assert!(
            unfolded.contains("<strong>Holiday &lt;3</strong>"),
            "{ready}"
        );
        assert!(
            failed.to_lowercase().contains("probe"),
            "the failing step is named: {failed}"
        );

        // Downstream systems hear both outcomes on Kafka.
        let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_PROCESSED);
        let events: Vec<serde_json::Value> =
            common::read_topic(&env.cfg.kafka_brokers, &topic, 2, Duration::from_secs(30))
                .await
                .iter()
                .map(|m| {
                    use rdkafka::Message;
                    serde_json::from_slice(m.payload().expect("payload")).expect("json")
                })
                .collect();
        let of = |id: &str| {
            events
                .iter()
                .find(|e| e["video_id"] == id)
                .unwrap_or_else(|| panic!("no video_processed for {id}: {events:?}"))
        };
        let ready = of(&good);
        assert_eq!(ready["status"], "ready");
        assert!(
            ready["playback_url"]
                .as_str()
                .unwrap()
                .contains(&format!("/play/{good}/"))
        );
        assert_eq!(
            ready["renditions"],
            serde_json::json!(["144p"]),
            "a 180p source: one rung"
        );
        let broken = of(&bad);
        assert_eq!(broken["status"], "failed");
        assert!(
            broken["reason"].as_str().unwrap().contains("probe"),
            "{broken}"
        );
        assert!(broken["playback_url"].is_null());
    })
    .await;
    owned.cleanup().await;
    let _ = std::fs::remove_dir_all(&scratch);
}
