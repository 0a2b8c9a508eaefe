//! `metrics`: Prometheus text exposition of tasks by state and queue, of
//! queue depth, limits and rate limits (and how long a rate limit still
//! holds a queue back), of task type limits and their running tasks, and of attempts and run times, read through the client on
//! each scrape.
//!
//! Attempts and run times are derived from the records in the store, not
//! counted by workers in this process: that way every host's `metrics`
//! tells the same story, whichever hosts ran the tasks. They are summaries
//! over a sample — the [`RECENT_SAMPLE`] most recently submitted tasks
//! of each queue and end state that are still stored — so they follow
//! recent behaviour and drop as records are purged; they are not
//! monotonic counters.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};

use super::errors::ApiError;
use crate::backend::{PageRequest, QueueStats, TaskFilter, TypeLimitStats};
use crate::client::Client;
use crate::task::{TaskRecord, TaskState};

/// Ended tasks per queue and state the attempt and run-time summaries
/// look at (one list page).
pub const RECENT_SAMPLE: u64 = PageRequest::MAX_PAGE_SIZE;

/// Quantiles of the run-time summary.
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The recent ended tasks of one queue and state.
struct Sample {
    queue: String,
    state: TaskState,
    attempts: u64,
    tasks: u64,
    /// Run time of each sampled task that started, in seconds, sorted.
    run_seconds: Vec<f64>,
}

impl Sample {
    fn new(queue: &str, state: TaskState, records: &[TaskRecord]) -> Sample {
        let mut run_seconds: Vec<f64> = records
            .iter()
            .filter_map(|r| Some((r.finished_at? - r.started_at?).as_seconds_f64().max(0.0)))
            .collect();
        run_seconds.sort_by(f64::total_cmp);
        Sample {
            queue: queue.to_owned(),
            state,
            attempts: records.iter().map(|r| u64::from(r.attempt)).sum(),
            tasks: records.len() as u64,
            run_seconds,
        }
    }

    fn labels(&self) -> String {
        format!(
            "queue=\"{}\",state=\"{}\"",
            label(&self.queue),
            self.state.as_str()
        )
    }

    /// Nearest-rank quantile; `NaN` (as Prometheus expects) when empty.
    fn quantile(&self, q: f64) -> f64 {
        let n = self.run_seconds.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.run_seconds[rank - 1]
    }
}

/// Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "metrics", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(client): State<Client>) -> Result<impl IntoResponse, ApiError> {
    let queues = client.queue_stats().await?;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored below.
    let _ = writeln!(
        out,
        "# HELP taskq_tasks Task records by queue and state.\n# TYPE taskq_tasks gauge"
    );
    let mut samples = Vec::new();
    for stats in &queues {
        for state in TaskState::ALL {
            let filter = TaskFilter {
                state: Some(state),
                queue: Some(stats.queue.clone()),
                ..TaskFilter::default()
            };
            // Live states: a one-row page, only its total is wanted; ended
            // states: the sample too.
            let size = if state.is_terminal() {
                RECENT_SAMPLE
            } else {
                1
            };
            let page = client.list(&filter, PageRequest::new(1, size)).await?;
            let total = page.total;
            if state.is_terminal() {
                samples.push(Sample::new(&stats.queue, state, &page.items));
            }
            let _ = writeln!(
                out,
                "taskq_tasks{{queue=\"{}\",state=\"{}\"}} {total}",
                label(&stats.queue),
                state.as_str()
            );
        }
    }
    type Gauge = (&'static str, &'static str, fn(&QueueStats) -> u64);
    let gauges: [Gauge; 6] = [
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
        (
            "taskq_queue_live_workers",
            "Running or paused workers serving the queue.",
            |s| s.live_workers,
        ),
        (
            "taskq_queue_unclaimable",
            "Pending tasks whose type no live worker serving the queue can run.",
            |s| s.unclaimable,
        ),
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
    write_limits(&mut out, &queues, Utc::now());
    let types = client.type_limits().await?;
    write_type_limits(&mut out, &types);
    write_type_rates(&mut out, &types, Utc::now());
    write_samples(&mut out, &samples);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

/// The queue limits and rate limits, for the queues that have them, and
/// how long each rate-limited queue's tasks are still held back.
fn write_limits(out: &mut String, queues: &[QueueStats], now: DateTime<Utc>) {
    type Limit = (
        &'static str,
        &'static str,
        fn(&QueueStats, DateTime<Utc>) -> Option<f64>,
    );
    let limits: [Limit; 5] = [
        (
            "taskq_queue_limit",
            "At most this many of the queue's tasks run at once (queues with a limit).",
            |s, _| s.limit.map(f64::from),
        ),
        (
            "taskq_queue_rate_limit_starts",
            "At most this many of the queue's tasks start per period (queues with a rate limit).",
            |s, _| s.rate_limit.map(|r| f64::from(r.starts)),
        ),
        (
            "taskq_queue_rate_limit_period_seconds",
            "The rate limit's period (queues with a rate limit).",
            |s, _| s.rate_limit.map(|r| r.period.as_secs_f64()),
        ),
        (
            "taskq_queue_rate_held_seconds",
            "Until the rate limit allows the queue's next start; 0 when it allows one now.",
            |s, now| {
                s.rate_limit?;
                let held = s.rate_held_until.map_or(0.0, |until| {
                    (until - now).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
                });
                Some(held)
            },
        ),
        (
            "taskq_queue_fair",
            "1 when the queue's concurrency keys take turns (fair queues only).",
            |s, _| s.fair.then_some(1.0),
        ),
    ];
    for (name, help, value) in limits {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for stats in queues {
            if let Some(value) = value(stats, now) {
                let _ = writeln!(out, "{name}{{queue=\"{}\"}} {value}", label(&stats.queue));
            }
        }
    }
}

/// The task type limits and the running tasks they count, for the types
/// that have one.
fn write_type_limits(out: &mut String, types: &[TypeLimitStats]) {
    let _ = writeln!(
        out,
        "# HELP taskq_task_type_limit At most this many of the type's tasks run at once \
         (types with a limit).\n# TYPE taskq_task_type_limit gauge"
    );
    for row in types {
        if let Some(limit) = row.limit {
            let _ = writeln!(
                out,
                "taskq_task_type_limit{{task_type=\"{}\"}} {limit}",
                label(&row.task_type)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP taskq_task_type_running Running tasks of the type, counted against its limit \
         (types with a limit).\n# TYPE taskq_task_type_running gauge"
    );
    for row in types {
        let _ = writeln!(
            out,
            "taskq_task_type_running{{task_type=\"{}\"}} {}",
            label(&row.task_type),
            row.running
        );
    }
}

/// The task type rate limits and key rate limits, for the types that
/// have them, with how long each type is still held back and how many
/// keys are.
fn write_type_rates(out: &mut String, types: &[TypeLimitStats], now: DateTime<Utc>) {
    type Gauge = (
        &'static str,
        &'static str,
        fn(&TypeLimitStats, DateTime<Utc>) -> Option<f64>,
    );
    let gauges: [Gauge; 5] = [
        (
            "taskq_task_type_rate_limit_starts",
            "At most this many of the type's tasks start per period (types with a rate limit).",
            |t, _| t.rate_limit.map(|r| f64::from(r.starts)),
        ),
        (
            "taskq_task_type_rate_limit_period_seconds",
            "The type's rate limit's period (types with a rate limit).",
            |t, _| t.rate_limit.map(|r| r.period.as_secs_f64()),
        ),
        (
            "taskq_task_type_rate_held_seconds",
            "Until the type's rate limit allows its next start; 0 when it allows one now.",
            |t, now| {
                t.rate_limit?;
                Some(t.rate_held_until.map_or(0.0, |until| {
                    (until - now).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
                }))
            },
        ),
        (
            "taskq_task_type_key_rate_limit_starts",
            "At most this many of the type's tasks with one concurrency key start per period \
             (types with a key rate limit).",
            |t, _| t.key_rate_limit.map(|r| f64::from(r.starts)),
        ),
        (
            "taskq_task_type_rate_held_keys",
            "Concurrency keys of the type its key rate limit holds back now.",
            |t, _| t.key_rate_limit.map(|_| t.held_keys as f64),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for row in types {
            if let Some(value) = value(row, now) {
                let _ = writeln!(
                    out,
                    "{name}{{task_type=\"{}\"}} {value}",
                    label(&row.task_type)
                );
            }
        }
    }
}

fn write_samples(out: &mut String, samples: &[Sample]) {
    let _ = writeln!(
        out,
        "# HELP taskq_recent_task_attempts Attempts spent by the most recently submitted \
         ended tasks (up to {RECENT_SAMPLE} per queue and state) still stored.\n\
         # TYPE taskq_recent_task_attempts summary"
    );
    for sample in samples {
        let labels = sample.labels();
        let _ = writeln!(
            out,
            "taskq_recent_task_attempts_sum{{{labels}}} {}\n\
             taskq_recent_task_attempts_count{{{labels}}} {}",
            sample.attempts, sample.tasks
        );
    }
    let _ = writeln!(
        out,
        "# HELP taskq_recent_task_run_seconds Run time of the last attempt (start to end) \
         of the same sample, for tasks that started.\n\
         # TYPE taskq_recent_task_run_seconds summary"
    );
    for sample in samples {
        let labels = sample.labels();
        for q in QUANTILES {
            let _ = writeln!(
                out,
                "taskq_recent_task_run_seconds{{{labels},quantile=\"{q}\"}} {}",
                sample.quantile(q)
            );
        }
        let _ = writeln!(
            out,
            "taskq_recent_task_run_seconds_sum{{{labels}}} {}\n\
             taskq_recent_task_run_seconds_count{{{labels}}} {}",
            sample.run_seconds.iter().sum::<f64>(),
            sample.run_seconds.len()
        );
    }
}

/// Escapes a label value as the exposition format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
