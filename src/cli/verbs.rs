//! What an integrator does from a terminal: tokens, uploads, listing, status, replays, cancel and
//! delete through the api, and the DLQ's replay.

use clap::Subcommand;
use vodflow_core::Config;

use crate::client::ApiClient;

#[derive(Subcommand, Debug)]
pub(super) enum Verb {
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
pub(super) enum DlqCommand {
    /// Republish the DLQ's events that now parse to `video_uploaded` (the rest stay, reported).
    Replay,
}

#[derive(Subcommand, Debug)]
pub(super) enum TokenCommand {
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
pub(super) struct ApiArgs {
    /// API base URL.
    #[arg(long, env = "VODFLOW_API_URL", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// Bearer token (see `vodflow token issue`).
    #[arg(long, env = "VODFLOW_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub(super) async fn run(verb: Verb, cfg: &Config) -> anyhow::Result<()> {
    match verb {
        Verb::Token {
            command:
                TokenCommand::Issue {
                    sub,
                    scopes,
                    ttl,
                    email,
                },
        } => {
            out!(
                "{}",
                vodflow_api::auth::issue(&cfg.auth, &sub, &scopes, ttl, email.as_deref())?
            );
        }
        Verb::Upload {
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
            out!("{}", video["id"].as_str().unwrap_or_default());
        }
        Verb::List {
            status,
            limit,
            cursor,
            api,
        } => {
            let page = ApiClient::new(&api.api, api.token)?
                .list(status.as_deref(), limit, cursor.as_deref())
                .await?;
            out!(
                "{:<36}  {:<10}  {:>12}  {:<25}  TITLE",
                "ID",
                "STATUS",
                "SIZE",
                "CREATED"
            );
            for v in page["items"].as_array().into_iter().flatten() {
                out!(
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
        Verb::Show { id, api } => {
            let v = ApiClient::new(&api.api, api.token)?.show(&id).await?;
            out!("{}", serde_json::to_string_pretty(&v)?);
        }
        Verb::Status { id, watch, api } => {
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
        Verb::Reprocess {
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
        Verb::Reprocess {
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
                out!(
                    "{}  {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["outcome"].as_str().unwrap_or_default()
                );
            }
            eprintln!("{} replays started", r["started"]);
        }
        Verb::Dlq {
            command: DlqCommand::Replay,
        } => {
            let r = vodflow_bridge::dlq::replay(cfg).await?;
            for (at, why) in &r.skipped {
                eprintln!("left in the DLQ {at}: {why}");
            }
            out!(
                "{} events republished to {}",
                r.republished,
                cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED)
            );
        }
        Verb::Cancel { id, api } => {
            ApiClient::new(&api.api, api.token)?.cancel(&id).await?;
            eprintln!("cancellation of {id} requested");
        }
        Verb::Delete { id, api } => {
            ApiClient::new(&api.api, api.token)?.delete(&id).await?;
            eprintln!("deleted {id}");
        }
    }
    Ok(())
}

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
    out!(
        "{} {status} (run {})",
        v["id"].as_str().unwrap_or_default(),
        v["attempt"]
    );
    if let Some(pct) = p["percent"].as_f64() {
        let eta = p["eta_seconds"]
            .as_f64()
            .map(|s| format!(", eta {s:.0}s"))
            .unwrap_or_default();
        out!(
            "  {} {}{eta}",
            bar(pct),
            p["step"].as_str().unwrap_or_default()
        );
        for r in p["renditions"].as_array().into_iter().flatten() {
            out!(
                "  {:<20} {} {}",
                r["name"].as_str().unwrap_or_default(),
                bar(r["percent"].as_f64().unwrap_or(0.0)),
                r["state"].as_str().unwrap_or_default()
            );
        }
        for a in p["pending"].as_array().into_iter().flatten() {
            let pct = a["heartbeat"]["percent"].as_f64().unwrap_or(0.0);
            out!(
                "  {:<20} {} attempt {}",
                a["activity_id"].as_str().unwrap_or_default(),
                bar(pct),
                a["attempt"]
            );
        }
    }
    if let Some(reason) = v["failure"]["reason"].as_str() {
        out!(
            "  failed at {}: {reason}",
            v["failure"]["step"].as_str().unwrap_or("?")
        );
    }
}
