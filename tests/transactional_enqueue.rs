//! Transactional enqueue: a host submits inside its own SeaORM
//! transaction, next to its own writes; the task exists only if that
//! transaction commits. On SQLite, and on PostgreSQL / MySQL when their
//! URL variables are set.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use taskq::SqlBackend;
use taskq::backend::Backend;
use taskq::prelude::*;
use taskq::sea::sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Welcome {
    user: u64,
}

/// Sends a welcome mail (here: nothing).
#[long_task(retries = 0)]
async fn send_welcome(p: Welcome) -> Result<u64, TaskError> {
    Ok(p.user)
}

async fn exec(db: &impl ConnectionTrait, sql: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

async fn users(db: &DatabaseConnection) -> usize {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT id FROM host_users",
    ))
    .await
    .expect("select users")
    .len()
}

/// The host's signup: its own row and a task, in one transaction.
async fn commit_and_rollback(backend: SqlBackend) {
    let backend = Arc::new(backend);
    let client = Client::new(backend.clone() as Arc<dyn Backend>).expect("client");
    let db = backend.connection().clone();
    exec(&db, "CREATE TABLE host_users (id BIGINT PRIMARY KEY)").await;

    // Committed: the user and the task both exist.
    let txn = db.begin().await.expect("begin");
    exec(&txn, "INSERT INTO host_users (id) VALUES (1)").await;
    let record = client
        .submit(send_welcome, Welcome { user: 1 })
        .into_record()
        .expect("record");
    let committed = record.id;
    backend
        .enqueue_in(&txn, vec![record])
        .await
        .expect("enqueue in txn");
    txn.commit().await.expect("commit");
    assert_eq!(users(&db).await, 1);
    let stored = client.get(committed).await.expect("committed task exists");
    assert_eq!(stored.state, TaskState::Pending);
    assert_eq!(stored.task_type, "send_welcome");

    // Rolled back: neither exists, and no worker ever sees the task.
    let txn = db.begin().await.expect("begin");
    exec(&txn, "INSERT INTO host_users (id) VALUES (2)").await;
    let record = client
        .submit_json("send_welcome", serde_json::json!({ "user": 2 }))
        .into_record()
        .expect("record");
    let rolled_back = record.id;
    backend
        .enqueue_in(&txn, vec![record])
        .await
        .expect("enqueue in txn");
    txn.rollback().await.expect("rollback");
    assert_eq!(users(&db).await, 1);
    assert!(matches!(
        client.get(rolled_back).await,
        Err(Error::NotFound(id)) if id == rolled_back
    ));

    // Bad input is refused before anything is written.
    assert!(matches!(
        client
            .submit_json("send_welcome", serde_json::json!({ "user": "x" }))
            .into_record(),
        Err(Error::InvalidParams { .. })
    ));

    // The committed task runs.
    let worker = Worker::builder(&client)
        .queue("default", 1)
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let record = client.get(committed).await.expect("get");
        if record.state == TaskState::Finished {
            assert_eq!(record.result, Some(serde_json::json!(1)));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "task did not run");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    assert_eq!(
        client
            .list(&TaskFilter::default(), taskq::PageRequest::default())
            .await
            .expect("list")
            .total,
        1
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_enqueue_sqlite() {
    let path = std::env::temp_dir().join(format!(
        "taskq-txn-enqueue-{}-{}.db",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let backend = SqlBackend::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("sqlite");
    commit_and_rollback(backend).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn transactional_enqueue_postgres() {
    commit_and_rollback_in_scratch(taskq::sea::scratch::Server::Postgres).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn transactional_enqueue_mysql() {
    commit_and_rollback_in_scratch(taskq::sea::scratch::Server::Mysql).await;
}

/// Runs [`commit_and_rollback`] in a fresh schema / database of the test
/// server, dropped afterwards.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn commit_and_rollback_in_scratch(server: taskq::sea::scratch::Server) {
    let scratch = taskq::sea::scratch::Scratch::from_env(server)
        .await
        .unwrap_or_else(|err| panic!("scratch on {}: {err}", server.env_var()));
    commit_and_rollback(SqlBackend::connect(scratch.url()).await.expect("backend")).await;
    scratch.drop_now().await.expect("drop scratch");
}
