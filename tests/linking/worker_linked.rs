//! The linking test's worker *with* the tasks' crate: the same worker as
//! `worker_bare.rs` plus the one line that links `fixture_shout`.

// Nothing is used by name; this keeps the crate, and its task, linked.
use taskq_fixture_tasks as _;

#[path = "worker.rs"]
mod worker;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    worker::run().await
}
