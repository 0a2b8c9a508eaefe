//! `metrics`: Prometheus text exposition of tasks by state and queue and of
//! queue depth, read through the client on each scrape.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::errors::ApiError;
use crate::backend::{PageRequest, QueueStats, TaskFilter};
use crate::client::Client;
use crate::task::TaskState;

/// Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(client): State<Client>) -> Result<impl IntoResponse, ApiError> {
    let queues = client.queue_stats().await?;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored below.
    let _ = writeln!(
        out,
        "# HELP taskq_tasks Task records by queue and state.\n# TYPE taskq_tasks gauge"
    );
    for stats in &queues {
        for state in TaskState::ALL {
            let filter = TaskFilter {
                state: Some(state),
                queue: Some(stats.queue.clone()),
                ..TaskFilter::default()
            };
            // A one-row page: only its total is wanted.
            let total = client.list(&filter, PageRequest::new(1, 1)).await?.total;
            let _ = writeln!(
                out,
                "taskq_tasks{{queue=\"{}\",state=\"{}\"}} {total}",
                label(&stats.queue),
                state.as_str()
            );
        }
    }
    type Gauge = (&'static str, &'static str, fn(&QueueStats) -> u64);
    let gauges: [Gauge; 4] = [
        (
            "taskq_queue_pending",
            "Pending tasks due now (queue depth).",
            |s| s.pending,
        ),
        (
            "taskq_queue_scheduled",
            "Pending tasks with a future ETA or retry time.",
            |s| s.scheduled,
        ),
        ("taskq_queue_running", "Running tasks.", |s| s.running),
        ("taskq_queue_paused", "1 when the queue is paused.", |s| {
            u64::from(s.paused)
        }),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for stats in &queues {
            let _ = writeln!(
                out,
                "{name}{{queue=\"{}\"}} {}",
                label(&stats.queue),
                value(stats)
            );
        }
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

/// Escapes a label value as the exposition format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
