//! The file itself: durability across reopen, WAL, in-memory databases, pools and migrations.

use super::*;

#[tokio::test]
async fn file_survives_reopen_sqlite() {
    let path = fresh_path();
    let task = {
        let backend = SeaBackend::connect(&url(&path)).await.expect("connect");
        let mut task = record("t", "q", 5, Utc::now());
        task.params = json!({"keep": "me"});
        backend.enqueue(vec![task.clone()]).await.expect("enqueue");
        backend.connection().clone().close().await.expect("close");
        task
    };
    assert!(path.exists());
    let reopened = SeaBackend::connect(&url(&path)).await.expect("reopen");
    let claimed = claim(&reopened, "q", 10, "w").await;
    assert_eq!(ids(&claimed), vec![task.id]);
    assert_eq!(claimed[0].params, json!({"keep": "me"}));
    reopened.connection().clone().close().await.expect("close");
    remove_db(&path);
}

#[tokio::test]
async fn connection_is_wal_and_durable_sqlite() {
    let backend = fresh_sqlite().await;
    let db = backend.connection();
    let pragma = |name: &'static str| async move {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("PRAGMA {name}"),
            ))
            .await
            .expect("pragma")
            .expect("row");
        row.try_get_by_index::<sea_orm::prelude::Json>(0)
            .map(|v| v.to_string())
            .or_else(|_| row.try_get_by_index::<String>(0))
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
            .expect("value")
    };
    assert_eq!(pragma("journal_mode").await.to_lowercase(), "wal");
    assert_eq!(pragma("synchronous").await, "2", "FULL");
    let busy: i64 = pragma("busy_timeout").await.parse().expect("number");
    assert!(busy >= 5000, "busy timeout {busy} ms");
}

/// `sqlite::memory:` is one database for the backend's lifetime.
#[tokio::test]
async fn in_memory_database_sqlite() {
    let backend = SeaBackend::connect("sqlite::memory:")
        .await
        .expect("connect");
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    assert_eq!(ids(&claim(&backend, "q", 10, "w").await), vec![task.id]);
}

