//! The operator's command line (feature `cli`): run workers, submit and
//! inspect tasks, steer queues, schedules and workers, migrate — from the
//! host's own binary, so its `#[long_task]` handlers are linked in.
//!
//! ```no_run
//! // src/bin/tasks.rs of the host: `tasks worker -Q default,heavy=2`,
//! // `tasks submit send_report '{"to":"ops@example.com"}' --wait`, …
//! use my_tasks as _; // the crate that declares the tasks (see the crate docs)
//! # mod my_tasks {}
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     taskq::cli::run().await
//! }
//! ```
//!
//! [`run`] opens the backend that `--database URL` (or
//! `TASKQ_DATABASE_URL`) names: `sqlite://…`, `postgres://…`,
//! `mysql://…` or `redis://…` (each behind its feature), with `--redis
//! URL` (or `TASKQ_REDIS_URL`) for SQL records delivered through Redis. A
//! Redis URL names a key prefix other than the default `taskq` as
//! `redis://host:6379?prefix=myapp`. A host that builds its own backend or client passes it to [`run_with`]
//! instead. Tables are for people; `--json` prints what scripts parse.
//!
//! # Exit codes
//! | code | meaning |
//! |------|---------|
//! | 0 | done |
//! | 1 | the awaited task ended `FAILED`, `CANCELLED` or `EXPIRED` (`wait`, `submit --wait`) |
//! | 2 | usage: a wrong command line or input (unknown option, malformed JSON, unknown task type, params that do not fit, a workflow step that cannot be stored); nothing changed |
//! | 3 | no such task, schedule, worker or workflow |
//! | 4 | the backend could not be reached or failed: the command may or may not have taken effect |
//! | 5 | the wait ran out: the task is still pending or running, and goes on |
//! | 6 | the state does not allow it (cancel a finished task, retry a running one, resume a stopping worker); nothing changed |
//!
//! See [`Exit`].
//!
//! # Layout
//! - this file: the argument tree ([`Cli`]), the entry points and the
//!   dispatch.
//! - `exit`: [`Exit`], the codes, and which error gets which.
//! - `open`: the backend a URL names.
//! - `values`: parsers of durations, states, JSON and queue lists.
//! - `output`: tables for people, JSON for scripts.
//! - `tasks`: `submit`, `list`, `show`, `wait`, `cancel`, `retry`, `purge`.
//! - `queues`, `types`, `schedules`, `workers`, `workflows`: those groups of
//!   subcommands.
//! - `worker`: `worker`, a worker process until a signal or `workers shutdown`.

mod exit;
mod open;
mod output;
mod queues;
mod schedules;
mod tasks;
mod types;
mod values;
mod worker;
mod workers;
mod workflows;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::Client;

pub use exit::Exit;

use output::Output;

/// The environment variable read when `--database` is not given.
pub const DATABASE_URL_VAR: &str = "TASKQ_DATABASE_URL";
/// The environment variable read when `--redis` is not given.
pub const REDIS_URL_VAR: &str = "TASKQ_REDIS_URL";

/// The heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the awaited task ended FAILED, CANCELLED or EXPIRED (wait, submit --wait)
  2  usage: wrong arguments or input (bad JSON, unknown task type, params that do not fit)
  3  no such task, schedule, worker or workflow
  4  the backend could not be reached or failed (the command may or may not have taken effect)
  5  the wait ran out (the task goes on)
  6  the state does not allow it (e.g. cancel a finished task)";

