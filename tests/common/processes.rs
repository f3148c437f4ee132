//! `vodflow` roles in processes of their own: what a kill test kills.

use std::path::PathBuf;
use std::time::Duration;

use super::env::{TestEnv, eventually};

/// `vodflow api` in its own process on `port`, its log in the scratch directory under `log`.
pub fn spawn_api_process(env: &TestEnv, port: u16, log: &str) -> WorkerProcess {
    let listen = format!("127.0.0.1:{port}");
    spawn_vodflow(
        env,
        &["api"],
        &[("VODFLOW_API_LISTEN", &listen)],
        &env.scratch.join(log),
    )
}

/// Waits until the api at `base` answers `/healthz`.
pub async fn wait_healthy(base: &str) {
    eventually("the api to answer", Duration::from_secs(30), || async {
        let r = reqwest::get(format!("{base}/healthz")).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `vodflow worker` in its own process (as on another machine: its own scratch directory), with
/// this test's configuration.
pub fn spawn_worker_process(
    env: &TestEnv,
    args: &[&str],
    work_dir: &std::path::Path,
) -> WorkerProcess {
    spawn_worker_process_with(env, args, work_dir, &[])
}

/// [`spawn_worker_process`] with `extra` configuration on top of the test's (another broker...).
pub fn spawn_worker_process_with(
    env: &TestEnv,
    args: &[&str],
    work_dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> WorkerProcess {
    let mut full = vec!["worker"];
    full.extend_from_slice(args);
    let work = work_dir.display().to_string();
    let mut vars = vec![("VODFLOW_WORK_DIR", work.as_str())];
    vars.extend_from_slice(extra);
    spawn_vodflow(
        env,
        &full,
        &vars,
        &PathBuf::from(format!("{}.log", work_dir.display())),
    )
}

/// A processing-queue worker in its own process: what runs a video's delete workflow for tests
/// that start only the api.
pub fn spawn_processing_worker(env: &TestEnv) -> WorkerProcess {
    spawn_worker_process(
        env,
        &["--queues", "processing"],
        &env.scratch.join("processing-worker"),
    )
}

/// `vodflow <args>` in its own process with this test's configuration plus `extra`; its log goes
/// to `log`.
pub fn spawn_vodflow(
    env: &TestEnv,
    args: &[&str],
    extra: &[(&str, &str)],
    log: &std::path::Path,
) -> WorkerProcess {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vodflow"));
    cmd.args(args);
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd
        .env("VODFLOW_LOG", "info,temporalio_sdk_core=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("process log"))
        .spawn()
        .expect("start vodflow");
    WorkerProcess(child)
}

/// A worker process that is SIGKILLed when dropped, so a failing test leaves no worker behind.
pub struct WorkerProcess(pub std::process::Child);

impl WorkerProcess {
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()?;
        self.0.wait().map(|_| ())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
