//! `schedules`: list, create, enable, disable, run now, delete.

use super::*;

/// `schedules` lists them (table and JSON); `disable`, `enable` and
/// `run-now` act on one; a missing name is 3.
pub(super) async fn schedules_are_listed_steered_and_run_now(url: &str) {
    taskq(url, &["schedules"]).await.expect(Exit::Ok);
    let client = client(url).await;
    client
        .create_schedule(
            ScheduleDef::interval("cli-hourly", "cli_echo", Duration::from_secs(3600))
                .params(json!("tick")),
        )
        .await
        .expect("schedule");
    client
        .create_schedule(
            ScheduleDef::cron_in("cli-nightly", "cli_echo", "0 30 2 * * *", "Europe/Paris")
                .params(json!("night"))
                .max_runs(3),
        )
        .await
        .expect("schedule");

    let table = taskq(url, &["schedules", "list"])
        .await
        .expect(Exit::Ok)
        .out;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("NEXT RUN"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("cli-hourly") && lines[1].contains("every 1h"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("cli-nightly")
            && lines[2].contains("cron 0 30 2 * * * (Europe/Paris)")
            && lines[2].ends_with("0/3"),
        "{table}"
    );
    assert_eq!(lines[3], "page 1 of 1, 2 schedules");

    let ran = taskq(url, &["schedules", "disable", "cli-hourly"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "schedule cli-hourly is disabled");
    let listed = taskq(url, &["schedules", "--json", "--page-size", "1"]).await;
    // `--page-size` belongs to `schedules list`; the bare group takes none.
    listed.expect(Exit::Usage);
    let page = taskq(url, &["schedules", "list", "--json", "--page-size", "1"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(
        (page["total"].as_u64(), page["items"][0]["name"].as_str()),
        (Some(2), Some("cli-hourly"))
    );
    assert_eq!(page["items"][0]["enabled"], false);
    assert_eq!(page["items"][0]["next_run_at"], Value::Null);
    let enabled = taskq(url, &["schedules", "enable", "cli-hourly", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["next_run_at"].is_string(), "{enabled}");

    let task = taskq(url, &["schedules", "run-now", "cli-nightly"])
        .await
        .expect(Exit::Ok)
        .id();
    let record = client.get(task).await.expect("the submitted task");
    assert_eq!(
        (record.task_type.as_str(), &record.params),
        ("cli_echo", &json!("night"))
    );
    let nightly = client.get_schedule("cli-nightly").await.expect("schedule");
    assert_eq!((nightly.run_count, nightly.last_task_id), (1, Some(task)));

    for command in ["enable", "disable", "run-now"] {
        let ran = taskq(url, &["schedules", command, "cli-none"])
            .await
            .expect(Exit::NotFound);
        assert!(
            ran.err.contains("schedule `cli-none` not found"),
            "{}",
            ran.err
        );
    }
}

/// `schedules create` stores each kind of timing with its options, as
/// the client reads it back; `schedules delete` removes one, and a
/// missing name is 3.
pub(super) async fn schedules_are_created_and_deleted(url: &str) {
    let client = client(url).await;
    let ran = taskq(
        url,
        &[
            "schedules",
            "create",
            "cli-cron",
            "cli_echo",
            r#""night""#,
            "--cron",
            "0 30 2 * * *",
            "--timezone",
            "Europe/Paris",
            "--queue",
            "nightly",
            "--priority",
            "-3",
            "--max-runs",
            "5",
            "--misfire",
            "run-each=2",
            "--description",
            "the nightly echo",
        ],
    )
    .await
    .expect(Exit::Ok);
    let line = ran.out.trim();
    assert!(
        line.starts_with(
            "schedule cli-cron created (cron 0 30 2 * * * (Europe/Paris)), next run 20"
        ),
        "{line}"
    );
    let cron = client.get_schedule("cli-cron").await.expect("stored");
    assert_eq!(
        cron.def,
        ScheduleDef::cron_in("cli-cron", "cli_echo", "0 30 2 * * *", "Europe/Paris")
            .params(json!("night"))
            .queue("nightly")
            .priority(-3)
            .max_runs(5)
            .misfire(MisfirePolicy::RunEach { max: 2 })
            .description("the nightly echo")
    );
    assert!(cron.next_run_at.is_some());

    let every = taskq(
        url,
        &[
            "schedules",
            "create",
            "cli-every",
            "cli_tick",
            "--every",
            "90",
            "--json",
        ],
    )
    .await
    .expect(Exit::Ok)
    .json();
    assert_eq!(
        (
            every["name"].as_str(),
            every["kind"].as_str(),
            every["every"].as_f64()
        ),
        (Some("cli-every"), Some("interval"), Some(90.0))
    );
    // A task without params gets null, not `{}`, as over HTTP.
    assert_eq!(every["params"], Value::Null);
    assert!(every["next_run_at"].is_string(), "{every}");

    // Before 2038: the MySQL backend binds times as TIMESTAMP, and a
    // schedule time past its range is stored as NULL there (a backend
    // limit, see the README's "Ranges"; not the command line's).
    let at = "2037-01-02T03:04:05+01:00";
    let once = taskq(
        url,
        &[
            "schedules",
            "create",
            "cli-once",
            "cli_echo",
            r#""once""#,
            "--at",
            at,
            "--disabled",
            "--json",
        ],
    )
    .await
    .expect(Exit::Ok)
    .json();
    assert_eq!(once["at"], "2037-01-02T02:04:05Z");
    assert_eq!(
        (once["enabled"].as_bool(), &once["next_run_at"]),
        (Some(false), &Value::Null)
    );
    let page = client
        .list_schedules(PageRequest::default())
        .await
        .expect("schedules");
    let names: Vec<&str> = page.items.iter().map(|s| s.def.name.as_str()).collect();
    assert_eq!(names, ["cli-cron", "cli-every", "cli-once"]);

    let ran = taskq(url, &["schedules", "delete", "cli-every"])
        .await
        .expect(Exit::Ok);
    assert_eq!(ran.out.trim(), "schedule cli-every is deleted");
    let deleted = taskq(url, &["schedules", "delete", "cli-once", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(deleted, json!({ "schedule": "cli-once", "deleted": true }));
    let ran = taskq(url, &["schedules", "delete", "cli-once", "--json"])
        .await
        .expect(Exit::NotFound);
    let error: Value = serde_json::from_str(&ran.err).expect("a JSON error");
    assert_eq!(error["error"]["kind"], "not_found");
    let left = client
        .list_schedules(PageRequest::default())
        .await
        .expect("schedules");
    assert_eq!(left.total, 1);
    assert_eq!(left.items[0].def.name, "cli-cron");
}

/// Bad input to `schedules create` exits 2 (a taken name 6) with the
/// reason, as JSON with `--json`, and stores nothing.
pub(super) async fn schedules_create_refuses_bad_input(url: &str) {
    let client = client(url).await;
    taskq(
        url,
        &[
            "schedules",
            "create",
            "cli-taken",
            "cli_echo",
            r#""a""#,
            "--every",
            "1h",
        ],
    )
    .await
    .expect(Exit::Ok);
    let before = client.get_schedule("cli-taken").await.expect("stored");

    // (arguments, exit, kind, a piece of the message)
    let cases: [(&[&str], Exit, &str, &str); 9] = [
        (
            &["cli-bad", "cli_echo", r#""a""#, "--cron", "every monday"],
            Exit::Usage,
            "usage",
            "cron",
        ),
        (
            &[
                "cli-bad",
                "cli_echo",
                r#""a""#,
                "--cron",
                "0 9 * * *",
                "--timezone",
                "Mars/Olympus",
            ],
            Exit::Usage,
            "usage",
            "Mars/Olympus",
        ),
        (
            &["cli-bad", "cli_no_such_type", "--every", "1h"],
            Exit::Usage,
            "usage",
            "cli_no_such_type",
        ),
        (
            &["cli-bad", "cli_echo", "42", "--every", "1h"],
            Exit::Usage,
            "usage",
            "cli_echo",
        ),
        (
            &["cli-bad", "cli_echo", r#""a""#, "--every", "0"],
            Exit::Usage,
            "usage",
            "interval",
        ),
        (
            &[
                "cli-bad",
                "cli_echo",
                r#""a""#,
                "--every",
                "1h",
                "--queue",
                "no spaces",
            ],
            Exit::Usage,
            "usage",
            "queue name",
        ),
        (
            &[
                "cli-bad",
                "cli_echo",
                r#""a""#,
                "--every",
                "1h",
                "--max-runs",
                "0",
            ],
            Exit::Usage,
            "usage",
            "max_runs",
        ),
        (
            &["..", "cli_echo", r#""a""#, "--every", "1h"],
            Exit::Usage,
            "usage",
            "name",
        ),
        (
            &["cli-taken", "cli_echo", r#""b""#, "--cron", "0 9 * * *"],
            Exit::Conflict,
            "conflict",
            "cli-taken",
        ),
    ];
    for (args, exit, kind, piece) in cases {
        let mut argv = vec!["schedules", "create", "--json"];
        argv.extend_from_slice(args);
        let ran = taskq(url, &argv).await.expect(exit);
        let error: Value = serde_json::from_str(&ran.err)
            .unwrap_or_else(|err| panic!("{args:?}: stderr is not JSON ({err}): {}", ran.err));
        assert_eq!(error["error"]["kind"], kind, "{args:?}: {error}");
        assert_eq!(error["error"]["exit"], exit.code(), "{args:?}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(piece), "{args:?}: {message}");
        assert!(ran.out.is_empty(), "{args:?}: {}", ran.out);
    }
    // What clap refuses before any call: no timing, two timings, a time
    // zone without cron, a time that is not RFC 3339, a bad policy.
    let refused: [&[&str]; 5] = [
        &["cli-bad", "cli_echo", r#""a""#],
        &[
            "cli-bad",
            "cli_echo",
            r#""a""#,
            "--every",
            "1h",
            "--cron",
            "0 9 * * *",
        ],
        &[
            "cli-bad",
            "cli_echo",
            r#""a""#,
            "--every",
            "1h",
            "--timezone",
            "UTC",
        ],
        &["cli-bad", "cli_echo", r#""a""#, "--at", "tomorrow"],
        &[
            "cli-bad",
            "cli_echo",
            r#""a""#,
            "--every",
            "1h",
            "--misfire",
            "later",
        ],
    ];
    for args in refused {
        let mut argv = vec!["schedules", "create"];
        argv.extend_from_slice(args);
        let ran = taskq(url, &argv).await.expect(Exit::Usage);
        assert!(ran.err.contains("error:"), "{args:?}: {}", ran.err);
    }

    let page = client
        .list_schedules(PageRequest::default())
        .await
        .expect("schedules");
    assert_eq!(page.total, 1, "{:?}", page.items);
    let after = client.get_schedule("cli-taken").await.expect("stored");
    assert_eq!(after.def, before.def);
    assert_eq!(after.def.params, json!("a"));
}
