//! The operator's command line in a host's binary: link the tasks, call
//! `taskq::cli::run` from `main`. Its `worker` runs these tasks; the other
//! commands inspect and steer the tasks, queues, schedules and workers of
//! any process that shares the database.
//!
//! ```text
//! cargo run --features cli --example cli -- --help
//! export TASKQ_DATABASE_URL=sqlite://taskq-cli.db
//! cargo run --features cli --example cli -- worker -Q default,heavy=2 &
//! cargo run --features cli --example cli -- submit report_generation '{"title":"Q3","render_ms":200}' --wait
//! cargo run --features cli --example cli -- list --state failed
//! cargo run --features cli --example cli -- queues --json
//! ```

// The tasks this binary links (`data_analysis`, `file_processing`,
// `report_generation`, `noop`): a task type is known to the `worker` and
// `submit` commands only if its crate is linked into the binary.
mod demo_tasks;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Logs go to stderr, quiet unless asked (`RUST_LOG=info`), so stdout
    // stays what scripts parse.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    taskq::cli::run().await
}
