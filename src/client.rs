//! The client verbs (`list`, `show`, …; `upload` is in `tus_upload`): a thin HTTP client of the
//! API, so a terminal user goes through exactly the same checks as any other integrator.

use anyhow::{Context, bail};
use serde_json::Value;

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

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.bearer_auth(&self.token)
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
