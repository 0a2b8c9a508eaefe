//! The linking test's worker *without* the tasks' crate: its package
//! depends on `taskq-fixture-tasks`, but this binary never names it, so
//! the linker drops it and `fixture_shout` has no handler here — the trap
//! of a forgotten `use jobs as _;`.

#[path = "worker.rs"]
mod worker;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    worker::run().await
}
