//! `api/queues`: depth and pause flags per queue; pause, resume, purge.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::errors::{ApiError, ApiPath, ErrorBody};
use crate::backend::{PageRequest, QueueStats, TaskFilter};
use crate::client::Client;
use crate::error::Error;
use crate::task::TaskState;

/// Every queue with tasks or a pause flag.
#[utoipa::path(get, path = "/api/queues", tag = "queues", operation_id = "list_queues",
    responses((status = 200, description = "every queue with tasks or a pause flag", body = [QueueStats])))]
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
