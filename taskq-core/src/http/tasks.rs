//! `api/tasks`: submit, list, detail, cancel, retry, reorder, purge.

use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::errors::{ApiError, ApiJson, ApiPath, ErrorBody};
use super::query::{self, bad_query};
use crate::backend::{PageRequest, Position, TaskFilter, check_purge_states};
use crate::client::Client;
use crate::lifecycle;
use crate::task::{TaskId, TaskRecord, TaskState, Unique};
use crate::wait::Waited;

/// A submission by name with JSON params.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The task's id (a UUID; v7 sorts by time, any version will do), so
    /// that the request can be sent again safely: an id stored with the
    /// same task type and params answers `200` with the stored task and
    /// stores nothing; with another type or params, `409 task_exists`.
    /// Without it the server draws one.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub id: Option<TaskId>,
    /// A registered task name (`GET api/task-types`).
    pub task_type: String,
    /// Checked against the task type's params type (any JSON: `null` for
    /// a task without params, the default); `422` names the field.
    #[serde(default)]
    pub params: Value,
    /// Another queue than the task type's: 1 to 100 ASCII letters, digits,
    /// `_`, `-` and `.`, not `.` or `..`.
    #[schema(pattern = r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,100}$")]
    pub queue: Option<String>,
    /// Higher runs first.
    pub priority: Option<i32>,
    /// Not before this time (RFC 3339), from 1970 to the end of year 9999.
    /// Excludes `countdown`.
    pub run_at: Option<DateTime<Utc>>,
    /// Not before this many seconds from now (not past year 9999).
    /// Excludes `run_at`.
    #[schema(minimum = 0)]
    pub countdown: Option<f64>,
    /// Retries after the first attempt (at most 2147483647).
    #[schema(maximum = 2147483647)]
    pub max_retries: Option<u32>,
    /// Hard timeout in seconds: more than zero, at most 100 years.
    #[schema(exclusive_minimum = 0)]
    pub timeout: Option<f64>,
    /// Soft timeout in seconds (more than zero, shorter than `timeout`).
    #[schema(exclusive_minimum = 0)]
    pub soft_timeout: Option<f64>,
    /// A deadline to start (RFC 3339), in the future and after the ETA:
    /// not started by then, the task ends `EXPIRED`. Excludes `expires_in`.
    pub expires_at: Option<DateTime<Utc>>,
    /// A deadline to start this many seconds from now (more than zero).
    /// Excludes `expires_at`.
    #[schema(exclusive_minimum = 0)]
    pub expires_in: Option<f64>,
    /// At most one such task at a time, instead of what the task type
    /// declares: an object (`key`, or `fields`; `period` in seconds;
    /// `states`), `true` (unique by all the params) or `false` (not
    /// unique). While a task of the queue holds the key, the submit
    /// stores nothing and answers `200` with that task, and the header
    /// `taskq-duplicate: unique_key`.
    pub unique: Option<UniqueRequest>,
    /// Labels a list filters on (`GET api/tasks?tag=…`): at most 16, each
    /// 1 to 64 lowercase ASCII letters, digits, `_`, `-`, `.`, `:`, `=` or
    /// `/`; repeats are dropped. A bad one is `400 invalid_label` with
    /// `details.field` `tags`.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub tags: Vec<String>,
    /// A JSON object for the caller's own bookkeeping, at most 4096 bytes
    /// as JSON, shown with the task. Anything else is `400 invalid_label`
    /// with `details.field` `metadata`.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// The concurrency key its task type's key limit counts it under
    /// (1 to 255 bytes), instead of the one the type reads from the
    /// params. A bad one is `400 invalid_label` with `details.field`
    /// `concurrency_key`; params without the field the type reads it from
    /// are `400 invalid_params` naming `params.<field>`.
    #[schema(min_length = 1, max_length = 255)]
    pub concurrency_key: Option<String>,
}

/// The `unique` field of a submission.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UniqueRequest {
    /// `true`: unique by all the params; `false`: not unique.
    Switch(bool),
    /// Unique as described.
    Rule(Unique),
}

/// The header a `200` answer to a submit carries: why nothing was stored.
pub const DUPLICATE_HEADER: &str = "taskq-duplicate";

/// Seconds as a duration; a negative, infinite or overlong number is a
/// `400` naming `field`.
fn seconds(field: &str, secs: f64) -> Result<Duration, ApiError> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        let message = if secs.is_sign_negative() {
            "must not be negative"
        } else {
            "is too large a number of seconds"
        };
        ApiError::invalid_argument(field, message)
    })
}

