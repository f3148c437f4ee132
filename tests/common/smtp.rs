//! A real SMTP server for the tests: aiosmtpd (PyPI, installed by `scripts/install pytools`),
//! writing every message it accepts into a Maildir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// aiosmtpd's Maildir handler, made to wait `VODFLOW_SMTP_HOLD` seconds after storing a message
/// and before answering 250: a sender killed in that window sent a mail it never saw accepted.
const HOLDING_HANDLER: &str = r#"
import asyncio, os
from aiosmtpd.handlers import Mailbox

class HoldingMailbox(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(float(os.environ.get("VODFLOW_SMTP_HOLD", "0")))
        return answer
"#;

pub struct Smtp {
    pub port: u16,
    pub maildir: PathBuf,
    child: Child,
}

impl Smtp {
    pub async fn start(dir: &Path) -> Self {
        Self::start_holding(dir, Duration::ZERO).await
    }

    /// An SMTP server that stores each message, then waits `hold` before accepting it.
    pub async fn start_holding(dir: &Path, hold: Duration) -> Self {
        let port = super::free_port();
        let maildir = dir.join("maildir");
        std::fs::write(dir.join("vodflow_holding_smtp.py"), HOLDING_HANDLER).expect("handler");
        let python = super::cache_dir().join("venv/bin/python");
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "vodflow_holding_smtp.HoldingMailbox"])
            .arg(&maildir)
            .env("PYTHONPATH", dir)
            .env("VODFLOW_SMTP_HOLD", hold.as_secs_f64().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (scripts/install pytools installs aiosmtpd)",
                    python.display()
                )
            });
        super::eventually("aiosmtpd to listen", Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        })
        .await;
        Self {
            port,
            maildir,
            child,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message stored so far (the raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in entries.flatten() {
                    out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
