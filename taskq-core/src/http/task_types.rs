//! `api/task-types`: what the registry knows — the seeds' "list of
//! registered tasks for the page", with the JSON schema the dashboard
//! builds its submit form from.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::errors::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::backend::{KeyRunning, TypeLimitStats};
use crate::client::Client;
use crate::error::Error;
use crate::rate_limit::RateLimit;
use crate::registry::TaskDef;

/// A registered task type.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskTypeInfo {
    pub name: String,
    /// The handler's doc comment (rustdoc link syntax stripped) or
    /// `description` option.
    pub description: String,
    /// Queue submissions go to unless overridden.
    pub queue: String,
    pub priority: i32,
    /// Hard timeout in seconds.
    pub timeout: Option<f64>,
    /// Soft timeout in seconds.
    pub soft_timeout: Option<f64>,
    pub max_retries: u32,
    /// Delay before the first retry, in seconds.
    pub retry_delay: f64,
    /// Runs on the blocking pool (`#[long_task(blocking = true)]`).
    pub blocking: bool,
    /// JSON schema (2020-12) of the params.
    #[schema(value_type = Object)]
    pub params_schema: Value,
    /// The limit declared with `#[long_task(concurrency = n)]`, which a
    /// starting worker stores while none is.
    pub declared_limit: Option<u32>,
    /// The params field a task's concurrency key is read from
    /// (`#[long_task(concurrency(key = "...", limit = n))]`).
    pub key_field: Option<String>,
    /// The key limit declared with `concurrency(key = ..., limit = n)`.
    pub declared_key_limit: Option<u32>,
    /// The stored limit every claim keeps: at most this many of the
    /// type's tasks run at once (`null`: none).
    pub limit: Option<u32>,
    /// The stored key limit: at most this many of the type's tasks with
    /// one concurrency key run at once (`null`: none).
    pub key_limit: Option<u32>,
    /// The type's running tasks, counted while it has a limit or a key
    /// limit (0 otherwise).
    pub running: u64,
    /// While it has a key limit: how many concurrency keys have running
    /// tasks of the type (0 otherwise).
    pub running_keys: u64,
    /// While it has a key limit: the keys with the most running tasks,
    /// most first, at most 10 (`running_keys` says how many there are).
    pub top_keys: Vec<KeyRunning>,
    /// The rate limit declared with `rate_limit(starts = n, period = s)`.
    pub declared_rate_limit: Option<RateLimit>,
    /// The key rate limit declared with `rate_limit(key = ..., starts =
    /// n, period = s)`.
    pub declared_key_rate_limit: Option<RateLimit>,
    /// The stored rate limit every claim keeps: at most `starts` of the
    /// type's tasks start per `period_ms` (`null`: none).
    pub rate_limit: Option<RateLimit>,
    /// The stored key rate limit: at most `starts` of the type's tasks
    /// with one concurrency key start per `period_ms`, per key.
    pub key_rate_limit: Option<RateLimit>,
    /// While the type's rate bucket is spent: when its next task may
    /// start (its tasks stay pending until then).
    pub rate_held_until: Option<DateTime<Utc>>,
    /// While it has a key rate limit: how many keys are held back now.
    pub held_keys: u64,
}

impl TaskTypeInfo {
    /// The type as registered, with its stored limit from `limits`.
    fn with_limits(def: &TaskDef, limits: &[TypeLimitStats]) -> TaskTypeInfo {
        let mut info = TaskTypeInfo::of(def);
        if let Some(row) = limits.iter().find(|row| row.task_type == def.name) {
            info.limit = row.limit;
            info.key_limit = row.key_limit;
            info.running = row.running;
            info.running_keys = row.running_keys;
            info.top_keys.clone_from(&row.top_keys);
            info.rate_limit = row.rate_limit;
            info.key_rate_limit = row.key_rate_limit;
            info.rate_held_until = row.rate_held_until;
            info.held_keys = row.held_keys;
        }
        info
    }

    fn of(def: &TaskDef) -> TaskTypeInfo {
        let options = &def.options;
        TaskTypeInfo {
            name: def.name.to_owned(),
            description: crate::doc_links::strip_doc_links(&options.description),
            queue: options.queue.to_string(),
            priority: options.priority,
            timeout: options.timeout.map(|d| d.as_secs_f64()),
            soft_timeout: options.soft_timeout.map(|d| d.as_secs_f64()),
            max_retries: options.max_retries,
            retry_delay: options.retry_delay.as_secs_f64(),
            blocking: options.blocking,
            params_schema: (def.params_schema)().to_value(),
            declared_limit: def.concurrency.limit,
            key_field: def.concurrency.key_field.map(str::to_owned),
            declared_key_limit: def.concurrency.key_limit,
            limit: None,
            key_limit: None,
            running: 0,
            running_keys: 0,
            top_keys: Vec::new(),
            declared_rate_limit: def.concurrency.rate,
            declared_key_rate_limit: def.concurrency.key_rate,
            rate_limit: None,
            key_rate_limit: None,
            rate_held_until: None,
            held_keys: 0,
        }
    }
}

