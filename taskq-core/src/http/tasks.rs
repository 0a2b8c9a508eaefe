//! `api/tasks`: submit, list, detail, cancel, retry, reorder, purge.

use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::errors::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::backend::{PageRequest, Position, TaskFilter, check_purge_states};
use crate::client::Client;
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
    /// Checked against the task type's params type; `422` names the field.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Value,
    /// Another queue than the task type's.
    pub queue: Option<String>,
    /// Higher runs first.
    pub priority: Option<i32>,
    /// Not before this time (RFC 3339). Excludes `countdown`.
    pub run_at: Option<DateTime<Utc>>,
    /// Not before this many seconds from now. Excludes `run_at`.
    pub countdown: Option<f64>,
    pub max_retries: Option<u32>,
    /// Hard timeout in seconds.
    pub timeout: Option<f64>,
    /// Soft timeout in seconds (shorter than `timeout`).
    pub soft_timeout: Option<f64>,
    /// At most one such task at a time, instead of what the task type
    /// declares: an object (`key`, or `fields`; `period` in seconds;
    /// `states`), `true` (unique by all the params) or `false` (not
    /// unique). While a task of the queue holds the key, the submit
    /// stores nothing and answers `200` with that task, and the header
    /// `taskq-duplicate: unique_key`.
    pub unique: Option<UniqueRequest>,
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

fn seconds(field: &str, secs: f64) -> Result<Duration, ApiError> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| ApiError::invalid_field(field, "must be a non-negative number of seconds"))
}

/// Submits a task; answers `201` with the stored record, or `200` with the
/// task already stored under the request's `id` (same type and params) or
/// holding its unique key.
#[utoipa::path(post, path = "/api/tasks", tag = "tasks", request_body = SubmitRequest,
    responses(
        (status = 201, description = "stored", body = TaskRecord),
        (status = 200, description = "nothing stored: the task already stored under `id` (a repeated submit), or the task holding the unique key, unchanged", body = TaskRecord,
            headers(("taskq-duplicate" = String, description = "`id` or `unique_key`: what made the submit a duplicate"))),
        (status = 409, description = "`id` is stored with another task type or params (`task_exists`; `details.id`)", body = ErrorBody),
        (status = 400, description = "malformed JSON or argument; `invalid_unique` for a unique rule that gives no key (`details.field`: `unique.key`, `unique.fields`, `unique.period` or `unique.states`)", body = ErrorBody),
        (status = 413, description = "body too large (`body_too_large`), or params over the client's `PayloadLimits` (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "unknown task type or params that do not fit; `details.field` names it", body = ErrorBody)))]
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
    let mut submission = client.submit_json(request.task_type, request.params);
    if let Some(id) = request.id {
        submission = submission.id(id);
    }
    if let Some(queue) = request.queue {
        if queue.is_empty() || queue.len() > 100 {
            return Err(ApiError::invalid_field(
                "queue",
                "queue name must be 1 to 100 characters",
            ));
        }
        submission = submission.queue(queue);
    }
    if let Some(priority) = request.priority {
        submission = submission.priority(priority);
    }
    if let Some(run_at) = request.run_at {
        submission = submission.at(run_at);
    }
    if let Some(countdown) = request.countdown {
        let delay = seconds("countdown", countdown)?;
        if chrono::Duration::from_std(delay).is_err() {
            return Err(ApiError::invalid_field(
                "countdown",
                "countdown is too long",
            ));
        }
        submission = submission.countdown(delay);
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
    submission = match request.unique {
        None => submission,
        Some(UniqueRequest::Switch(false)) => submission.not_unique(),
        Some(UniqueRequest::Switch(true)) => submission.unique(Unique::params()),
        Some(UniqueRequest::Rule(unique)) => submission.unique(unique),
    };
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

/// Filters and page of `GET api/tasks`, as in the seeds' list API.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `PENDING`, `RUNNING`, `FINISHED`, `FAILED` or `CANCELLED`.
    pub state: Option<String>,
    pub task_type: Option<String>,
    pub queue: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<String>,
    /// Created strictly before (RFC 3339).
    pub created_before: Option<String>,
    /// 1-based (default 1).
    pub page: Option<String>,
    /// Default 20, at most 100.
    pub page_size: Option<String>,
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

/// The largest row offset a list request may ask for: 2^53, exact in a
/// double, so no backend (Lua, JSON clients) sees a rounded or overflowing
/// offset. No real list comes near it.
const MAX_OFFSET: u64 = 1 << 53;

/// Parses the query string by hand: every value arrives as text, so a bad
/// one is reported with its field name (`page`, `created_after`, …).
fn parse_list_query(raw: Option<&str>) -> Result<(TaskFilter, PageRequest), ApiError> {
    let mut query = ListQuery::default();
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)
            .ok_or_else(|| ApiError::bad_request("bad_query", "query is not valid UTF-8"))?;
        let value = percent_decode(value).ok_or_else(|| {
            ApiError::bad_request("bad_query", format!("`{key}` is not valid UTF-8"))
        })?;
        let value = (!value.is_empty()).then_some(value);
        match key.as_str() {
            "state" => query.state = value,
            "task_type" => query.task_type = value,
            "queue" => query.queue = value,
            "created_after" => query.created_after = value,
            "created_before" => query.created_before = value,
            "page" => query.page = value,
            "page_size" => query.page_size = value,
            other => {
                return Err(ApiError::bad_request(
                    "bad_query",
                    format!("unknown query parameter `{other}`"),
                )
                .with_details(json!({ "field": other })));
            }
        }
    }
    let bad = |field: &str, message: String| {
        ApiError::bad_request("bad_query", message).with_details(json!({ "field": field }))
    };
    let state = query
        .state
        .map(|s| s.parse::<TaskState>())
        .transpose()
        .map_err(|err| bad("state", err.to_string()))?;
    let time = |field: &str, value: Option<String>| {
        value
            .map(|v| {
                DateTime::parse_from_rfc3339(&v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|err| bad(field, format!("`{field}` is not an RFC 3339 time: {err}")))
            })
            .transpose()
    };
    let number = |field: &str, value: Option<String>, default: u64| {
        value.map_or(Ok(default), |v| {
            v.parse::<u64>()
                .map_err(|_| bad(field, format!("`{field}` must be a positive integer")))
        })
    };
    let filter = TaskFilter {
        state,
        task_type: query.task_type,
        queue: query.queue,
        created_after: time("created_after", query.created_after)?,
        created_before: time("created_before", query.created_before)?,
    };
    let page = PageRequest::new(
        number("page", query.page, 1)?,
        number("page_size", query.page_size, PageRequest::DEFAULT_PAGE_SIZE)?,
    );
    if page.offset() > MAX_OFFSET {
        return Err(bad("page", "`page` is beyond any list".to_owned()));
    }
    Ok((filter, page))
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; `None` when the bytes are not UTF-8. A stray `%` stays literal.
fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Lists tasks with filters and pagination, newest first.
#[utoipa::path(get, path = "/api/tasks", tag = "tasks", params(ListQuery),
    responses((status = 200, body = TaskList), (status = 400, body = ErrorBody)))]
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
    let bad = |message: String| {
        ApiError::bad_request("bad_query", message).with_details(json!({ "field": "wait" }))
    };
    let mut query = DetailQuery::default();
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)
            .ok_or_else(|| ApiError::bad_request("bad_query", "query is not valid UTF-8"))?;
        if key != "wait" {
            return Err(ApiError::bad_request(
                "bad_query",
                format!("unknown query parameter `{key}`"),
            )
            .with_details(json!({ "field": key })));
        }
        query.wait =
            Some(percent_decode(value).ok_or_else(|| bad("`wait` is not valid UTF-8".into()))?);
    }
    let Some(text) = query.wait else {
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
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = uuid::Uuid, Path), DetailQuery),
    responses(
        (status = 200, description = "the record; with `wait`, once ended or when the wait ran out", body = TaskRecord),
        (status = 400, description = "malformed id, or a `wait` that is malformed, zero or over 60 s", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
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
#[utoipa::path(delete, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody),
        (status = 409, description = "the task is pending or running", body = ErrorBody)))]
