//! `api/queues`: depth, pause flags, limits and rate limits per queue;
//! pause, resume, limit, rate limit, fairness, purge.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::errors::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::backend::{PageRequest, QueueStats, TaskFilter};
use crate::client::Client;
use crate::error::Error;
use crate::rate_limit::RateLimit;
use crate::task::TaskState;

/// Every queue with tasks, a pause flag, a limit or a rate limit.
#[utoipa::path(get, path = "/api/queues", tag = "queues", operation_id = "list_queues",
    responses((status = 200, description = "every queue with tasks, a pause flag, a limit or a rate limit", body = [QueueStats])))]
pub(crate) async fn list(State(client): State<Client>) -> Result<Json<Vec<QueueStats>>, ApiError> {
    Ok(Json(client.queue_stats().await?))
}

/// The stats of one queue after a change (zeros for a queue without tasks).
async fn stats_of(client: &Client, queue: &str) -> Result<QueueStats, ApiError> {
    let stats = client.queue_stats().await?;
    Ok(stats
        .into_iter()
        .find(|s| s.queue == queue)
        .unwrap_or_else(|| QueueStats {
            queue: queue.to_owned(),
            ..QueueStats::default()
        }))
}

/// Stops every worker from claiming from the queue; running tasks go on.
#[utoipa::path(post, path = "/api/queues/{queue}/pause", tag = "queues", operation_id = "pause_queue",
    params(("queue" = String, Path, description = "the queue's name")),
    responses((status = 200, description = "the queue, paused", body = QueueStats),
        (status = 400, description = "a bad queue name (`invalid_name`; `details.field` is `queue`)", body = ErrorBody)))]
pub(crate) async fn pause(
    State(client): State<Client>,
    ApiPath(queue): ApiPath<String>,
) -> Result<Json<QueueStats>, ApiError> {
    client.pause_queue(&queue).await?;
    Ok(Json(stats_of(&client, &queue).await?))
}

/// Lets workers claim from the queue again.
#[utoipa::path(post, path = "/api/queues/{queue}/resume", tag = "queues", operation_id = "resume_queue",
    params(("queue" = String, Path, description = "the queue's name")),
    responses((status = 200, description = "the queue, resumed", body = QueueStats),
        (status = 400, description = "a bad queue name (`invalid_name`; `details.field` is `queue`)", body = ErrorBody)))]
pub(crate) async fn resume(
    State(client): State<Client>,
    ApiPath(queue): ApiPath<String>,
) -> Result<Json<QueueStats>, ApiError> {
    client.resume_queue(&queue).await?;
    Ok(Json(stats_of(&client, &queue).await?))
}

/// `{"limit": n}` sets the queue's limit, `{"limit": null}` lifts it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueLimitRequest {
    /// At most this many of the queue's tasks run at once, on every worker
    /// and host together; at least 1. `null` lifts the limit. Required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, required = true)]
    pub limit: Option<Option<u32>>,
}

/// A field that is present: `Some(value)`, `null` included; a missing
/// field stays `None` (`serde(default)`).
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Sets or lifts the queue's limit: at most `limit` of its tasks run at
/// once across every worker. It applies to the next claim of every worker;
/// running tasks over a lowered limit go on.
#[utoipa::path(put, path = "/api/queues/{queue}/limit", tag = "queues", operation_id = "set_queue_limit",
    params(("queue" = String, Path, description = "the queue's name")),
    request_body = QueueLimitRequest,
    responses((status = 200, description = "the queue, with its limit", body = QueueStats),
        (status = 400, description = "a bad queue name (`invalid_name`; `details.field` is `queue`) or a limit of 0 (`invalid_argument`; `details.field` is `limit`)", body = ErrorBody),
        (status = 422, description = "no `limit`, or one that is not null nor a whole number up to 4294967295 (`invalid_field`; `details.field` is `limit`)", body = ErrorBody)))]
pub(crate) async fn limit(
    State(client): State<Client>,
    ApiPath(queue): ApiPath<String>,
    ApiJson(request): ApiJson<QueueLimitRequest>,
) -> Result<Json<QueueStats>, ApiError> {
    let limit = request.limit.ok_or_else(|| {
        ApiError::invalid_field(
            "limit",
            "missing field `limit`: a number, or null to lift it",
        )
    })?;
    client
        .set_queue_limit(&queue, limit)
        .await
        .map_err(|err| match err {
            Error::InvalidArgument(message) => ApiError::invalid_argument("limit", message),
            other => other.into(),
        })?;
    Ok(Json(stats_of(&client, &queue).await?))
}

/// `{"rate_limit": {"starts": n, "period_ms": ms}}` sets the queue's rate
/// limit, `{"rate_limit": null}` lifts it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueRateLimitRequest {
    /// At most `starts` (at least 1) of the queue's tasks start per
    /// `period_ms` (1 ms to 366 days), on every worker and host together:
    /// a token bucket of `starts` tokens. `null` lifts it. Required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>, required = true)]
    pub rate_limit: Option<Option<RateLimit>>,
}