/// A pool of several connections: writers contend through SQLite's locks
/// (`BEGIN IMMEDIATE` + busy timeout) and still never share a task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_of_several_connections_sqlite() {
    let path = fresh_path();
    let mut options = sea_orm::ConnectOptions::new(url(&path));
    options.max_connections(4).sqlx_logging(false);
    let backend = Arc::new(SeaBackend::connect_with(options).await.expect("connect"));
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<TaskRecord> = (0..1000).map(|i| record("t", "q", 5, t0 + us(i))).collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let mut handles = Vec::new();
    for n in 0..4 {
        let backend = backend.clone();
        handles.push(tokio::spawn(async move {
            let worker = format!("w{n}");
            let mut got = Vec::new();
            loop {
                let batch = claim(&*backend, "q", 9, &worker).await;
                if batch.is_empty() {
                    break;
                }
                let applied = backend
                    .settle(
                        batch
                            .iter()
                            .map(|r| Settlement {
                                id: r.id,
                                attempt: r.attempt,
                                outcome: Outcome::Finished(json!(n)),
                                at: Utc::now(),
                            })
                            .collect(),
                    )
                    .await
                    .expect("settle");
                assert!(applied.iter().all(|a| *a));
                got.extend(ids(&batch));
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    for handle in handles {
        for id in handle.await.expect("claimer") {
            assert!(seen.insert(id), "task {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 1000);
    let finished = backend
        .list(
            &TaskFilter {
                state: Some(TaskState::Finished),
                ..TaskFilter::default()
            },
            PageRequest::new(1, 1),
        )
        .await
        .expect("list");
    assert_eq!(finished.total, 1000);
    remove_db(&path);
}

#[tokio::test]
async fn migrations_are_idempotent_sqlite() {
    let path = fresh_path();
    let backend = SeaBackend::connect(&url(&path)).await.expect("connect");
    let task = record("t", "q", 5, Utc::now());
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    backend.migrate().await.expect("migrate twice");
    taskq_sea::migration::Migrator::up(backend.connection(), None)
        .await
        .expect("migrator up again");
    let status = taskq_sea::migration::Migrator::get_pending_migrations(backend.connection())
        .await
        .expect("status");
    assert!(status.is_empty());

    // A host migrator that spliced taskq's migrations in, run on the same
    // database (its own `seaql_migrations` table): harmless.
    struct HostMigrator;
    #[async_trait::async_trait]
    impl MigratorTrait for HostMigrator {
        fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
            taskq_sea::migration::migrations()
        }
    }
    HostMigrator::up(backend.connection(), None)
        .await
        .expect("host migrator");
    backend.connection().clone().close().await.expect("close");

    // Down and up again on a scratch database.
    let scratch = fresh_path();
    let db = sea_orm::Database::connect(format!("{}?mode=rwc", url(&scratch)))
        .await
        .expect("connect");
    taskq_sea::migration::Migrator::up(&db, None)
        .await
        .expect("up");
    taskq_sea::migration::Migrator::down(&db, None)
        .await
        .expect("down");
    taskq_sea::migration::Migrator::up(&db, None)
        .await
        .expect("up again");
    db.close().await.expect("close");
    remove_db(&scratch);

    // Reopening migrates again (nothing to do) and keeps the data.
    let reopened = SeaBackend::connect(&url(&path)).await.expect("reopen");
    assert_eq!(get(&reopened, task.id).await.id, task.id);
    reopened.connection().clone().close().await.expect("close");
    remove_db(&path);
}

#[tokio::test]
async fn from_connection_does_not_migrate_sqlite() {
    let path = fresh_path();
    let db = sea_orm::Database::connect(format!("{}?mode=rwc", url(&path)))
        .await
        .expect("connect");
    let backend = SeaBackend::from_connection(db);
    assert!(
        matches!(backend.get(TaskId::now_v7()).await, Err(Error::Backend(_))),
        "no tables before migrate"
    );
    backend.migrate().await.expect("migrate");
    assert!(backend.get(TaskId::now_v7()).await.expect("get").is_none());
    remove_db(&path);
}

/// The schedules table comes with its migration, next to the first one.
#[tokio::test]
async fn sqlite_schedule_migration_creates_the_due_index() {
    let backend = fresh_sqlite().await;
    let rows = backend
        .connection()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'taskq_schedules'",
        ))
        .await
        .expect("query");
    let names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect();
    assert!(
        names.iter().any(|n| n == "idx_taskq_schedules_due"),
        "{names:?}"
    );
    // The due query reads that index.
    let plan = backend
        .connection()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "EXPLAIN QUERY PLAN SELECT * FROM taskq_schedules WHERE enabled = 1 \
             AND next_run_at <= '2030-01-01' ORDER BY next_run_at LIMIT 10",
        ))
        .await
        .expect("plan");
    let detail: Vec<String> = plan
        .iter()
        .map(|r| r.try_get::<String>("", "detail").expect("detail"))
        .collect();
    assert!(
        detail.iter().any(|d| d.contains("idx_taskq_schedules_due")),
        "{detail:?}"
    );
}

/// A worker row written before workers reported their task types (the
/// schema before `m20261205_000001_taskq_worker_task_types`) still reads
/// after the upgrade, with no types.
#[tokio::test]
async fn sqlite_workers_written_before_task_types_still_read() {
    use sea_orm::sea_query::{Alias, Query, SqliteQueryBuilder};
    let path = fresh_path();
    let db = sea_orm::Database::connect(format!("{}?mode=rwc", url(&path)))
        .await
        .expect("connect");
    // Every migration before the task types column (found by name: later
    // migrations come after it).
    let before = migrations_before("m20261205_000001_taskq_worker_task_types");
    taskq_sea::migration::Migrator::up(&db, Some(before))
        .await
        .expect("older schema");
    let now = Utc::now();
    let columns = [
        "id",
        "host",
        "pid",
        "queues",
        "in_flight_count",
        "in_flight",
        "state",
        "started_at",
        "heartbeat_at",
        "expires_at",
    ];
    let (sql, values) = Query::insert()
        .into_table(Alias::new("taskq_workers"))
        .columns(columns.map(Alias::new))
        .values_panic([
            "w-old".into(),
            "host-a".into(),
            7i64.into(),
            json!([{ "name": "default", "concurrency": 2 }]).into(),
            0i64.into(),
            json!([]).into(),
            "running".into(),
            now.into(),
            now.into(),
            (now + chrono::Duration::seconds(30)).into(),
        ])
        .build(SqliteQueryBuilder);
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .expect("old row");
    db.close().await.expect("close");

    // Connecting migrates the rest; the old row reads, with no types.
    let backend = SeaBackend::connect(&url(&path)).await.expect("upgrade");
    let workers = taskq_core::WorkerRegistry::list_workers(&backend, Utc::now())
        .await
        .expect("list");
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0].id, "w-old");
    assert_eq!(workers[0].queues[0].name, "default");
    assert!(workers[0].task_types.is_empty(), "{workers:?}");
    backend.connection().clone().close().await.expect("close");
    remove_db(&path);
}