/// Submits a task; answers `201` with the stored record, or `200` with the
/// task already stored under the request's `id` (same type and params) or
/// holding its unique key.
#[utoipa::path(post, path = "/api/tasks", tag = "tasks", operation_id = "submit_task",
    request_body = SubmitRequest,
    responses(
        (status = 201, description = "stored", body = TaskRecord),
        (status = 200, description = "nothing stored: the task already stored under `id` (a repeated submit), or the task holding the unique key, unchanged", body = TaskRecord,
            headers(("taskq-duplicate" = String, description = "`id` or `unique_key`: what made the submit a duplicate"))),
        (status = 409, description = "`id` is stored with another task type or params (`task_exists`; `details.id`)", body = ErrorBody),
        (status = 400, description = "malformed JSON (`malformed_json`); an override out of range (`invalid_argument`: a zero or negative timeout, an ETA past year 9999, too many retries, an `expires_at` not in the future or before the ETA), a bad queue name (`invalid_name`), a unique rule that gives no key (`invalid_unique`: `unique.key`, `unique.fields`, `unique.period` or `unique.states`) or bad tags, metadata or concurrency key (`invalid_label`: `tags`, `metadata` or `concurrency_key`), `details.field` naming it", body = ErrorBody),
        (status = 413, description = "body too large (`body_too_large`), or params over the client's `PayloadLimits` (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "a field of the wrong type or unknown (`invalid_field`), an unknown task type or params that do not fit; `details.field` names it", body = ErrorBody)))]
pub(crate) async fn submit(
    State(client): State<Client>,
    ApiJson(request): ApiJson<SubmitRequest>,
) -> Result<Response, ApiError> {
    if request.run_at.is_some() && request.countdown.is_some() {
        return Err(ApiError::invalid_field(
            "countdown",
            "give either run_at or countdown, not both",
        ));
    }
    if request.expires_at.is_some() && request.expires_in.is_some() {
        return Err(ApiError::invalid_field(
            "expires_in",
            "give either expires_at or expires_in, not both",
        ));
    }
    let mut submission = client.submit_json(request.task_type, request.params);
    if let Some(id) = request.id {
        submission = submission.id(id);
    }
    if let Some(queue) = request.queue {
        submission = submission.queue(queue);
    }
    if let Some(priority) = request.priority {
        submission = submission.priority(priority);
    }
    if let Some(run_at) = request.run_at {
        submission = submission.at(run_at);
    }
    if let Some(countdown) = request.countdown {
        submission = submission.countdown(seconds("countdown", countdown)?);
    }
    if let Some(max_retries) = request.max_retries {
        submission = submission.max_retries(max_retries);
    }
    if let Some(timeout) = request.timeout {
        submission = submission.timeout(seconds("timeout", timeout)?);
    }
    if let Some(soft_timeout) = request.soft_timeout {
        submission = submission.soft_timeout(seconds("soft_timeout", soft_timeout)?);
    }
    if let Some(expires_at) = request.expires_at {
        submission = submission.expires_at(expires_at);
    }
    if let Some(expires_in) = request.expires_in {
        submission = submission.expires_in(seconds("expires_in", expires_in)?);
    }
    submission = match request.unique {
        None => submission,
        Some(UniqueRequest::Switch(false)) => submission.not_unique(),
        Some(UniqueRequest::Switch(true)) => submission.unique(Unique::params()),
        Some(UniqueRequest::Rule(unique)) => submission.unique(unique),
    };
    if !request.tags.is_empty() {
        submission = submission.tags(request.tags);
    }
    if let Some(metadata) = request.metadata {
        submission = submission.metadata(metadata);
    }
    if let Some(key) = request.concurrency_key {
        submission = submission.concurrency_key(key);
    }
    // The client refuses the same overrides, but without naming the field.
    submission.check_overrides()?;
    let submitted = submission.outcome().await?;
    let record = client.get(submitted.id).await?;
    Ok(match (submitted.duplicate, submitted.unique_conflict) {
        (false, _) => (StatusCode::CREATED, Json(record)).into_response(),
        (true, true) => (
            StatusCode::OK,
            [(DUPLICATE_HEADER, "unique_key")],
            Json(record),
        )
            .into_response(),
        (true, false) => (StatusCode::OK, [(DUPLICATE_HEADER, "id")], Json(record)).into_response(),
    })
}

/// Filters and page of `GET api/tasks`, as in the seeds' list API. Parsed
/// by hand ([`super::query`]) so that a bad value names its parameter; the
/// types here are what the OpenAPI document declares.
#[derive(Debug, Clone, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the OpenAPI derive only
pub struct ListQuery {
    /// Only tasks in this state (`pending` and other cases are accepted too).
    state: Option<TaskState>,
    /// Only tasks of this registered type.
    task_type: Option<String>,
    /// Only tasks of this queue.
    queue: Option<String>,
    /// Created at or after (RFC 3339; `+` in an offset must be sent as `%2B`).
    created_after: Option<DateTime<Utc>>,
    /// Created strictly before (RFC 3339).
    created_before: Option<DateTime<Utc>>,
    /// Only tasks carrying this tag; repeat it (`tag=a&tag=b`) or list
    /// several (`tag=a,b`) for tasks carrying all of them.
    tag: Option<Vec<String>>,
    /// Only tasks queued by this schedule's firings.
    schedule: Option<String>,
    /// Only tasks whose metadata has this top-level key equal to this
    /// value, as `key:value`; repeat it (`metadata=a:1&metadata=b:x`) for
    /// tasks matching all. The value `7`, `true`, `null` is that JSON
    /// value, `"7"` (quoted) the string "7", other text a string; a string
    /// matches only a string and numbers compare by value. Keys: 1 to 64
    /// ASCII letters, digits, `_`, `-`, `.`.
    metadata: Option<Vec<String>>,
    /// 1-based (default 1).
    page: Option<u64>,
    /// Default 20; more than 100 is taken as 100.
    page_size: Option<u64>,
}

/// One page of tasks, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskRecord>,
    /// Matching tasks over all pages.
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub total_pages: u64,
}

/// Parses the list query: every value arrives as text, so a bad one is
/// reported with its field name (`page`, `created_after`, …).
fn parse_list_query(raw: Option<&str>) -> Result<(TaskFilter, PageRequest), ApiError> {
    const KNOWN: [&str; 10] = [
        "state",
        "task_type",
        "queue",
        "created_after",
        "created_before",
        "tag",
        "schedule",
        "metadata",
        "page",
        "page_size",
    ];
    let mut filter = TaskFilter::default();
    let (mut page, mut page_size) = (None, None);
    let time = |field: &str, value: &str| {
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|err| bad_query(field, format!("`{field}` is not an RFC 3339 time: {err}")))
    };
    for (key, value) in query::pairs(raw, &KNOWN)? {
        let Some(value) = value else { continue };
        match key.as_str() {
            "state" => {
                let state = value.parse::<TaskState>();
                filter.state = Some(state.map_err(|err| bad_query("state", err.to_string()))?);
            }
            "task_type" => filter.task_type = Some(value),
            "queue" => filter.queue = Some(value),
            "created_after" => filter.created_after = Some(time("created_after", &value)?),
            "created_before" => filter.created_before = Some(time("created_before", &value)?),
            "tag" => {
                for tag in value.split(',').filter(|t| !t.is_empty()) {
                    if !lifecycle::is_valid_tag(tag) {
                        let message = format!(
                            "`tag` {tag:?} is not a tag: 1 to 64 lowercase ASCII letters, digits, `_`, `-`, `.`, `:`, `=` or `/`"
                        );
                        return Err(bad_query("tag", message));
                    }
                    filter.tags.push(tag.to_owned());
                }
            }
            "schedule" => filter.schedule = Some(value),
            "metadata" => {
                let (key, text) = value.split_once(':').ok_or_else(|| {
                    bad_query(
                        "metadata",
                        format!("`metadata` {value:?} is not `key:value`"),
                    )
                })?;
                filter
                    .metadata
                    .insert(key.to_owned(), lifecycle::metadata_value_from_text(text));
            }
            "page" => page = Some(value),
            _ => page_size = Some(value),
        }
    }
    // Keys and the number of pairs: the message names the bad one.
    lifecycle::check_metadata_filter(&filter.metadata)
        .map_err(|err| bad_query("metadata", format!("`metadata`: {err}")))?;
    let page = query::page(page.as_deref(), page_size.as_deref())?;
    Ok((filter, page))
}

