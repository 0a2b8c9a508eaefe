//! Tasks declared in a library crate are registered once the binary names
//! that crate: `inventory` registers at link time, and a crate nothing
//! refers to is not linked at all.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use taskq::MemoryBackend;
use taskq::prelude::*;
use taskq::registry::Registry;
// The documented pattern: nothing from the crate is used by name here, but
// this line makes the linker keep it, and with it `fixture_shout`.
use taskq_fixture_tasks as _;

#[test]
fn memory_registry_includes_tasks_of_linked_crate() {
    let registry = Registry::from_inventory().unwrap();
    let def = registry
        .get("fixture_shout")
        .expect("fixture_shout is registered");
    assert_eq!(def.options.description, "Uppercases its text.");
    assert_eq!(def.options.max_retries, 0);
    assert_eq!(def.location.module, "taskq_fixture_tasks");
    assert!(
        def.location.file.ends_with("src/lib.rs"),
        "{}",
        def.location.file
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_runs_task_of_linked_crate_by_name() {
    let client = Client::new(Arc::new(MemoryBackend::new())).unwrap();
    let id = client
        .submit_json("fixture_shout", json!({ "text": "linked" }))
        .await
        .unwrap();

    let worker = Worker::builder(&client)
        .queue("default", 1)
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let record = loop {
        let record = client.get(id).await.unwrap();
        if record.state.is_terminal() {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting; task is {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    shutdown.shutdown();
    running.await.unwrap().unwrap();

    assert_eq!(record.state, TaskState::Finished, "{record:?}");
    assert_eq!(record.task_type, "fixture_shout");
    assert_eq!(
        record.result_as::<String>().unwrap().as_deref(),
        Some("LINKED")
    );
}
