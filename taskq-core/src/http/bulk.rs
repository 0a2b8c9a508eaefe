//! `POST api/tasks/bulk`: retry, cancel or delete many tasks in one call,
//! named by id or found by a filter, at most 1,000 a call
//! ([`Client::bulk`]); the answer counts what matched, changed and was
//! skipped, with each skipped task's reason as its own route would give
//! it.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::errors::{ApiError, ApiJson, ErrorBody};
use crate::backend::TaskFilter;
use crate::bulk::{BulkAction, BulkTarget, MAX_BULK};
use crate::client::Client;
use crate::lifecycle;
use crate::task::{TaskId, TaskState};

/// `{"action": "retry", "ids": [...]}` or `{"action": "retry", "filter":
/// {"state": "FAILED", "queue": "emails"}}`: exactly one of `ids` and
/// `filter`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub action: BulkAction,
    /// The tasks, at most 1,000 (a repeated id counts once).
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    pub ids: Option<Vec<TaskId>>,
    /// Or the tasks `GET api/tasks` would list with these filters, newest
    /// first, the first 1,000 of them.
    pub filter: Option<BulkFilter>,
}

/// The filters of `GET api/tasks`, as JSON; none given matches every
/// task.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    pub state: Option<TaskState>,
    pub task_type: Option<String>,
    pub queue: Option<String>,
    /// Carrying every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Queued by a firing of this schedule.
    pub schedule: Option<String>,
    /// Whose metadata has each of these top-level keys with an equal
    /// scalar value (as `GET api/tasks`'s `meta.KEY`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: std::collections::BTreeMap<String, serde_json::Value>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
}

/// What a bulk call did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    pub action: BulkAction,
    /// Tasks named: the distinct ids given, or every task the filter
    /// matches (over all pages, beyond this call's 1,000 too).
    pub matched: u64,
    /// Tasks the action changed.
    pub changed: u64,
    /// Tasks of this call it did not change, each in `errors`.
    pub skipped: u64,
    /// Tasks the filter matches beyond this call's 1,000 (`0` for ids).
    /// With a filter the action takes out of it (retry `FAILED`, cancel
    /// `PENDING`, delete any ended state), calling again reaches them.
    pub remaining: u64,
    /// Why each skipped task was skipped, in the order acted on.
    pub errors: Vec<BulkError>,
}

/// Why one task was not changed: the error its own route would answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkError {
    #[schema(value_type = uuid::Uuid)]
    pub id: TaskId,
    /// `not_found`, `invalid_transition` (a state the action does not
    /// apply to), or the route's other codes.
    pub code: String,
    pub message: String,
}

/// Retries, cancels or deletes many tasks, named by id or found by a
/// filter, at most 1,000 a call. A task the action does not apply to (not
/// found, in another state) is skipped and listed with its reason; the
/// others change as through their own routes.
#[utoipa::path(post, path = "/api/tasks/bulk", tag = "tasks", operation_id = "bulk_tasks",
    request_body = BulkRequest,
    responses((status = 200, description = "what was matched, changed and skipped (with why)", body = BulkResult),
        (status = 400, description = "malformed JSON; neither or both of `ids` and `filter`, more than 1,000 ids, a bad tag or metadata filter (`invalid_argument`, `details.field`); nothing changed", body = ErrorBody),
        (status = 422, description = "a body that does not fit: an unknown action, field or state, an id that is not a UUID (`invalid_field`, `details.field`); nothing changed", body = ErrorBody)))]
pub(crate) async fn bulk(
    State(client): State<Client>,
    ApiJson(request): ApiJson<BulkRequest>,
) -> Result<Json<BulkResult>, ApiError> {
    let target = match (request.ids, request.filter) {
        (Some(ids), None) => {
            // Checked here too, so that the field is named.
            let distinct: std::collections::HashSet<&TaskId> = ids.iter().collect();
            if distinct.len() > MAX_BULK {
                return Err(ApiError::invalid_argument(
                    "ids",
                    format!("{} ids: at most {MAX_BULK} a call", distinct.len()),
                ));
            }
            BulkTarget::Ids(ids)
        }
        (None, Some(filter)) => BulkTarget::Filter(task_filter(filter)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_argument(
                "filter",
                "give either `ids` or `filter`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid_argument(
                "ids",
                "give the tasks: `ids` or `filter`",
            ));
        }
    };
    let report = client.bulk(request.action, target).await?;
    let errors: Vec<BulkError> = report
        .skipped
        .into_iter()
        .map(|(id, err)| {
            let err = ApiError::from(err);
            BulkError {
                id,
                code: err.code.to_owned(),
                message: err.message,
            }
        })
        .collect();
    Ok(Json(BulkResult {
        action: report.action,
        matched: report.matched,
        changed: report.changed,
        skipped: errors.len() as u64,
        remaining: report.remaining,
        errors,
    }))
}

/// The list filter of a bulk filter; a tag no task can carry, or a
/// metadata filter the list refuses, is a `400` naming `filter.tags` or
/// `filter.metadata`, as `GET api/tasks` answers for `tag` and `meta.*`.
fn task_filter(filter: BulkFilter) -> Result<TaskFilter, ApiError> {
    if let Some(tag) = filter.tags.iter().find(|t| !lifecycle::is_valid_tag(t)) {
        return Err(ApiError::invalid_argument(
            "filter.tags",
            format!(
                "{tag:?} is not a tag: 1 to 64 lowercase ASCII letters, digits, `_`, `-`, `.`, `:`, `=` or `/`"
            ),
        ));
    }
    // The list's own check, with the field's place in this body.
    lifecycle::check_metadata_filter(&filter.metadata)
        .map_err(|err| ApiError::invalid_argument("filter.metadata", err.to_string()))?;
    Ok(TaskFilter {
        state: filter.state,
        task_type: filter.task_type,
        queue: filter.queue,
        created_after: filter.created_after,
        created_before: filter.created_before,
        tags: filter.tags,
        schedule: filter.schedule,
        metadata: filter.metadata,
    })
}