/// The command line: global options and one subcommand.
///
/// Parse it with [`clap::Parser`] (`Cli::parse()`, `Cli::try_parse_from`)
/// and run it with [`Cli::execute`]; or let [`run`] / [`run_with`] do
/// both for this process. [`clap::CommandFactory`] gives the
/// `clap::Command` (for shell completions or a man page).
#[derive(Debug, Parser)]
#[command(
    name = "taskq",
    about = "Run workers, submit and inspect tasks, steer queues, schedules and workers.",
    long_about = None,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Database URL: sqlite://FILE, postgres://…, mysql://… or redis://…
    /// (with ?prefix=P for a key prefix other than taskq)
    /// [default: $TASKQ_DATABASE_URL]
    #[arg(long, short = 'd', global = true, value_name = "URL", help_heading = GLOBAL)]
    database: Option<String>,
    /// With a SQL --database: records stay in SQL, tasks are delivered
    /// through this Redis [default: $TASKQ_REDIS_URL]
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    redis: Option<String>,
    /// Print JSON for scripts instead of tables
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a worker until Ctrl-C, SIGTERM or `workers shutdown ID`.
    Worker(worker::WorkerArgs),
    /// Submit a task by type name with JSON params; prints its id.
    Submit(tasks::SubmitArgs),
    /// List tasks, newest first.
    List(tasks::ListArgs),
    /// Show one task.
    Show(tasks::IdArg),
    /// Wait until a task ends and print its record (exit 1 if it failed, 5
    /// if the wait ran out).
    Wait(tasks::WaitArgs),
    /// Cancel a pending or running task.
    Cancel(tasks::IdArg),
    /// Run a failed or cancelled task again (same id, next attempt), or
    /// with --all-failed every failed task.
    Retry(tasks::RetryArgs),
    /// Delete ended tasks older than a given age.
    Purge(tasks::PurgeArgs),
    /// Queue depths; pause or resume a queue.
    Queues {
        #[command(subcommand)]
        action: Option<queues::QueuesCommand>,
    },
    /// Task type limits and their running tasks; set or lift a limit.
    Types {
        #[command(subcommand)]
        action: Option<types::TypesCommand>,
    },
    /// List, create or delete schedules; enable, disable or run one now.
    Schedules {
        #[command(subcommand)]
        action: Option<schedules::SchedulesCommand>,
    },
    /// List workers of every host; pause, resume or shut one down.
    Workers {
        #[command(subcommand)]
        action: Option<workers::WorkersCommand>,
    },
    /// Submit a workflow from its JSON spec; show or cancel one.
    Workflow {
        #[command(subcommand)]
        action: workflows::WorkflowCommand,
    },
    /// Apply the backend's pending schema migrations, then exit.
    Migrate,
}

/// Runs the command line of this process: parses its arguments, opens the
/// backend `--database` names, runs the command with stdout and stderr,
/// and returns the [`Exit`] code. What a host's `main` returns.
pub async fn run() -> ExitCode {
    run_process(None).await
}

/// [`run`] over the host's own client (its backend, task registry and
/// limits) instead of a backend opened from `--database`. The command
/// line then refuses `--database` and `--redis` (exit 2) rather than
/// ignore them: an operator who names another database must not act on
/// this one believing otherwise.
///
/// ```no_run
/// # async fn demo() -> Result<std::process::ExitCode, taskq::Error> {
/// use std::sync::Arc;
/// let backend = taskq::SqlBackend::connect("postgres://app@db/app").await?;
/// let client = taskq::Client::new(Arc::new(backend))?;
/// Ok(taskq::cli::run_with(client).await)
/// # }
/// ```
pub async fn run_with(client: Client) -> ExitCode {
    run_process(Some(client)).await
}

async fn run_process(client: Option<Client>) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version print to stdout with code 0; usage errors to
        // stderr with code 2, in colour on a terminal.
        Err(err) => err.exit(),
    };
    let code = cli
        .execute(client, &mut std::io::stdout(), &mut std::io::stderr())
        .await;
    code.into()
}

