//! What the notification channels guarantee: at-least-once delivery with a stable idempotency
//! key. Each channel is its own activity, so a callback receiver that fails twice gets retried on
//! its own (with one idempotency key) while the `video_processed` event is published once; and a
//! worker killed between a send and its record sends again, with the same key, exactly once more.

use crate::common;

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

/// The crash case: the processing worker is killed after the callback, the mail and a webhook
/// delivery reached their receivers (all left unanswered) and before it could record them. The
/// retries, on a new worker, send each again with the same key and record it; nothing is sent a
/// third time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_between_send_and_record_sends_again_with_the_same_key() {
    let scratch = std::env::temp_dir().join(common::unique("vodflow-resend-"));
    std::fs::create_dir_all(&scratch).unwrap();
    let smtp = common::smtp::Smtp::start_holding(&scratch, Duration::from_secs(8)).await;
    let smtp_url = smtp.url();
    let owned = common::processing_env(&[
        ("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("VODFLOW_SMTP_URL", &smtp_url),
        ("VODFLOW_MAIL_FROM", "vodflow <noreply@vodflow.test>"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let (hook, mut calls) = common::scripted_receiver(vec![common::HOLD, 200]).await;
    // The owner's webhook for `video.ready`: held the same way.
    let (webhook, mut posts) = common::scripted_receiver(vec![common::HOLD, 200]).await;
    let token = vodflow_api::auth::issue(
        &env.cfg.auth,
        "dora",
        &["videos:read".into(), "videos:write".into()],
        Duration::from_secs(3600),
        Some("dora@example.test"),
    )
    .unwrap();
    let mut first_worker = common::spawn_worker_process(
        env,
        &["--queues", "processing"],
        &env.scratch.join("processing-1"),
    );
    let transcode_only = vodflow_activities::worker::Roles {
        processing: false,
        transcode: true,
    };
    let smtp = &smtp;
    common::with_platform_roles(env, transcode_only, |base| async move {
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"url": webhook, "events": ["video.ready"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id =
            common::upload_with(&base, &token, &clip, "resend", &[("callback_url", &hook)]).await;
        let (head, _) = tokio::time::timeout(Duration::from_secs(240), calls.recv())
            .await
            .expect("the first callback")
            .unwrap();
        let key = common::header(&head, "vodflow-idempotency-key")
            .expect("an idempotency key")
            .to_owned();
        assert!(key.contains(&id), "{key}");
        common::eventually(
            "the first mail to be stored",
            Duration::from_secs(8),
            || async { (!smtp.messages().is_empty()).then_some(()) },
        )
        .await;
        let (hook_head, _) = tokio::time::timeout(Duration::from_secs(60), posts.recv())
            .await
            .expect("the first webhook delivery")
            .unwrap();
        let hook_key = common::header(&hook_head, "vodflow-idempotency-key")
            .expect("a webhook idempotency key")
            .to_owned();
        first_worker.kill().expect("kill the processing worker");
        // Sent, not recorded: the intent is open.
        for channel in ["callback", "mail"] {
            assert_eq!(
                vodflow_core::repo::notification_sends(&env.pool, &key, channel)
                    .await
                    .unwrap(),
                Some((1, false)),
                "{channel}"
            );
        }
        let _second_worker = common::spawn_worker_process(
            env,
            &["--queues", "processing"],
            &env.scratch.join("processing-2"),
        );
        let (again, _) = tokio::time::timeout(Duration::from_secs(180), calls.recv())
            .await
            .expect("the callback sent again")
            .unwrap();
        assert_eq!(
            common::header(&again, "vodflow-idempotency-key"),
            Some(key.as_str())
        );
        let mails = common::eventually("the mail sent again", Duration::from_secs(60), || async {
            let m = smtp.messages();
            (m.len() >= 2).then_some(m)
        })
        .await;
        let ids: Vec<&str> = mails
            .iter()
            .map(|m| common::header(m, "message-id").expect("a Message-ID"))
            .collect();
        assert!(ids[0] == ids[1] && ids[0].contains(&id), "{ids:?}");
        for channel in ["callback", "mail"] {
            common::eventually(
                &format!("the {channel} resend recorded"),
                Duration::from_secs(60),
                || async {
                    (vodflow_core::repo::notification_sends(&env.pool, &key, channel)
                        .await
                        .unwrap()
                        == Some((2, true)))
                    .then_some(())
                },
            )
            .await;
        }
        // The webhook's delivery, retried by the new worker, carries the same key.
        let (again, _) = tokio::time::timeout(Duration::from_secs(180), posts.recv())
            .await
            .expect("the webhook delivered again")
            .unwrap();
        assert_eq!(
            common::header(&again, "vodflow-idempotency-key"),
            Some(hook_key.as_str())
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(calls.try_recv().is_err(), "a third callback");
        assert!(posts.try_recv().is_err(), "a third webhook delivery");
        assert_eq!(smtp.messages().len(), 2, "a third mail");
    })
    .await;
    owned.cleanup().await;
}

/// The Kafka channel's crash case, with a real kill. Its send is recorded by Temporal alone (the
/// activity's completion). The processing worker publishes through a proxy that lets the
/// `video_processed` record reach the broker and holds back the broker's acknowledgement, so the
/// worker is killed after the record was stored and before the activity could complete. Its retry,
/// on a new worker, publishes the event again with the same `vodflow-event-id` header and body
/// `event_id`, so a consumer that dedupes on either sees it once: at-least-once with an idempotency
/// key, one extra copy per crash, and nothing a third time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_between_the_brokers_ack_and_temporals_record_publishes_again_with_the_same_event_id()
 {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_PROCESSED);
    // The processing workers' own broker, reached only through the proxy (it advertises the
    // proxy, so no connection goes around it).
    let port = common::free_port();
    let proxy =
        common::proxy::HoldingProxy::start_holding_produce(&format!("127.0.0.1:{port}"), &topic)
            .await;
    let through_proxy = proxy.addr.to_string();
    let _broker = common::OwnBroker::start_behind(
        env.scratch.join("broker"),
        port,
        Some(through_proxy.clone()),
    )
    .await;
    let mut side = env.cfg.clone();
    side.kafka_brokers = through_proxy.clone();
    vodflow_core::kafka::ensure_topics(&side)
        .await
        .expect("the side broker's topics");
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let token = env.token("erin", &["videos:read", "videos:write"]);
    let worker = |n: u32| {
        common::spawn_worker_process_with(
            env,
            &["--queues", "processing"],
            &env.scratch.join(format!("processing-{n}")),
            &[("VODFLOW_KAFKA_BROKERS", through_proxy.as_str())],
        )
    };
    let mut first_worker = worker(1);
    let transcode_only = vodflow_activities::worker::Roles {
        processing: false,
        transcode: true,
    };
    let (proxy, topic, through_proxy) = (&proxy, &topic, &through_proxy);
    common::with_platform_roles(env, transcode_only, |base| async move {
        let id = common::upload_with(&base, &token, &clip, "kafka-crash", &[]).await;
        let ours = |msgs: Vec<rdkafka::message::OwnedMessage>| -> Vec<_> {
            msgs.into_iter()
                .filter(|m| rdkafka::Message::key(m) == Some(id.as_bytes()))
                .collect()
        };
        common::eventually(
            "the video_processed publish to be held",
            Duration::from_secs(240),
            || async { proxy.produce_held().then_some(()) },
        )
        .await;
        let stored =
            ours(common::read_topic(through_proxy, topic, 1, Duration::from_secs(30)).await);
        assert_eq!(stored.len(), 1, "the broker stored the first publish");
        first_worker.kill().expect("kill the processing worker");
        // The kill landed between the two: the record is stored and Temporal still waits for
        // the attempt.
        let workflow = format!("video-{id}");
        let activity = vodflow_workflows::contract::activity_id::notify(
            vodflow_workflows::types::NotifyChannel::Event,
        );
        let pending = common::pending_activities(&workflow);
        assert!(
            pending.iter().any(|a| a["activityId"] == activity.as_str()),
            "{activity} still open after the kill: {pending:?}"
        );
        let _second_worker = worker(2);
        let msgs =
            ours(common::read_topic(through_proxy, topic, 2, Duration::from_secs(180)).await);
        assert_eq!(msgs.len(), 2, "published again by the retry");
        let mut header_ids = Vec::new();
        let mut body_ids = Vec::new();
        for m in &msgs {
            header_ids.push(
                common::message_header(m, "vodflow-event-id").expect("a vodflow-event-id header"),
            );
            // The body is the published type, field for field.
            let body: vodflow_core::events::VideoProcessed =
                serde_json::from_slice(rdkafka::Message::payload(m).unwrap())
                    .expect("a video_processed body");
            assert_eq!(body.video_id.to_string(), id);
            body_ids.push(body.event_id);
        }
        assert_eq!(header_ids[0], header_ids[1]);
        assert_eq!(body_ids, header_ids, "the body's event_id is the header's");
        // Status, video and run: the upload's own run is run 1.
        assert_eq!(header_ids[0], format!("video.ready:{id}:1"));
        common::eventually(
            "the run to finish once the retry is recorded",
            Duration::from_secs(60),
            || async {
                let v = common::temporal_json(&["workflow", "describe", "-w", &workflow]);
                (v["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED")
                    .then_some(())
            },
        )
        .await;
        let all = ours(common::read_topic(through_proxy, topic, 3, Duration::from_secs(5)).await);
        assert_eq!(all.len(), 2, "nothing published a third time");
    })
    .await;
    owned.cleanup().await;
}