/// Every registered task type, by name, with its stored limit.
#[utoipa::path(get, path = "/api/task-types", tag = "task types", operation_id = "list_task_types",
    responses((status = 200, description = "every registered task type", body = [TaskTypeInfo])))]
pub(crate) async fn list(
    State(client): State<Client>,
) -> Result<Json<Vec<TaskTypeInfo>>, ApiError> {
    let limits = client.type_limits().await?;
    Ok(Json(
        client
            .registry()
            .iter()
            .map(|def| TaskTypeInfo::with_limits(def, &limits))
            .collect(),
    ))
}

/// One task type.
#[utoipa::path(get, path = "/api/task-types/{name}", tag = "task types", operation_id = "get_task_type",
    params(("name" = String, Path, description = "registered task name")),
    responses((status = 200, description = "the task type", body = TaskTypeInfo),
        (status = 404, description = "no task type has this name", body = super::ErrorBody)))]
pub(crate) async fn detail(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TaskTypeInfo>, ApiError> {
    let def = registered(&client, &name)?;
    with_limits(&client, def).await
}

/// `{"limit": n}` sets the task type's limit, `{"limit": null}` lifts it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeLimitRequest {
    /// At most this many of the type's tasks run at once, on every worker
    /// and host together; at least 1. `null` lifts the limit. Required.
    #[serde(default, deserialize_with = "super::queues::present")]
    #[schema(value_type = Option<u32>, minimum = 1, required = true)]
    pub limit: Option<Option<u32>>,
}

/// Sets or lifts a registered task type's limit: at most `limit` of its
/// tasks run at once across every worker and queue. It
/// applies to the next claim of every worker; running tasks over a
/// lowered limit go on.
#[utoipa::path(put, path = "/api/task-types/{name}/limit", tag = "task types", operation_id = "set_task_type_limit",
    params(("name" = String, Path, description = "registered task name")),
    request_body = TypeLimitRequest,
    responses((status = 200, description = "the task type, with its limit", body = TaskTypeInfo),
        (status = 400, description = "a limit of 0 (`invalid_argument`; `details.field` is `limit`)", body = ErrorBody),
        (status = 404, description = "no task type has this name", body = ErrorBody),
        (status = 422, description = "no `limit`, or one that is not null nor a whole number up to 4294967295 (`invalid_field`; `details.field` is `limit`)", body = ErrorBody)))]
pub(crate) async fn limit(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<TypeLimitRequest>,
) -> Result<Json<TaskTypeInfo>, ApiError> {
    set_limit(&client, &name, request, Kind::Type).await
}

/// Sets or lifts a registered task type's key limit: at most `limit` of
/// its tasks with one concurrency key run at once, for every key apart,
/// across every worker and queue.
#[utoipa::path(put, path = "/api/task-types/{name}/key-limit", tag = "task types", operation_id = "set_task_type_key_limit",
    params(("name" = String, Path, description = "registered task name")),
    request_body = TypeLimitRequest,
    responses((status = 200, description = "the task type, with its key limit", body = TaskTypeInfo),
        (status = 400, description = "a limit of 0 (`invalid_argument`; `details.field` is `limit`)", body = ErrorBody),
        (status = 404, description = "no task type has this name", body = ErrorBody),
        (status = 422, description = "no `limit`, or one that is not null nor a whole number up to 4294967295 (`invalid_field`; `details.field` is `limit`)", body = ErrorBody)))]
pub(crate) async fn key_limit(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<TypeLimitRequest>,
) -> Result<Json<TaskTypeInfo>, ApiError> {
    set_limit(&client, &name, request, Kind::Key).await
}

/// Which of a type's limits a request sets.
enum Kind {
    Type,
    Key,
}

async fn set_limit(
    client: &Client,
    name: &str,
    request: TypeLimitRequest,
    kind: Kind,
) -> Result<Json<TaskTypeInfo>, ApiError> {
    let def = registered(client, name)?;
    let limit = request.limit.ok_or_else(|| {
        ApiError::invalid_field(
            "limit",
            "missing field `limit`: a number, or null to lift it",
        )
    })?;
    let set = match kind {
        Kind::Type => client.set_type_limit(name, limit).await,
        Kind::Key => client.set_key_limit(name, limit).await,
    };
    set.map_err(|err| match err {
        Error::InvalidArgument(message) => ApiError::invalid_argument("limit", message),
        other => other.into(),
    })?;
    with_limits(client, def).await
}