/// How many of taskq's migrations come before the one called `name`.
fn migrations_before(name: &str) -> u32 {
    let position = taskq_sea::migration::migrations()
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no migration {name}"));
    u32::try_from(position).expect("a few migrations")
}

/// A migration cut short between two of its columns (MySQL commits each
/// `ALTER` on its own) completes when it runs again: each column is
/// looked up, not only the first.
#[tokio::test]
async fn migration_cut_short_adds_its_missing_column_sqlite() {
    let path = fresh_path();
    let db = sea_orm::Database::connect(format!("{}?mode=rwc", url(&path)))
        .await
        .expect("connect");
    let history = "m20261208_000050_taskq_task_history";
    taskq_sea::migration::Migrator::up(&db, Some(migrations_before(history) + 1))
        .await
        .expect("up to the history migration");
    let has_metadata = |db: &sea_orm::DatabaseConnection| {
        let db = db.clone();
        async move {
            sea_orm_migration::SchemaManager::new(&db)
                .has_column("taskq_tasks", "metadata")
                .await
                .expect("has_column")
        }
    };
    assert!(has_metadata(&db).await);
    // As if the run had stopped after `attempts` and `tags`.
    for sql in [
        "ALTER TABLE taskq_tasks DROP COLUMN metadata".to_owned(),
        format!("DELETE FROM taskq_migrations WHERE version = '{history}'"),
    ] {
        db.execute_unprepared(&sql).await.expect(&sql);
    }
    assert!(!has_metadata(&db).await);
    taskq_sea::migration::Migrator::up(&db, None)
        .await
        .expect("up again");
    assert!(has_metadata(&db).await, "the missing column is added");
    db.close().await.expect("close");
    remove_db(&path);
}

/// Pending counts per type read an index of the tasks' state, not the
/// whole table.
#[tokio::test]
async fn sqlite_stats_pending_by_type_reads_an_index() {
    let backend = fresh_sqlite().await;
    let plan = backend
        .connection()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "EXPLAIN QUERY PLAN SELECT queue, task_type, COUNT(id) FROM taskq_tasks \
             WHERE state = 'PENDING' GROUP BY queue, task_type ORDER BY queue, task_type",
        ))
        .await
        .expect("plan");
    let detail: Vec<String> = plan
        .iter()
        .map(|r| r.try_get::<String>("", "detail").expect("detail"))
        .collect();
    assert!(
        detail
            .iter()
            .any(|d| d.contains("USING INDEX") || d.contains("USING COVERING INDEX")),
        "{detail:?}"
    );
    assert!(
        !detail.iter().any(|d| d == "SCAN taskq_tasks"),
        "{detail:?}"
    );
}

/// Processes that start together on a new file, or while another writes
/// to it, all connect: a connection's setup can meet "database is locked"
/// without SQLite's busy handler waiting, and connect tries again.
#[tokio::test]
async fn connect_while_others_connect_and_write_sqlite() {
    for _ in 0..3 {
        let path = fresh_path();
        let writer = {
            let url = url(&path);
            tokio::spawn(async move {
                let backend = SeaBackend::connect(&url).await.expect("writer connects");
                for i in 0..200 {
                    let task = record("t", "q", 0, Utc::now());
                    backend.enqueue(vec![task]).await.expect("enqueue");
                    if i % 20 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        };
        let connects: Vec<_> = (0..8)
            .map(|_| {
                let url = url(&path);
                tokio::spawn(async move {
                    for _ in 0..5 {
                        let backend = SeaBackend::connect(&url).await?;
                        backend.connection().clone().close().await.ok();
                    }
                    Ok::<(), taskq_core::Error>(())
                })
            })
            .collect();
        for connect in connects {
            connect
                .await
                .expect("join")
                .expect("every connect succeeds");
        }
        writer.await.expect("writer");
        remove_db(&path);
    }
}
