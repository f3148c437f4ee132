//! A real nginx (Debian's nginx-light) as the edge cache in front of the origin, configured from
//! `docs/nginx-edge-cache.conf` so the documented configuration is the tested one.

use std::path::Path;
use std::process::{Child, Command};

pub struct Edge {
    pub base: String,
    child: Child,
}

impl Edge {
    pub async fn start(dir: &Path, origin: &str) -> Self {
        let port = super::free_port();
        let cache = dir.join("edge-cache");
        std::fs::create_dir_all(&cache).expect("cache dir");
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nginx-edge-cache.conf"),
        )
        .expect("docs/nginx-edge-cache.conf");
        let mut conf = template
            .replace("@CACHE_DIR@", cache.to_str().expect("utf-8 path"))
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@ORIGIN@", origin);
        // Run as whoever runs the tests, with every file under `dir`.
        let user = if nix_uid_is_root() {
            "user root;\n"
        } else {
            ""
        };
        conf = format!(
            "{user}pid {}/nginx.pid;\nerror_log {}/error.log;\n{conf}",
            dir.display(),
            dir.display()
        )
        .replace(
            "http {",
            &format!(
                "http {{\n    access_log {}/access.log;\n    client_body_temp_path {}/body;\n    proxy_temp_path {}/proxy;",
                dir.display(),
                dir.display(),
                dir.display()
            ),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            // Its workers would otherwise hold the test harness's output pipes open.
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (scripts/install installs nginx-light)");
        let base = format!("http://127.0.0.1:{port}");
        super::eventually(
            "nginx to listen",
            std::time::Duration::from_secs(10),
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
            },
        )
        .await;
        Self { base, child }
    }
}

fn nix_uid_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for Edge {
    /// SIGTERM, not SIGKILL: the master stops its workers only when it is asked.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