/// Sets or lifts the queue's rate limit: at most `starts` of its tasks
/// start per `period_ms`, across every worker. It applies to the next
/// claim of every worker; a changed limit keeps what the bucket spent.
/// Held-back tasks stay `PENDING`; the stats show until when
/// (`rate_held_until`).
#[utoipa::path(put, path = "/api/queues/{queue}/rate-limit", tag = "queues", operation_id = "set_queue_rate_limit",
    params(("queue" = String, Path, description = "the queue's name")),
    request_body = QueueRateLimitRequest,
    responses((status = 200, description = "the queue, with its rate limit", body = QueueStats),
        (status = 400, description = "a bad queue name (`invalid_name`; `details.field` is `queue`), `starts` of 0 or a period out of range (`invalid_argument`; `details.field` is `rate_limit.starts` or `rate_limit.period_ms`)", body = ErrorBody),
        (status = 422, description = "no `rate_limit`, or one that is not null nor `{starts, period_ms}` of whole numbers (`invalid_field`; `details.field` names it)", body = ErrorBody)))]
pub(crate) async fn rate_limit(
    State(client): State<Client>,
    ApiPath(queue): ApiPath<String>,
    ApiJson(request): ApiJson<QueueRateLimitRequest>,
) -> Result<Json<QueueStats>, ApiError> {
    let limit = request.rate_limit.ok_or_else(|| {
        ApiError::invalid_field(
            "rate_limit",
            "missing field `rate_limit`: {starts, period_ms}, or null to lift it",
        )
    })?;
    client
        .set_queue_rate_limit(&queue, limit)
        .await
        .map_err(
            |err| match (err, limit.as_ref().and_then(RateLimit::bad_field)) {
                (Error::InvalidArgument(message), Some(field)) => {
                    ApiError::invalid_argument(format!("rate_limit.{field}"), message)
                }
                (other, _) => other.into(),
            },
        )?;
    Ok(Json(stats_of(&client, &queue).await?))
}

/// `{"fair": true}` makes the queue's concurrency keys take turns,
/// `{"fair": false}` stops it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueFairRequest {
    /// Whether the queue's keys take turns. Required.
    pub fair: bool,
}

/// Sets the queue fair or not: in a fair queue each concurrency key (and
/// the tasks without one, together) takes turns with the others among
/// equal priority, so one key's backlog does not delay another key's
/// task. Tasks submitted from now on get their turns; those already
/// pending keep theirs.
#[utoipa::path(put, path = "/api/queues/{queue}/fair", tag = "queues", operation_id = "set_queue_fair",
    params(("queue" = String, Path, description = "the queue's name")),
    request_body = QueueFairRequest,
    responses((status = 200, description = "the queue, with its fair flag", body = QueueStats),
        (status = 400, description = "a bad queue name (`invalid_name`; `details.field` is `queue`)", body = ErrorBody),
        (status = 422, description = "no `fair`, or one that is not true or false (`invalid_field`; `details.field` is `fair`)", body = ErrorBody)))]
pub(crate) async fn fair(
    State(client): State<Client>,
    ApiPath(queue): ApiPath<String>,
    ApiJson(request): ApiJson<QueueFairRequest>,
) -> Result<Json<QueueStats>, ApiError> {
    client.set_queue_fair(&queue, request.fair).await?;
    Ok(Json(stats_of(&client, &queue).await?))
}

/// How many pending tasks a queue purge cancelled.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueuePurgeResult {
    pub cancelled: u64,
}

/// Cancels every pending task of the queue (due or scheduled); the records
/// stay, as `CANCELLED`, so the purge can be seen and undone by retrying.
#[utoipa::path(post, path = "/api/queues/{queue}/purge", tag = "queues", operation_id = "purge_queue",
    params(("queue" = String, Path, description = "the queue's name")),
    responses((status = 200, description = "how many pending tasks were cancelled", body = QueuePurgeResult)))]
pub(crate) async fn purge(
    State(client): State<Client>,
    ApiPath(queue): ApiPath<String>,
) -> Result<Json<QueuePurgeResult>, ApiError> {
    // No name check, unlike pause and resume: tasks stored under a name
    // from before the name rules (`.`) can still be cancelled.
    let filter = TaskFilter {
        state: Some(TaskState::Pending),
        queue: Some(queue),
        ..TaskFilter::default()
    };
    let page = PageRequest::new(1, PageRequest::MAX_PAGE_SIZE);
    let first = client.list(&filter, page).await?;
    // Each round cancels the first page; tasks submitted meanwhile may add
    // rounds, bounded so a steady stream of submissions cannot keep the
    // request alive forever.
    let mut rounds = first.total / PageRequest::MAX_PAGE_SIZE + 2;
    let mut items = first.items;
    let mut cancelled = 0;
    while !items.is_empty() && rounds > 0 {
        for task in items {
            match client.cancel(task.id).await {
                Ok(_) => cancelled += 1,
                // Claimed or settled since the listing: no longer pending.
                Err(Error::InvalidTransition { .. } | Error::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        rounds -= 1;
        items = client.list(&filter, page).await?.items;
    }
    Ok(Json(QueuePurgeResult { cancelled }))
}
