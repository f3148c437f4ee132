//! The client verbs (`upload`, `list`, `show`): a thin HTTP client of the API, so a terminal user
//! goes through exactly the same checks as any other integrator.

use std::path::Path;

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio_util::io::ReaderStream;

pub(crate) struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    pub(crate) fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let token = token.filter(|t| !t.is_empty()).context(
            "no bearer token: pass --token or set VODFLOW_TOKEN (for the local stack: `vodflow token issue --sub you`)",
        )?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::new(),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the API at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(text);
            bail!("{status}: {detail}");
        }
        if text.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_str(&text).context("the API answered something that is not JSON")
        }
    }

    /// Streams the file (never loaded whole) with a progress bar; returns the created video.
    pub(crate) async fn upload(
        &self,
        file: &Path,
        title: &str,
        description: Option<&str>,
    ) -> anyhow::Result<Value> {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot open {}", file.display()))?;
        let len = f.metadata().await?.len();
        let bar = ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let progress = bar.clone();
        let stream = ReaderStream::with_capacity(f, 256 * 1024).inspect(move |chunk| {
            if let Ok(c) = chunk {
                progress.inc(c.len() as u64);
            }
        });
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("video")
            .to_owned();
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                .file_name(name);
        let mut form = reqwest::multipart::Form::new().text("title", title.to_owned());
        if let Some(d) = description {
            form = form.text("description", d.to_owned());
        }
        let form = form.part("file", part);
        let result = self
            .send(
                self.http
                    .post(format!("{}/v1/videos", self.base))
                    .multipart(form),
            )
            .await;
        bar.finish_and_clear();
        result
    }

    pub(crate) async fn list(
        &self,
        status: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(s) = status {
            q.push(("status", s.to_owned()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        self.send(self.http.get(format!("{}/v1/videos", self.base)).query(&q))
            .await
    }

    pub(crate) async fn show(&self, id: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}/v1/videos/{id}", self.base)))
            .await
    }

    pub(crate) async fn delete(&self, id: &str) -> anyhow::Result<()> {
        self.send(self.http.delete(format!("{}/v1/videos/{id}", self.base)))
            .await
            .map(|_| ())
    }

    pub(crate) async fn reprocess(&self, id: &str, force: bool) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}/v1/videos/{id}/reprocess", self.base))
                .query(&[("force", force)]),
        )
        .await
    }

    pub(crate) async fn cancel(&self, id: &str) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}/v1/videos/{id}/cancel", self.base)),
        )
        .await
    }

    pub(crate) async fn bulk_reprocess(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        reason: Option<&str>,
    ) -> anyhow::Result<Value> {
        let body =
            serde_json::json!({ "status": "failed", "since": since, "reason_contains": reason });
        self.send(
            self.http
                .post(format!("{}/v1/admin/reprocess", self.base))
                .json(&body),
        )
        .await
    }
}