/// `{"rate_limit": {"starts": n, "period_ms": ms}}` sets the task type's
/// rate limit (or key rate limit), `{"rate_limit": null}` lifts it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeRateLimitRequest {
    /// At most `starts` (at least 1) of the type's tasks (per key, for a
    /// key rate limit) start per `period_ms` (1 ms to 366 days), on every
    /// worker, host and queue together. `null` lifts it.
    /// Required.
    #[serde(default, deserialize_with = "super::queues::present")]
    #[schema(value_type = Option<RateLimit>, required = true)]
    pub rate_limit: Option<Option<RateLimit>>,
}

/// Sets or lifts a registered task type's rate limit: at most `starts` of
/// its tasks start per `period_ms`, across every worker (on Redis: per
/// queue). It applies to the next claim of every worker; a changed limit
/// keeps what the bucket spent. Held-back tasks stay `PENDING`; the type
/// shows until when (`rate_held_until`).
#[utoipa::path(put, path = "/api/task-types/{name}/rate-limit", tag = "task types", operation_id = "set_task_type_rate_limit",
    params(("name" = String, Path, description = "registered task name")),
    request_body = TypeRateLimitRequest,
    responses((status = 200, description = "the task type, with its rate limit", body = TaskTypeInfo),
        (status = 400, description = "`starts` of 0 or a period out of range (`invalid_argument`; `details.field` is `rate_limit.starts` or `rate_limit.period_ms`)", body = ErrorBody),
        (status = 404, description = "no task type has this name", body = ErrorBody),
        (status = 422, description = "no `rate_limit`, or one that is not null nor `{starts, period_ms}` of whole numbers (`invalid_field`; `details.field` names it)", body = ErrorBody)))]
pub(crate) async fn rate_limit(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<TypeRateLimitRequest>,
) -> Result<Json<TaskTypeInfo>, ApiError> {
    set_rate_limit(&client, &name, request, Kind::Type).await
}

/// Sets or lifts a registered task type's key rate limit: at most
/// `starts` of its tasks with one concurrency key start per `period_ms`,
/// each key its own bucket, over every queue. Tasks without a key are
/// not held by it; the type shows how many keys are held (`held_keys`).
#[utoipa::path(put, path = "/api/task-types/{name}/key-rate-limit", tag = "task types", operation_id = "set_task_type_key_rate_limit",
    params(("name" = String, Path, description = "registered task name")),
    request_body = TypeRateLimitRequest,
    responses((status = 200, description = "the task type, with its key rate limit", body = TaskTypeInfo),
        (status = 400, description = "`starts` of 0 or a period out of range (`invalid_argument`; `details.field` is `rate_limit.starts` or `rate_limit.period_ms`)", body = ErrorBody),
        (status = 404, description = "no task type has this name", body = ErrorBody),
        (status = 422, description = "no `rate_limit`, or one that is not null nor `{starts, period_ms}` of whole numbers (`invalid_field`; `details.field` names it)", body = ErrorBody)))]
pub(crate) async fn key_rate_limit(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<TypeRateLimitRequest>,
) -> Result<Json<TaskTypeInfo>, ApiError> {
    set_rate_limit(&client, &name, request, Kind::Key).await
}

async fn set_rate_limit(
    client: &Client,
    name: &str,
    request: TypeRateLimitRequest,
    kind: Kind,
) -> Result<Json<TaskTypeInfo>, ApiError> {
    let def = registered(client, name)?;
    let limit = request.rate_limit.ok_or_else(|| {
        ApiError::invalid_field(
            "rate_limit",
            "missing field `rate_limit`: {starts, period_ms}, or null to lift it",
        )
    })?;
    let set = match kind {
        Kind::Type => client.set_type_rate_limit(name, limit).await,
        Kind::Key => client.set_key_rate_limit(name, limit).await,
    };
    set.map_err(
        |err| match (err, limit.as_ref().and_then(RateLimit::bad_field)) {
            (Error::InvalidArgument(message), Some(field)) => {
                ApiError::invalid_argument(format!("rate_limit.{field}"), message)
            }
            (other, _) => other.into(),
        },
    )?;
    with_limits(client, def).await
}

/// The registered task type `name`, or a 404.
fn registered(client: &Client, name: &str) -> Result<&'static TaskDef, ApiError> {
    client
        .registry()
        .get(name)
        .ok_or_else(|| ApiError::not_found("task type", name))
}

/// The type with every limit as now stored (a detail, a setter's answer).
async fn with_limits(client: &Client, def: &TaskDef) -> Result<Json<TaskTypeInfo>, ApiError> {
    let limits = client.type_limits().await?;
    Ok(Json(TaskTypeInfo::with_limits(def, &limits)))
}