/// Parses `args` (the program name first, as in `std::env::args_os`) and
/// runs the command over `client`, or over the backend `--database` names
/// when `client` is `None`; writes what it prints to `out` and errors to
/// `err`. Help goes to `out` with [`Exit::Ok`], a usage error to `err`
/// with [`Exit::Usage`]. For tests and hosts that capture the output.
///
/// ```
/// # #[tokio::main] async fn main() {
/// use taskq::cli::{Exit, run_from};
///
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// let exit = run_from(["tasks", "--help"], None, &mut out, &mut err).await;
/// assert_eq!(exit, Exit::Ok);
/// assert!(String::from_utf8_lossy(&out).contains("submit"));
/// # }
/// ```
pub async fn run_from<I, T>(
    args: I,
    client: Option<Client>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => cli.execute(client, out, err).await,
        Err(parse) => {
            let text = parse.render().to_string();
            // Best effort: there is nowhere else to report a failed write.
            if parse.use_stderr() {
                let _ = write!(err, "{text}");
            } else {
                let _ = write!(out, "{text}");
            }
            if parse.exit_code() == 0 {
                Exit::Ok
            } else {
                Exit::Usage
            }
        }
    }
}

impl Cli {
    /// Runs the parsed command over `client`, or over the backend
    /// `--database` names when `client` is `None`; prints to `out`, and
    /// errors as `error: …` to `err` (as JSON with `--json`).
    pub async fn execute(
        self,
        client: Option<Client>,
        out: &mut (dyn Write + Send),
        err: &mut (dyn Write + Send),
    ) -> Exit {
        let json = self.json;
        match self.dispatch(client, out).await {
            Ok(exit) => exit,
            Err(failure) => {
                let exit = failure.exit();
                let message = failure.to_string();
                let _ = if json {
                    writeln!(
                        err,
                        "{}",
                        serde_json::json!({
                            "error": { "exit": exit.code(), "kind": exit.name(), "message": message }
                        })
                    )
                } else {
                    writeln!(err, "error: {message}")
                };
                exit
            }
        }
    }

    async fn dispatch(
        self,
        client: Option<Client>,
        out: &mut (dyn Write + Send),
    ) -> Result<Exit, exit::Failure> {
        let client = match client {
            Some(client) => {
                if self.database.is_some() || self.redis.is_some() {
                    return Err(exit::Failure::usage(
                        "this program supplies its own backend: --database and --redis are not accepted",
                    ));
                }
                client
            }
            None => {
                let database = self
                    .database
                    .or_else(|| env_url(DATABASE_URL_VAR))
                    .ok_or_else(|| {
                        exit::Failure::usage(format!(
                            "no backend: pass --database URL or set {DATABASE_URL_VAR}"
                        ))
                    })?;
                let redis = self.redis.or_else(|| env_url(REDIS_URL_VAR));
                let backend = open::open(&database, redis.as_deref()).await?;
                Client::new(Arc::clone(&backend))?
            }
        };
        let mut output = Output::new(out, self.json);
        match self.command {
            Command::Worker(args) => worker::run(&client, args, &mut output).await,
            Command::Submit(args) => tasks::submit(&client, args, &mut output).await,
            Command::List(args) => tasks::list(&client, args, &mut output).await,
            Command::Show(args) => tasks::show(&client, args, &mut output).await,
            Command::Wait(args) => tasks::wait(&client, args, &mut output).await,
            Command::Cancel(args) => tasks::cancel(&client, args, &mut output).await,
            Command::Retry(args) => tasks::retry(&client, args, &mut output).await,
            Command::Purge(args) => tasks::purge(&client, args, &mut output).await,
            Command::Queues { action } => queues::run(&client, action, &mut output).await,
            Command::Types { action } => types::run(&client, action, &mut output).await,
            Command::Schedules { action } => schedules::run(&client, action, &mut output).await,
            Command::Workers { action } => workers::run(&client, action, &mut output).await,
            Command::Workflow { action } => workflows::run(&client, action, &mut output).await,
            Command::Migrate => migrate(&client, &mut output).await,
        }
    }
}

/// An environment variable's value, when set and not empty.
fn env_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|url| !url.is_empty())
}

async fn migrate(client: &Client, output: &mut Output<'_>) -> Result<Exit, exit::Failure> {
    client.migrate().await?;
    if output.json() {
        output.json_value(&serde_json::json!({ "migrated": true }))?;
    } else {
        output.line("the schema is up to date")?;
    }
    Ok(Exit::Ok)
}
