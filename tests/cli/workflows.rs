//! `workflow submit | show | cancel`, `retry` of a failed step, and
//! `schedules create --workflow`, over a host's client (`run_from` with
//! `Some(client)`: the command line opens no memory backend by URL) on
//! memory, SQLite and PostgreSQL.

use super::*;

/// A host client on a fresh memory backend.
pub(super) fn memory_client() -> Client {
    Client::new(Arc::new(taskq::MemoryBackend::new())).expect("registry")
}

/// Runs `taskq ARGS…` over `client`.
pub(super) async fn over(client: &Client, args: &[&str]) -> Ran {
    let mut argv = vec!["taskq"];
    argv.extend_from_slice(args);
    run(argv, Some(client.clone())).await
}

/// Writes `spec` to a fresh file in the temp directory; its path.
fn spec_file(spec: &Value) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("taskq-cli-wf-{}.json", uuid::Uuid::now_v7()));
    std::fs::write(&path, spec.to_string()).expect("write spec");
    path
}

/// A chain of an echo and a failing step, and a step after both.
fn chain_spec() -> Value {
    json!({ "steps": [
        { "name": "say", "task": "cli_echo", "params": "hi" },
        { "name": "boom", "task": "cli_fail", "after": ["say"], "input": "params",
          "params": "broken" },
        { "name": "last", "task": "cli_echo", "after": ["say", "boom"], "input": "params",
          "params": "end" },
    ]})
}

/// A host client on a fresh SQLite file.
#[cfg(feature = "sqlite")]
async fn sqlite_client() -> Client {
    client(&sqlite_url().await).await
}

