//! vodflow-api: the HTTP face of vodflow — uploads, video status, the outbox relay that turns
//! accepted uploads into `video_uploaded` events, health, metrics and the OpenAPI document.
//!
//! It must not transcode, and must not talk to Kafka on the request path: events go through the
//! outbox so an upload never depends on the broker being up.

mod admin;
pub mod auth;
mod events;
mod health;
mod metrics_mw;
pub mod outbox;
mod play;
pub mod problem;
mod progress;
pub mod state;
pub mod store;
pub mod telemetry;
mod videos;
mod web;
mod webhooks;
mod workflow;

use poem::{EndpointExt, Route, get, handler, web::Data};
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
    workflow::WorkflowApi,
    events::EventsApi,
    admin::AdminApi,
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
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at("/metrics", get(render_metrics))
        .at("/watch/:id", get(web::watch))
        .at("/assets/*name", get(web::asset))
        .at(
            "/play/:id/*rest",
            get(play::play).head(play::play).options(play::preflight),
        )
        // The API's nest at "/" claims "/" itself: the page is served from inside it.
        .nest(
            "/",
            api.around(|ep, req| async move {
                if req.uri().path() == "/" && req.method() == poem::http::Method::GET {
                    return Ok(web::page());
                }
                ep.call(req).await.map(poem::IntoResponse::into_response)
            }),
        )
        .data(verifier)
        .data(state)
        .with(metrics_mw::RecordMetrics::new(metrics))
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
        cfg: std::sync::Arc::new(cfg),
        pool,
        s3,
        producer,
        metrics: telemetry::Metrics::new(),
        relay_wakeup: Default::default(),
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
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
    let served = poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app(state),
            shutdown,
            Some(std::time::Duration::from_secs(10)),
        )
        .await;
    let _ = stop_relay.send(());
    let _ = relay.await;
    served?;
    Ok(())
}
