//! The command line (`taskq::cli`, feature `cli`) against real databases:
//! every subcommand in process (`taskq::cli::run_from` with an argv and
//! buffers for stdout and stderr) on SQLite, PostgreSQL, MySQL and Redis,
//! and a script's session end to end through the `cli` example binary.
//! `cargo test --features cli --test cli -- sqlite` runs the SQLite ones;
//! the others need `TASKQ_TEST_POSTGRES_URL`, `TASKQ_TEST_MYSQL_URL` or
//! `TASKQ_TEST_REDIS_URL` at build time (unset: they are ignored). Redis
//! runs each test under its own key prefix, named in the URL
//! (`redis://…?prefix=…`) as an operator names a host's. The end-to-end tests need the example built (see
//! `process.rs`).

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use taskq::cli::Exit;
use taskq::prelude::*;
use taskq::{MisfirePolicy, PageRequest, ScheduleDef};

mod deadline;
mod process;
mod schedules;
mod steering;
mod support;
mod tasks;
mod workflows;

use deadline::*;
use schedules::*;
use steering::*;
use support::*;
use tasks::*;

/// `cli_suite!(#[attr]… name, url)`: every in-process scenario on the
/// fresh database `url` (an async expression) gives; the attributes (an
/// `ignore` when the server is not configured) go on each test.
macro_rules! cli_suite {
    ($(#[$attr:meta])* $name:ident, $url:expr) => {
        mod $name {
            use super::*;
            cli_suite!(@tests [$(#[$attr])*] $url;
                submit_and_show_print_the_task,
                submit_unique_key_answers_with_the_holder,
                list_filters_and_pages,
                wait_times_out_and_missing_tasks_are_not_found,
                cancel_and_retry_follow_the_state_machine,
                purge_deletes_ended_tasks_by_state_and_age,
                worker_runs_tasks_and_obeys_workers_commands,
                queues_show_depth_pause_resume_and_limit,
                schedules_are_listed_steered_and_run_now,
                schedules_are_created_and_deleted,
                schedules_create_refuses_bad_input,
                migrate_brings_the_schema_up,
                a_host_client_runs_commands_and_refuses_database,
                history_tags_and_attempts_show_in_list_and_show,
                submit_expires_in_and_expired_tasks_show,
                retry_all_failed_retries_every_failed_task);
        }
    };
    (@tests [$($attr:tt)*] $url:expr;) => {};
    // One test per scenario: the attributes repeat inside each test, which
    // a single repetition over the tests cannot express.
    (@tests [$($attr:tt)*] $url:expr; $test:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $test() {
            let db = $url.await;
            super::super::$test(&db).await;
        }
        cli_suite!(@tests [$($attr)*] $url; $($rest),*);
    };
}

/// `cargo test --test cli cli_commands::sqlite::` (or `postgres::`,
/// `mysql::`, `redis::`) runs one backend.
mod cli_commands {
    use super::*;

    cli_suite!(sqlite, sqlite_url());

    #[cfg(feature = "postgres")]
    cli_suite!(
        #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
        postgres,
        postgres_url()
    );

    #[cfg(feature = "mysql")]
    cli_suite!(
        #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
        mysql,
        mysql_url()
    );

    #[cfg(feature = "redis")]
    cli_suite!(
        #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
        redis,
        redis_url()
    );
}

/// Through the example binary, as a script runs it.
mod cli_process {
    use super::*;

    #[test]
    fn exit_codes_without_a_backend() {
        process::exit_codes_without_a_backend();
    }

    #[test]
    fn sqlite_start_is_quiet_at_info() {
        process::start_is_quiet_at_info(&common::sqlite_url("taskq-cli-quiet"));
    }

    #[test]
    fn sqlite_workflow_from_stdin() {
        process::workflow_from_stdin(&common::sqlite_url("taskq-cli-workflow"));
    }

    #[test]
    fn sqlite_script_session() {
        process::script_session(&common::sqlite_url("taskq-cli-process"));
    }

    #[cfg(feature = "postgres")]
    #[test]
    #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
    fn postgres_script_session() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        process::script_session(&runtime.block_on(postgres_url()));
    }

    #[cfg(feature = "mysql")]
    #[test]
    #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
    fn mysql_script_session() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        process::script_session(&runtime.block_on(mysql_url()));
    }

    #[cfg(feature = "redis")]
    #[test]
    #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
    fn redis_script_session() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        // Held until the session ends: it deletes the prefix's keys.
        let db = runtime.block_on(redis_url());
        process::script_session(&db);
    }
}
