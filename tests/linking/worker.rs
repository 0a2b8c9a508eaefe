//! The body of the linking test's two worker binaries
//! (`linking_worker_bare`, `linking_worker_linked`): one worker on the
//! `default` queue of a SQL database, as a host's worker binary would be.
//!
//! Usage: `<binary> DATABASE_URL WORKER_ID`. It runs until its stdin
//! closes, then shuts down gracefully — the test holds the pipe, so a test
//! that dies takes its workers with it.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use taskq::prelude::*;

#[path = "tasks.rs"]
mod tasks;

pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: linking_worker_* DATABASE_URL WORKER_ID";
    let url = args.next().ok_or(usage)?;
    let id = args.next().ok_or(usage)?;
    let client = Client::new(Arc::new(taskq::SqlBackend::connect(&url).await?))?;
    let worker = Worker::builder(&client)
        .queue("default", 2)
        .worker_id(id)
        .poll_interval(Duration::from_millis(50))
        .heartbeat_interval(Duration::from_millis(100))
        .build()?;
    let stdin_closed = async {
        // A blocking read on its own thread: EOF is the signal to stop.
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    };
    worker.run_until(stdin_closed).await?;
    Ok(())
}
