//! `api/workers`: the live workers of every host sharing the backend, and
//! their control — pause, resume, graceful shutdown — carried through the
//! backend's [`WorkerRegistry`](crate::WorkerRegistry), so it reaches a
//! worker wherever it runs (at its next heartbeat).

use axum::Json;
use axum::extract::State;

use super::errors::{ApiError, ApiPath, ErrorBody};
use crate::backend::{WorkerControl, WorkerInfo};
use crate::client::Client;

/// Every worker by id: live ones, and for a while those that stopped
/// beating (`state: gone`).
#[utoipa::path(get, path = "/api/workers", tag = "workers", operation_id = "list_workers",
    responses((status = 200, description = "every worker, by id", body = [WorkerInfo])))]
pub(crate) async fn list(State(client): State<Client>) -> Result<Json<Vec<WorkerInfo>>, ApiError> {
    Ok(Json(client.workers().await?))
}

/// One worker.
#[utoipa::path(get, path = "/api/workers/{id}", tag = "workers", operation_id = "get_worker",
    params(("id" = String, Path, description = "the worker's id")),
    responses((status = 200, description = "the worker", body = WorkerInfo), (status = 404, description = "no live or recently gone worker has this id", body = ErrorBody)))]
pub(crate) async fn detail(
    State(client): State<Client>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkerInfo>, ApiError> {
    Ok(Json(client.worker(&id).await?))
}

async fn control(
    client: &Client,
    id: &str,
    control: WorkerControl,
) -> Result<Json<WorkerInfo>, ApiError> {
    Ok(Json(client.control_worker(id, control).await?))
}

/// Asks a running worker to stop claiming; its in-flight tasks go on.
/// The answer shows `requested: paused`; `state` follows at the worker's
/// next heartbeat.
#[utoipa::path(post, path = "/api/workers/{id}/pause", tag = "workers", operation_id = "pause_worker",
    params(("id" = String, Path, description = "the worker's id")),
    responses((status = 200, description = "the worker, with the control requested", body = WorkerInfo), (status = 404, description = "no live or recently gone worker has this id", body = ErrorBody),
        (status = 409, description = "not running (paused, stopping or gone)", body = ErrorBody)))]
pub(crate) async fn pause(
    State(client): State<Client>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkerInfo>, ApiError> {
    control(&client, &id, WorkerControl::Pause).await
}

/// Asks a paused worker to claim again.
#[utoipa::path(post, path = "/api/workers/{id}/resume", tag = "workers", operation_id = "resume_worker",
    params(("id" = String, Path, description = "the worker's id")),
    responses((status = 200, description = "the worker, with the control requested", body = WorkerInfo), (status = 404, description = "no live or recently gone worker has this id", body = ErrorBody),
        (status = 409, description = "not paused", body = ErrorBody)))]
pub(crate) async fn resume(
    State(client): State<Client>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkerInfo>, ApiError> {
    control(&client, &id, WorkerControl::Resume).await
}

/// Asks a worker to shut down gracefully: it stops claiming, lets its
/// in-flight tasks finish (up to its shutdown grace), and leaves the list.
#[utoipa::path(post, path = "/api/workers/{id}/shutdown", tag = "workers", operation_id = "shutdown_worker",
    params(("id" = String, Path, description = "the worker's id")),
    responses((status = 200, description = "the worker, with the control requested", body = WorkerInfo), (status = 404, description = "no live or recently gone worker has this id", body = ErrorBody),
        (status = 409, description = "already stopping, or gone", body = ErrorBody)))]
pub(crate) async fn shutdown(
    State(client): State<Client>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkerInfo>, ApiError> {
    control(&client, &id, WorkerControl::Shutdown).await
}