pub(crate) async fn delete(
    State(client): State<Client>,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<StatusCode, ApiError> {
    client.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancels a pending task at once, a running one through its token.
#[utoipa::path(post, path = "/api/tasks/{id}/cancel", tag = "tasks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TaskRecord), (status = 404, body = ErrorBody),
        (status = 409, description = "the task already ended", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(client): State<Client>,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<Json<TaskRecord>, ApiError> {
    Ok(Json(client.cancel(id).await?))
}

/// Runs a failed or cancelled task again (same id).
#[utoipa::path(post, path = "/api/tasks/{id}/retry", tag = "tasks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TaskRecord), (status = 404, body = ErrorBody),
        (status = 409, description = "the task is not failed or cancelled", body = ErrorBody)))]
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
#[utoipa::path(post, path = "/api/tasks/{id}/reorder", tag = "tasks", request_body = ReorderRequest,
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TaskRecord), (status = 404, body = ErrorBody),
        (status = 409, description = "the task is not pending", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
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
    Ok(Json(client.reorder(id, position).await?))
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
#[utoipa::path(post, path = "/api/tasks/purge", tag = "tasks", request_body = PurgeRequest,
    responses((status = 200, body = PurgeResult), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
            let age = chrono::Duration::from_std(age)
                .map_err(|_| ApiError::invalid_field("older_than", "older_than is too long"))?;
            Utc::now()
                .checked_sub_signed(age)
                .ok_or_else(|| ApiError::invalid_field("older_than", "older_than is too long"))?
        }
    };
    let deleted = client.purge_states(&states, before).await?;
    Ok(Json(PurgeResult { deleted }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_query_decoding_keeps_stray_percents() {
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(
            percent_decode("2026-01-01T00:00:00%2B02:00").as_deref(),
            Some("2026-01-01T00:00:00+02:00")
        );
    }

    #[test]
    fn http_list_query_names_the_bad_field() {
        let err = parse_list_query(Some("page=abc")).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.details["field"], "page");
        let err = parse_list_query(Some("page=18446744073709551615")).unwrap_err();
        assert_eq!(err.details["field"], "page");
        let (filter, page) = parse_list_query(Some("state=running&page_size=1000")).unwrap();
        assert_eq!(filter.state, Some(TaskState::Running));
        assert_eq!(page.page_size, PageRequest::MAX_PAGE_SIZE);
    }
}
