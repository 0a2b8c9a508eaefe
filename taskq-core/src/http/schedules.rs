//! `api/schedules`: create, update, enable, disable, delete, list, run now.

use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::errors::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::backend::PageRequest;
use crate::client::Client;
use crate::schedule::{MisfirePolicy, Schedule, ScheduleDef, ScheduleKind};
use crate::task::TaskRecord;

/// A schedule as the API takes it. `kind` picks the timing: `once` with
/// `at`, `interval` with `every` (seconds), or `cron` with `expression`
/// (and `time_zone`, UTC by default).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Unique name (1 to 200 characters). On update, the path's name wins
    /// and this may be left out.
    pub name: Option<String>,
    /// The registered task type each tick submits.
    pub task_type: String,
    /// Params of each submitted task, checked against the task's type.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Option<Value>,
    /// `once`, `interval` or `cron`.
    pub kind: ScheduleKindName,
    /// With `once`: when.
    pub at: Option<DateTime<Utc>>,
    /// With `interval`: seconds between ticks.
    pub every: Option<f64>,
    /// With `cron`: 5 fields, or 6 with seconds first.
    pub expression: Option<String>,
    /// With `cron`: an IANA time zone (default `UTC`).
    pub time_zone: Option<String>,
    /// Default `true`.
    pub enabled: Option<bool>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub max_runs: Option<u64>,
    pub queue: Option<String>,
    pub priority: Option<i32>,
    #[serde(default)]
    pub description: String,
    /// `skip`, `run_once` (default) or `run_each` (with `misfire_max`).
    pub misfire: Option<MisfireName>,
    /// With `misfire: run_each`: at most this many missed ticks run.
    pub misfire_max: Option<u32>,
}

/// The timing kinds.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKindName {
    Once,
    Interval,
    Cron,
}

/// What happens to ticks missed during downtime.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MisfireName {
    Skip,
    RunOnce,
    RunEach,
}

fn required<T>(value: Option<T>, field: &str, kind: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::invalid_field(field, format!("`{kind}` needs `{field}`")))
}

fn forbidden<T>(value: &Option<T>, field: &str, kind: &str) -> Result<(), ApiError> {
    match value {
        Some(_) => Err(ApiError::invalid_field(
            field,
            format!("`{field}` does not go with `{kind}`"),
        )),
        None => Ok(()),
    }
}

impl ScheduleRequest {
    fn into_def(self, name: String) -> Result<ScheduleDef, ApiError> {
        let kind = match self.kind {
            ScheduleKindName::Once => {
                forbidden(&self.every, "every", "once")?;
                forbidden(&self.expression, "expression", "once")?;
                forbidden(&self.time_zone, "time_zone", "once")?;
                ScheduleKind::Once {
                    at: required(self.at, "at", "once")?,
                }
            }
            ScheduleKindName::Interval => {
                forbidden(&self.at, "at", "interval")?;
                forbidden(&self.expression, "expression", "interval")?;
                forbidden(&self.time_zone, "time_zone", "interval")?;
                let every = required(self.every, "every", "interval")?;
                let every = Duration::try_from_secs_f64(every).map_err(|_| {
                    ApiError::invalid_field("every", "must be a positive number of seconds")
                })?;
                ScheduleKind::Interval { every }
            }
            ScheduleKindName::Cron => {
                forbidden(&self.at, "at", "cron")?;
                forbidden(&self.every, "every", "cron")?;
                ScheduleKind::Cron {
                    expression: required(self.expression, "expression", "cron")?,
                    time_zone: self.time_zone.unwrap_or_else(|| "UTC".to_owned()),
                }
            }
        };
        let misfire = match (self.misfire, self.misfire_max) {
            (None | Some(MisfireName::RunOnce), None) => MisfirePolicy::RunOnce,
            (Some(MisfireName::Skip), None) => MisfirePolicy::Skip,
            (Some(MisfireName::RunEach), Some(max)) => MisfirePolicy::RunEach { max },
            (Some(MisfireName::RunEach), None) => {
                return Err(ApiError::invalid_field(
                    "misfire_max",
                    "`run_each` needs `misfire_max`",
                ));
            }
            (_, Some(_)) => {
                return Err(ApiError::invalid_field(
                    "misfire_max",
                    "`misfire_max` only goes with `misfire: run_each`",
                ));
            }
        };
        Ok(ScheduleDef {
            name,
            task_type: self.task_type,
            params: self.params.unwrap_or_else(|| json!({})),
            kind,
            enabled: self.enabled.unwrap_or(true),
            start_at: self.start_at,
            end_at: self.end_at,
            max_runs: self.max_runs,
            queue: self.queue,
            priority: self.priority,
            description: self.description,
            misfire,
        })
    }
}

