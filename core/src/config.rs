//! Configuration from `VODFLOW_*` environment variables. Every default points at the local stack that
//! `scripts/stack up` starts, so `vodflow dev` runs with no configuration at all.
//!
//! Secrets have no default in the source: a published default would let anyone mint tokens and
//! forge playback URLs. For local use `scripts/stack up` generates them once per checkout into
//! `.vodflow/secrets.env` (`VODFLOW_SECRETS_FILE`), read when a secret is not in the environment;
//! [`Config::check_secrets`] refuses to serve anything but loopback with those.

use std::time::Duration;

use crate::{Error, Result};

/// One setting, declared once: its name, default and help (the README table and `vodflow config`
/// are generated from [`VARS`]) and where its parsed value goes. A new setting is one entry here
/// and its field in [`Config`].
pub struct Var {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
    /// Parses the value into its place; the error says why (the variable's name is added).
    set: fn(&mut Config, &str) -> std::result::Result<(), String>,
}

/// The variables that hold secrets: never printed, never defaulted.
pub const SECRETS: &[&str] = &[
    "VODFLOW_AUTH_HS256_SECRET",
    "VODFLOW_PLAYBACK_SIGNING_SECRET",
    "VODFLOW_WEBHOOK_SECRET",
    "VODFLOW_S3_ACCESS_KEY_ID",
    "VODFLOW_S3_SECRET_ACCESS_KEY",
];

/// Values earlier versions compiled in and published: a deployment still using one is refused.
const PUBLISHED: &[&str] = &[
    "vodflow-local-dev-secret-change-me",
    "vodflow-local-playback-secret-change-me",
    "vodflow-local-webhook-secret",
    "GK0123456789abcdef01234567",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
];