async fn submit_show_and_run(client: Client) {
    let path = spec_file(&chain_spec());
    let path = path.to_str().expect("utf-8 path");
    let ran = over(&client, &["workflow", "submit", path])
        .await
        .expect(Exit::Ok);
    let id: uuid::Uuid = ran.out.trim().parse().expect("one workflow id");
    let stored = client.workflow(id).await.expect("stored");
    assert_eq!(stored.steps.len(), 3);

    // The table: one row per step, parents by name, waiting counts.
    let shown = over(&client, &["workflow", "show", &id.to_string()])
        .await
        .expect(Exit::Ok);
    let row = |name: &str| -> Vec<String> {
        shown
            .out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row `{name}` in\n{}", shown.out))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert!(shown.out.contains("RUNNING"), "{}", shown.out);
    assert!(shown.out.contains("WAITING_ON"), "{}", shown.out);
    assert_eq!(row("say")[..5], ["say", "cli_echo", "PENDING", "-", "-"]);
    assert_eq!(
        row("boom")[..5],
        ["boom", "cli_fail", "WAITING", "1", "say"]
    );
    assert_eq!(
        row("last")[..5],
        ["last", "cli_echo", "WAITING", "2", "say,boom"]
    );

    // `show` of a step names its workflow; `list --state waiting` finds them.
    let last = stored.step("last").expect("last").id;
    let task = over(&client, &["show", &last.to_string()])
        .await
        .expect(Exit::Ok);
    assert!(task.out.contains(&id.to_string()), "{}", task.out);
    assert!(task.out.contains("waiting on:"), "{}", task.out);
    let waiting = over(&client, &["--json", "list", "--state", "waiting"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(waiting["total"], 2, "{waiting}");

    // Run it: `boom` fails, so `last` is cancelled as its dependent.
    let worker = Worker::builder(&client)
        .queue("default", 2)
        .poll_interval(Duration::from_millis(20))
        .build()
        .expect("worker");
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let ended = client
        .wait_workflow(id, Duration::from_secs(20))
        .await
        .expect("ends");
    stop.shutdown();
    running.await.expect("join").expect("worker");
    let json = over(&client, &["--json", "workflow", "show", &id.to_string()])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(json["state"], "FAILED", "{json}");
    assert_eq!(json["id"], id.to_string());
    assert_eq!(
        json["steps"].as_array().map(Vec::len),
        Some(ended.steps.len())
    );
    let last_json = json["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|t| t["step"]["name"] == "last"))
        .expect("last");
    assert_eq!(last_json["state"], "CANCELLED");
    assert_eq!(last_json["error"]["kind"], "parent_failed");

    // Retrying the cancelled dependent is refused (exit 6); the failed
    // step is retried and its dependents wait again.
    over(&client, &["retry", &last.to_string()])
        .await
        .expect(Exit::Conflict);
    let boom = stored.step("boom").expect("boom").id;
    over(&client, &["retry", &boom.to_string()])
        .await
        .expect(Exit::Ok);
    let after = client.workflow(id).await.expect("read");
    assert_eq!(
        after.step("last").map(|s| s.state),
        Some(TaskState::Waiting)
    );
}

async fn errors_and_cancel(client: Client) {
    // A bad step: exit 2 naming it, nothing stored.
    let bad = spec_file(&json!({ "steps": [
        { "name": "ok", "task": "cli_echo", "params": "x" },
        { "name": "typo", "task": "cli_ecoh", "after": ["ok"] },
    ]}));
    let ran = over(&client, &["workflow", "submit", bad.to_str().unwrap()])
        .await
        .expect(Exit::Usage);
    assert!(ran.err.contains("`typo`"), "{}", ran.err);
    let json = over(
        &client,
        &["--json", "workflow", "submit", bad.to_str().unwrap()],
    )
    .await
    .expect(Exit::Usage);
    let error: Value = serde_json::from_str(json.err.trim()).expect("JSON error");
    assert_eq!(error["error"]["kind"], "usage");
    // Not a workflow, and no such file: usage errors too.
    let junk = spec_file(&json!({ "stepz": [] }));
    over(&client, &["workflow", "submit", junk.to_str().unwrap()])
        .await
        .expect(Exit::Usage);
    over(&client, &["workflow", "submit", "/nonexistent/spec.json"])
        .await
        .expect(Exit::Usage);
    let all = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .expect("list");
    assert_eq!(all.total, 0, "nothing stored");

    // Unknown workflow: exit 3 for show and cancel; a malformed id: 2.
    let unknown = uuid::Uuid::now_v7().to_string();
    over(&client, &["workflow", "show", &unknown])
        .await
        .expect(Exit::NotFound);
    over(&client, &["workflow", "cancel", &unknown])
        .await
        .expect(Exit::NotFound);
    over(&client, &["workflow", "show", "nope"])
        .await
        .expect(Exit::Usage);

    // Cancel: every step ended, the record printed with --json.
    let path = spec_file(&chain_spec());
    let ran = over(
        &client,
        &["--json", "workflow", "submit", path.to_str().unwrap()],
    )
    .await
    .expect(Exit::Ok);
    let submitted = ran.json();
    assert_eq!(submitted["state"], "RUNNING", "{submitted}");
    let id = submitted["id"].as_str().expect("id").to_owned();
    let text = over(&client, &["workflow", "cancel", &id])
        .await
        .expect(Exit::Ok);
    assert!(text.out.contains("CANCELLED"), "{}", text.out);
    let record = client.workflow(id.parse().unwrap()).await.expect("read");
    assert_eq!(record.count(TaskState::Cancelled), 3);
    let again = over(&client, &["--json", "workflow", "cancel", &id])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(again["state"], "CANCELLED");
}

/// `schedules create --workflow SPEC`: listed with its steps, run now
/// stores the whole workflow; a TYPE beside --workflow, or a bad spec, is
/// refused (exit 2) and stores nothing.
async fn schedule_fires_a_workflow(client: Client) {
    let path = spec_file(&chain_spec());
    let path = path.to_str().expect("utf-8 path");
    over(
        &client,
        &[
            "schedules",
            "create",
            "nightly",
            "--workflow",
            path,
            "--every",
            "1h",
        ],
    )
    .await
    .expect(Exit::Ok);
    let listed = over(&client, &["schedules", "list"]).await.expect(Exit::Ok);
    assert!(listed.out.contains("workflow (3 steps)"), "{}", listed.out);
    let ran = over(&client, &["schedules", "run-now", "nightly"])
        .await
        .expect(Exit::Ok);
    let first: uuid::Uuid = ran.out.trim().parse().expect("the first step's id");
    let step = client
        .get(first)
        .await
        .expect("stored")
        .step
        .expect("a step");
    assert_eq!(step.name, "say");
    let record = client.workflow(step.workflow).await.expect("workflow");
    assert_eq!(record.steps.len(), 3);

    over(
        &client,
        &[
            "schedules",
            "create",
            "both",
            "cli_echo",
            "--workflow",
            path,
            "--every",
            "1h",
        ],
    )
    .await
    .expect(Exit::Usage);
    let bad = spec_file(&json!({ "steps": [{ "name": "typo", "task": "cli_ecoh" }] }));
    let ran = over(
        &client,
        &[
            "schedules",
            "create",
            "bad",
            "--workflow",
            bad.to_str().unwrap(),
            "--every",
            "1h",
        ],
    )
    .await
    .expect(Exit::Usage);
    assert!(ran.err.contains("`typo`"), "{}", ran.err);
    for name in ["both", "bad"] {
        assert!(client.get_schedule(name).await.is_err(), "{name} stored");
    }
}

#[tokio::test]
async fn cli_workflow_memory_schedule_fires_a_workflow() {
    schedule_fires_a_workflow(memory_client()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_workflow_sqlite_schedule_fires_a_workflow() {
    schedule_fires_a_workflow(sqlite_client().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn cli_workflow_postgres_schedule_fires_a_workflow() {
    schedule_fires_a_workflow(client(&postgres_url().await).await).await;
}

#[tokio::test]
async fn cli_workflow_memory_submit_show_and_run() {
    submit_show_and_run(memory_client()).await;
}

#[tokio::test]
async fn cli_workflow_memory_errors_and_cancel() {
    errors_and_cancel(memory_client()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_workflow_sqlite_submit_show_and_run() {
    submit_show_and_run(sqlite_client().await).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_workflow_sqlite_errors_and_cancel() {
    errors_and_cancel(sqlite_client().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn cli_workflow_postgres_submit_show_and_run() {
    submit_show_and_run(client(&postgres_url().await).await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn cli_workflow_postgres_errors_and_cancel() {
    errors_and_cancel(client(&postgres_url().await).await).await;
}
