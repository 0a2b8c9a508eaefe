//! Tasks declared in a library crate, run from a binary.
//!
//! `#[long_task]` registers through `inventory` at link time, and a library
//! the binary never names is not linked: its tasks would be silently
//! missing. One `use my_tasks as _;` in the binary is enough.
//!
//! ```sh
//! cargo run --no-default-features --example linked_tasks
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use taskq::MemoryBackend;
use taskq::prelude::*;
// Without this line, `fixture_shout` is not registered.
use taskq_fixture_tasks as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(Arc::new(MemoryBackend::new()))?;
    let names: Vec<&str> = client.registry().iter().map(|def| def.name).collect();
    println!("registered tasks: {names:?}");

    // By name, as a host that only knows the crate's task names would.
    let id = client
        .submit_json(
            "fixture_shout",
            json!({ "text": "hello from a linked crate" }),
        )
        .await?;

    let worker = Worker::builder(&client).queue("default", 1).build()?;
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let record = loop {
        let record = client.get(id).await?;
        if record.state.is_terminal() {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.shutdown();
    running.await??;

    println!(
        "ran {} ({}): {} -> {}",
        record.task_type,
        record.id,
        record.params,
        record
            .result
            .as_ref()
            .map_or("no result".into(), ToString::to_string),
    );
    if record.state != TaskState::Finished {
        return Err(format!("task ended {}: {:?}", record.state, record.error).into());
    }
    Ok(())
}