pub const VARS: &[Var] = &[
    Var {
        name: "VODFLOW_SECRETS_FILE",
        default: ".vodflow/secrets.env",
        help: "Local secrets (`NAME=value` lines) that `scripts/stack up` generates per checkout; read for secrets not set in the environment, and only ever accepted on loopback",
        set: |_, _| Ok(()),
    },
    Var {
        name: "VODFLOW_DATABASE_URL",
        default: "postgres://vodflow:vodflow@127.0.0.1:5432/vodflow",
        help: "PostgreSQL connection URL",
        set: |c, v| set(&mut c.database_url, text(v)),
    },
    Var {
        name: "VODFLOW_DATABASE_MAX_CONNECTIONS",
        default: "10",
        help: "Postgres pool size per process",
        set: |c, v| set(&mut c.database_max_connections, parsed(v)?),
    },
    Var {
        name: "VODFLOW_TEMPORAL_URL",
        default: "http://127.0.0.1:7233",
        help: "Temporal frontend (gRPC) URL",
        set: |c, v| set(&mut c.temporal_url, text(v)),
    },
    Var {
        name: "VODFLOW_TEMPORAL_NAMESPACE",
        default: "default",
        help: "Temporal namespace",
        set: |c, v| set(&mut c.temporal_namespace, text(v)),
    },
    Var {
        name: "VODFLOW_TEMPORAL_UI_URL",
        default: "http://127.0.0.1:8233",
        help: "Temporal UI base URL, for deep links",
        set: |c, v| set(&mut c.temporal_ui_url, url_base(v)),
    },
    Var {
        name: "VODFLOW_KAFKA_BROKERS",
        default: "127.0.0.1:9092",
        help: "Kafka bootstrap servers (comma separated)",
        set: |c, v| set(&mut c.kafka_brokers, text(v)),
    },
    Var {
        name: "VODFLOW_KAFKA_TOPIC_PREFIX",
        default: "",
        help: "Prefix for every topic name (isolates tests and tenants)",
        set: |c, v| set(&mut c.kafka_topic_prefix, text(v)),
    },
    Var {
        name: "VODFLOW_KAFKA_IDEMPOTENCE",
        default: "false",
        help: "Idempotent producer (a retried send is never written twice); turn on with Apache Kafka or Redpanda. The local broker (tansu 0.6) loses its storage on an idempotent producer's first send after a restart. Delivery is at-least-once with the event id as key either way",
        set: |c, v| set(&mut c.kafka_idempotence, parsed(v)?),
    },
    Var {
        name: "VODFLOW_S3_ENDPOINT",
        default: "http://127.0.0.1:3900",
        help: "S3 endpoint URL (empty = AWS default endpoint)",
        set: |c, v| set(&mut c.s3.endpoint, optional(v)),
    },
    Var {
        name: "VODFLOW_S3_REGION",
        default: "garage",
        help: "S3 region",
        set: |c, v| set(&mut c.s3.region, text(v)),
    },
    Var {
        name: "VODFLOW_S3_BUCKET",
        default: "vodflow",
        help: "Bucket for sources and renditions",
        set: |c, v| set(&mut c.s3.bucket, text(v)),
    },
    Var {
        name: "VODFLOW_S3_ACCESS_KEY_ID",
        default: "",
        help: "S3 access key id (local stack key by default)",
        set: |c, v| set(&mut c.s3.access_key_id, text(v)),
    },
    Var {
        name: "VODFLOW_S3_SECRET_ACCESS_KEY",
        default: "",
        help: "S3 secret access key",
        set: |c, v| set(&mut c.s3.secret_access_key, text(v)),
    },
    Var {
        name: "VODFLOW_S3_FORCE_PATH_STYLE",
        default: "true",
        help: "Path-style bucket addressing (needed by garage/minio)",
        set: |c, v| set(&mut c.s3.force_path_style, parsed(v)?),
    },
    Var {
        name: "VODFLOW_API_LISTEN",
        default: "127.0.0.1:8080",
        help: "Address the API listens on",
        set: |c, v| set(&mut c.api_listen, text(v)),
    },
    Var {
        name: "VODFLOW_METRICS_LISTEN",
        default: "127.0.0.1:9464",
        help: "Where `vodflow bridge` and `vodflow worker` serve /metrics and /healthz (empty: nowhere; the api serves them on VODFLOW_API_LISTEN, `vodflow dev` there too)",
        set: |c, v| set(&mut c.metrics_listen, text(v)),
    },
    Var {
        name: "VODFLOW_PUBLIC_URL",
        default: "http://127.0.0.1:8080",
        help: "Public base URL of the API (used in links)",
        set: |c, v| set(&mut c.public_url, url_base(v)),
    },
    Var {
        name: "VODFLOW_MAX_UPLOAD_BYTES",
        default: "10737418240",
        help: "Largest accepted upload, bytes (10 GiB)",
        set: |c, v| {
            c.max_upload_bytes = parsed(v)?;
            set(&mut c.media_limits.max_bytes, c.max_upload_bytes)
        },
    },
    Var {
        name: "VODFLOW_UPLOAD_PART_BYTES",
        default: "8388608",
        help: "S3 multipart part size for uploads, bytes (5 MiB..64 MiB)",
        set: |c, v| {
            let part = parsed(v)?;
            if !(5 * 1024 * 1024..=64 * 1024 * 1024).contains(&part) {
                return Err("must be between 5 MiB (S3's minimum part) and 64 MiB".into());
            }
            set(&mut c.upload_part_bytes, part)
        },
    },
    Var {
        name: "VODFLOW_UPLOAD_EXPIRY",
        default: "24h",
        help: "A resumable (tus) upload not finished within this long after its creation expires: its parts are aborted in the store and its URL answers 410",
        set: |c, v| set(&mut c.resumable.expiry, duration(v)?),
    },
    Var {
        name: "VODFLOW_DIRECT_UPLOAD_EXPIRY",
        default: "1h",
        help: "A direct upload URL (POST /v1/uploads) must be used within this long",
        set: |c, v| set(&mut c.resumable.direct_expiry, duration(v)?),
    },
    Var {
        name: "VODFLOW_UPLOAD_CORS_ORIGINS",
        default: "*",
        help: "Origins allowed to call the tus endpoints and a direct upload's presigned multipart routes from a browser (comma-separated, `*` for any; these URLs are capabilities, no cookies are involved)",
        set: |c, v| {
            let origins = v.split(',').map(str::trim);
            let origins = origins.filter(|o| !o.is_empty() && *o != "*");
            set(
                &mut c.resumable.cors_origins,
                origins.map(str::to_owned).collect(),
            )
        },
    },
    Var {
        name: "VODFLOW_UPLOAD_IDLE_TIMEOUT",
        default: "60s",
        help: "An upload body that sends nothing for this long is aborted (with its S3 multipart upload)",
        set: |c, v| set(&mut c.edge.upload_idle_timeout, duration(v)?),
    },
    Var {
        name: "VODFLOW_MAX_UPLOADS_PER_OWNER",
        default: "4",
        help: "Upload streams one owner may have in flight at once across every api replica, POST uploads and tus PATCHes together (more get 429 with Retry-After); open uploads (tus, unspent direct URLs, presigned) are a separate cap of 100 per owner",
        set: |c, v| set(&mut c.edge.uploads_per_owner, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_UPLOADS",
        default: "64",
        help: "Uploads this api replica takes in flight at once, all owners together",
        set: |c, v| set(&mut c.edge.uploads_total, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_EVENT_STREAMS_PER_OWNER",
        default: "8",
        help: "Open server-sent event streams per owner",
        set: |c, v| set(&mut c.edge.event_streams_per_owner, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_REPROCESS_PER_MINUTE",
        default: "30",
        help: "Reprocess and cancel calls per owner per minute",
        set: |c, v| set(&mut c.edge.reprocess_per_minute, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_WEBHOOKS_PER_OWNER",
        default: "20",
        help: "Webhook endpoints one owner may register",
        set: |c, v| set(&mut c.edge.webhooks_per_owner, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_JSON_BYTES",
        default: "65536",
        help: "Largest JSON request body, refused with 413 before it is parsed",
        set: |c, v| set(&mut c.edge.max_json_bytes, parsed(v)?),
    },
    Var {
        name: "VODFLOW_AUTH_HS256_SECRET",
        default: "",
        help: "Shared secret for HS256 bearer tokens (local mode)",
        set: |c, v| set(&mut c.auth.hs256_secret, text(v)),
    },
    Var {
        name: "VODFLOW_AUTH_ISSUER",
        default: "vodflow-local",
        help: "Required `iss` claim of bearer tokens",
        set: |c, v| set(&mut c.auth.issuer, text(v)),
    },
    Var {
        name: "VODFLOW_AUTH_AUDIENCE",
        default: "vodflow",
        help: "Required `aud` claim of bearer tokens",
        set: |c, v| set(&mut c.auth.audience, text(v)),
    },
    Var {
        name: "VODFLOW_AUTH_JWKS_URL",
        default: "",
        help: "OAuth2/OIDC issuer's JWKS URL (RS256/ES256/EdDSA); when set, HS256 tokens are refused",
        set: |c, v| set(&mut c.auth.jwks_url, optional(v)),
    },
    Var {
        name: "VODFLOW_AUTH_LEEWAY",
        default: "30s",
        help: "Clock skew tolerated on a token's exp and nbf",
        set: |c, v| set(&mut c.auth.leeway, duration(v)?),
    },
    Var {
        name: "VODFLOW_AUTH_JWKS_REFRESH_MIN",
        default: "30s",
        help: "Least time between JWKS refetches triggered by an unknown kid (rate limit)",
        set: |c, v| set(&mut c.auth.jwks_refresh_min, duration(v)?),
    },
    Var {
        name: "VODFLOW_AUTH_JWKS_CACHE_TTL",
        default: "10m",
        help: "How long fetched JWKS keys are trusted before the set is fetched again",
        set: |c, v| set(&mut c.auth.jwks_cache_ttl, duration(v)?),
    },
    Var {
        name: "VODFLOW_PLAYBACK_SIGNING_SECRET",
        default: "",
        help: "HMAC key of signed playback URLs (videos with visibility `signed`)",
        set: |c, v| set(&mut c.playback.signing_secret, text(v)),
    },
    Var {
        name: "VODFLOW_PLAYBACK_URL_TTL",
        default: "6h",
        help: "How long a signed playback URL stays valid",
        set: |c, v| set(&mut c.playback.url_ttl, duration(v)?),
    },
    Var {
        name: "VODFLOW_MAX_CONCURRENT_IMAGES",
        default: "2",
        help: "On-demand thumbnails and animated previews one api process makes at once (each an ffmpeg child); a request that finds none free within 2 s is answered 429 with Retry-After (cached images are served without waiting)",
        set: |c, v| {
            set(
                &mut c.playback.max_concurrent_images,
                parsed::<usize>(v)?.max(1),
            )
        },
    },
    Var {
        name: "VODFLOW_DEFAULT_DOWNLOADS",
        default: "none",
        help: "Downloads a video gets when its upload does not say (`downloads`): none, audio (audio.m4a), highest (highest.mp4) or all (every rung, highest.mp4 and audio.m4a); remuxed from the segments after the encode",
        set: |c, v| set(&mut c.playback.default_downloads, parsed(v)?),
    },
    Var {
        name: "VODFLOW_NORMALIZE_AUDIO",
        default: "false",
        help: "Whether a video whose upload does not say (`normalize_audio`) has its loudness measured and evened out with one linear gain to VODFLOW_LOUDNESS_TARGET (true peak kept under -1 dBTP)",
        set: |c, v| set(&mut c.playback.default_normalize_audio, parsed(v)?),
    },
    Var {
        name: "VODFLOW_LOUDNESS_TARGET",
        default: "-16",
        help: "Integrated loudness normalized audio is brought to, LUFS (-40 to -5; -16 is the streaming recommendation of Apple and AES TD1008)",
        set: |c, v| {
            let t: f64 = parsed(v)?;
            if !(-40.0..=-5.0).contains(&t) {
                return Err(format!("{t} LUFS is outside -40 to -5"));
            }
            set(&mut c.playback.loudness_target, t)
        },
    },
    Var {
        name: "VODFLOW_OUTBOX_POLL",
        default: "500ms",
        help: "How often the outbox relay looks for unpublished events",
        set: |c, v| set(&mut c.outbox_poll, duration(v)?),
    },
    Var {
        name: "VODFLOW_CHUNK_SECONDS",
        default: "16",
        help: "Transcode chunk length in seconds (rounded to a multiple of 4)",
        set: |c, v| {
            // Chunks hold whole 4 s segments, so segment numbering continues across chunks.
            set(&mut c.chunk_seconds, (parsed::<u32>(v)?.max(4) / 4) * 4)
        },
    },
    Var {
        name: "VODFLOW_MAX_CONCURRENT_TRANSCODES",
        default: "0",
        help: "Parallel encode activities per worker (0 = number of cores)",
        set: |c, v| set(&mut c.max_concurrent_transcodes, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_ENCODES_IN_FLIGHT",
        default: "64",
        help: "Chunk encodes one run schedules at once (a sliding window over the chunks)",
        set: |c, v| set(&mut c.max_encodes_in_flight, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_DURATION",
        default: "12h",
        help: "Longest source accepted; longer ones fail at probe, before any encode",
        set: |c, v| set(&mut c.media_limits.max_duration, duration(v)?),
    },
    Var {
        name: "VODFLOW_MAX_WIDTH",
        default: "8192",
        help: "Widest source picture accepted, in pixels",
        set: |c, v| set(&mut c.media_limits.max_width, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_HEIGHT",
        default: "8192",
        help: "Tallest source picture accepted, in pixels",
        set: |c, v| set(&mut c.media_limits.max_height, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_PIXEL_RATE",
        default: "1100000000",
        help: "Largest width x height x frame rate accepted, in pixels per second (8K at 30 fps fits)",
        set: |c, v| set(&mut c.media_limits.max_pixel_rate, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_FPS",
        default: "240",
        help: "Highest source frame rate accepted",
        set: |c, v| set(&mut c.media_limits.max_fps, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_STREAMS",
        default: "16",
        help: "Most streams (video, audio, subtitles, data) a source may have",
        set: |c, v| set(&mut c.media_limits.max_streams, parsed(v)?),
    },
    Var {
        name: "VODFLOW_FFMPEG_MAX_MEMORY",
        default: "4294967296",
        help: "Address-space limit of every ffmpeg/ffprobe child, in bytes",
        set: |c, v| set(&mut c.ffmpeg.max_memory_bytes, parsed(v)?),
    },
    Var {
        name: "VODFLOW_FFMPEG_THREADS",
        default: "0",
        help: "Threads per ffmpeg child (0 = cores / VODFLOW_MAX_CONCURRENT_TRANSCODES, at least 1; with 0, the first chunk and the last chunks of a video, which may run alone, get one per core)",
        set: |c, v| set(&mut c.ffmpeg.threads, parsed(v)?),
    },
    Var {
        name: "VODFLOW_FFMPEG_CPU_FACTOR",
        default: "40",
        help: "CPU seconds an encode may use per second of media (plus one minute), also its wall-clock watchdog",
        set: |c, v| set(&mut c.ffmpeg.cpu_factor, parsed(v)?),
    },
    Var {
        name: "VODFLOW_AUDIO_PARTS_AFTER",
        default: "10m",
        help: "Audio longer than this is encoded in parts of at most 5 minutes, as many at once as the worker has cores, joined at exact AAC frame boundaries: one encoder process is the critical path of a long source (0 = always one process)",
        set: |c, v| set(&mut c.ffmpeg.audio_parts_after, duration(v)?),
    },
    Var {
        name: "VODFLOW_RECONCILE_INTERVAL",
        default: "5m",
        help: "How often the reconciler (a Temporal Schedule) compares unsettled videos with Temporal",
        set: |c, v| set(&mut c.reconcile_interval, duration(v)?),
    },
    Var {
        name: "VODFLOW_RECONCILE_AFTER",
        default: "10m",
        help: "How long a video may stay uploaded or processing without change before the reconciler looks at it",
        set: |c, v| set(&mut c.reconcile_after, duration(v)?),
    },
    Var {
        name: "VODFLOW_ORPHAN_AFTER",
        default: "24h",
        help: "The reconciler aborts incomplete multipart uploads and removes source objects with no video row once they are this old",
        set: |c, v| set(&mut c.orphan_after, duration(v)?),
    },
    Var {
        name: "VODFLOW_OUTBOX_RETENTION",
        default: "7d",
        help: "Published outbox events are purged after this long",
        set: |c, v| set(&mut c.outbox_retention, duration(v)?),
    },
    Var {
        name: "VODFLOW_WORKER_IDENTITY",
        default: "",
        help: "Identity shown in the Temporal UI for this process (empty = role@hostname:pid)",
        set: |c, v| set(&mut c.worker_identity, optional(v)),
    },
    Var {
        name: "VODFLOW_WORK_DIR",
        default: "/tmp/vodflow-work",
        help: "Per-worker scratch directory (source cache, encoder output)",
        set: |c, v| set(&mut c.work_dir, text(v)),
    },
    Var {
        name: "VODFLOW_WORK_DIR_MAX_BYTES",
        default: "21474836480",
        help: "Budget of the worker's source cache; least recently used sources no activity reads are evicted to stay under it (0 = no limit)",
        set: |c, v| set(&mut c.work_dir_max_bytes, parsed(v)?),
    },
    Var {
        name: "VODFLOW_WORK_DIR_MIN_FREE_BYTES",
        default: "2147483648",
        help: "A transcode worker stops taking encode tasks while the work directory's file system has less free space than this, and takes them again once it has; every write into the work directory (a source download, a chunk encode, the audio and its loudness measurement, a poster, a storyboard, a download's remux, an api's thumbnail or animated preview) is refused when it would start below this, and stopped if the disk falls below it while it runs, leaving nothing behind: an activity's attempt fails and is retried, an image request is a 503 (0 = never stop)",
        set: |c, v| set(&mut c.work_dir_min_free_bytes, parsed(v)?),
    },
    Var {
        name: "VODFLOW_ACTIVITY_MAX_ATTEMPTS",
        default: "10",
        help: "Retry limit for retryable activity failures (backoff 1 s doubling to 30 s: ten attempts ride out about two and a half minutes of a store or database restart)",
        set: |c, v| set(&mut c.activity_max_attempts, parsed(v)?),
    },
    Var {
        name: "VODFLOW_TASK_QUEUE_PREFIX",
        default: "",
        help: "Prefix for Temporal task queue names (isolates deployments and tests)",
        set: |c, v| set(&mut c.task_queue_prefix, text(v)),
    },
    Var {
        name: "VODFLOW_WEBHOOK_SECRET",
        default: "",
        help: "HMAC-SHA256 key of callbacks for videos uploaded before per-video callback secrets (header Vodflow-Signature: t=..,v1=..)",
        set: |c, v| set(&mut c.webhook_secret, text(v)),
    },
    Var {
        name: "VODFLOW_IMPORT_ALLOW_PRIVATE",
        default: "false",
        help: "Let POST /v1/videos with source_url fetch from private, loopback and link-local addresses (local testing only: it opens the worker to SSRF)",
        set: |c, v| set(&mut c.import_allow_private, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_CONNECTIONS",
        default: "8192",
        help: "HTTP connections the api keeps open at once; past it, new ones wait in the listen backlog until one closes",
        set: |c, v| set(&mut c.max_connections, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_CONNECTIONS_PER_CLIENT",
        default: "256",
        help: "HTTP connections one client address (an IPv6 client by its /64) may have open at once; more are closed at once (0 = no cap: behind a proxy that is every client's address)",
        set: |c, v| set(&mut c.max_connections_per_client, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_CONCURRENT_IMPORTS",
        default: "4",
        help: "Imports (POST /v1/videos with source_url) one processing worker runs at once, on their own task queue (video-import), so slow sources never hold the slots of probes, notifications and deletes",
        set: |c, v| set(&mut c.imports.max_concurrent, parsed(v)?),
    },
    Var {
        name: "VODFLOW_MAX_IMPORTS_PER_OWNER",
        default: "3",
        help: "Imports one owner may have in flight (created and not yet fetched); more are refused with 429, and so is a reprocess of a failed import that would go past it",
        set: |c, v| set(&mut c.imports.per_owner, parsed(v)?),
    },
    Var {
        name: "VODFLOW_IMPORT_DEADLINE",
        default: "2h",
        help: "Total time an import may take, every attempt included; then the video fails at import_source",
        set: |c, v| set(&mut c.imports.deadline, duration(v)?),
    },
    Var {
        name: "VODFLOW_IMPORT_MIN_BYTES_PER_SEC",
        default: "65536",
        help: "Slowest source an import accepts: an attempt fails when fewer bytes than this rate arrive within one VODFLOW_IMPORT_STALL_WINDOW (0 = no minimum beyond the window)",
        set: |c, v| set(&mut c.imports.min_bytes_per_sec, parsed(v)?),
    },
    Var {
        name: "VODFLOW_IMPORT_STALL_WINDOW",
        default: "60s",
        help: "Window over which an import's throughput is measured; a source that sends nothing for this long is a dropped connection (resumed with a Range request when it can be)",
        set: |c, v| set(&mut c.imports.stall_window, duration(v)?),
    },
    Var {
        name: "VODFLOW_WEBHOOK_ALLOW_PRIVATE",
        default: "false",
        help: "Allow webhook and callback URLs that resolve to loopback, private or link-local addresses",
        set: |c, v| set(&mut c.webhooks.allow_private, parsed(v)?),
    },
    Var {
        name: "VODFLOW_WEBHOOK_RETRY_INITIAL",
        default: "30s",
        help: "First retry delay of a failed webhook delivery (doubles each time, at most 1h apart)",
        set: |c, v| set(&mut c.webhooks.retry_initial, duration(v)?),
    },
    Var {
        name: "VODFLOW_WEBHOOK_RETRY_WINDOW",
        default: "24h",
        help: "How long a webhook delivery keeps being retried before it is marked failed",
        set: |c, v| set(&mut c.webhooks.retry_window, duration(v)?),
    },
    Var {
        name: "VODFLOW_SMTP_URL",
        default: "",
        help: "SMTP server for ready/failed mails, e.g. smtps://user:pass@mail.example:465 or smtp://127.0.0.1:2525 (empty = no mail)",
        set: |c, v| set(&mut c.smtp_url, optional(v)),
    },
    Var {
        name: "VODFLOW_MAIL_FROM",
        default: "vodflow <noreply@vodflow.localhost>",
        help: "Sender of notification mails",
        set: |c, v| set(&mut c.mail_from, text(v)),
    },
    Var {
        name: "VODFLOW_HEARTBEAT_TIMEOUT",
        default: "60s",
        help: "Heartbeat timeout of long activities: how soon a dead worker's encode is retried elsewhere",
        set: |c, v| set(&mut c.heartbeat_timeout, duration(v)?),
    },
    Var {
        name: "VODFLOW_CLOUDFRONT_DISTRIBUTION_ID",
        default: "",
        help: "CloudFront distribution to invalidate (empty = skip)",
        set: |c, v| set(&mut c.cloudfront_distribution_id, optional(v)),
    },
    Var {
        name: "VODFLOW_CLOUDFRONT_DOMAIN",
        default: "",
        help: "CloudFront domain in front of /play (e.g. d111111abcdef8.cloudfront.net): playback URLs use it",
        set: |c, v| {
            let origin = optional(v).map(|d| format!("https://{}", d.trim_end_matches('/')));
            set(&mut c.cloudfront_origin, origin)
        },
    },
    Var {
        name: "VODFLOW_CLOUDFRONT_ENDPOINT",
        default: "",
        help: "CloudFront API endpoint override (tests point it at a local listener)",
        set: |c, v| set(&mut c.cloudfront_endpoint, optional(v)),
    },
    Var {
        name: "VODFLOW_LOG_FORMAT",
        default: "text",
        help: "Log format: text or json",
        set: |c, v| match v {
            "text" | "json" => set(&mut c.log_format, text(v)),
            _ => Err("expected text or json".into()),
        },
    },
    Var {
        name: "VODFLOW_LOG",
        default: "info",
        help: "Log filter (tracing EnvFilter syntax)",
        set: |c, v| set(&mut c.log_filter, text(v)),
    },
];

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub database_url: String,
    pub database_max_connections: u32,
    pub temporal_url: String,
    pub temporal_namespace: String,
    pub temporal_ui_url: String,
    pub kafka_brokers: String,
    pub kafka_topic_prefix: String,
    /// `enable.idempotence` for the producer.
    pub kafka_idempotence: bool,
    pub task_queue_prefix: String,
    pub s3: S3Config,
    pub api_listen: String,
    pub public_url: String,
    pub max_upload_bytes: u64,
    pub upload_part_bytes: usize,
    pub resumable: ResumableUploads,
    pub edge: EdgeLimits,
    pub auth: AuthConfig,
    pub playback: PlaybackConfig,
    pub outbox_poll: Duration,
    pub chunk_seconds: u32,
    pub max_concurrent_transcodes: usize,
    pub max_encodes_in_flight: u32,
    pub media_limits: MediaLimits,
    pub ffmpeg: FfmpegLimits,
    pub work_dir: String,
    pub work_dir_max_bytes: u64,
    pub work_dir_min_free_bytes: u64,
    pub import_allow_private: bool,
    pub imports: ImportLimits,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub metrics_listen: String,
    pub activity_max_attempts: i32,
    pub heartbeat_timeout: Duration,
    pub webhook_secret: String,
    pub webhooks: WebhookConfig,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub cloudfront_distribution_id: Option<String>,
    pub cloudfront_endpoint: Option<String>,
    /// Set: playback URLs point at `https://{domain}/play/...` (the CDN pulls from this origin).
    pub cloudfront_origin: Option<String>,
    pub log_format: String,
    pub log_filter: String,
    pub worker_identity: Option<String>,
    pub reconcile_interval: Duration,
    pub reconcile_after: Duration,
    pub orphan_after: Duration,
    pub outbox_retention: Duration,
    /// Secrets taken from the local secrets file rather than the environment.
    pub local_secrets: Vec<&'static str>,
}

#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub force_path_style: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub hs256_secret: String,
    pub issuer: String,
    pub audience: String,
    /// Set: tokens are verified against this issuer's keys; unset: HS256 with `hs256_secret`.
    pub jwks_url: Option<String>,
    pub leeway: Duration,
    pub jwks_refresh_min: Duration,
    pub jwks_cache_ttl: Duration,
}

/// What one owner's imports may take of the shared workers: imports run on their own slots, each
/// within a total deadline and above a minimum throughput, and an owner has only so many at once.
#[derive(Debug, Clone, Default)]
pub struct ImportLimits {
    /// Import activities one worker runs at once (the `video-import` queue's slots).
    pub max_concurrent: usize,
    /// Imports one owner may have in flight.
    pub per_owner: i64,
    /// Every attempt of one import together.
    pub deadline: Duration,
    /// Bytes per second a source must reach over each [`Self::stall_window`].
    pub min_bytes_per_sec: u64,
    pub stall_window: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    pub allow_private: bool,
    pub retry_initial: Duration,
    pub retry_window: Duration,
}

/// Resumable (tus) and direct uploads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResumableUploads {
    pub expiry: Duration,
    pub direct_expiry: Duration,
    /// Empty: any origin.
    pub cors_origins: Vec<String>,
}

/// What one client may hold or do at the api, so one owner cannot take it from the others.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeLimits {
    pub upload_idle_timeout: Duration,
    pub uploads_per_owner: usize,
    pub uploads_total: usize,
    pub event_streams_per_owner: usize,
    pub reprocess_per_minute: usize,
    pub webhooks_per_owner: i64,
    pub max_json_bytes: usize,
}

/// What a source may be: checked at probe, before any chunk is planned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaLimits {
    pub max_duration: Duration,
    pub max_width: u32,
    pub max_height: u32,
    pub max_pixel_rate: u64,
    pub max_fps: f64,
    pub max_streams: usize,
    pub max_bytes: u64,
}

/// How every ffmpeg/ffprobe child is contained.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FfmpegLimits {
    pub max_memory_bytes: u64,
    pub threads: usize,
    /// Threads of an encode at either end of a video's timeline, when other slots of the worker
    /// may have nothing to do: the cores when `threads` is automatic, else `threads`.
    pub wide_threads: usize,
    /// CPU seconds per second of media an encode may use (one minute is added).
    pub cpu_factor: u64,
    /// Audio longer than this is encoded in parallel parts; zero: never.
    pub audio_parts_after: Duration,
}

impl FfmpegLimits {
    /// The CPU-time limit (and wall-clock watchdog) for work on `media_seconds` of media.
    pub fn cpu_seconds(&self, media_seconds: f64) -> u64 {
        60 + (media_seconds.max(0.0) * self.cpu_factor as f64).ceil() as u64
    }
}

#[derive(Debug, Clone, Default)]
pub struct PlaybackConfig {
    pub signing_secret: String,
    pub url_ttl: Duration,
    pub max_concurrent_images: usize,
    /// What a video whose upload did not choose gets (`VODFLOW_DEFAULT_DOWNLOADS`).
    pub default_downloads: crate::downloads::Choice,
    /// Whether a video whose upload did not say is normalized (`VODFLOW_NORMALIZE_AUDIO`).
    pub default_normalize_audio: bool,
    /// `VODFLOW_LOUDNESS_TARGET`, LUFS.
    pub loudness_target: f64,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every variable through `lookup`, so tests can configure without touching the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let secrets_file =
            lookup("VODFLOW_SECRETS_FILE").unwrap_or_else(|| ".vodflow/secrets.env".to_owned());
        let local = read_secrets_file(&secrets_file);
        let mut config = Self::default();
        for var in VARS {
            let secret = SECRETS.contains(&var.name);
            // An empty secret in the environment is no secret: the local file's, if any, applies.
            let from_env = lookup(var.name).filter(|v| !(secret && v.is_empty()));
            let from_file = || {
                let found = local.iter().find(|(k, _)| k == var.name);
                secret.then_some(found).flatten().map(|(_, v)| v.clone())
            };
            if secret && from_env.is_none() && from_file().is_some() {
                config.local_secrets.push(var.name);
            }
            let value = from_env
                .or_else(from_file)
                .unwrap_or_else(|| var.default.to_owned());
            (var.set)(&mut config, &value).map_err(|reason| Error::Config {
                name: var.name,
                reason,
            })?;
        }
        config.resolve_automatic();
        Ok(config)
    }

    /// The settings whose `0` means "as many as this machine has cores".
    fn resolve_automatic(&mut self) {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        if self.max_concurrent_transcodes == 0 {
            self.max_concurrent_transcodes = cores;
        }
        if self.ffmpeg.threads == 0 {
            self.ffmpeg.threads = (cores / self.max_concurrent_transcodes).max(1);
            self.ffmpeg.wide_threads = cores;
        } else {
            self.ffmpeg.wide_threads = self.ffmpeg.threads;
        }
    }

    /// Refuses to run with a missing secret, with one that earlier versions published, or (when
    /// `listen` is not a loopback address) with the checkout's generated local secrets. `listen` is
    /// `None` for roles that serve nothing (worker, bridge).
    pub fn check_secrets(&self, listen: Option<&str>) -> Result<()> {
        let values = [
            ("VODFLOW_AUTH_HS256_SECRET", &self.auth.hs256_secret),
            (
                "VODFLOW_PLAYBACK_SIGNING_SECRET",
                &self.playback.signing_secret,
            ),
            ("VODFLOW_WEBHOOK_SECRET", &self.webhook_secret),
            ("VODFLOW_S3_ACCESS_KEY_ID", &self.s3.access_key_id),
            ("VODFLOW_S3_SECRET_ACCESS_KEY", &self.s3.secret_access_key),
        ];
        let missing: Vec<&str> = values
            .iter()
            .filter(|(_, v)| v.trim().is_empty())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Config {
                name: "secrets",
                reason: format!(
                    "{} not set: set them in the environment, or run `scripts/stack up` to generate local ones into .vodflow/secrets.env",
                    missing.join(", ")
                ),
            });
        }
        let published: Vec<&str> = values
            .iter()
            .filter(|(_, v)| PUBLISHED.contains(&v.as_str()))
            .map(|(n, _)| *n)
            .collect();
        if !published.is_empty() {
            return Err(Error::Config {
                name: "secrets",
                reason: format!(
                    "{} still hold values published with earlier versions of vodflow: anyone could use them; set new random ones",
                    published.join(", ")
                ),
            });
        }
        if let Some(listen) = listen
            && !is_loopback(listen)
            && !self.local_secrets.is_empty()
        {
            return Err(Error::Config {
                name: "VODFLOW_API_LISTEN",
                reason: format!(
                    "{listen} is not a loopback address, but {} come from the checkout's local secrets file; set them in the environment before serving other machines",
                    self.local_secrets.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Where players fetch playback from: the CloudFront domain in front of `/play` when one is
    /// configured, else this API's own `/play` origin.
    pub fn playback_origin(&self) -> &str {
        self.cloudfront_origin
            .as_deref()
            .unwrap_or(&self.public_url)
    }

    pub fn task_queue(&self, base: &str) -> String {
        format!("{}{}", self.task_queue_prefix, base)
    }

    pub fn topic(&self, base: &str) -> String {
        format!("{}{}", self.kafka_topic_prefix, base)
    }
}

fn set<T>(field: &mut T, value: T) -> std::result::Result<(), String> {
    *field = value;
    Ok(())
}

fn text(value: &str) -> String {
    value.to_owned()
}

/// Unset when empty or blank.
fn optional(value: &str) -> Option<String> {
    Some(value.to_owned()).filter(|s| !s.trim().is_empty())
}

/// A base URL without its trailing slash, so paths can be appended.
fn url_base(value: &str) -> String {
    value.trim_end_matches('/').to_owned()
}

fn parsed<T: std::str::FromStr>(value: &str) -> std::result::Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| format!("{value:?}: {e}"))
}

fn duration(value: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(value.trim()).map_err(|e| format!("{value:?}: {e}"))
}

/// `NAME=value` lines (blank lines and `#` comments ignored); an unreadable file is no secrets.
fn read_secrets_file(path: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Whether a listen address (`host:port`) accepts only this machine's connections.
pub fn is_loopback(listen: &str) -> bool {
    let host = listen
        .rsplit_once(':')
        .map_or(listen, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_local_stack() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.s3.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(c.max_upload_bytes, 10 * 1024 * 1024 * 1024);
        assert_eq!(c.chunk_seconds, 16);
        assert!(c.cloudfront_distribution_id.is_none());
        assert_eq!(c.playback_origin(), "http://127.0.0.1:8080");
        let cdn = Config::from_lookup(|n| {
            (n == "VODFLOW_CLOUDFRONT_DOMAIN").then(|| "d1.cloudfront.net".into())
        })
        .unwrap();
        assert_eq!(cdn.playback_origin(), "https://d1.cloudfront.net");
    }

    fn with(vars: &'static [(&'static str, &'static str)]) -> Config {
        Config::from_lookup(|n| {
            if n == "VODFLOW_SECRETS_FILE" {
                return Some("/nonexistent/secrets.env".into());
            }
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    const SET: &[(&str, &str)] = &[
        ("VODFLOW_AUTH_HS256_SECRET", "a1"),
        ("VODFLOW_PLAYBACK_SIGNING_SECRET", "b2"),
        ("VODFLOW_WEBHOOK_SECRET", "c3"),
        ("VODFLOW_S3_ACCESS_KEY_ID", "GKd4"),
        ("VODFLOW_S3_SECRET_ACCESS_KEY", "e5"),
    ];

    #[test]
    fn no_secret_has_a_usable_default() {
        let err = with(&[]).check_secrets(None).unwrap_err().to_string();
        for name in SECRETS {
            assert!(err.contains(name), "{err}");
        }
        assert!(with(SET).check_secrets(Some("0.0.0.0:8080")).is_ok());
        let published = with(&[
            (
                "VODFLOW_AUTH_HS256_SECRET",
                "vodflow-local-dev-secret-change-me",
            ),
            ("VODFLOW_PLAYBACK_SIGNING_SECRET", "b2"),
            ("VODFLOW_WEBHOOK_SECRET", "c3"),
            ("VODFLOW_S3_ACCESS_KEY_ID", "GKd4"),
            ("VODFLOW_S3_SECRET_ACCESS_KEY", "e5"),
        ]);
        let err = published.check_secrets(Some("127.0.0.1:8080")).unwrap_err();
        assert!(
            err.to_string().contains("VODFLOW_AUTH_HS256_SECRET"),
            "{err}"
        );
    }

    #[test]
    fn local_secrets_serve_only_loopback() {
        let dir = std::env::temp_dir().join(format!("vodflow-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secrets.env");
        let text: String = SET.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&file, text).unwrap();
        let path = file.display().to_string();
        let c =
            Config::from_lookup(|n| (n == "VODFLOW_SECRETS_FILE").then(|| path.clone())).unwrap();
        assert_eq!(c.auth.hs256_secret, "a1");
        assert!(c.check_secrets(Some("127.0.0.1:8080")).is_ok());
        assert!(c.check_secrets(Some("[::1]:8080")).is_ok());
        let err = c
            .check_secrets(Some("0.0.0.0:8080"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("VODFLOW_AUTH_HS256_SECRET") && err.contains("0.0.0.0"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn chunk_length_is_whole_segments() {
        let c =
            Config::from_lookup(|n| (n == "VODFLOW_CHUNK_SECONDS").then(|| "10".into())).unwrap();
        assert_eq!(c.chunk_seconds, 8);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Config::from_lookup(|n| (n == "VODFLOW_MAX_UPLOAD_BYTES").then(|| "lots".into()))
            .unwrap_err();
        assert!(
            err.to_string().contains("VODFLOW_MAX_UPLOAD_BYTES"),
            "{err}"
        );
    }
}
