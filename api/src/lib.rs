//! vodflow-api: the HTTP face of vodflow — uploads, video status, the outbox relay that turns
//! accepted uploads into `video_uploaded` events, health, metrics and the OpenAPI document.
//!
//! It must not transcode, and must not talk to Kafka on the request path: events go through the
//! outbox so an upload never depends on the broker being up.

mod admin;
pub mod auth;
mod backfill;
mod connections;
mod embed;
mod events;
mod health;
mod limits;
mod metrics_mw;
pub mod outbox;
mod owner_streams;
mod play;
pub mod problem;
mod progress;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
mod uploads;
mod videos;
mod web;
mod webhooks;
mod workflow;

use poem::{EndpointExt, Route, get, handler, head, post, web::Data};
use poem_openapi::{OpenApiService, Tags};

pub use health::check_all as readiness;
pub use state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Upload, list, inspect and delete videos.
    Videos,
    /// Liveness and readiness.
    Health,
}

/// Every API of the service; the OpenAPI document is built from exactly this list.
type Apis = (
    videos::VideosApi,
    videos::ChaptersApi,
    videos::DownloadsApi,
    videos::TextTracksApi,
    uploads::UploadsApi,
    uploads::presigned::S3MultipartApi,
    workflow::WorkflowApi,
    events::EventsApi,
    admin::AdminApi,
    backfill::BackfillApi,
    webhooks::WebhooksApi,
    health::HealthApi,
);

pub fn openapi(public_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "vodflow", env!("CARGO_PKG_VERSION"))
        .description("Upload videos, follow their processing and play them back as HLS.")
        .server(public_url)
}

/// The whole HTTP application; tests build it in-process.
pub fn app(state: AppState) -> impl poem::Endpoint {
    let api = openapi(&state.cfg.public_url);
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    let metrics = state.metrics.clone();
    let verifier = state.auth.clone();
    let max_json = state.cfg.edge.max_json_bytes;
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at("/metrics", get(render_metrics))
        .at("/watch/:id", get(web::watch))
        .at("/embed/:id", get(embed::public_embed))
        .at("/embed/:id/:sig", get(embed::signed_embed))
        .at("/oembed", get(embed::oembed_answer))
        .at("/assets/*name", get(web::asset))
        .at(
            "/play/:id/*rest",
            get(play::play).head(play::play).options(play::preflight),
        )
        // tus: outside the OpenAPI document (its own protocol, headers and statuses).
        .at(
            "/v1/uploads/tus/",
            post(uploads::tus::create).options(uploads::tus::options),
        )
        .at(
            "/v1/uploads/tus/:id",
            head(uploads::tus::head)
                .patch(uploads::tus::patch)
                .delete(uploads::tus::delete)
                .post(uploads::tus::overridden)
                .options(uploads::tus::options),
        )
        .at(
            "/v1/uploads/direct/:token",
            post(uploads::tus::create_direct).options(uploads::tus::options),
        )
        // A direct upload's URL as Uppy `@uppy/aws-s3`'s `companionEndpoint`.
        .at(
            "/v1/uploads/direct/:token/s3/multipart",
            post(uploads::presigned::direct::create).options(uploads::presigned::direct::preflight),
        )
        .at(
            "/v1/uploads/direct/:token/s3/multipart/:upload_id",
            get(uploads::presigned::direct::list)
                .delete(uploads::presigned::direct::abort)
                .options(uploads::presigned::direct::preflight),
        )
        .at(
            "/v1/uploads/direct/:token/s3/multipart/:upload_id/complete",
            post(uploads::presigned::direct::complete)
                .options(uploads::presigned::direct::preflight),
        )
        .at(
            "/v1/uploads/direct/:token/s3/multipart/:upload_id/:part",
            get(uploads::presigned::direct::sign).options(uploads::presigned::direct::preflight),
        )
        // The API's nest at "/" claims "/" itself: the page is served from inside it.
        .nest(
            "/",
            api.around(move |ep, mut req| async move {
                if req.uri().path() == "/" && req.method() == poem::http::Method::GET {
                    return Ok(web::page());
                }
                if let Err(resp) = limit_json_body(&mut req, max_json).await {
                    return Ok(resp);
                }
                ep.call(req).await.map(poem::IntoResponse::into_response)
            }),
        )
        .data(verifier)
        .data(state)
        .with(metrics_mw::RecordMetrics::new(metrics))
        // No response may be sniffed into something else (a playlist or poster served as HTML).
        .with(poem::middleware::SetHeader::new().overriding("X-Content-Type-Options", "nosniff"))
}