/// One page of schedules, by name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleList {
    /// Each schedule: its definition (as in the request, `kind` flattened)
    /// with `last_run_at`, `next_run_at`, `run_count`, `last_task_id`,
    /// `revision` (bumped by every edit), `created_at`, `updated_at`.
    #[schema(value_type = Vec<Object>)]
    pub schedules: Vec<Schedule>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub total_pages: u64,
}

/// Lists schedules by name (`page`, `page_size` as for tasks).
#[utoipa::path(get, path = "/api/schedules", tag = "schedules",
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, body = ScheduleList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(client): State<Client>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ScheduleList>, ApiError> {
    let mut page = 1;
    let mut page_size = PageRequest::DEFAULT_PAGE_SIZE;
    for pair in raw
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let target = match key {
            "page" => &mut page,
            "page_size" => &mut page_size,
            other => {
                return Err(ApiError::bad_request(
                    "bad_query",
                    format!("unknown query parameter `{other}`"),
                )
                .with_details(json!({ "field": other })));
            }
        };
        *target = value.parse().map_err(|_| {
            ApiError::bad_request("bad_query", format!("`{key}` must be a positive integer"))
                .with_details(json!({ "field": key }))
        })?;
    }
    let found = client
        .list_schedules(PageRequest::new(page, page_size))
        .await?;
    Ok(Json(ScheduleList {
        total_pages: found.total.div_ceil(found.page_size.max(1)),
        schedules: found.items,
        total: found.total,
        page: found.page,
        page_size: found.page_size,
    }))
}

/// Creates a schedule; `409` when the name is taken.
#[utoipa::path(post, path = "/api/schedules", tag = "schedules", request_body = ScheduleRequest,
    responses((status = 201, description = "the stored schedule", body = Object),
        (status = 409, body = ErrorBody),
        (status = 413, description = "params over the client's `PayloadLimits`", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(client): State<Client>,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let name = request
        .name
        .clone()
        .ok_or_else(|| ApiError::invalid_field("name", "a schedule needs a name"))?;
    let schedule = client.create_schedule(request.into_def(name)?).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

/// One schedule.
#[utoipa::path(get, path = "/api/schedules/{name}", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn detail(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(client.get_schedule(&name).await?))
}

/// Replaces a schedule's definition; its run bookkeeping stays.
#[utoipa::path(put, path = "/api/schedules/{name}", tag = "schedules", request_body = ScheduleRequest,
    params(("name" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
        (status = 413, description = "params over the client's `PayloadLimits`", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> Result<Json<Schedule>, ApiError> {
    if request.name.as_ref().is_some_and(|body| *body != name) {
        return Err(ApiError::invalid_field(
            "name",
            "the body's name differs from the path's (renaming is not supported)",
        ));
    }
    Ok(Json(client.update_schedule(request.into_def(name)?).await?))
}

/// Lets a disabled schedule fire again.
#[utoipa::path(post, path = "/api/schedules/{name}/enable", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn enable(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(client.enable_schedule(&name).await?))
}

/// Stops a schedule from firing; its definition stays.
#[utoipa::path(post, path = "/api/schedules/{name}/disable", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn disable(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(client.disable_schedule(&name).await?))
}

/// Submits the schedule's task now, recorded as a run (last run, last
/// task, run count, which `max_runs` caps); its ticks are otherwise not
/// affected.
#[utoipa::path(post, path = "/api/schedules/{name}/run", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 201, body = TaskRecord), (status = 404, body = ErrorBody)))]
pub(crate) async fn run_now(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<TaskRecord>), ApiError> {
    let id = client.run_schedule_now(&name).await?;
    Ok((StatusCode::CREATED, Json(client.get(id).await?)))
}

/// Deletes a schedule; tasks it submitted stay.
#[utoipa::path(delete, path = "/api/schedules/{name}", tag = "schedules",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    client.delete_schedule(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
