//! Counts every request by route and status. The route label is the OpenAPI operation id (bounded
//! cardinality); requests outside the OpenAPI service are labelled by a fixed path or `other`.
//! It also renders errors that escaped every handler as problem JSON.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::telemetry::Metrics;

pub(crate) struct RecordMetrics {
    metrics: Metrics,
}

impl RecordMetrics {
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<E: Endpoint> Middleware<E> for RecordMetrics {
    type Output = RecordMetricsEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RecordMetricsEndpoint {
            inner: ep,
            metrics: self.metrics.clone(),
        }
    }
}

pub(crate) struct RecordMetricsEndpoint<E> {
    inner: E,
    metrics: Metrics,
}

const FIXED_ROUTES: &[&str] = &[
    "/metrics",
    "/openapi.json",
    "/docs",
    "/play",
    "/embed",
    "/oembed",
    "/watch",
];

/// The method as a label from a fixed set: HTTP lets a client send any token as a method, and
/// each distinct label would be a series kept for the life of the process.
fn method_label(m: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl<E: Endpoint> Endpoint for RecordMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = method_label(req.method());
        let path = req.uri().path().to_owned();
        let started = Instant::now();
        let (resp, op) = match self.inner.call(req).await {
            Ok(r) => {
                let r = r.into_response();
                let op = r.data::<poem_openapi::OperationId>().map(|o| o.0);
                (r, op)
            }
            // Errors raised before a handler ran (unknown route, unparsable parameter, bad
            // multipart) become problem JSON here, so every error body has the same shape.
            Err(e) => {
                let op = e.data::<poem_openapi::OperationId>().map(|o| o.0);
                // A handler's own typed error response already is problem JSON.
                let resp = if e.is_from_response() {
                    e.into_response()
                } else {
                    crate::problem::from_poem_error(e, &path)
                };
                (resp, op)
            }
        };
        let route = match op {
            Some(op) => op.to_owned(),
            None => FIXED_ROUTES
                .iter()
                .find(|r| path == **r || path.starts_with(&format!("{r}/")))
                .map_or_else(|| "other".to_owned(), |r| (*r).to_owned()),
        };
        self.metrics
            .http_requests
            .with_label_values(&[method, &route, resp.status().as_str()])
            .inc();
        self.metrics
            .http_duration
            .with_label_values(&[method, &route])
            .observe(started.elapsed().as_secs_f64());
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_method_token_becomes_one_of_a_few_labels() {
        let odd = poem::http::Method::from_bytes(b"XYZZY-A-VERY-LONG-METHOD-TOKEN").unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&poem::http::Method::PATCH), "PATCH");
        assert_eq!(method_label(&poem::http::Method::CONNECT), "other");
    }
}
