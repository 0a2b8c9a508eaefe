//! Every failure of a route as one JSON shape,
//! `{ "error": { "code", "message", "details" } }`, with its status — and
//! the extractors that make axum's own rejections (bad JSON, bad path, body
//! too large) take that shape too, so no request gets a plain-text error.

use axum::body::Bytes;
use axum::extract::path::ErrorKind as PathErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::Error;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable machine `code`, a human `message`, and
/// structured `details`: where a field of the request is at fault (a body
/// field, a query or path parameter), `details.field` names it
/// (`timeout`, `params.files[2].name`, `page`, `queue`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: `not_found`, `invalid_transition`, `invalid_params`, …
    pub code: String,
    pub message: String,
    /// Structured context; `{}` when there is none.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// An error response of the routes.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    /// An error with empty details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// `400`: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `400 invalid_argument`: a value is out of the range the routes
    /// accept (a zero timeout, an ETA past year 9999); `field` names it.
    pub fn invalid_argument(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError::bad_request("invalid_argument", message).with_details(json!({ "field": field }))
    }

    /// `422`: a field of a well-formed request does not fit the request's
    /// type (wrong type, unknown, missing) or the other fields; `field`
    /// names it (`params.files[2].name`).
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
            .with_details(json!({ "field": field }))
    }

    /// `404` for a missing named resource.
    pub fn not_found(what: &str, name: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} `{name}` not found"),
        )
        .with_details(json!({ "resource": what, "name": name }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                details: self.details,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        match err {
            Error::NotFound(id) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
                .with_details(json!({ "resource": "task", "id": id })),
            Error::InvalidTransition { id, state, action } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", message)
                    .with_details(json!({ "id": id, "state": state, "action": action }))
            }
            Error::UnknownTaskType(name) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_task_type",
                message,
            )
            .with_details(json!({ "field": "task_type", "task_type": name })),
            Error::InvalidParams {
                task_type, path, ..
            } => {
                let field = if path == "." {
                    "params".to_owned()
                } else {
                    format!("params.{path}")
                };
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_params", message)
                    .with_details(json!({ "field": field, "task_type": task_type, "path": path }))
            }
            Error::InvalidArgument(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
            }
            Error::InvalidUnique { field, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_unique", message)
                    .with_details(json!({ "field": format!("unique.{field}") }))
            }
            Error::InvalidLabel { field, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_label", message)
                    .with_details(json!({ "field": field }))
            }
            Error::InvalidDeadline { field, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_deadline", message)
                    .with_details(json!({ "field": field }))
            }
            Error::PayloadTooLarge { what, size, limit } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
                    .with_details(json!({ "field": what, "size": size, "limit": limit }))
            }
            Error::InvalidCron { expression, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_cron", message)
                    .with_details(json!({ "field": "expression", "expression": expression }))
            }
            Error::UnknownTimeZone(zone) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_time_zone",
                message,
            )
            .with_details(json!({ "field": "time_zone", "time_zone": zone })),
            Error::InvalidSchedule { name, field, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_schedule",
                message,
            )
            .with_details(json!({ "field": field, "name": name })),
            // The field is where the name came from: a queue name is always
            // `queue` (body or path), a schedule's is `name`.
            Error::InvalidName { kind, name, .. } => {
                let field = if kind == "queue" { "queue" } else { "name" };
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", message)
                    .with_details(json!({ "field": field, "name": name }))
            }
            Error::ScheduleNotFound(name) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
                    .with_details(json!({ "resource": "schedule", "name": name }))
            }
            Error::InvalidWorkflow { step, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_workflow",
                message,
            )
            .with_details(json!({ "field": "steps", "step": step })),
            Error::WorkflowNotFound(id) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
                    .with_details(json!({ "resource": "workflow", "id": id }))
            }
            Error::TaskExists(id) => ApiError::new(StatusCode::CONFLICT, "task_exists", message)
                .with_details(json!({ "field": "id", "id": id })),
            Error::ScheduleExists(name) => {
                ApiError::new(StatusCode::CONFLICT, "schedule_exists", message)
                    .with_details(json!({ "name": name }))
            }
            Error::WorkerNotFound(id) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
                .with_details(json!({ "resource": "worker", "id": id })),
            Error::InvalidWorkerControl { id, state, control } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", message)
                    .with_details(json!({ "id": id, "state": state, "action": control }))
            }
            // The routes answer a wait with the record; these only reach a
            // host's own handler that waits through the client.
            Error::TaskFailed { id, state, failure } => {
                ApiError::new(StatusCode::CONFLICT, "task_failed", message)
                    .with_details(json!({ "id": id, "state": state, "error": failure }))
            }
            Error::WaitTimeout { id, state, waited } => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "wait_timeout", message).with_details(
                    json!({ "id": id, "state": state, "waited_ms": waited.as_millis() as u64 }),
                )
            }
            Error::Backend(_) => {
                tracing::error!(error = %message, "taskq http: backend error");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "backend", message)
            }
            Error::Serialization(_) | Error::DuplicateTask { .. } => {
                tracing::error!(error = %message, "taskq http: internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}

impl From<crate::submit::BadOverride> for ApiError {
    fn from(bad: crate::submit::BadOverride) -> Self {
        ApiError::invalid_argument(bad.field, bad.sentence())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "bad_body"
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        // A path that matched a route but whose segment does not parse (an
        // id that is not a UUID) is a malformed request.
        let status = match rejection.status() {
            status if status.is_server_error() => status,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "bad_path", rejection.body_text())
    }
}

/// A JSON body: `400` when it is not JSON, `422` naming the field when it
/// does not fit the request type, `413` when it is too large.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a request body, naming the first field that does not fit.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::bad_request("malformed_json", format!("request body is not JSON: {err}"))
    })?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid_field(field, err.inner().to_string())
    })
}

/// A path parameter; a segment that does not parse is a `400` whose
/// `details.field` names the parameter (`id`, `queue`, `name`).
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let rejection = match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => return Ok(ApiPath(value)),
            Err(rejection) => rejection,
        };
        let named = match &rejection {
            PathRejection::FailedToDeserializePathParams(failed) => match failed.kind() {
                PathErrorKind::InvalidUtf8InPathParam { key }
                | PathErrorKind::ParseErrorAtKey { key, .. } => Some(key.clone()),
                _ => None,
            },
            _ => None,
        };
        // A single value names no key: the route's one parameter is it.
        let field = match named {
            Some(key) => Some(key),
            None => RawPathParams::from_request_parts(parts, state)
                .await
                .ok()
                .and_then(|raw| match raw.iter().collect::<Vec<_>>()[..] {
                    [(key, _)] => Some(key.to_owned()),
                    _ => None,
                }),
        };
        let error = ApiError::from(rejection);
        Err(match field {
            Some(field) => error.with_details(json!({ "field": field })),
            None => error,
        })
    }
}

/// The fallback for paths no route matches.
pub(crate) async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for `{}`", uri.path()),
    )
}

/// The fallback for a known path with an unsupported method.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("method {method} is not allowed here"),
    )
}

/// `401` with the challenge a bearer client expects.
pub(crate) fn unauthorized() -> Response {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or wrong credentials",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}
