//! The commands that run and steer in process: `worker`, `workers`,
//! `queues`, `migrate`, and a host's own client.

use super::*;

/// `worker` serves its queues with the test binary's tasks; `submit
/// --wait` and `wait` see them end (exit 1 for a failure); `workers`
/// lists, pauses and resumes it, and `workers shutdown` stops the
/// `worker` command, which then exits 0.
pub(super) async fn worker_runs_tasks_and_obeys_workers_commands(url: &str) {
    let id = common::unique("cli-worker");
    let worker = {
        let (url, id) = (url.to_owned(), id.clone());
        tokio::spawn(async move {
            let args = [
                "worker",
                "-Q",
                "default,ticks=1",
                "-c",
                "2",
                "--worker-id",
                &id,
            ];
            taskq(&url, &args).await
        })
    };
    let listed = eventually("the worker registers", async || {
        let workers = taskq(url, &["workers", "--json"])
            .await
            .expect(Exit::Ok)
            .json();
        workers
            .as_array()?
            .iter()
            .find(|w| w["id"] == id.as_str())
            .cloned()
    })
    .await;
    assert_eq!(
        listed["queues"],
        json!([{ "name": "default", "concurrency": 2 }, { "name": "ticks", "concurrency": 1 }])
    );
    let types = listed["task_types"].as_array().expect("task types");
    assert!(types.contains(&json!("cli_echo")), "{types:?}");
    let table = taskq(url, &["workers"]).await.expect(Exit::Ok).out;
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("a row for {id} in\n{table}"));
    assert!(
        row.contains("running") && row.contains("default×2, ticks×1"),
        "{row}"
    );

    let done = taskq(url, &["submit", "cli_echo", r#""hi""#, "--wait", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(
        (done["state"].as_str(), &done["result"]),
        (Some("FINISHED"), &json!("hi"))
    );
    assert_eq!(done["worker_id"], id.as_str());
    let failed = taskq(url, &["submit", "cli_fail", r#""boom""#, "--wait"])
        .await
        .expect(Exit::TaskFailed);
    assert!(
        failed.out.lines().any(|l| l == "state:     FAILED"),
        "{}",
        failed.out
    );
    assert!(
        failed
            .out
            .lines()
            .any(|l| l == "error:     permanent: boom"),
        "{}",
        failed.out
    );
    assert!(
        failed.err.contains("ended FAILED: permanent: boom"),
        "{}",
        failed.err
    );
    let tick = submit(url, &["cli_tick"]).await.to_string();
    let waited = taskq(url, &["wait", &tick, "--timeout", "30s", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(waited["result"], 1);

    let ran = taskq(url, &["workers", "pause", &id])
        .await
        .expect(Exit::Ok);
    assert_eq!(
        ran.out.trim(),
        format!("asked worker {id} to pause (it obeys at its next heartbeat)")
    );
    taskq(url, &["workers", "pause", &id])
        .await
        .expect(Exit::Conflict);
    worker_state(url, &id, "paused").await;
    let resumed = taskq(url, &["workers", "resume", &id, "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(resumed["requested"], "running");
    worker_state(url, &id, "running").await;
    taskq(url, &["workers", "resume", &id])
        .await
        .expect(Exit::Conflict);
    let ran = taskq(url, &["workers", "shutdown", "cli-no-such-worker"])
        .await
        .expect(Exit::NotFound);
    assert!(
        ran.err.contains("worker `cli-no-such-worker` not found"),
        "{}",
        ran.err
    );

    taskq(url, &["workers", "shutdown", &id])
        .await
        .expect(Exit::Ok);
    let ran = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stops")
        .expect("the worker command does not panic")
        .expect(Exit::Ok);
    let lines: Vec<&str> = ran.out.lines().collect();
    assert!(
        lines[0].starts_with(&format!("worker {id} serving default×2, ticks×1 for ")),
        "{}",
        ran.out
    );
    assert_eq!(lines.last(), Some(&format!("worker {id} stopped").as_str()));
}

/// Polls `workers --json` until worker `id` reports `state`.
async fn worker_state(url: &str, id: &str, state: &str) {
    eventually(&format!("worker {id} is {state}"), async || {
        let workers = taskq(url, &["workers", "--json"])
            .await
            .expect(Exit::Ok)
            .json();
        workers
            .as_array()?
            .iter()
            .any(|w| w["id"] == id && w["state"] == state)
            .then_some(())
    })
    .await
}

/// `queues` shows depths (table and JSON); `queues pause` and `resume`
/// flip the flag; `queues limit` sets and lifts the limit; a bad queue
/// name or limit is usage.
pub(super) async fn queues_show_depth_pause_resume_and_limit(url: &str) {
    let none = taskq(url, &["queues"]).await.expect(Exit::Ok);
    assert_eq!(none.out.trim(), "no queues");
    submit(url, &["cli_echo", r#""1""#]).await;
    submit(url, &["cli_echo", r#""2""#, "--countdown", "1h"]).await;
    submit(url, &["cli_tick"]).await;

    let stats = taskq(url, &["queues", "stats", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    let default = stats
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["queue"] == "default")
        .expect("the default queue")
        .clone();
    assert_eq!(
        (default["pending"].as_u64(), default["scheduled"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(default["paused"], false);
    // No worker serves it: every pending task there is unclaimable.
    assert_eq!(default["unclaimable"], 2);

    let ran = taskq(url, &["queues", "pause", "default"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "queue default is paused");
    let table = taskq(url, &["queues"]).await.expect(Exit::Ok).out;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("QUEUE") && lines[0].contains("UNCLAIMABLE"),
        "{table}"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with("default "))
        .unwrap_or_else(|| panic!("a default row in\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..9],
        ["default", "1", "1", "0", "-", "-", "no", "yes", "0"],
        "{row}"
    );
    assert_eq!(&cells[9..], ["2", "(2", "cli_echo)"], "{row}");

    let resumed = taskq(url, &["queues", "resume", "default", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(resumed, json!({ "queue": "default", "paused": false }));
    let stats = client(url).await.queue_stats().await.expect("stats");
    assert!(stats.iter().all(|q| !q.paused), "{stats:?}");
    let ran = taskq(url, &["queues", "pause", "no spaces"])
        .await
        .expect(Exit::Usage);
    assert!(ran.err.contains("queue name"), "{}", ran.err);

    // `queues limit`: set, shown in the table, refused at 0, lifted.
    let ran = taskq(url, &["queues", "limit", "default", "3"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "queue default runs at most 3 at once");
    let table = taskq(url, &["queues"]).await.expect(Exit::Ok).out;
    assert!(
        table.lines().next().unwrap_or("").contains("LIMIT"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("default "))
        .unwrap_or_else(|| panic!("a default row in\n{table}"));
    assert_eq!(row.split_whitespace().nth(4), Some("3"), "{row}");
    for bad in ["0", "-1", "many"] {
        taskq(url, &["queues", "limit", "default", bad])
            .await
            .expect(Exit::Usage);
    }
    let stats = client(url).await.queue_stats().await.expect("stats");
    let default = stats
        .iter()
        .find(|q| q.queue == "default")
        .expect("default");
    assert_eq!(default.limit, Some(3), "a refused limit changes nothing");
    let lifted = taskq(url, &["queues", "limit", "default", "none", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(lifted, json!({ "queue": "default", "limit": null }));
    let stats = client(url).await.queue_stats().await.expect("stats");
    assert!(stats.iter().all(|q| q.limit.is_none()), "{stats:?}");
    limit_rate_cli(url).await;
    limit_type_cli(url).await;
    fair_cli(url).await;
    fair_weight_cli(url).await;
}

/// `queues fair`: on, shown in the table, a bad value refused (usage,
/// nothing changed), off.
async fn fair_cli(url: &str) {
    let ran = taskq(url, &["queues", "fair", "default", "on"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "queue default is fair: its keys take turns");
    let table = taskq(url, &["queues"]).await.expect(Exit::Ok).out;
    assert!(
        table.lines().next().unwrap_or("").contains("FAIR"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("default "))
        .unwrap_or_else(|| panic!("a default row in\n{table}"));
    assert_eq!(row.split_whitespace().nth(6), Some("yes"), "{row}");
    taskq(url, &["queues", "fair", "default", "maybe"])
        .await
        .expect(Exit::Usage);
    let stats = client(url).await.queue_stats().await.expect("stats");
    assert!(
        stats.iter().any(|q| q.queue == "default" && q.fair),
        "{stats:?}"
    );
    let off = taskq(url, &["queues", "fair", "default", "off", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(off, json!({ "queue": "default", "fair": false }));
    let stats = client(url).await.queue_stats().await.expect("stats");
    assert!(stats.iter().all(|q| !q.fair), "{stats:?}");
}

/// `queues fair-weight` and `fair-weights`: set, listed, refused at 0
/// and at a word (usage, nothing stored), back to `default`.
async fn fair_weight_cli(url: &str) {
    let ran = taskq(url, &["queues", "fair-weight", "default", "acme", "3"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "key acme of queue default has weight 3");
    for bad in ["0", "heavy"] {
        taskq(url, &["queues", "fair-weight", "default", "acme", bad])
            .await
            .expect(Exit::Usage);
    }
    let listed = taskq(url, &["queues", "fair-weights", "default", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(
        listed,
        json!({ "queue": "default", "weights": [{ "key": "acme", "weight": 3 }] })
    );
    taskq(
        url,
        &["queues", "fair-weight", "default", "acme", "default"],
    )
    .await
    .expect(Exit::Ok);
    let table = taskq(url, &["queues", "fair-weights", "default"])
        .await
        .expect(Exit::Ok)
        .out;
    assert_eq!(table.trim(), "queue default: every key has weight 1");
}

/// `types limit` and `types key-limit`: set, shown in the table, refused
/// at 0 (usage, nothing stored), lifted.
async fn limit_type_cli(url: &str) {
    let ran = taskq(url, &["types", "limit", "cli_echo", "3"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "task type cli_echo runs at most 3 at once");
    let ran = taskq(url, &["types", "key-limit", "cli_echo", "1"])
        .await
        .expect(Exit::Ok);
    assert_eq!(
        ran.out.trim(),
        "task type cli_echo runs at most 1 at once per key"
    );
    let table = taskq(url, &["types"]).await.expect(Exit::Ok).out;
    let header = table.lines().next().unwrap_or("");
    assert!(
        header.contains("LIMIT") && header.contains("RUNNING BY KEY"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("cli_echo "))
        .unwrap_or_else(|| panic!("a cli_echo row in\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    // The key limit's running keys: none run.
    assert_eq!(
        cells[1..],
        ["3", "-", "1", "0", "0", "keys", "-", "-"],
        "{row}"
    );
    let listed = taskq(url, &["types", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    let listed = listed
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["task_type"] == "cli_echo"))
        .cloned()
        .unwrap_or_else(|| panic!("a cli_echo row in {listed}"));
    assert_eq!(
        (&listed["running_keys"], &listed["top_keys"]),
        (&json!(0), &json!([])),
        "{listed}"
    );
    for (command, bad) in [("limit", "0"), ("limit", "-1"), ("key-limit", "0")] {
        taskq(url, &["types", command, "cli_echo", bad])
            .await
            .expect(Exit::Usage);
    }
    let stored = client(url).await.type_limits().await.expect("limits");
    assert_eq!(
        (stored[0].limit, stored[0].key_limit),
        (Some(3), Some(1)),
        "a refused limit changes nothing"
    );
    let lifted = taskq(url, &["types", "limit", "cli_echo", "none", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(lifted, json!({ "task_type": "cli_echo", "limit": null }));
    taskq(url, &["types", "key-limit", "cli_echo", "none"])
        .await
        .expect(Exit::Ok);
    let stored = client(url).await.type_limits().await.expect("limits");
    assert!(stored.is_empty(), "{stored:?}");
    limit_rate_type_cli(url).await;
}

/// `types rate-limit` and `types key-rate-limit`: set, shown in the table,
/// refused when bad (usage, nothing stored), lifted.
async fn limit_rate_type_cli(url: &str) {
    let ran = taskq(url, &["types", "rate-limit", "cli_echo", "5/1m"])
        .await
        .expect(Exit::Ok);
    assert_eq!(
        ran.out.trim(),
        "task type cli_echo starts at most 5 per 60s"
    );
    let ran = taskq(url, &["types", "key-rate-limit", "cli_echo", "2/1s"])
        .await
        .expect(Exit::Ok);
    assert_eq!(
        ran.out.trim(),
        "task type cli_echo starts at most 2 per 1s per key"
    );
    let table = taskq(url, &["types"]).await.expect(Exit::Ok).out;
    let header = table.lines().next().unwrap_or("");
    assert!(
        header.contains("RATE") && header.contains("KEY RATE"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("cli_echo "))
        .unwrap_or_else(|| panic!("a cli_echo row in\n{table}"));
    assert!(row.contains("5/60s") && row.contains("2/1s"), "{row}");
    for (command, bad) in [("rate-limit", "0/1s"), ("key-rate-limit", "1/0s")] {
        taskq(url, &["types", command, "cli_echo", bad])
            .await
            .expect(Exit::Usage);
    }
    let stored = client(url).await.type_limits().await.expect("limits");
    assert_eq!(
        (
            stored[0].rate_limit.map(|r| r.starts),
            stored[0].key_rate_limit.map(|r| r.starts)
        ),
        (Some(5), Some(2)),
        "a refused limit changes nothing"
    );
    for command in ["rate-limit", "key-rate-limit"] {
        taskq(url, &["types", command, "cli_echo", "none"])
            .await
            .expect(Exit::Ok);
    }
    let stored = client(url).await.type_limits().await.expect("limits");
    assert!(stored.is_empty(), "{stored:?}");
}

/// `queues rate-limit`: set, shown in the table, refused when bad
/// (usage, nothing stored), lifted.
async fn limit_rate_cli(url: &str) {
    let ran = taskq(url, &["queues", "rate-limit", "default", "5/1m"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "queue default starts at most 5 per 60s");
    let table = taskq(url, &["queues"]).await.expect(Exit::Ok).out;
    assert!(
        table.lines().next().unwrap_or("").contains("RATE"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("default "))
        .unwrap_or_else(|| panic!("a default row in\n{table}"));
    assert_eq!(row.split_whitespace().nth(5), Some("5/60s"), "{row}");
    for bad in ["0/1m", "5/0s", "-1/1m", "5", "5/soon", "5/400d"] {
        taskq(url, &["queues", "rate-limit", "default", bad])
            .await
            .expect(Exit::Usage);
    }
    let stats = client(url).await.queue_stats().await.expect("stats");
    let default = stats
        .iter()
        .find(|q| q.queue == "default")
        .expect("default");
    assert_eq!(
        default.rate_limit,
        Some(taskq::RateLimit::new(5, Duration::from_secs(60))),
        "a refused rate limit changes nothing"
    );
    let lifted = taskq(url, &["queues", "rate-limit", "default", "none", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(lifted, json!({ "queue": "default", "rate_limit": null }));
    let stats = client(url).await.queue_stats().await.expect("stats");
    assert!(stats.iter().all(|q| q.rate_limit.is_none()), "{stats:?}");
}

/// `migrate` brings a fresh database's schema up: over a host's backend
/// opened without migrating, `list` fails (no tables) until `migrate` has
/// run; over `--database` (which migrates on opening) it confirms. Redis
/// has no schema: there it only confirms.
pub(super) async fn migrate_brings_the_schema_up(url: &str) {
    if !is_redis(url) {
        migrate_creates_the_tables(url).await;
    }
    let ran = taskq(url, &["migrate", "--json"]).await.expect(Exit::Ok);
    assert_eq!(ran.json(), json!({ "migrated": true }));
}

async fn migrate_creates_the_tables(url: &str) {
    let db = taskq::sea::sea_orm::Database::connect(url)
        .await
        .expect("raw connection");
    let unmigrated =
        Client::new(Arc::new(taskq::SqlBackend::from_connection(db))).expect("registry");
    let ran = run(vec!["tasks", "list"], Some(unmigrated.clone()))
        .await
        .expect(Exit::Unavailable);
    assert!(ran.err.starts_with("error: backend: "), "{}", ran.err);
    let ran = run(vec!["tasks", "migrate"], Some(unmigrated.clone()))
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "the schema is up to date");
    let ran = run(vec!["tasks", "list"], Some(unmigrated))
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "no tasks match");
}

/// Over a host's own client the commands need no `--database`, and
/// refuse one rather than ignore it.
pub(super) async fn a_host_client_runs_commands_and_refuses_database(url: &str) {
    let host = client(url).await;
    let id = host
        .submit_json("cli_echo", json!("from the host"))
        .await
        .expect("submit");
    let shown = run(
        vec!["tasks", "show", &id.to_string(), "--json"],
        Some(host.clone()),
    )
    .await
    .expect(Exit::Ok)
    .json();
    assert_eq!(shown["params"], "from the host");
    for option in ["--database", "--redis"] {
        let ran = run(vec!["tasks", option, url, "list"], Some(host.clone()))
            .await
            .expect(Exit::Usage);
        assert!(ran.err.contains("supplies its own backend"), "{}", ran.err);
    }
}
