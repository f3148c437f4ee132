//! Runs one of `tests/browser/*.cjs` (playwright-core driving Debian's headless Chromium) and
//! returns the JSON result it prints last; a failed run fails the test with its output.

use std::path::PathBuf;
use std::time::Duration;

pub async fn run_script(name: &str, env: &[(&str, String)], within: Duration) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(name);
    let playwright = super::cache_dir().join("node/node_modules/playwright-core");
    assert!(
        playwright.exists(),
        "{} missing: run scripts/install node",
        playwright.display()
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(&script)
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", "/usr/bin/chromium");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(within, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{name} finished within {within:?}"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser run {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("result");
    assert_eq!(result["ok"], true, "{result}");
    result
}
