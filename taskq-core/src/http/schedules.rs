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
use super::query;
use crate::client::Client;
use crate::schedule::{MisfirePolicy, Schedule, ScheduleDef, ScheduleKind};
use crate::task::{TaskId, TaskRecord};
use crate::workflow::WorkflowSpec;

/// A schedule as the API takes it. `kind` picks the timing: `once` with
/// `at`, `interval` with `every` (seconds), or `cron` with `expression`
/// (and `time_zone`, UTC by default).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Unique name: 1 to 200 characters, not `.` or `..`, without `/` or
    /// control characters. On update, the path's name wins and this may be
    /// left out.
    pub name: Option<String>,
    /// The registered task type each tick submits; leave it out with
    /// `workflow`.
    #[serde(default)]
    pub task_type: Option<String>,
    /// Params of each submitted task, checked against the task's type.
    /// Default `{}`, or `null` for a task whose params are `()`; left out
    /// with `workflow`.
    #[serde(default)]
    pub params: Option<Value>,
    /// Instead of `task_type`: a workflow each tick submits whole (every
    /// step checked against its type now, as `POST api/workflows` does).
    #[serde(default)]
    pub workflow: Option<WorkflowSpec>,
    /// `once`, `interval` or `cron`.
    pub kind: ScheduleKindName,
    /// With `once`: when.
    pub at: Option<DateTime<Utc>>,
    /// With `interval`: seconds between ticks (at least 1, at most 100
    /// years, whole milliseconds).
    #[schema(minimum = 1)]
    pub every: Option<f64>,
    /// With `cron`: 5 fields, or 6 with seconds first.
    pub expression: Option<String>,
    /// With `cron`: an IANA time zone (default `UTC`).
    pub time_zone: Option<String>,
    /// Default `true`.
    pub enabled: Option<bool>,
    /// No tick before this time (1970 to the end of year 9999).
    pub start_at: Option<DateTime<Utc>>,
    /// No tick after this time (1970 to the end of year 9999).
    pub end_at: Option<DateTime<Utc>>,
    /// At most this many runs in all.
    #[schema(minimum = 1)]
    pub max_runs: Option<u64>,
    /// Submit to this queue instead of the task type's.
    #[schema(pattern = r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,100}$")]
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
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
                    ApiError::invalid_argument("every", "must be a positive number of seconds")
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
        let (task_type, params) = match (self.task_type, &self.workflow) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    "workflow",
                    "give `task_type` or `workflow`, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid_field(
                    "task_type",
                    "give `task_type` (or `workflow`)",
                ));
            }
            // `{}` becomes `null` for a unit task in the client.
            (Some(task_type), None) => (task_type, self.params.unwrap_or_else(|| json!({}))),
            (None, Some(_)) => (String::new(), self.params.unwrap_or(Value::Null)),
        };
        Ok(ScheduleDef {
            name,
            task_type,
            params,
            workflow: self.workflow,
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

/// A stored schedule as the routes answer it: the JSON of [`Schedule`]
/// (the definition with `kind` and its one timing field, then the run
/// bookkeeping), spelled out as one flat object. `Schedule` flattens a
/// tagged enum into its definition, which OpenAPI can only say as an
/// `allOf` over a `oneOf` — a shape client generators give up on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleInfo {
    pub name: String,
    /// The registered task type each tick submits (empty for a workflow
    /// schedule).
    pub task_type: String,
    /// Params of each submitted task (`null` for a task without params,
    /// and for a workflow schedule).
    pub params: Value,
    /// The workflow each tick submits, for a workflow schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowSpec>,
    /// `once`, `interval` or `cron`; the field of that kind is set.
    pub kind: ScheduleKindName,
    /// With `once`: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// With `interval`: seconds between ticks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<f64>,
    /// With `cron`: the expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// With `cron`: its IANA time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A disabled schedule keeps its definition and does not fire.
    pub enabled: bool,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub max_runs: Option<u64>,
    pub queue: Option<String>,
    pub priority: Option<i32>,
    pub description: String,
    /// What happens to ticks missed during downtime.
    pub misfire: MisfirePolicy,
    /// When it last fired.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The tick it waits for; `null` while disabled or once it is done.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Runs of its firings (and runs now), in all: tasks, or workflows.
    pub run_count: u64,
    /// The last task a firing submitted (a workflow's first step).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub last_task_id: Option<TaskId>,
    /// Bumped by every edit, enable and disable included.
    pub revision: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Schedule> for ScheduleInfo {
    fn from(schedule: Schedule) -> Self {
        let Schedule {
            def,
            last_run_at,
            next_run_at,
            run_count,
            last_task_id,
            revision,
            created_at,
            updated_at,
        } = schedule;
        let (kind, at, every, expression, time_zone) = match def.kind {
            ScheduleKind::Once { at } => (ScheduleKindName::Once, Some(at), None, None, None),
            ScheduleKind::Interval { every } => {
                let every = Some(every.as_secs_f64());
                (ScheduleKindName::Interval, None, every, None, None)
            }
            ScheduleKind::Cron {
                expression,
                time_zone,
            } => {
                let cron = (Some(expression), Some(time_zone));
                (ScheduleKindName::Cron, None, None, cron.0, cron.1)
            }
        };
        ScheduleInfo {
            name: def.name,
            task_type: def.task_type,
            params: def.params,
            workflow: def.workflow,
            kind,
            at,
            every,
            expression,
            time_zone,
            enabled: def.enabled,
            start_at: def.start_at,
            end_at: def.end_at,
            max_runs: def.max_runs,
            queue: def.queue,
            priority: def.priority,
            description: def.description,
            misfire: def.misfire,
            last_run_at,
            next_run_at,
            run_count,
            last_task_id,
            revision,
            created_at,
            updated_at,
        }
    }
}

/// One page of schedules, by name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleInfo>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub total_pages: u64,
}

/// Lists schedules by name (`page`, `page_size` as for tasks).
#[utoipa::path(get, path = "/api/schedules", tag = "schedules", operation_id = "list_schedules",
    params(
        ("page" = Option<u64>, Query, description = "1-based (default 1)"),
        ("page_size" = Option<u64>, Query, description = "Default 20; more than 100 is taken as 100")),
    responses((status = 200, description = "one page of schedules", body = ScheduleList),
        (status = 400, description = "a malformed or unknown query parameter (`bad_query`; `details.field` names it)", body = ErrorBody)))]
