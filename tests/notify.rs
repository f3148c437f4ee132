//! Effects users see happen once: each notification channel is its own activity, so a callback
//! receiver that fails twice gets retried on its own (with one idempotency key) while the
//! `video_processed` event is published exactly once.

mod common;

use std::time::Duration;

use common::media::{Spec, make_video};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_callback_is_retried_alone_and_nothing_else_repeats() {
    let owned = common::processing_env(&[("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let env = &owned;
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let (hook, mut calls) = common::scripted_receiver(vec![500, 503, 200]).await;
    common::with_platform(env, |base| async move {
        let token = env.token("once", &["videos:read", "videos:write"]);
        let id =
            common::upload_with(&base, &token, &clip, "once", &[("callback_url", &hook)]).await;
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(120)).await;
        assert_eq!(row.status, "ready");
        let mut keys = Vec::new();
        for _ in 0..3 {
            let (head, _) = tokio::time::timeout(Duration::from_secs(90), calls.recv())
                .await
                .expect("callback attempt")
                .unwrap();
            keys.push(
                common::header(&head, "vodflow-idempotency-key")
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        assert!(
            keys.iter().all(|k| k == &keys[0] && k.contains(&id)),
            "{keys:?}"
        );
        let events = common::history(env, &id);
        assert_eq!(
            common::activity_attempts(&events, "notify-callback"),
            vec![3]
        );
        assert_eq!(common::activity_attempts(&events, "notify-event"), vec![1]);
        let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_PROCESSED);
        let msgs =
            common::read_topic(&env.cfg.kafka_brokers, &topic, 2, Duration::from_secs(5)).await;
        let ours = msgs
            .iter()
            .filter(|m| rdkafka::Message::key(*m) == Some(id.as_bytes()))
            .count();
        assert_eq!(ours, 1, "video_processed published {ours} times");
    })
    .await;
    owned.cleanup().await;
}
