//! Schedules end to end: the client API and a worker firing a schedule
//! (memory), and three schedulers sharing one store — memory, SQLite (three
//! connections to one file) and PostgreSQL — in one test binary so that
//! the minute-long variants run in parallel.

use std::sync::Arc;
use std::time::Duration;

use taskq::backend::Backend;
use taskq::{Client, Error, MemoryBackend, ScheduleDef};
use taskq_core::CancellationToken;
use taskq_core::conformance::{SCHEDULED_TASK, schedule_client, schedule_three_schedulers};
use taskq_core::maintenance::scheduler::{Scheduler, SchedulerConfig};

#[path = "../common/mod.rs"]
mod common;
mod declared;

fn memory() -> Arc<dyn Backend> {
    Arc::new(MemoryBackend::new())
}

/// Ticks of the three-scheduler runs (the issue asks for at least 60).
const TICKS: u32 = 60;

/// Three schedulers against one store, a per-second schedule over
/// [`TICKS`] ticks: no duplicates, no misses — on the embedded backends.
/// They run at once, so the test takes one minute, not one per backend; a
/// failure names its backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schedule_three_schedulers_fire_each_tick_once_on_memory_and_sqlite() {
    let sqlite = async {
        #[cfg(feature = "sqlite")]
        sqlite_three_schedulers().await;
    };
    tokio::join!(memory_three_schedulers(), sqlite);
}

/// As above on the server backends built in (servers read from
/// `TASKQ_TEST_POSTGRES_URL`, `TASKQ_TEST_MYSQL_URL` and
/// `TASKQ_TEST_REDIS_URL`), all at once so that this test too takes one
/// minute while the embedded one runs beside it. It needs every server:
/// built without one of the variables, it is ignored.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    any(taskq_no_postgres, taskq_no_mysql, taskq_no_redis),
    ignore = "TASKQ_TEST_POSTGRES_URL, TASKQ_TEST_MYSQL_URL or TASKQ_TEST_REDIS_URL is not set"
)]
async fn schedule_three_schedulers_fire_each_tick_once_on_postgres_mysql_redis_and_redis_sqlite() {
    let postgres = async {
        #[cfg(feature = "postgres")]
        server_three_schedulers("postgres", taskq::sea::scratch::Server::Postgres).await;
    };
    let mysql = async {
        #[cfg(feature = "mysql")]
        server_three_schedulers("mysql", taskq::sea::scratch::Server::Mysql).await;
    };
    let redis = async {
        #[cfg(feature = "redis")]
        redis_three_schedulers("redis", None).await;
    };
    let redis_sqlite = async {
        #[cfg(all(feature = "redis", feature = "sqlite"))]
        redis_three_schedulers(
            "redis_sqlite",
            Some(common::sqlite_url("taskq-schedules-three")),
        )
        .await;
    };
    tokio::join!(postgres, mysql, redis, redis_sqlite);
}

async fn memory_three_schedulers() {
    let backend = memory();
    let (ticks, tasks) =
        schedule_three_schedulers("memory", [backend.clone(), backend.clone(), backend], TICKS)
            .await;
    eprintln!("memory: three schedulers, {ticks} ticks, {tasks} tasks, 0 duplicates, 0 misses");
}