pub(crate) async fn list(
    State(client): State<Client>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ScheduleList>, ApiError> {
    let (mut page, mut page_size) = (None, None);
    for (key, value) in query::pairs(raw.as_deref(), &["page", "page_size"])? {
        match key.as_str() {
            "page" => page = value,
            _ => page_size = value,
        }
    }
    let page = query::page(page.as_deref(), page_size.as_deref())?;
    let found = client.list_schedules(page).await?;
    Ok(Json(ScheduleList {
        total_pages: found.total.div_ceil(found.page_size.max(1)),
        schedules: found.items.into_iter().map(ScheduleInfo::from).collect(),
        total: found.total,
        page: found.page,
        page_size: found.page_size,
    }))
}

/// Creates a schedule; `409` when the name is taken.
#[utoipa::path(post, path = "/api/schedules", tag = "schedules", operation_id = "create_schedule",
    request_body = ScheduleRequest,
    responses((status = 201, description = "the stored schedule", body = ScheduleInfo),
        (status = 400, description = "malformed JSON, a value out of range (`invalid_argument`) or a bad schedule or queue name (`invalid_name`); `details.field` names it", body = ErrorBody),
        (status = 409, description = "the name is taken (`schedule_exists`)", body = ErrorBody),
        (status = 413, description = "params over the client's `PayloadLimits`", body = ErrorBody),
        (status = 422, description = "a field of the wrong type, missing or that does not go with `kind` (`invalid_field`), an unknown task type, params that do not fit it, a bad cron expression or time zone, a definition that does not hold together (`invalid_schedule`), a workflow step that does not check (`invalid_workflow`, `details.step` names it); `details.field` names it", body = ErrorBody)))]
pub(crate) async fn create(
    State(client): State<Client>,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleInfo>), ApiError> {
    let name = request
        .name
        .clone()
        .ok_or_else(|| ApiError::invalid_field("name", "a schedule needs a name"))?;
    let schedule = client.create_schedule(request.into_def(name)?).await?;
    Ok((StatusCode::CREATED, Json(schedule.into())))
}

/// One schedule.
#[utoipa::path(get, path = "/api/schedules/{name}", tag = "schedules", operation_id = "get_schedule",
    params(("name" = String, Path, description = "the schedule's name")),
    responses((status = 200, description = "the schedule", body = ScheduleInfo),
        (status = 404, description = "no schedule has this name", body = ErrorBody)))]
