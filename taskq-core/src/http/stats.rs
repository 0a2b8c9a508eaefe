//! `api/stats/throughput`: attempts ended per minute and queue, by
//! outcome, as the workers counted them (the dashboard's chart).

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::errors::{ApiError, ErrorBody};
use super::query::{bad_query, pairs};
use crate::client::Client;
use crate::throughput::{COUNTS_KEPT, MinuteCounts};

/// The query of `GET api/stats/throughput`, parsed by hand
/// ([`super::query`]) so that a bad value names its parameter.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the OpenAPI derive only
pub struct ThroughputQuery {
    /// How many minutes back, this one included: 1 to 1440 (a day),
    /// default 60.
    #[param(minimum = 1, maximum = 1440)]
    pub minutes: Option<u32>,
}

/// Attempts ended per minute and queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Throughput {
    /// The minutes asked for.
    pub minutes: u32,
    /// One entry per minute and queue that had an ended attempt, in
    /// minute then queue order (minutes without any are left out).
    pub counts: Vec<MinuteCounts>,
}

/// Attempts ended per minute and queue over the last minutes, by outcome
/// (finished, failed, retried, cancelled). Counted by the workers and
/// added with their heartbeats, so the current minute trails by up to a
/// beat.
#[utoipa::path(get, path = "/api/stats/throughput", tag = "stats", operation_id = "throughput",
    params(ThroughputQuery),
    responses((status = 200, description = "the counts", body = Throughput),
        (status = 400, description = "a bad `minutes` (`bad_query`, `details.field`)", body = ErrorBody)))]
pub(crate) async fn throughput(
    State(client): State<Client>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Throughput>, ApiError> {
    let most = COUNTS_KEPT.as_secs() / 60;
    let mut minutes = 60;
    for (key, value) in pairs(raw.as_deref(), &["minutes"])? {
        if key == "minutes" {
            minutes = value
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|m| (1..=most).contains(&u64::from(*m)))
                .ok_or_else(|| bad_query("minutes", format!("`minutes` must be 1 to {most}")))?;
        }
    }
    let counts = client.throughput(minutes).await?;
    Ok(Json(Throughput { minutes, counts }))
}
