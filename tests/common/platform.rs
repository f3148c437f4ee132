//! Every role of the platform in this test's process, on the test's own slice of the stack.

use tokio::sync::oneshot;
use vodflow_core::Config;

use super::env::TestEnv;

/// The api served in-process on a free loopback port.
pub struct RunningApi {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningApi {
    pub async fn start(mut cfg: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        cfg.public_url = format!("http://{addr}");
        let state = vodflow_api::state(cfg).await.expect("api state");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            vodflow_api::serve_on(state, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("api server");
        });
        Self {
            base: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Runs the whole platform in-process (api + outbox relay, bridge, workers) around `body`, on this
/// test's own database, bucket, topics and task queues. Workers are not `Send`, so they run on
/// this task next to the body.
pub async fn with_platform<F, Fut>(env: &TestEnv, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    with_platform_roles(
        env,
        vodflow_activities::worker::Roles {
            processing: true,
            transcode: true,
        },
        body,
    )
    .await
}

pub async fn with_platform_roles<F, Fut>(
    env: &TestEnv,
    roles: vodflow_activities::worker::Roles,
    body: F,
) where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut cfg = env.cfg.clone();
    cfg.public_url = base.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    // The same composition `vodflow dev` runs.
    let platform = vodflow::platform::all_roles(cfg, listener, roles, stop.clone());
    let mut platform = std::pin::pin!(platform);
    tokio::select! {
        ended = &mut platform => panic!("the platform stopped while the test ran: {ended:?}"),
        () = body(base) => {}
    }
    stop.cancel();
    platform.await.expect("the platform");
}