pub(crate) async fn detail(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ScheduleInfo>, ApiError> {
    Ok(Json(client.get_schedule(&name).await?.into()))
}

/// Replaces a schedule's definition; its run bookkeeping stays.
#[utoipa::path(put, path = "/api/schedules/{name}", tag = "schedules", operation_id = "update_schedule",
    request_body = ScheduleRequest, params(("name" = String, Path, description = "the schedule's name")),
    responses((status = 200, description = "the schedule with its new definition", body = ScheduleInfo),
        (status = 400, description = "malformed JSON, a value out of range (`invalid_argument`) or a bad queue name (`invalid_name`); `details.field` names it", body = ErrorBody),
        (status = 404, description = "no schedule has this name", body = ErrorBody),
        (status = 413, description = "params over the client's `PayloadLimits`", body = ErrorBody),
        (status = 422, description = "as for create, and a body `name` other than the path's; `details.field` names the field", body = ErrorBody)))]
pub(crate) async fn update(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> Result<Json<ScheduleInfo>, ApiError> {
    if request.name.as_ref().is_some_and(|body| *body != name) {
        return Err(ApiError::invalid_field(
            "name",
            "the body's name differs from the path's (renaming is not supported)",
        ));
    }
    Ok(Json(
        client
            .update_schedule(request.into_def(name)?)
            .await?
            .into(),
    ))
}

/// Lets a disabled schedule fire again.
#[utoipa::path(post, path = "/api/schedules/{name}/enable", tag = "schedules", operation_id = "enable_schedule",
    params(("name" = String, Path, description = "the schedule's name")),
    responses((status = 200, description = "the schedule, enabled", body = ScheduleInfo),
        (status = 404, description = "no schedule has this name", body = ErrorBody)))]
pub(crate) async fn enable(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ScheduleInfo>, ApiError> {
    Ok(Json(client.enable_schedule(&name).await?.into()))
}

/// Stops a schedule from firing; its definition stays.
#[utoipa::path(post, path = "/api/schedules/{name}/disable", tag = "schedules", operation_id = "disable_schedule",
    params(("name" = String, Path, description = "the schedule's name")),
    responses((status = 200, description = "the schedule, disabled", body = ScheduleInfo),
        (status = 404, description = "no schedule has this name", body = ErrorBody)))]
pub(crate) async fn disable(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ScheduleInfo>, ApiError> {
    Ok(Json(client.disable_schedule(&name).await?.into()))
}

/// Submits the schedule's task (or its whole workflow) now, recorded as a
/// run (last run, last task, run count, which `max_runs` caps); its ticks
/// are otherwise not affected. Answers with the task, or the workflow's
/// first step (its `step.workflow` names the workflow).
#[utoipa::path(post, path = "/api/schedules/{name}/run", tag = "schedules", operation_id = "run_schedule",
    params(("name" = String, Path, description = "the schedule's name")),
    responses((status = 201, description = "the task it submitted (a workflow's first step)", body = TaskRecord),
        (status = 404, description = "no schedule has this name", body = ErrorBody),
        (status = 422, description = "the schedule's task type is no longer registered (`unknown_task_type`), or a workflow step no longer checks (`invalid_workflow`)", body = ErrorBody)))]
pub(crate) async fn run_now(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<TaskRecord>), ApiError> {
    let id = client.run_schedule_now(&name).await?;
    Ok((StatusCode::CREATED, Json(client.get(id).await?)))
}

/// Deletes a schedule; tasks it submitted stay.
#[utoipa::path(delete, path = "/api/schedules/{name}", tag = "schedules", operation_id = "delete_schedule",
    params(("name" = String, Path, description = "the schedule's name")),
    responses((status = 204, description = "deleted"),
        (status = 404, description = "no schedule has this name", body = ErrorBody)))]
pub(crate) async fn delete(
    State(client): State<Client>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    client.delete_schedule(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer is the JSON of the stored schedule, key for key, for
    /// every kind: the flat schema describes what `Schedule` serializes.
    #[test]
    fn http_schedule_info_serializes_as_the_stored_schedule() {
        let now = Utc::now();
        let defs = [
            ScheduleDef::once("o", "t", now + chrono::Duration::hours(1)),
            ScheduleDef::interval("i", "t", Duration::from_millis(90_500))
                .queue("q")
                .max_runs(3)
                .misfire(MisfirePolicy::RunEach { max: 2 }),
            ScheduleDef::cron_in("c", "t", "0 9 * * 1-5", "Europe/Paris")
                .params(json!({ "to": "ops" }))
                .enabled(false),
        ];
        for def in defs {
            let mut schedule = Schedule::new(def, now).expect("valid");
            schedule.last_task_id = Some(uuid::Uuid::now_v7());
            schedule.run_count = 4;
            let stored = serde_json::to_value(&schedule).unwrap();
            let answered = serde_json::to_value(ScheduleInfo::from(schedule)).unwrap();
            assert_eq!(answered, stored);
        }
    }
}
