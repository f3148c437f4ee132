use anyhow::Context;
use clap::{Parser, Subcommand};
use vodflow_core::Config;

use crate::client::ApiClient;

/// vodflow: self-hostable video upload and transcoding, orchestrated by Temporal.
///
/// Every setting comes from VODFLOW_* environment variables whose defaults point at the local stack
/// (`make run` starts it); `vodflow config` lists them.
#[derive(Parser, Debug)]
#[command(name = "vodflow", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API (uploads, status, webhooks, playback at /play, the web page at /, docs at /docs, metrics) and run the outbox relay.
    Api,
    /// Run api, bridge and worker in one process: the whole platform for one machine.
    Dev {
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// Consume `video_uploaded` and start one Temporal workflow per video (idempotent), DLQ for garbage.
    Bridge,
    /// Run Temporal workers: the processing workflow and light activities, and/or the encodes.
    Worker {
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// Apply the database migrations (idempotent) and exit.
    Migrate,
    /// Print every configuration variable with its default and current value.
    Config {
        /// Print the README's Markdown table instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Print, one argument per line, the single ffmpeg process that makes a source's whole ladder
    /// and audio with the chunk encodes' exact settings: `make bench`'s "same parameters" floor.
    #[command(name = "floor-command")]
    Floor {
        /// The source file.
        input: String,
        /// Directory for the outputs.
        out_dir: std::path::PathBuf,
        /// Display width of the source.
        #[arg(long)]
        width: u32,
        /// Display height of the source.
        #[arg(long)]
        height: u32,
        /// Frame rate as N/D.
        #[arg(long, default_value = "30/1")]
        fps: String,
        /// Duration in seconds.
        #[arg(long)]
        seconds: f64,
        /// The source has audio.
        #[arg(long)]
        audio: bool,
        /// Threads per encoder (0: ffmpeg chooses).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Print, one argument per line, the ffmpeg process `create_storyboard` runs on a rendition
    /// (its init and media segments as one file): `make bench`'s storyboard cost.
    #[command(name = "storyboard-command")]
    StoryboardArgs {
        /// The rendition as one fragmented MP4.
        input: std::path::PathBuf,
        /// Directory for the sheets.
        out_dir: std::path::PathBuf,
        /// The rendition's width.
        #[arg(long)]
        width: u32,
        /// The rendition's height.
        #[arg(long)]
        height: u32,
        /// The video's duration in seconds.
        #[arg(long)]
        seconds: f64,
    },
    /// Mint bearer tokens for the local HS256 mode.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Upload a video file (resumable tus upload, streamed from disk, with a progress bar) and
    /// print its id; `--resume` continues an interrupted upload of the same file.
    Upload {
        /// The video file.
        file: std::path::PathBuf,
        /// Title shown to viewers.
        #[arg(long)]
        title: String,
        /// Optional description.
        #[arg(long)]
        description: Option<String>,
        /// Continue an interrupted upload of this same file (same path, size and modification
        /// time) from where the server has it, instead of starting over.
        #[arg(long)]
        resume: bool,
        /// Send at most this many bytes per request, for a proxy that caps request bodies. By
        /// default one request carries the rest of the file, as tus-js-client does: an
        /// interruption still resumes from the last part the server stored.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        chunk_bytes: Option<u64>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List your videos, newest first.
    List {
        /// Only videos with this status (uploaded, processing, ready, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Continue after a previous page (its next_cursor).
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show one video as JSON: status, metadata, links.
    Show {
        /// The video id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show a video's processing status; `--watch` follows it live until it is ready or failed.
    Status {
        /// The video id.
        id: String,
        /// Refresh every second until the video reaches a final state.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Replay processing of a failed or cancelled video (`--force` re-encodes a ready one), or with
    /// `--failed-since 1h` every video that failed since then (needs videos:admin).
    Reprocess {
        /// The video id (omit with --failed-since).
        #[arg(required_unless_present = "failed_since")]
        id: Option<String>,
        /// Replay every video that failed within this long, e.g. 1h, 30m, 2d.
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "id")]
        failed_since: Option<std::time::Duration>,
        /// With --failed-since: only failures whose reason contains this text.
        #[arg(long, requires = "failed_since")]
        reason_contains: Option<String>,
        /// Re-encode even if the video is ready.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Dead-lettered `video_uploaded` events.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Cancel a video's processing.
    Cancel {
        /// The video id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a video and its renditions.
    Delete {
        /// The video id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand, Debug)]
enum DlqCommand {
    /// Republish the DLQ's events that now parse to `video_uploaded` (the rest stay, reported).
    Replay,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Issue an HS256 token signed with VODFLOW_AUTH_HS256_SECRET and print it.
    Issue {
        /// Subject: the user id that will own uploaded videos.
        #[arg(long)]
        sub: String,
        /// Scopes (repeatable): videos:read, videos:write, videos:admin.
        #[arg(long = "scope", default_values_t = ["videos:read".to_string(), "videos:write".to_string()])]
        scopes: Vec<String>,
        /// Lifetime, e.g. 1h, 30m, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        /// E-mail claim (where notifications go).
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
struct WorkerArgs {
    /// Task queues to serve: `processing` (workflows + light activities), `transcode` (encodes), or both.
    #[arg(long, value_delimiter = ',', default_value = "processing,transcode")]
    queues: Vec<String>,
    /// Parallel encode activities on this worker (default: VODFLOW_MAX_CONCURRENT_TRANSCODES, 0 = cores).
    #[arg(long)]
    max_concurrent_transcodes: Option<usize>,
}

impl WorkerArgs {
    fn roles(&self) -> anyhow::Result<vodflow_activities::worker::Roles> {
        let mut roles = vodflow_activities::worker::Roles {
            processing: false,
            transcode: false,
        };
        for q in &self.queues {
            match q.as_str() {
                "processing" => roles.processing = true,
                "transcode" => roles.transcode = true,
                other => anyhow::bail!("unknown queue {other:?}: expected processing or transcode"),
            }
        }
        Ok(roles)
    }
}

/// How a client verb reaches the API.
#[derive(clap::Args, Debug)]
struct ApiArgs {
    /// API base URL.
    #[arg(long, env = "VODFLOW_API_URL", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// Bearer token (see `vodflow token issue`).
    #[arg(long, env = "VODFLOW_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::from_env().context("reading configuration")?;
    crate::logging::init(&cfg.log_format, &cfg.log_filter);
    match cli.command {
        Command::Api => {
            cfg.check_secrets(Some(&cfg.api_listen))?;
            let state = vodflow_api::state(cfg).await.context("starting the api")?;
            vodflow_core::repo::migrate(&state.pool)
                .await
                .context("migrating the database")?;
            vodflow_api::serve(state, shutdown_signal()).await?;
        }
        Command::Bridge => {
            cfg.check_secrets(None)?;
            let client = vodflow_core::temporal::connect(&cfg, "bridge")
                .await
                .context("connecting to Temporal")?;
            let registry = prometheus::Registry::new();
            tokio::spawn(serve_metrics(cfg.metrics_listen.clone(), registry.clone()));
            vodflow_bridge::run_with(&cfg, &client, &registry, shutdown_signal()).await?;
        }
        Command::Worker { worker } => {
            cfg.check_secrets(None)?;
            let roles = worker.roles()?;
            let mut cfg = cfg;
            if let Some(n) = worker.max_concurrent_transcodes {
                cfg.max_concurrent_transcodes = n.max(1);
            }
            let registry = prometheus::Registry::new();
            tokio::spawn(serve_metrics(cfg.metrics_listen.clone(), registry.clone()));
            vodflow_activities::worker::run_with(cfg, roles, &registry, shutdown_signal()).await?;
        }
        Command::Dev { worker } => {
            cfg.check_secrets(Some(&cfg.api_listen))?;
            let roles = worker.roles()?;
            let mut cfg = cfg;
            if let Some(n) = worker.max_concurrent_transcodes {
                cfg.max_concurrent_transcodes = n.max(1);
            }
            let pool = vodflow_core::repo::connect(&cfg)
                .await
                .context("connecting to Postgres")?;
            vodflow_core::repo::migrate(&pool)
                .await
                .context("migrating the database")?;
            pool.close().await;
            let listener = tokio::net::TcpListener::bind(&cfg.api_listen)
                .await
                .with_context(|| format!("listening on {}", cfg.api_listen))?;
            let stop = tokio_util::sync::CancellationToken::new();
            let signal_stop = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                signal_stop.cancel();
            });
            vodflow::platform::all_roles(cfg, listener, roles, stop).await?;
        }
        Command::Migrate => {
            let pool = vodflow_core::repo::connect(&cfg)
                .await
                .context("connecting to Postgres")?;
            vodflow_core::repo::migrate(&pool).await?;
            println!("migrations applied to {}", redact(&cfg.database_url));
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    sub,
                    scopes,
                    ttl,
                    email,
                },
        } => {
            println!(
                "{}",
                vodflow_api::auth::issue(&cfg.auth, &sub, &scopes, ttl, email.as_deref())?
            );
        }
        Command::Upload {
            file,
            title,
            description,
            resume,
            chunk_bytes,
            api,
        } => {
            let client = ApiClient::new(&api.api, api.token)?;
            let video = client
                .upload_tus(
                    &file,
                    &title,
                    description.as_deref(),
                    resume,
                    chunk_bytes.unwrap_or(u64::MAX),
                )
                .await?;
            eprintln!(
                "uploaded {} ({} bytes, {})",
                file.display(),
                video["size"],
                video["content_type"]
            );
            println!("{}", video["id"].as_str().unwrap_or_default());
        }
        Command::List {
            status,
            limit,
            cursor,
            api,
        } => {
            let page = ApiClient::new(&api.api, api.token)?
                .list(status.as_deref(), limit, cursor.as_deref())
                .await?;
            println!(
                "{:<36}  {:<10}  {:>12}  {:<25}  TITLE",
                "ID", "STATUS", "SIZE", "CREATED"
            );
            for v in page["items"].as_array().into_iter().flatten() {
                println!(
                    "{:<36}  {:<10}  {:>12}  {:<25}  {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["status"].as_str().unwrap_or_default(),
                    v["size"],
                    v["created_at"].as_str().unwrap_or_default(),
                    v["title"].as_str().unwrap_or_default()
                );
            }
            if let Some(c) = page["next_cursor"].as_str() {
                eprintln!("more: --cursor {c}");
            }
        }
        Command::Show { id, api } => {
            let v = ApiClient::new(&api.api, api.token)?.show(&id).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Command::Status { id, watch, api } => {
            let client = ApiClient::new(&api.api, api.token)?;
            loop {
                let v = client.show(&id).await?;
                print_status(&v);
                let status = v["status"].as_str().unwrap_or_default();
                if !watch || !matches!(status, "uploaded" | "processing" | "playable") {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
        Command::Reprocess {
            id: Some(id),
            force,
            api,
            ..
        } => {
            let v = ApiClient::new(&api.api, api.token)?
                .reprocess(&id, force)
                .await?;
            eprintln!("reprocessing {id}: run {} started", v["attempt"]);
        }
        Command::Reprocess {
            id: None,
            failed_since,
            reason_contains,
            api,
            ..
        } => {
            let since = chrono::Utc::now() - failed_since.unwrap_or_default();
            let r = ApiClient::new(&api.api, api.token)?
                .bulk_reprocess(since, reason_contains.as_deref())
                .await?;
            for v in r["videos"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["outcome"].as_str().unwrap_or_default()
                );
            }
            eprintln!("{} replays started", r["started"]);
        }
        Command::Dlq {
            command: DlqCommand::Replay,
        } => {
            let r = vodflow_bridge::dlq::replay(&cfg).await?;
            for (at, why) in &r.skipped {
                eprintln!("left in the DLQ {at}: {why}");
            }
            println!(
                "{} events republished to {}",
                r.republished,
                cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED)
            );
        }
        Command::Cancel { id, api } => {
            ApiClient::new(&api.api, api.token)?.cancel(&id).await?;
            eprintln!("cancellation of {id} requested");
        }
        Command::Delete { id, api } => {
            ApiClient::new(&api.api, api.token)?.delete(&id).await?;
            eprintln!("deleted {id}");
        }
        Command::Floor {
            input,
            out_dir,
            width,
            height,
            fps,
            seconds,
            audio,
            threads,
        } => {
            let (num, den) = fps
                .split_once('/')
                .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
                .filter(|&(n, d): &(u32, u32)| n > 0 && d > 0)
                .ok_or_else(|| anyhow::anyhow!("--fps must be N/D, e.g. 30/1 or 30000/1001"))?;
            let info = vodflow_core::workflow_types::SourceInfo {
                duration_ms: (seconds.max(0.0) * 1000.0).round() as u64,
                width,
                height,
                rotation: 0,
                fps_num: num,
                fps_den: den,
                video_codec: "h264".into(),
                audio_codec: audio.then(|| "aac".to_owned()),
                container: "mov".into(),
                interlaced: false,
                hdr_transfer: None,
                audio_tracks: Vec::new(),
            };
            for arg in vodflow_activities::media::encode::one_process_args(
                &info, &input, threads, &out_dir,
            ) {
                println!("{arg}");
            }
        }
        Command::StoryboardArgs {
            input,
            out_dir,
            width,
            height,
            seconds,
        } => {
            let plan = vodflow_core::storyboard::Plan::new(
                (seconds.max(0.0) * 1000.0).round() as u64,
                width,
                height,
            );
            for arg in
                vodflow_activities::media::storyboard::storyboard_args(&input, &plan, &out_dir)
            {
                println!("{arg}");
            }
        }
        Command::Config { markdown: true } => {
            println!("| variable | default | meaning |\n|---|---|---|");
            for v in vodflow_core::config::VARS {
                println!("| `{}` | `{}` | {} |", v.name, v.default, v.help);
            }
        }
        Command::Config { markdown: false } => {
            for v in vodflow_core::config::VARS {
                let secret = vodflow_core::config::SECRETS.contains(&v.name);
                let current = std::env::var(v.name).ok().map(|c| {
                    if secret && !c.is_empty() {
                        "(set, redacted)".to_owned()
                    } else {
                        c
                    }
                });
                println!(
                    "{:<36} {}\n    default: {:?}{}",
                    v.name,
                    v.help,
                    v.default,
                    current
                        .map(|c| format!("\n    current: {c:?}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so every role drains before exiting.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// One status screen: the video's state, and while processing the overall and per-activity progress.
fn print_status(v: &serde_json::Value) {
    let status = v["status"].as_str().unwrap_or_default();
    let p = &v["progress"];
    let bar = |pct: f64| {
        let filled = (pct.clamp(0.0, 100.0) / 5.0).round() as usize;
        format!(
            "[{}{}] {pct:5.1}%",
            "#".repeat(filled),
            ".".repeat(20 - filled)
        )
    };
    println!(
        "{} {status} (run {})",
        v["id"].as_str().unwrap_or_default(),
        v["attempt"]
    );
    if let Some(pct) = p["percent"].as_f64() {
        let eta = p["eta_seconds"]
            .as_f64()
            .map(|s| format!(", eta {s:.0}s"))
            .unwrap_or_default();
        println!(
            "  {} {}{eta}",
            bar(pct),
            p["step"].as_str().unwrap_or_default()
        );
        for r in p["renditions"].as_array().into_iter().flatten() {
            println!(
                "  {:<20} {} {}",
                r["name"].as_str().unwrap_or_default(),
                bar(r["percent"].as_f64().unwrap_or(0.0)),
                r["state"].as_str().unwrap_or_default()
            );
        }
        for a in p["pending"].as_array().into_iter().flatten() {
            let pct = a["heartbeat"]["percent"].as_f64().unwrap_or(0.0);
            println!(
                "  {:<20} {} attempt {}",
                a["activity_id"].as_str().unwrap_or_default(),
                bar(pct),
                a["attempt"]
            );
        }
    }
    if let Some(reason) = v["failure"]["reason"].as_str() {
        println!(
            "  failed at {}: {reason}",
            v["failure"]["step"].as_str().unwrap_or("?")
        );
    }
}

async fn serve_metrics(listen: String, registry: prometheus::Registry) {
    if let Err(e) = crate::metrics_server::serve(&listen, registry).await {
        tracing::error!(error = %e, "metrics endpoint not served");
    }
}
