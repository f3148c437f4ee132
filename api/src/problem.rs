//! RFC 7807 problem details: the one place where every error the API can return gets its status,
//! its stable `type` URI and its human-readable text.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};

/// Base of the stable `type` URIs; the fragment names the problem.
pub const TYPE_BASE: &str = "https://vodflow.dev/problems/";

#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `https://vodflow.dev/problems/not-found`.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request, in words a person can act on.
    pub detail: String,
    /// The request path.
    #[oai(skip_serializing_if_is_none)]
    pub instance: Option<String>,
}

/// Every error a handler can produce. Variants name the client's mistake or the server's state;
/// `into_response` is the only place they become HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// The token is missing, malformed, expired or not ours (`WWW-Authenticate: Bearer error="invalid_token"`).
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but lacks this scope (`WWW-Authenticate: Bearer error="insufficient_scope"`).
    #[error("this operation needs the {0} scope")]
    MissingScope(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// The client sent nothing for too long (an idle upload body).
    #[error("{0}")]
    Timeout(String),
    /// A per-owner or per-server limit; `retry_after` seconds goes to `Retry-After`.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::MissingScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::MissingScope(_) => "insufficient-scope",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Unavailable(_) => "service-unavailable",
            Self::Timeout(_) => "request-timeout",
            Self::TooManyRequests { .. } => "too-many-requests",
            Self::Internal(_) => "internal",
        }
    }

    /// The RFC 6750 challenge that goes with a 401 or a missing scope.
    pub fn challenge(&self) -> Option<String> {
        match self {
            Self::Unauthorized(detail) => Some(format!(
                "Bearer realm=\"vodflow\", error=\"invalid_token\", error_description=\"{}\"",
                detail.replace(['"', '\\'], "'")
            )),
            Self::MissingScope(scope) => Some(format!(
                "Bearer realm=\"vodflow\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        }
    }

    pub fn problem(&self, instance: Option<String>) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("{TYPE_BASE}{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            // Internal details go to the log, not to the client.
            detail: match self {
                Self::Internal(_) => {
                    "the server failed to handle this request; it has been logged".into()
                }
                other => other.to_string(),
            },
            instance,
        }
    }
}

impl From<vodflow_core::Error> for ApiError {
    fn from(e: vodflow_core::Error) -> Self {
        match e {
            vodflow_core::Error::InvalidVideoId(_) | vodflow_core::Error::InvalidStatus(_) => {
                Self::BadRequest(e.to_string())
            }
            vodflow_core::Error::ImportsInFlight { .. } => Self::TooManyRequests {
                detail: e.to_string(),
                retry_after: 60,
            },
            // Overload or an outage, not a bug: the client should retry (tus clients do on 5xx).
            vodflow_core::Error::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => Self::Unavailable("the database is busy or unreachable; retry shortly".into()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<vodflow_core::work_dir::WorkDirFull> for ApiError {
    fn from(full: vodflow_core::work_dir::WorkDirFull) -> Self {
        tracing::warn!(%full, "refused work: the work directory is full");
        Self::Unavailable("the server has no disk room for this right now; retry later".into())
    }
}

impl From<vodflow_core::work_dir::ScratchError> for ApiError {
    fn from(e: vodflow_core::work_dir::ScratchError) -> Self {
        match e {
            vodflow_core::work_dir::ScratchError::Full(full) => full.into(),
            io => Self::Internal(io.to_string()),
        }
    }
}

/// The documented error responses of an operation (`application/problem+json`).
#[derive(ApiResponse, Debug)]
pub enum ErrorResponse {
    /// The request is malformed: a bad id, cursor, field or parameter.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or invalid bearer token.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(
        Json<Problem>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
    ),
    /// The token lacks the scope this operation needs, or the operation is not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(
        Json<Problem>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
    ),
    /// No such video visible to the caller.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The video is in a state that does not allow this operation.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The upload is larger than the configured maximum.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The upload is not a supported video container.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The request body stalled for longer than the idle timeout.
    #[oai(status = 408, content_type = "application/problem+json")]
    Timeout(Json<Problem>),
    /// A per-owner or per-server limit was reached; retry after `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// A backing service is unavailable; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

impl From<ApiError> for ErrorResponse {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(msg) = &e {
            tracing::error!(error = %msg, "internal error");
        }
        let p = Json(e.problem(None));
        let challenge = e.challenge();
        match e {
            ApiError::BadRequest(_) => Self::BadRequest(p),
            ApiError::Unauthorized(_) => Self::Unauthorized(p, challenge),
            ApiError::Forbidden(_) | ApiError::MissingScope(_) => Self::Forbidden(p, challenge),
            ApiError::NotFound(_) => Self::NotFound(p),
            ApiError::Conflict(_) => Self::Conflict(p),
            ApiError::PayloadTooLarge(_) => Self::PayloadTooLarge(p),
            ApiError::UnsupportedMediaType(_) => Self::UnsupportedMediaType(p),
            ApiError::Unavailable(_) => Self::Unavailable(p),
            ApiError::Timeout(_) => Self::Timeout(p),
            ApiError::TooManyRequests { retry_after, .. } => Self::TooManyRequests(p, retry_after),
            ApiError::Internal(_) => Self::Internal(p),
        }
    }
}

impl From<vodflow_core::Error> for ErrorResponse {
    fn from(e: vodflow_core::Error) -> Self {
        ApiError::from(e).into()
    }
}

pub type ApiResult<T> = Result<T, ErrorResponse>;

/// Renders any poem error (routing, parameter parsing, extractor failures) as problem JSON.
pub fn from_poem_error(e: poem::Error, path: &str) -> poem::Response {
    let status = e.status();
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(format!("no route for {path}")),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::BadRequest(format!("method not allowed on {path}"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(e.to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(e.to_string()),
        // Only raised before our checker ran: no usable `Authorization: Bearer` header at all.
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(
            "missing bearer token: send `Authorization: Bearer <JWT>` (`vodflow token issue` mints one locally)"
                .into(),
        ),
        StatusCode::FORBIDDEN => ApiError::Forbidden(e.to_string()),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(e.to_string()),
        s if s.is_server_error() => ApiError::Internal(e.to_string()),
        _ => ApiError::BadRequest(e.to_string()),
    };
    let mut p = err.problem(Some(path.to_owned()));
    // Keep the precise status poem chose (e.g. 405) even where the problem kind is generic.
    p.status = status.as_u16();
    let mut resp = problem_response(status, &p);
    if status == StatusCode::UNAUTHORIZED {
        // No usable Authorization header at all: RFC 6750 says to name only the realm.
        resp.headers_mut().insert(
            poem::http::header::WWW_AUTHENTICATE,
            poem::http::HeaderValue::from_static("Bearer realm=\"vodflow\""),
        );
    }
    resp
}

/// The problem response for `err` at `path`, with its `WWW-Authenticate` challenge or its
/// `Retry-After` if it has one (the raw handlers answer as the OpenAPI ones do).
pub fn problem_response_for(err: &ApiError, path: &str) -> poem::Response {
    let mut resp = problem_response(err.status(), &err.problem(Some(path.to_owned())));
    if let ApiError::TooManyRequests { retry_after, .. } = err {
        resp.headers_mut()
            .insert(poem::http::header::RETRY_AFTER, (*retry_after).into());
    }
    if let Some(value) = err
        .challenge()
        .and_then(|c| poem::http::HeaderValue::from_str(&c).ok())
    {
        resp.headers_mut()
            .insert(poem::http::header::WWW_AUTHENTICATE, value);
    }
    resp
}

pub fn problem_response(status: StatusCode, p: &Problem) -> poem::Response {
    let body = serde_json::json!({
        "type": p.kind, "title": p.title, "status": p.status, "detail": p.detail, "instance": p.instance,
    });
    poem::Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(body.to_string())
}