/// Lists tasks with filters and pagination, newest first.
#[utoipa::path(get, path = "/api/tasks", tag = "tasks", operation_id = "list_tasks", params(ListQuery),
    responses((status = 200, description = "one page of tasks", body = TaskList),
        (status = 400, description = "a malformed or unknown query parameter (`bad_query`; `details.field` names it)", body = ErrorBody)))]
pub(crate) async fn list(
    State(client): State<Client>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TaskList>, ApiError> {
    let (filter, page) = parse_list_query(raw.as_deref())?;
    let found = client.list(&filter, page).await?;
    Ok(Json(TaskList {
        total_pages: found.total.div_ceil(found.page_size.max(1)),
        tasks: found.items,
        total: found.total,
        page: found.page,
        page_size: found.page_size,
    }))
}

/// The longest `?wait=` of the detail route: a long poll that outlives
/// proxies' idle timeouts (often 60 s) would be cut anyway.
pub const MAX_HTTP_WAIT: Duration = Duration::from_secs(60);

/// The query of `GET api/tasks/{id}`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailQuery {
    /// Long poll: answer as soon as the task has ended (`FINISHED`,
    /// `FAILED`, `CANCELLED`), or when this wait runs out, with the record
    /// as it is then (still `200`: look at `state`). `30s`, `500ms`, or a
    /// number of seconds (`2.5`); more than zero, at most 60 s.
    #[param(example = "30s")]
    pub wait: Option<String>,
}

