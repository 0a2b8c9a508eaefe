//! End to end through the `cli` example binary (`examples/cli.rs`, with
//! the demo tasks linked), as a script runs it: exit codes, stdout, the
//! environment variable, and a worker process stopped by SIGTERM.
//!
//! `cargo test` builds the example next to this test
//! (`target/<profile>/examples/cli`); after `cargo test --test cli`
//! alone, run `cargo build --example cli --features cli` first.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use super::*;

/// `target/<profile>/examples/cli`, next to this test's own
/// `target/<profile>/deps/cli-…`.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("cli{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it; after `cargo test --test cli` alone, \
         run `cargo build --example cli --features cli`",
        path.display()
    );
    path
}

/// The binary with `TASKQ_DATABASE_URL` set to `url` (or unset), and no
/// `TASKQ_REDIS_URL` from the test's own environment.
fn command(url: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove(taskq::cli::DATABASE_URL_VAR)
        .env_remove(taskq::cli::REDIS_URL_VAR)
        .env_remove("RUST_LOG");
    if let Some(url) = url {
        command.env(taskq::cli::DATABASE_URL_VAR, url);
    }
    command
}

/// Runs the binary to its end; asserts its exit code.
#[track_caller]
fn run_binary(url: Option<&str>, args: &[&str], code: u8) -> Output {
    let output = command(url, args).output().expect("the binary runs");
    assert_eq!(
        output.status.code(),
        Some(i32::from(code)),
        "{args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Exit codes that need no database: help, usage errors, a backend that
/// is not there.
pub(super) fn exit_codes_without_a_backend() {
    let help = run_binary(None, &["--help"], Exit::Ok.code());
    let help = stdout(&help);
    assert!(help.contains("Usage: cli [OPTIONS] <COMMAND>"), "{help}");
    for line in [
        "  submit ",
        "  workers ",
        "Exit codes:",
        "  5  the wait ran out",
    ] {
        assert!(help.contains(line), "{line:?} in\n{help}");
    }
    let wrong = run_binary(None, &["frobnicate"], Exit::Usage.code());
    assert!(stderr(&wrong).contains("unrecognized subcommand 'frobnicate'"));
    let no_backend = run_binary(None, &["list"], Exit::Usage.code());
    assert!(
        stderr(&no_backend).contains("pass --database URL or set TASKQ_DATABASE_URL"),
        "{}",
        stderr(&no_backend)
    );
    let scheme = run_binary(None, &["-d", "ftp://x", "list"], Exit::Usage.code());
    assert!(
        stderr(&scheme).contains("not a sqlite://"),
        "{}",
        stderr(&scheme)
    );
    let missing_dir = std::env::temp_dir()
        .join(common::unique("taskq-cli-no-such-dir"))
        .join("tasks.db");
    let url = format!("sqlite://{}", missing_dir.display());
    let unreachable = run_binary(None, &["-d", &url, "list"], Exit::Unavailable.code());
    assert!(
        stderr(&unreachable).starts_with("error: backend: "),
        "{}",
        stderr(&unreachable)
    );
    #[cfg(feature = "postgres")]
    run_binary(
        None,
        &["-d", "postgres://taskq@127.0.0.1:1/none", "queues"],
        Exit::Unavailable.code(),
    );
}

/// A worker process, killed if a failing test leaves it running.
struct WorkerProcess(Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A script's session on the database at `url` (given by the
/// environment variable): submit, wait, show, cancel with their codes; a
/// `worker` process runs the demo tasks and stops cleanly on SIGTERM.
pub(super) fn script_session(url: &str) {
    let url = Some(url);
    let submitted = run_binary(
        url,
        &[
            "submit",
            "report_generation",
            r#"{"title":"Q3","render_ms":5}"#,
        ],
        Exit::Ok.code(),
    );
    let first = stdout(&submitted).trim().to_owned();
    first.parse::<TaskId>().expect("stdout is the id");
    run_binary(
        url,
        &["wait", &first, "--timeout", "300ms"],
        Exit::Timeout.code(),
    );
    let missing = uuid::Uuid::now_v7().to_string();
    run_binary(url, &["show", &missing], Exit::NotFound.code());
    let cancelled = run_binary(url, &["cancel", &first, "--json"], Exit::Ok.code());
    let cancelled: Value = serde_json::from_slice(&cancelled.stdout).expect("JSON");
    assert_eq!(cancelled["state"], "CANCELLED");
    run_binary(url, &["cancel", &first], Exit::Conflict.code());

    let id = common::unique("cli-process-worker");
    let child = command(
        url,
        &["worker", "--worker-id", &id, "-Q", "default,heavy=1"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the worker starts");
    let mut worker = WorkerProcess(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = run_binary(url, &["workers", "--json"], Exit::Ok.code());
        let workers: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
        let running = workers.as_array().is_some_and(|all| {
            all.iter()
                .any(|w| w["id"] == id.as_str() && w["state"] == "running")
        });
        if running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never registered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let done = run_binary(
        url,
        &[
            "submit",
            "report_generation",
            r#"{"title":"Q4","render_ms":5}"#,
            "--wait",
            "--wait-timeout",
            "30s",
            "--json",
        ],
        Exit::Ok.code(),
    );
    let done: Value = serde_json::from_slice(&done.stdout).expect("JSON");
    assert_eq!(done["result"], "report `Q4` rendered");
    // One second of hard timeout, three of rendering: FAILED, exit 1.
    let failed = run_binary(
        url,
        &[
            "submit",
            "report_generation",
            r#"{"title":"slow","render_ms":3000}"#,
            "--wait",
        ],
        Exit::TaskFailed.code(),
    );
    assert!(
        stdout(&failed).lines().any(|l| l == "state:     FAILED"),
        "{}",
        stdout(&failed)
    );
    assert!(
        stderr(&failed).contains("ended FAILED: timeout"),
        "{}",
        stderr(&failed)
    );

    let pid = worker.0.id().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = worker.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut pipe) = worker.0.stdout.take() {
        std::io::Read::read_to_string(&mut pipe, &mut out).expect("worker stdout");
    }
    assert_eq!(status.code(), Some(0), "the worker's stdout:\n{out}");
    assert!(
        out.starts_with(&format!(
            "worker {id} serving default×4, heavy×1 for 4 task types"
        )),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with(&format!("worker {id} stopped")),
        "{out}"
    );
}

/// A command's start is quiet at `RUST_LOG=info`: opening a fresh SQLite
/// file (which applies every migration) and opening it again print
/// nothing on stderr. (sea-orm-migration's own lines, "Applying all
/// pending migrations" and "No pending migrations", came at `INFO` on
/// every start before.)
pub(super) fn start_is_quiet_at_info(url: &str) {
    for run in ["fresh", "migrated"] {
        let output = command(Some(url), &["list"])
            .env("RUST_LOG", "info")
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{run}: {output:?}");
        assert_eq!(stdout(&output).trim(), "no tasks match", "{run}");
        assert_eq!(stderr(&output), "", "{run}: stderr at info");
    }
}

/// `workflow submit -` reads the spec from standard input; `workflow
/// show` prints its steps, the second waiting for the first.
pub(super) fn workflow_from_stdin(url: &str) {
    use std::io::Write as _;
    let spec = json!({ "steps": [
        { "name": "first", "task": "noop" },
        { "name": "then", "task": "noop", "after": ["first"], "input": "params" },
    ]});
    let mut child = command(Some(url), &["workflow", "submit", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(spec.to_string().as_bytes())
        .expect("write the spec");
    let submitted = child.wait_with_output().expect("it ends");
    assert_eq!(submitted.status.code(), Some(0), "{}", stderr(&submitted));
    let id = stdout(&submitted).trim().to_owned();
    let shown = run_binary(Some(url), &["workflow", "show", &id], Exit::Ok.code());
    let shown = stdout(&shown);
    let then = shown
        .lines()
        .find(|l| l.starts_with("then "))
        .unwrap_or_else(|| panic!("no `then` row:\n{shown}"));
    let cells: Vec<&str> = then.split_whitespace().collect();
    assert_eq!(
        cells[..5],
        ["then", "noop", "WAITING", "1", "first"],
        "{shown}"
    );
    // Malformed input on stdin is a usage error.
    let mut child = command(Some(url), &["workflow", "submit", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"steps\": [")
        .expect("write");
    let refused = child.wait_with_output().expect("it ends");
    assert_eq!(refused.status.code(), Some(i32::from(Exit::Usage.code())));
}