#[cfg(feature = "sqlite")]
async fn sqlite_three_schedulers() {
    let dir = std::env::temp_dir().join("taskq-schedule-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("three-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let mut backends = Vec::new();
    for _ in 0..3 {
        // Three pools on one file, as three processes would have.
        let backend = taskq::SqlBackend::connect(&url).await.unwrap();
        backends.push(Arc::new(backend) as Arc<dyn Backend>);
    }
    let backends: [Arc<dyn Backend>; 3] = backends.try_into().ok().unwrap();
    let (ticks, tasks) = schedule_three_schedulers("sqlite", backends, TICKS).await;
    eprintln!("sqlite: three schedulers, {ticks} ticks, {tasks} tasks, 0 duplicates, 0 misses");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Three backends (three pools, as three processes would have) on one
/// fresh schema / database of the server `server`'s variable names.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn server_three_schedulers(label: &str, server: taskq::sea::scratch::Server) {
    use taskq::sea::scratch::Scratch;
    let scratch = Scratch::from_env(server)
        .await
        .unwrap_or_else(|err| panic!("{label}: scratch on {}: {err}", server.env_var()));
    let mut backends = Vec::new();
    for _ in 0..3 {
        let backend = taskq::SqlBackend::connect(scratch.url())
            .await
            .expect("connect");
        backends.push(Arc::new(backend) as Arc<dyn Backend>);
    }
    let backends: [Arc<dyn Backend>; 3] = backends.try_into().ok().expect("three");
    let (ticks, tasks) = schedule_three_schedulers(label, backends, TICKS).await;
    eprintln!("{label}: three schedulers, {ticks} ticks, {tasks} tasks, 0 duplicates, 0 misses");
    scratch.drop_now().await.expect("drop scratch");
}

/// Three connections with one key prefix on the Redis server
/// `TASKQ_TEST_REDIS_URL` names (the keys are deleted afterwards); with
/// `sqlite_url`, SQL records with Redis delivery: schedules in that
/// SQLite file, their tasks delivered through Redis.
#[cfg(feature = "redis")]
async fn redis_three_schedulers(label: &str, sqlite_url: Option<String>) {
    use taskq_core::redis::{RedisBackend, RedisConfig};
    let url = common::redis_url();
    let prefix = common::unique("taskq-test-schedules");
    let mut backends = Vec::new();
    for i in 0..3 {
        let mut config = RedisConfig::new(url.clone());
        config.prefix = prefix.clone();
        config.delete_keys_on_drop = i == 0;
        let redis = RedisBackend::connect_with(config).await.expect("connect");
        let backend: Arc<dyn Backend> = match &sqlite_url {
            #[cfg(feature = "sqlite")]
            Some(sql_url) => {
                let sql = taskq::SqlBackend::connect(sql_url).await.expect("connect");
                Arc::new(
                    taskq::SqlRedisBackend::new(sql, redis)
                        .await
                        .expect("sql + redis"),
                )
            }
            _ => Arc::new(redis),
        };
        backends.push(backend);
    }
    let backends: [Arc<dyn Backend>; 3] = backends.try_into().ok().expect("three");
    let (ticks, tasks) = schedule_three_schedulers(label, backends, TICKS).await;
    eprintln!("{label}: three schedulers, {ticks} ticks, {tasks} tasks, 0 duplicates, 0 misses");
}

fn client() -> Client {
    schedule_client(memory())
}

#[tokio::test]
async fn memory_schedule_bad_input_is_a_typed_error_and_stores_nothing() {
    let client = client();
    let task = SCHEDULED_TASK.name;
    let cases = [
        ScheduleDef::cron("a", task, "not a cron"),
        ScheduleDef::cron_in("a", task, "0 * * * *", "Nowhere/Atlantis"),
        ScheduleDef::interval("a", task, Duration::ZERO),
        ScheduleDef::interval("a", "no_such_task", Duration::from_secs(5)),
    ];
    let errors: Vec<Error> = {
        let mut errors = Vec::new();
        for def in cases {
            errors.push(client.create_schedule(def).await.expect_err("invalid"));
        }
        errors
    };
    assert!(
        matches!(&errors[0], Error::InvalidCron { expression, .. } if expression == "not a cron")
    );
    assert!(matches!(&errors[1], Error::UnknownTimeZone(zone) if zone == "Nowhere/Atlantis"));
    assert!(
        matches!(&errors[2], Error::InvalidSchedule { message, .. } if message.contains("zero"))
    );
    assert!(matches!(&errors[3], Error::UnknownTaskType(name) if name == "no_such_task"));
    let page = client.list_schedules(Default::default()).await.unwrap();
    assert_eq!(page.total, 0, "nothing stored");
}

/// Names a URL cannot reach and times past what the backends store are
/// typed errors, and nothing is stored.
#[tokio::test]
async fn memory_schedule_bad_names_and_times_are_typed_errors() {
    let client = client();
    let task = SCHEDULED_TASK.name;
    let every = Duration::from_secs(60);
    for name in ["", ".", "..", "a/b", "tab\there", "\u{1b}[2J"] {
        let err = client
            .create_schedule(ScheduleDef::interval(name, task, every))
            .await
            .expect_err("a bad name");
        assert!(
            matches!(&err, Error::InvalidName { kind: "schedule", name: n, .. } if n == name),
            "{name:?}: {err}"
        );
    }
    let err = client
        .create_schedule(ScheduleDef::interval("q", task, every).queue(".."))
        .await
        .expect_err("a bad queue");
    assert!(
        matches!(err, Error::InvalidName { kind: "queue", .. }),
        "{err}"
    );
    let past_9999 = taskq::bounds::LATEST_TIME + chrono::Duration::seconds(1);
    for (def, field) in [
        (ScheduleDef::once("t", task, past_9999), "at"),
        (
            ScheduleDef::interval("t", task, every).start_at(past_9999),
            "start_at",
        ),
        (
            ScheduleDef::interval("t", task, every).end_at(past_9999),
            "end_at",
        ),
    ] {
        let err = client.create_schedule(def).await.expect_err("out of range");
        assert!(
            matches!(&err, Error::InvalidSchedule { field: f, .. } if *f == field),
            "{field}: {err}"
        );
    }
    // A name with spaces and any script is fine.
    client
        .create_schedule(ScheduleDef::interval("nightly report ☾", task, every))
        .await
        .expect("a good name");
    let page = client.list_schedules(Default::default()).await.unwrap();
    assert_eq!(page.total, 1, "only the good one is stored");
}

#[tokio::test]
async fn memory_schedule_client_lifecycle() {
    let client = client();
    let task = SCHEDULED_TASK.name;
    let created = client
        .create_schedule(
            ScheduleDef::interval("tick", task, Duration::from_secs(60))
                .params(serde_json::json!({ "n": 1 })),
        )
        .await
        .unwrap();
    assert!(created.next_run_at.is_some());
    assert!(matches!(
        client
            .create_schedule(ScheduleDef::interval("tick", task, Duration::from_secs(5)))
            .await,
        Err(Error::ScheduleExists(_))
    ));

    let disabled = client.disable_schedule("tick").await.unwrap();
    assert!(!disabled.def.enabled);
    assert_eq!(disabled.next_run_at, None);
    let enabled = client.enable_schedule("tick").await.unwrap();
    assert!(enabled.next_run_at.is_some());

    // An edit that changes the timing recomputes the next run.
    let updated = client
        .update_schedule(ScheduleDef::cron("tick", task, "0 0 1 1 *"))
        .await
        .unwrap();
    let next = updated.next_run_at.unwrap();
    assert_eq!(next.format("%m-%d %H:%M").to_string(), "01-01 00:00");

    let id = client.run_schedule_now("tick").await.unwrap();
    let record = client.get(id).await.unwrap();
    assert_eq!(record.task_type, task);

    // Upsert: unchanged is left alone, changed is written.
    let def = client.get_schedule("tick").await.unwrap().def;
    assert!(!client.upsert_schedule(def.clone()).await.unwrap());
    assert!(
        client
            .upsert_schedule(def.description("changed"))
            .await
            .unwrap()
    );

    client.delete_schedule("tick").await.unwrap();
    assert!(matches!(
        client.delete_schedule("tick").await,
        Err(Error::ScheduleNotFound(_))
    ));
    assert!(matches!(
        client.get_schedule("tick").await,
        Err(Error::ScheduleNotFound(_))
    ));
}

#[tokio::test]
async fn memory_schedule_worker_fires_a_one_off_and_an_edit_takes_effect() {
    let client = client();
    let worker = taskq::Worker::builder(&client)
        .queue("default", 2)
        .build()
        .unwrap();
    let shutdown = worker.shutdown_handle();
    let run = tokio::spawn(worker.run());
    // Created after the worker's scheduler went to sleep: the edit wakes it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    client
        .create_schedule(
            ScheduleDef::once("soon", SCHEDULED_TASK.name, at)
                .params(serde_json::json!({ "hello": "world" })),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let schedule = loop {
        let schedule = client.get_schedule("soon").await.unwrap();
        if let Some(id) = schedule.last_task_id {
            let record = client.get(id).await.unwrap();
            if record.state.is_terminal() {
                assert_eq!(record.result, Some(serde_json::json!({ "hello": "world" })));
                break schedule;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "one-off did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((schedule.run_count, schedule.next_run_at), (1, None));
    shutdown.shutdown();
    run.await.unwrap().unwrap();
}

/// The crash window of a Redis firing: a scheduler queued a tick's task,
/// then died before moving the schedule on. The tick stays due; a second
/// scheduler fires it and finds the task already there — one task, not
/// two, and not none.
#[cfg(feature = "redis")]
#[tokio::test]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn redis_schedule_crash_between_enqueue_and_compare_and_set_fires_once() {
    let backend = common::redis("crash-window").await;
    let client = schedule_client(backend.clone());
    let at = chrono::Utc::now() - chrono::Duration::seconds(1);
    let schedule = client
        .create_schedule(
            ScheduleDef::once("crash", SCHEDULED_TASK.name, at)
                .params(serde_json::json!({ "tick": 1 })),
        )
        .await
        .unwrap();
    let tick = schedule.next_run_at.unwrap();
    // The dead scheduler's first step: the tick's task, under its tick id.
    let mut queued = client
        .submit_json(SCHEDULED_TASK.name, schedule.def.params.clone())
        .at(tick)
        .into_record()
        .unwrap();
    queued.id = schedule.task_id_for(tick);
    backend.enqueue(vec![queued.clone()]).await.unwrap();
    assert_eq!(client.get_schedule("crash").await.unwrap().run_count, 0);

    let report = Scheduler::new(&client)
        .tick(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!((report.fired, report.tasks, report.lost), (1, 1, 0));
    let tasks = client
        .list(
            &taskq::TaskFilter {
                task_type: Some(SCHEDULED_TASK.name.to_owned()),
                ..Default::default()
            },
            taskq::PageRequest::default(),
        )
        .await
        .unwrap();
    let ids: Vec<_> = tasks.items.iter().map(|t| t.id).collect();
    assert_eq!(ids, [queued.id], "exactly the tick's task");
    let fired = client.get_schedule("crash").await.unwrap();
    assert_eq!(
        (fired.run_count, fired.last_task_id, fired.next_run_at),
        (1, Some(queued.id), None)
    );
    // A third scheduler finds nothing left to do.
    let report = Scheduler::new(&client)
        .tick(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(report.due, 0);
}

/// A schedule created through one backend instance (another process) wakes
/// the scheduler of another instance at once — on PostgreSQL by
/// `LISTEN`/`NOTIFY`, on Redis by pub/sub — not at its next poll: the
/// sleeping scheduler polls once a minute here, and the tick is due in
/// 300 ms.
async fn schedule_write_wakes_other_process(
    label: &str,
    sleeper: Arc<dyn Backend>,
    writer: Arc<dyn Backend>,
) {
    let stop = CancellationToken::new();
    let scheduler = Scheduler::new(&schedule_client(sleeper)).config(SchedulerConfig {
        max_sleep: Duration::from_secs(60),
        sync_static: false,
        ..SchedulerConfig::default()
    });
    let run = tokio::spawn(scheduler.run(stop.clone()));
    // Let it find nothing due and go to sleep.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writer = schedule_client(writer);
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    writer
        .create_schedule(ScheduleDef::once("from-elsewhere", SCHEDULED_TASK.name, at))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if writer
            .get_schedule("from-elsewhere")
            .await
            .unwrap()
            .run_count
            == 1
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{label}: the sleeping scheduler was not woken by another instance's write"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    run.await.unwrap();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn postgres_schedule_write_wakes_other_process() {
    use taskq::sea::scratch::{Scratch, Server};
    let scratch = Scratch::from_env(Server::Postgres)
        .await
        .expect("scratch schema on TASKQ_TEST_POSTGRES_URL");
    let connect = || async {
        Arc::new(taskq::SqlBackend::connect(scratch.url()).await.unwrap()) as Arc<dyn Backend>
    };
    let (sleeper, writer) = (connect().await, connect().await);
    schedule_write_wakes_other_process("postgres", sleeper, writer).await;
    scratch.drop_now().await.unwrap();
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn redis_schedule_write_wakes_other_process() {
    let url = common::redis_url();
    let prefix = common::unique("wake");
    let mut backends = Vec::new();
    for i in 0..2 {
        let mut config = taskq::RedisConfig::new(url.clone());
        config.prefix = prefix.clone();
        config.delete_keys_on_drop = i == 0;
        backends.push(
            Arc::new(taskq::RedisBackend::connect_with(config).await.unwrap()) as Arc<dyn Backend>,
        );
    }
    let writer = backends.pop().unwrap();
    let sleeper = backends.pop().unwrap();
    schedule_write_wakes_other_process("redis", sleeper, writer).await;
}

/// SQL records with Redis delivery on SQLite, which has no notifications
/// of its own: the write is announced through Redis.
#[cfg(all(feature = "redis", feature = "sqlite"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
async fn redis_sqlite_schedule_write_wakes_other_process() {
    let (sleeper, writer) = common::redis_sqlite_pair("taskq-schedule-wake").await;
    schedule_write_wakes_other_process("redis_sqlite", sleeper, writer).await;
}