/// Parses `?wait=` (see [`DetailQuery::wait`]).
fn parse_wait(raw: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let bad = |message: String| bad_query("wait", message);
    let mut detail = DetailQuery::default();
    for (_, value) in query::pairs(raw, &["wait"])? {
        // `?wait=` is a malformed wait, not none.
        detail.wait = Some(value.unwrap_or_default());
    }
    let Some(text) = detail.wait else {
        return Ok(None);
    };
    let text = text.trim();
    let (number, unit) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let malformed = || {
        bad(format!(
            "`wait` must be like `30s`, `500ms` or a number of seconds, not `{text}`"
        ))
    };
    let secs = number.trim().parse::<f64>().map_err(|_| malformed())? * unit;
    let wait = Duration::try_from_secs_f64(secs).map_err(|_| malformed())?;
    if wait.is_zero() {
        return Err(bad("`wait` must be longer than zero".into()));
    }
    if wait > MAX_HTTP_WAIT {
        return Err(bad(format!(
            "`wait` of {wait:?} is longer than the maximum of {MAX_HTTP_WAIT:?}"
        )));
    }
    Ok(Some(wait))
}

/// One task: params, state, attempts, progress, result or error, times.
/// With `?wait=30s`, a long poll: the answer comes when the task ends or
/// the wait runs out, whichever is first — in both cases `200` with the
/// record then (a client looks at `state`; an unended one means "ask
/// again"). The wait is woken by the backend's end signals, not by
/// polling per request.
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks", operation_id = "get_task",
    params(("id" = uuid::Uuid, Path, description = "the task's id"), DetailQuery),
    responses(
        (status = 200, description = "the record; with `wait`, once ended or when the wait ran out", body = TaskRecord),
        (status = 400, description = "a malformed id (`bad_path`), or a `wait` that is malformed, zero or over 60 s (`bad_query`, `details.field`)", body = ErrorBody),
        (status = 404, description = "no task has this id", body = ErrorBody)))]
pub(crate) async fn detail(
    State(client): State<Client>,
    ApiPath(id): ApiPath<TaskId>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TaskRecord>, ApiError> {
    let Some(wait) = parse_wait(raw.as_deref())? else {
        return Ok(Json(client.get(id).await?));
    };
    let deadline = crate::wait::deadline(wait)?;
    Ok(Json(match client.wait_ended(id, deadline).await? {
        Waited::Ended(record) | Waited::TimedOut(record) => record,
    }))
}

/// Deletes one ended task (finished, failed or cancelled). A pending or
/// running task is a `409`: cancel it first.
#[utoipa::path(delete, path = "/api/tasks/{id}", tag = "tasks", operation_id = "delete_task",
    params(("id" = uuid::Uuid, Path, description = "the task's id")),
    responses((status = 204, description = "deleted"), (status = 404, description = "no task has this id", body = ErrorBody),
        (status = 409, description = "the task is pending or running", body = ErrorBody)))]
