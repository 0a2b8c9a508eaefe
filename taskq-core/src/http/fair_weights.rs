//! `api/queues/{queue}/fair/weights`: the weights of a fair queue's
//! concurrency keys (`Client::set_fair_weight`), listed and set.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::errors::{ApiError, ApiJson, ApiPath, ErrorBody};
use super::queues::present;
use crate::backend::FairWeight;
use crate::client::Client;
use crate::error::Error;
use crate::lifecycle;

/// A queue's key weights (keys without one have weight 1).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FairWeights {
    pub queue: String,
    /// By key.
    pub weights: Vec<FairWeight>,
}

/// `{"weight": 3}` gives the key three turns to a weight-1 key's one,
/// `{"weight": null}` sets it back to 1.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FairWeightRequest {
    /// 1 to 1000; `null`: back to 1. Required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, required = true)]
    pub weight: Option<Option<u32>>,
}

async fn weights_of(client: &Client, queue: &str) -> Result<FairWeights, ApiError> {
    Ok(FairWeights {
        queue: queue.to_owned(),
        weights: client.fair_weights(queue).await?,
    })
}

/// The weights set for the queue's concurrency keys.
#[utoipa::path(get, path = "/api/queues/{queue}/fair/weights", tag = "queues", operation_id = "list_fair_weights",
    params(("queue" = String, Path, description = "the queue's name")),
    responses((status = 200, description = "the queue's key weights", body = FairWeights),
        (status = 400, description = "a bad queue name (`invalid_name`; `details.field` is `queue`)", body = ErrorBody)))]
pub(crate) async fn list(
    State(client): State<Client>,
    ApiPath(queue): ApiPath<String>,
) -> Result<Json<FairWeights>, ApiError> {
    Ok(Json(weights_of(&client, &queue).await?))
}

/// Sets a concurrency key's weight in the queue, or back to 1: in a fair
/// queue a key of weight w takes w turns to a weight-1 key's one, from
/// the next task submitted. Kept while the queue is set not fair.
#[utoipa::path(put, path = "/api/queues/{queue}/fair/weights/{key}", tag = "queues", operation_id = "set_fair_weight",
    params(("queue" = String, Path, description = "the queue's name"),
        ("key" = String, Path, description = "the concurrency key")),
    request_body = FairWeightRequest,
    responses((status = 200, description = "the queue's key weights", body = FairWeights),
        (status = 400, description = "a bad queue name (`invalid_name`; `details.field` is `queue`), a weight of 0 or over 1000 (`invalid_argument`; `details.field` is `weight`) or a key over 255 bytes (`invalid_argument`; `details.field` is `key`)", body = ErrorBody),
        (status = 422, description = "no `weight`, or one that is not null nor a whole number up to 4294967295 (`invalid_field`; `details.field` is `weight`)", body = ErrorBody)))]
pub(crate) async fn set(
    State(client): State<Client>,
    ApiPath((queue, key)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<FairWeightRequest>,
) -> Result<Json<FairWeights>, ApiError> {
    let weight = request.weight.ok_or_else(|| {
        ApiError::invalid_field(
            "weight",
            "missing field `weight`: a number, or null for the default",
        )
    })?;
    // The key's own check first, so the weight's names `weight`.
    if let Err(Error::InvalidArgument(message)) = lifecycle::check_fair_weight(&key, None) {
        return Err(ApiError::invalid_argument("key", message));
    }
    client
        .set_fair_weight(&queue, &key, weight)
        .await
        .map_err(|err| match err {
            Error::InvalidArgument(message) => ApiError::invalid_argument("weight", message),
            other => other.into(),
        })?;
    Ok(Json(weights_of(&client, &queue).await?))
}
