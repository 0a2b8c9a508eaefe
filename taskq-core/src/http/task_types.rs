//! `api/task-types`: what the registry knows — the seeds' "list of
//! registered tasks for the page", with the JSON schema the dashboard
//! builds its submit form from.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::errors::{ApiError, ApiPath};
use crate::client::Client;
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
}

impl TaskTypeInfo {
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
        }
    }
}

/// Every registered task type, by name.
#[utoipa::path(get, path = "/api/task-types", tag = "task types", operation_id = "list_task_types",
    responses((status = 200, description = "every registered task type", body = [TaskTypeInfo])))]
pub(crate) async fn list(State(client): State<Client>) -> Json<Vec<TaskTypeInfo>> {
    Json(client.registry().iter().map(TaskTypeInfo::of).collect())
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
    client
        .registry()
        .get(&name)
        .map(|def| Json(TaskTypeInfo::of(def)))
        .ok_or_else(|| ApiError::not_found("task type", &name))
}