pub(crate) async fn delete(
    State(client): State<Client>,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<StatusCode, ApiError> {
    client.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancels a pending task at once, a running one through its token.
#[utoipa::path(post, path = "/api/tasks/{id}/cancel", tag = "tasks", operation_id = "cancel_task",
    params(("id" = uuid::Uuid, Path, description = "the task's id")),
    responses((status = 200, description = "the task, cancelled (a running one once its handler stops)", body = TaskRecord), (status = 404, description = "no task has this id", body = ErrorBody),
        (status = 409, description = "the task already ended", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(client): State<Client>,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<Json<TaskRecord>, ApiError> {
    Ok(Json(client.cancel(id).await?))
}

/// Runs a failed, cancelled or expired task again (same id; an expired one
/// without its deadline).
#[utoipa::path(post, path = "/api/tasks/{id}/retry", tag = "tasks", operation_id = "retry_task",
    params(("id" = uuid::Uuid, Path, description = "the task's id")),
    responses((status = 200, description = "the task, pending again", body = TaskRecord), (status = 404, description = "no task has this id", body = ErrorBody),
        (status = 409, description = "the task is not failed, cancelled or expired", body = ErrorBody)))]
pub(crate) async fn retry(
    State(client): State<Client>,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<Json<TaskRecord>, ApiError> {
    Ok(Json(client.retry(id).await?))
}

/// Where to move a pending task: `{"to":"front"}`, `{"to":"back"}` or
/// `{"to":"before","task":"<id>"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderRequest {
    pub to: ReorderTo,
    /// The task to move before (with `"to": "before"`).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub task: Option<TaskId>,
}

/// The three places a pending task can move to.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReorderTo {
    Front,
    Back,
    Before,
}

/// Moves a pending task within its queue; the id stays.
#[utoipa::path(post, path = "/api/tasks/{id}/reorder", tag = "tasks", operation_id = "reorder_task",
    request_body = ReorderRequest, params(("id" = uuid::Uuid, Path, description = "the task's id")),
    responses((status = 200, description = "the task at its new place", body = TaskRecord),
        (status = 400, description = "malformed JSON, or a `task` that is not another pending task of the queue (`invalid_argument`, `details.field`)", body = ErrorBody),
        (status = 404, description = "no task has this id (or `task`'s)", body = ErrorBody),
        (status = 409, description = "the task is not pending", body = ErrorBody),
        (status = 422, description = "a body that does not fit (`invalid_field`, `details.field`)", body = ErrorBody)))]
pub(crate) async fn reorder(
    State(client): State<Client>,
    ApiPath(id): ApiPath<TaskId>,
    ApiJson(request): ApiJson<ReorderRequest>,
) -> Result<Json<TaskRecord>, ApiError> {
    let position = match (request.to, request.task) {
        (ReorderTo::Front, None) => Position::Front,
        (ReorderTo::Back, None) => Position::Back,
        (ReorderTo::Before, Some(other)) => Position::Before(other),
        (ReorderTo::Before, None) => {
            return Err(ApiError::invalid_field(
                "task",
                "`to: before` needs the id of the task to move before",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_field(
                "task",
                "`task` only goes with `to: before`",
            ));
        }
    };
    match client.reorder(id, position).await {
        Ok(record) => Ok(Json(record)),
        // The only argument a backend can find wrong is the other task.
        Err(err @ crate::error::Error::InvalidArgument(_)) => {
            Err(ApiError::invalid_argument("task", err.to_string()))
        }
        Err(err) => Err(err.into()),
    }
}

/// Which ended tasks to delete.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// Terminal states only; default `FINISHED` and `FAILED`.
    pub states: Option<Vec<TaskState>>,
    /// Tasks that ended at least this many seconds ago (default 0).
    /// Excludes `before`.
    pub older_than: Option<f64>,
    /// Tasks that ended before this time (RFC 3339).
    pub before: Option<DateTime<Utc>>,
}

/// How many tasks a purge deleted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PurgeResult {
    pub deleted: u64,
}

/// Deletes terminal tasks by state and age.
#[utoipa::path(post, path = "/api/tasks/purge", tag = "tasks", operation_id = "purge_tasks",
    request_body = PurgeRequest,
    responses((status = 200, description = "how many tasks were deleted", body = PurgeResult),
        (status = 400, description = "malformed JSON, or an `older_than` out of range (`invalid_argument`, `details.field`)", body = ErrorBody),
        (status = 422, description = "a body that does not fit, or states that are not terminal (`invalid_field`, `details.field`)", body = ErrorBody)))]
pub(crate) async fn purge(
    State(client): State<Client>,
    ApiJson(request): ApiJson<PurgeRequest>,
) -> Result<Json<PurgeResult>, ApiError> {
    let states = request
        .states
        .unwrap_or_else(|| vec![TaskState::Finished, TaskState::Failed]);
    check_purge_states(&states)
        .map_err(|err| ApiError::invalid_field("states", err.to_string()))?;
    let before = match (request.before, request.older_than) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "older_than",
                "give either before or older_than, not both",
            ));
        }
        (Some(before), None) => before,
        (None, older_than) => {
            let age = seconds("older_than", older_than.unwrap_or(0.0))?;
            let too_long = || ApiError::invalid_argument("older_than", "older_than is too long");
            let age = chrono::Duration::from_std(age).map_err(|_| too_long())?;
            Utc::now().checked_sub_signed(age).ok_or_else(too_long)?
        }
    };
    let deleted = client.purge_states(&states, before).await?;
    Ok(Json(PurgeResult { deleted }))
}

#[cfg(test)]
mod tests;