/// Reads every body of the OpenAPI routes up to `max_json` bytes (a caption file's form: its own
/// limit) before any extractor (the bearer check included) parses it: a larger one is 413 without
/// being held in memory. Whatever the Content-Type says: the extractors match media types
/// case-insensitively and would read a body this check let through by its spelling. The one
/// exception is the multipart upload of `POST /v1/videos`, which streams to the store under its
/// own limits.
async fn limit_json_body(req: &mut poem::Request, max_json: usize) -> Result<(), poem::Response> {
    if streams_its_body(req) {
        return Ok(());
    }
    let path = req.uri().path().to_owned();
    let (max, what) = if is_text_track_upload(req) {
        (
            TEXT_TRACK_FORM_BYTES,
            "text track forms are limited to {max} bytes (a caption file of at most 1 MiB)",
        )
    } else {
        (
            max_json,
            "JSON bodies are limited to {max} bytes (VODFLOW_MAX_JSON_BYTES)",
        )
    };
    let too_large = || {
        let err = problem::ApiError::PayloadTooLarge(what.replace("{max}", &max.to_string()));
        problem::problem_response_for(&err, &path)
    };
    if req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    let body = req.take_body().into_bytes_limit(max);
    let Ok(read) = tokio::time::timeout(JSON_BODY_TIMEOUT, body).await else {
        let err = problem::ApiError::Timeout(format!(
            "the body did not arrive within {} s",
            JSON_BODY_TIMEOUT.as_secs()
        ));
        return Err(problem::problem_response_for(&err, &path));
    };
    match read {
        Ok(bytes) => {
            req.set_body(bytes);
            Ok(())
        }
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large()),
        Err(e) => {
            let err = problem::ApiError::BadRequest(format!("cannot read the body: {e}"));
            Err(problem::problem_response_for(&err, &path))
        }
    }
}

/// Longest a request body the api holds (at most `VODFLOW_MAX_JSON_BYTES`) may take to arrive.
pub(crate) const JSON_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A caption file's form: the file's own limit and room for the other fields and the boundaries.
const TEXT_TRACK_FORM_BYTES: usize = vodflow_core::text_tracks::MAX_FILE_BYTES + 16 * 1024;

/// `POST /v1/videos/{id}/text-tracks`: a caption file, larger than a JSON body may be.
fn is_text_track_upload(req: &poem::Request) -> bool {
    req.method() == poem::http::Method::POST
        && req
            .uri()
            .path()
            .trim_end_matches('/')
            .strip_prefix("/v1/videos/")
            .and_then(|rest| rest.strip_suffix("/text-tracks"))
            .is_some_and(|id| !id.contains('/'))
}

/// `POST /v1/videos` with a multipart body: the upload, streamed under the upload limits.
fn streams_its_body(req: &poem::Request) -> bool {
    req.method() == poem::http::Method::POST
        && req.uri().path().trim_end_matches('/') == "/v1/videos"
        && req.content_type().is_some_and(|c| {
            c.trim_start()
                .get(..19)
                .is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
        })
}

#[handler]
fn render_metrics(state: Data<&AppState>) -> String {
    state.metrics.render()
}

/// Builds the shared state: Postgres pool, S3 client, Kafka producer, metrics.
pub async fn state(cfg: vodflow_core::Config) -> Result<AppState, ServeError> {
    let pool = vodflow_core::repo::connect_lazy(&cfg)?;
    let s3 = vodflow_core::storage::s3_client(&cfg.s3);
    let producer = vodflow_core::kafka::producer(&cfg)?;
    Ok(AppState {
        auth: std::sync::Arc::new(auth::Verifier::new(&cfg.auth)),
        limits: std::sync::Arc::new(limits::Limits::new(&cfg.edge)),
        upload_streams: owner_streams::OwnerStreams::new(pool.clone(), cfg.edge.uploads_per_owner),
        images: std::sync::Arc::new(play::ImageMaker::new(cfg.playback.max_concurrent_images)),
        cfg: std::sync::Arc::new(cfg),
        pool,
        s3,
        producer,
        metrics: telemetry::Metrics::new(),
        relay_wakeup: Default::default(),
        temporal_breaker: Default::default(),
        progress_answers: std::sync::Arc::new(progress::SharedAnswers::new(
            progress::PROGRESS_FRESH_FOR,
        )),
        temporal: Default::default(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Core(#[from] vodflow_core::Error),
    #[error("kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the HTTP server (and the outbox relay) on `VODFLOW_API_LISTEN` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(&state.cfg.api_listen).await?;
    serve_on(state, listener, shutdown).await
}

/// Same as [`serve`] on an already bound listener (tests bind port 0).
pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    tracing::info!(listen = %listener.local_addr()?, "api listening");
    let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(outbox::run(state.clone(), async {
        let _ = relay_stopped.await;
    }));
    let limits = server::ConnectionLimits {
        total: state.cfg.max_connections,
        per_client: state.cfg.max_connections_per_client,
        open: state.metrics.connections_open.clone(),
        refused: state.metrics.connections_refused.clone(),
    };
    let served = server::serve(listener, app(state), limits, shutdown).await;
    let _ = stop_relay.send(());
    let _ = relay.await;
    served?;
    Ok(())
}
