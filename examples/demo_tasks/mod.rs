//! Tasks shared by the examples, after the seeds' own: data analysis with
//! progress, file processing that fails and retries, report generation
//! that can exceed its timeout.

// Each example uses a subset of these.
#![allow(dead_code)]
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use taskq::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AnalyzeParams {
    /// Name of the data set.
    pub dataset: String,
    /// Rows to analyse.
    pub rows: u32,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub dataset: String,
    pub mean: f64,
}

/// Analyses a data set, reporting progress chunk by chunk.
#[long_task(queue = "heavy", timeout = 7200, retries = 3)]
pub async fn data_analysis(ctx: TaskContext, p: AnalyzeParams) -> Result<Report, TaskError> {
    let chunks = 5;
    let mut sum = 0.0;
    for chunk in 1..=chunks {
        if ctx.is_cancelled() {
            return Err(TaskError::cancelled("analysis stopped"));
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
        sum += f64::from(p.rows) * f64::from(chunk);
        ctx.progress(
            f64::from(chunk) / f64::from(chunks),
            format!("analysed chunk {chunk}/{chunks}"),
        )
        .await?;
    }
    Ok(Report {
        dataset: p.dataset,
        mean: sum / f64::from(chunks),
    })
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct FileParams {
    pub path: String,
}

static FILE_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Processes a file; the storage it reads is flaky, so the first two
/// attempts fail and are retried with backoff.
#[long_task(retries = 3, retry_delay = 0.2, backoff = 2.0)]
pub async fn file_processing(p: FileParams) -> Result<String, TaskError> {
    let attempt = FILE_ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    if attempt <= 2 {
        // Any std error converts with `?` into a retryable TaskError.
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("storage timed out reading {}", p.path),
        ))?;
    }
    Ok(format!("processed {} on attempt {attempt}", p.path))
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ReportParams {
    pub title: String,
    /// How long rendering takes.
    pub render_ms: u64,
}

/// Renders a report; gives up after its one-second hard timeout.
#[long_task(timeout = 1, retries = 0)]
pub async fn report_generation(p: ReportParams) -> Result<String, TaskError> {
    tokio::time::sleep(Duration::from_millis(p.render_ms)).await;
    Ok(format!("report `{}` rendered", p.title))
}

/// Does nothing: for throughput runs.
#[long_task(retries = 0)]
pub async fn noop(_p: ()) -> Result<(), TaskError> {
    Ok(())
}
