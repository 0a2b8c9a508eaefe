//! `api/workflows`: submit a workflow by names and JSON, read it, cancel
//! it. Retrying a step is `POST api/tasks/{id}/retry`, which resumes the
//! workflow from that step.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::errors::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::client::Client;
use crate::task::WorkflowId;
use crate::workflow::{WorkflowRecord, WorkflowSpec};

/// Checks a workflow whole and stores every step or none: roots
/// `PENDING`, the rest `WAITING` for their parents. One bad step refuses
/// the whole workflow with `422 invalid_workflow`, `details.step` naming
/// it, and nothing is stored.
#[utoipa::path(post, path = "/api/workflows", tag = "workflows", operation_id = "submit_workflow",
    request_body = WorkflowSpec,
    responses((status = 201, description = "stored: the workflow with every step's record", body = WorkflowRecord),
        (status = 400, description = "malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "body too large (`body_too_large`)", body = ErrorBody),
        (status = 422, description = "a field of the wrong type or unknown (`invalid_field`), or a step that cannot be stored (`invalid_workflow`: an unknown task type, params that do not fit it, an `after` naming no step, a cycle, a repeated name; `details.step` names the step, empty for the workflow as a whole)", body = ErrorBody)))]
pub(crate) async fn submit(
    State(client): State<Client>,
    ApiJson(spec): ApiJson<WorkflowSpec>,
) -> Result<(StatusCode, Json<WorkflowRecord>), ApiError> {
    let id = client.submit_workflow_spec(spec).await?;
    Ok((StatusCode::CREATED, Json(client.workflow(id).await?)))
}

/// One workflow: its state, every step's record (each with its `step`)
/// in submission order, and the edges between them.
#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows", operation_id = "get_workflow",
    params(("id" = uuid::Uuid, Path, description = "the workflow's id")),
    responses((status = 200, description = "the workflow", body = WorkflowRecord),
        (status = 400, description = "a malformed id (`bad_path`)", body = ErrorBody),
        (status = 404, description = "no workflow has this id", body = ErrorBody)))]
pub(crate) async fn detail(
    State(client): State<Client>,
    ApiPath(id): ApiPath<WorkflowId>,
) -> Result<Json<WorkflowRecord>, ApiError> {
    Ok(Json(client.workflow(id).await?))
}

/// Cancels every step not yet ended: waiting and pending ones at once,
/// running ones through their cancellation token. Steps that already
/// ended stay as they are, so cancelling an ended workflow changes
/// nothing.
#[utoipa::path(post, path = "/api/workflows/{id}/cancel", tag = "workflows", operation_id = "cancel_workflow",
    params(("id" = uuid::Uuid, Path, description = "the workflow's id")),
    responses((status = 200, description = "the workflow after (a running step is cancelled once its handler stops)", body = WorkflowRecord),
        (status = 400, description = "a malformed id (`bad_path`)", body = ErrorBody),
        (status = 404, description = "no workflow has this id", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(client): State<Client>,
    ApiPath(id): ApiPath<WorkflowId>,
) -> Result<Json<WorkflowRecord>, ApiError> {
    Ok(Json(client.cancel_workflow(id).await?))
}
