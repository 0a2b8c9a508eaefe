//! The task commands in process: `submit`, `list`, `show`, `wait`,
//! `cancel`, `retry`, `purge`, with their tables, JSON and exit codes.

use super::*;

/// `submit` stores the task with its overrides and prints its id;
/// `show` prints it for people and as JSON; bad input exits 2 and
/// stores nothing.
pub(super) async fn submit_and_show_print_the_task(url: &str) {
    let id = submit(
        url,
        &[
            "cli_echo",
            r#""hello""#,
            "--queue",
            "urgent",
            "--priority",
            "-3",
            "--countdown",
            "1h",
        ],
    )
    .await;
    let record = client(url).await.get(id).await.expect("stored");
    assert_eq!(record.params, json!("hello"));
    assert_eq!((record.queue.as_str(), record.priority), ("urgent", -3));
    let delay = record.scheduled_at - record.created_at;
    assert!(
        delay >= chrono::Duration::minutes(59) && delay <= chrono::Duration::minutes(61),
        "countdown of 1h: {delay}"
    );

    let shown = taskq(url, &["show", &id.to_string()])
        .await
        .expect(Exit::Ok);
    for line in [
        format!("id:        {id}"),
        "type:      cli_echo".into(),
        "state:     PENDING".into(),
        "queue:     urgent".into(),
        "priority:  -3".into(),
        r#"params:    "hello""#.into(),
    ] {
        assert!(
            shown.out.lines().any(|l| l == line),
            "{line:?} in\n{}",
            shown.out
        );
    }
    let shown = taskq(url, &["show", &id.to_string(), "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(shown["id"], json!(id));
    assert_eq!(shown["state"], "PENDING");
    assert_eq!(shown["params"], "hello");

    // A task without params takes none on the command line (null).
    let tick = taskq(url, &["submit", "cli_tick", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    let tick: TaskId = serde_json::from_value(tick["id"].clone()).expect("{\"id\": …}");
    assert_eq!(
        client(url).await.get(tick).await.expect("tick").queue,
        "ticks"
    );

    let refused = [
        (
            vec!["submit", "cli_nope", "{}"],
            "unknown task type `cli_nope`",
        ),
        (
            vec!["submit", "cli_echo", "42"],
            "invalid params for `cli_echo`",
        ),
        (vec!["submit", "cli_echo", "{oops"], "not JSON"),
        (
            vec!["submit", "cli_echo", r#""x""#, "--countdown", "soon"],
            "not a duration",
        ),
        // Past chrono's range: refused, not a panic.
        (
            vec!["submit", "cli_echo", r#""x""#, "--countdown", "99999999d"],
            "countdown is too long",
        ),
        (
            vec!["submit", "cli_echo", r#""x""#, "--queue", "a b"],
            "queue name",
        ),
        (
            vec!["submit", "cli_echo", r#""x""#, "--wait-timeout", "1s"],
            "--wait",
        ),
    ];
    for (args, message) in refused {
        let ran = taskq(url, &args).await.expect(Exit::Usage);
        assert!(ran.err.contains(message), "{args:?}: {}", ran.err);
        assert!(ran.out.is_empty(), "{args:?} printed {}", ran.out);
    }
    let page = client(url)
        .await
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .expect("list");
    assert_eq!(page.total, 2, "refused submits stored nothing");
}

/// `list` filters by state, queue and type and pages; its table has a row
/// per task and a footer, its JSON is the page.
pub(super) async fn list_filters_and_pages(url: &str) {
    let mut echoes = Vec::new();
    for text in ["a", "b", "c"] {
        echoes.push(submit(url, &["cli_echo", &json!(text).to_string()]).await);
    }
    let tick = submit(url, &["cli_tick"]).await;
    taskq(url, &["cancel", &echoes[0].to_string()])
        .await
        .expect(Exit::Ok);

    let table = taskq(url, &["list"]).await.expect(Exit::Ok).out;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATE") && lines[0].contains("CREATED"),
        "{table}"
    );
    assert_eq!(
        lines.len(),
        1 + 4 + 1,
        "header, four tasks, footer:\n{table}"
    );
    assert_eq!(lines[5], "page 1 of 1, 4 tasks");
    let cancelled = lines
        .iter()
        .find(|l| l.starts_with(&echoes[0].to_string()))
        .expect("the cancelled task's row");
    assert!(
        cancelled.contains("CANCELLED") && cancelled.contains("cli_echo"),
        "{cancelled}"
    );

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let cases: [(&[&str], Vec<TaskId>); 4] = [
        (&["--state", "cancelled"], vec![echoes[0]]),
        (&["--queue", "ticks"], vec![tick]),
        (
            &["--type", "cli_echo", "--state", "PENDING"],
            vec![echoes[2], echoes[1]],
        ),
        (&["-t", "cli_fail"], vec![]),
    ];
    for (filter, expected) in cases {
        let mut args = vec!["list", "--json"];
        args.extend_from_slice(filter);
        let page = taskq(url, &args).await.expect(Exit::Ok).json();
        let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
        assert_eq!(ids(&page), expected, "{filter:?}");
        assert_eq!(page["total"], json!(expected.len()), "{filter:?}");
    }

    let second = taskq(url, &["list", "--json", "--page", "2", "--page-size", "3"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(
        (second["page"].as_u64(), second["total"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(
        ids(&second),
        vec![echoes[0].to_string()],
        "the oldest is last"
    );
    let past = taskq(url, &["list", "--page", "9"]).await.expect(Exit::Ok);
    assert_eq!(past.out.trim(), "page 9 is past the last (4 tasks)");
    let none = taskq(url, &["list", "--type", "cli_fail"])
        .await
        .expect(Exit::Ok);
    assert_eq!(none.out.trim(), "no tasks match");
    for bad in [
        vec!["list", "--state", "done"],
        vec!["list", "--page", "0"],
        vec!["list", "--page-size", "101"],
    ] {
        taskq(url, &bad).await.expect(Exit::Usage);
    }
}

/// `wait` on a task nothing runs times out with 5; a missing id is 3
/// for `wait`, `show`, `cancel` and `retry`; a malformed one is usage.
pub(super) async fn wait_times_out_and_missing_tasks_are_not_found(url: &str) {
    let id = submit(url, &["cli_echo", r#""late""#]).await.to_string();
    let ran = taskq(url, &["wait", &id, "--timeout", "200ms"])
        .await
        .expect(Exit::Timeout);
    assert!(ran.err.contains("still PENDING"), "{}", ran.err);
    assert!(
        ran.out.lines().any(|l| l == "state:     PENDING"),
        "{}",
        ran.out
    );
    let ran = taskq(url, &["wait", &id, "--timeout", "200ms", "--json"])
        .await
        .expect(Exit::Timeout);
    let error: Value = serde_json::from_str(ran.err.trim()).expect("a JSON error");
    assert_eq!(error["error"]["kind"], "timeout");
    assert_eq!(error["error"]["exit"], 5);
    assert_eq!(
        ran.json()["state"],
        "PENDING",
        "the record still goes to stdout"
    );
    // `submit --wait` that runs out still tells the script the task's id.
    let ran = taskq(
        url,
        &[
            "submit",
            "cli_echo",
            r#""later""#,
            "--wait",
            "--wait-timeout",
            "100ms",
            "--json",
        ],
    )
    .await
    .expect(Exit::Timeout);
    let waited: TaskId = serde_json::from_value(ran.json()["id"].clone()).expect("an id");
    assert_eq!(
        client(url).await.get(waited).await.expect("stored").state,
        TaskState::Pending
    );

    let missing = uuid::Uuid::now_v7().to_string();
    for command in ["wait", "show", "cancel", "retry"] {
        let ran = taskq(url, &[command, &missing])
            .await
            .expect(Exit::NotFound);
        assert_eq!(ran.err.trim(), format!("error: task {missing} not found"));
    }
    taskq(url, &["show", "not-a-uuid"])
        .await
        .expect(Exit::Usage);
    taskq(url, &["wait", &id, "--timeout", "0s"])
        .await
        .expect(Exit::Usage);
}

/// `cancel` and `retry` follow the state machine: a move the state does
/// not allow is 6 and changes nothing.
pub(super) async fn cancel_and_retry_follow_the_state_machine(url: &str) {
    let id = submit(url, &["cli_echo", r#""x""#]).await.to_string();
    let ran = taskq(url, &["cancel", &id]).await.expect(Exit::Ok);
    assert_eq!(ran.out.trim(), format!("task {id} is CANCELLED"));
    let ran = taskq(url, &["cancel", &id]).await.expect(Exit::Conflict);
    assert!(
        ran.err.contains("is CANCELLED: cannot cancel"),
        "{}",
        ran.err
    );

    let retried = taskq(url, &["retry", &id, "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(retried["state"], "PENDING");
    let ran = taskq(url, &["retry", &id]).await.expect(Exit::Conflict);
    assert!(ran.err.contains("is PENDING: cannot retry"), "{}", ran.err);
    let state = client(url)
        .await
        .get(id.parse().expect("id"))
        .await
        .expect("task")
        .state;
    assert_eq!(
        state,
        TaskState::Pending,
        "the refused retry changed nothing"
    );
}

/// `purge` deletes ended tasks by state and age, and refuses live states.
pub(super) async fn purge_deletes_ended_tasks_by_state_and_age(url: &str) {
    let mut ids = Vec::new();
    for text in ["1", "2", "3"] {
        ids.push(submit(url, &["cli_echo", &json!(text).to_string()]).await);
    }
    for id in &ids[..2] {
        taskq(url, &["cancel", &id.to_string()])
            .await
            .expect(Exit::Ok);
    }
    let ran = taskq(
        url,
        &["purge", "--state", "cancelled", "--older-than", "1h"],
    )
    .await
    .expect(Exit::Ok);
    assert!(
        ran.out.starts_with("deleted 0 tasks (cancelled)"),
        "{}",
        ran.out
    );
    // The default states (finished, failed) leave cancelled tasks alone.
    let ran = taskq(url, &["purge", "--older-than", "0s", "--json"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.json(), json!({ "deleted": 0 }));
    let ran = taskq(
        url,
        &[
            "purge",
            "--state",
            "cancelled,failed",
            "--older-than",
            "0s",
            "--json",
        ],
    )
    .await
    .expect(Exit::Ok);
    assert_eq!(ran.json(), json!({ "deleted": 2 }));
    let ran = taskq(url, &["purge", "--state", "pending", "--older-than", "0s"])
        .await
        .expect(Exit::Usage);
    assert!(ran.err.contains("PENDING"), "{}", ran.err);
    taskq(url, &["purge"]).await.expect(Exit::Usage);

    let client = client(url).await;
    for id in &ids[..2] {
        assert!(matches!(client.get(*id).await, Err(Error::NotFound(_))));
    }
    assert_eq!(
        client.get(ids[2]).await.expect("kept").state,
        TaskState::Pending
    );
}

/// `submit --unique-key` stores one task per key: a second submit prints
/// the holder (`unique_conflict` in JSON); `--not-unique` stores another;
/// an empty key is a usage error and stores nothing.
pub(super) async fn submit_unique_key_answers_with_the_holder(url: &str) {
    let first = submit(url, &["cli_echo", r#""a""#, "--unique-key", "nightly"]).await;
    let again = taskq(
        url,
        &[
            "--json",
            "submit",
            "cli_echo",
            r#""b""#,
            "--unique-key",
            "nightly",
        ],
    )
    .await
    .expect(Exit::Ok)
    .json();
    assert_eq!(again["id"], json!(first));
    assert_eq!(
        (&again["duplicate"], &again["unique_conflict"]),
        (&json!(true), &json!(true))
    );
    let people = taskq(
        url,
        &["submit", "cli_echo", r#""c""#, "--unique-key", "nightly"],
    )
    .await
    .expect(Exit::Ok);
    assert!(people.out.starts_with(&first.to_string()), "{}", people.out);
    assert!(people.out.contains("already queued"), "{}", people.out);
    let other = submit(url, &["cli_echo", r#""d""#, "--not-unique"]).await;
    assert_ne!(other, first);
    let bad = taskq(url, &["submit", "cli_echo", r#""e""#, "--unique-key", ""]).await;
    bad.expect(Exit::Usage);
    let stored = client(url)
        .await
        .list(&TaskFilter::default(), PageRequest::new(1, 10))
        .await
        .expect("list")
        .total;
    assert_eq!(stored, 2);
}

/// `submit --tag --meta` stores the labels; `list --tag` filters and
/// shows them; `show` prints the labels and a table of the attempts;
/// a bad tag or metadata exits 2 and stores nothing.
pub(super) async fn history_tags_and_attempts_show_in_list_and_show(url: &str) {
    let id = submit(
        url,
        &[
            "cli_echo",
            r#""tagged""#,
            "--tag",
            "billing",
            "--tag",
            "eu,customer:acme",
            "--meta",
            r#"{"order": 42}"#,
        ],
    )
    .await;
    let other = submit(url, &["cli_echo", r#""plain""#]).await;
    let client = client(url).await;
    let record = client.get(id).await.expect("stored");
    assert_eq!(record.tags, ["billing", "eu", "customer:acme"]);
    assert_eq!(record.metadata["order"], 42);

    let listed = taskq(url, &["list", "--tag", "eu", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], json!(id));
    let table = taskq(url, &["list", "--tag", "billing,eu"])
        .await
        .expect(Exit::Ok);
    assert!(
        table.out.contains("billing,eu,customer:acme"),
        "{}",
        table.out
    );
    assert!(!table.out.contains(&other.to_string()), "{}", table.out);
    // `list --meta KEY=VALUE`: 42 the number (the string "42" is none).
    for (meta, total) in [("order=42", 1), (r#"order="42""#, 0), ("order=43", 0)] {
        let listed = taskq(url, &["list", "--meta", meta, "--tag", "eu", "--json"])
            .await
            .expect(Exit::Ok)
            .json();
        assert_eq!(listed["total"], total, "{meta}: {listed}");
    }
    for bad in [
        vec!["submit", "cli_echo", r#""x""#, "--tag", "Bad Tag"],
        vec!["submit", "cli_echo", r#""x""#, "--meta", "[1]"],
        vec!["list", "--tag", "Bad"],
        vec!["list", "--meta", "order"],
        vec!["list", "--meta", "bad key=1"],
    ] {
        taskq(url, &bad).await.expect(Exit::Usage);
    }

    // One attempt that retries, one that finishes.
    let backend = client.backend();
    let claim = |worker: &'static str| taskq::backend::ClaimRequest {
        queue: "default",
        limit: 10,
        worker_id: worker,
        lease: Duration::from_secs(30),
        now: chrono::Utc::now(),
        task_types: None,
    };
    let settle = |attempt: u32, outcome: taskq::backend::Outcome| taskq::backend::Settlement {
        id,
        attempt,
        outcome,
        at: chrono::Utc::now(),
    };
    assert!(
        backend
            .claim(claim("cli-w1"))
            .await
            .expect("claim")
            .iter()
            .any(|t| t.id == id)
    );
    let failure = taskq::TaskFailure {
        kind: taskq::ErrorKind::Retryable,
        message: "try again".into(),
    };
    let retry = taskq::backend::Outcome::Retry {
        error: failure,
        run_at: chrono::Utc::now(),
    };
    backend
        .settle(vec![settle(1, retry)])
        .await
        .expect("settle");
    backend.claim(claim("cli-w2")).await.expect("claim");
    let finished = taskq::backend::Outcome::Finished(json!("tagged"));
    backend
        .settle(vec![settle(2, finished)])
        .await
        .expect("settle");

    let shown = taskq(url, &["show", &id.to_string()])
        .await
        .expect(Exit::Ok);
    for line in [
        "tags:      billing, eu, customer:acme",
        r#"metadata:  {"order":42}"#,
    ] {
        assert!(
            shown.out.lines().any(|l| l == line),
            "{line:?} in\n{}",
            shown.out
        );
    }
    let rows: Vec<&str> = shown
        .out
        .lines()
        .filter(|l| l.starts_with("1 ") || l.starts_with("2 "))
        .collect();
    assert_eq!(rows.len(), 2, "{}", shown.out);
    assert!(
        rows[0].contains("retried") && rows[0].contains("retryable: try again"),
        "{}",
        rows[0]
    );
    assert!(rows[1].contains("finished"), "{}", rows[1]);
}

/// `retry --all-failed` retries every failed task (of `--queue` when
/// given) through bulk calls and says how many; an id with it, or neither,
/// is usage.
pub(super) async fn retry_all_failed_retries_every_failed_task(url: &str) {
    let client = client(url).await;
    let worker = Worker::builder(&client)
        .queue("default", 2)
        .poll_interval(Duration::from_millis(20))
        .build()
        .expect("worker");
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let mut failed = Vec::new();
    for message in ["a", "b"] {
        let ran = taskq(
            url,
            &[
                "submit",
                "cli_fail",
                &json!(message).to_string(),
                "--wait",
                "--json",
            ],
        )
        .await
        .expect(Exit::TaskFailed);
        failed.push(ran.json()["id"].as_str().expect("id").to_owned());
    }
    stop.shutdown();
    running.await.expect("join").expect("worker");
    let echo = submit(url, &["cli_echo", r#""stays""#]).await;

    let elsewhere = taskq(url, &["retry", "--all-failed", "--queue", "other"])
        .await
        .expect(Exit::Ok);
    assert_eq!(elsewhere.out.trim(), "retried 0 of 0 failed tasks");
    let ran = taskq(url, &["retry", "--all-failed", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(
        (&ran["matched"], &ran["retried"], &ran["skipped"]),
        (&json!(2), &json!(2), &json!([]))
    );
    for id in &failed {
        let task = client.get(id.parse().expect("id")).await.expect("task");
        assert_eq!(task.state, TaskState::Pending, "{id}");
    }
    assert_eq!(
        client.get(echo).await.expect("task").state,
        TaskState::Pending
    );

    taskq(url, &["retry"]).await.expect(Exit::Usage);
    taskq(url, &["retry", &failed[0], "--all-failed"])
        .await
        .expect(Exit::Usage);
    taskq(url, &["retry", &failed[0], "--queue", "default"])
        .await
        .expect(Exit::Usage);
}
