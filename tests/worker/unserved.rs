//! The warning a worker gives at start for pending tasks of its queues
//! that no live worker has a handler for, read from the log it writes
//! (captured by the binary's subscriber, `subscriber.rs`).

use super::*;

/// The captured warning lines that name `queue`.
fn warnings_about(queue: &str) -> Vec<String> {
    let text = CAPTURED.lines.lock().expect("log buffer").clone();
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|line| line.contains(&format!("queue={queue} ")))
        .map(str::to_owned)
        .collect()
}

/// A worker that lacks `echo` starts on a queue holding pending `echo`
/// tasks: it warns once, naming the queue and the type (not the types it
/// runs), and not again however often it polls; a worker that has the
/// handler starting later says nothing.
pub async fn worker_warns_once_for_pending_tasks_no_worker_can_run(backend: Arc<dyn Backend>) {
    LazyLock::force(&CAPTURED);
    let queue = unique("unserved");
    let full = Client::new(backend.clone()).unwrap();
    let registry = taskq::registry::Registry::from_inventory().unwrap();
    let without_echo =
        taskq::registry::Registry::from_defs(registry.iter().filter(|def| def.name != "echo"))
            .unwrap();
    let lacking = Client::with_registry(backend, without_echo);
    let text = |text: &str| Echo {
        text: text.into(),
        times: 1,
    };
    for n in ["one", "two"] {
        full.submit(echo, text(n)).queue(&queue).await.unwrap();
    }
    let stop_lacking = spawn(fast_worker(&lacking).queue(&queue, 2).build().unwrap());
    // It polls (every 20 ms) and runs what it has a handler for meanwhile.
    let slept = full
        .submit(
            sleeper,
            Sleep {
                ms: 1,
                cooperative: true,
            },
        )
        .queue(&queue)
        .await
        .unwrap();
    assert_eq!(wait_terminal(&full, slept).await.state, TaskState::Finished);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let warned = warnings_about(&queue);
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(warned[0].contains(" WARN "), "{}", warned[0]);
    assert!(
        warned[0].contains(r#"task_types=["echo"]"#),
        "{}",
        warned[0]
    );
    assert!(warned[0].contains("pending=2"), "{}", warned[0]);

    // With a live worker that can run them, a new worker has nothing to say.
    let stop_full = spawn(fast_worker(&full).queue(&queue, 2).build().unwrap());
    let listed = full
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    for task in listed.items.iter().filter(|t| t.task_type == "echo") {
        assert_eq!(
            wait_terminal(&full, task.id).await.state,
            TaskState::Finished
        );
    }
    assert_eq!(warnings_about(&queue).len(), 1);
    stop_lacking().await;
    stop_full().await;
}
