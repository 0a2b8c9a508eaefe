//! The tasks the in-process runs know, fresh databases by URL, and running
//! the command line into buffers.

use super::*;

/// Echoes its text.
#[long_task(name = "cli_echo", retries = 0)]
pub(super) async fn cli_echo(text: String) -> Result<String, TaskError> {
    Ok(text)
}

/// Fails for good with its message.
#[long_task(name = "cli_fail", retries = 0)]
pub(super) async fn cli_fail(message: String) -> Result<(), TaskError> {
    Err(TaskError::permanent(message))
}

/// Takes no params; lives on its own queue.
#[long_task(name = "cli_tick", queue = "ticks", retries = 2)]
pub(super) async fn cli_tick(_: ()) -> Result<u32, TaskError> {
    Ok(1)
}

/// A new SQLite file in the temp directory.
pub(super) async fn sqlite_url() -> String {
    common::sqlite_url("taskq-cli-test")
}

/// A fresh schema on `TASKQ_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
pub(super) async fn postgres_url() -> String {
    taskq::sea::scratch::Scratch::from_env(taskq::sea::scratch::Server::Postgres)
        .await
        .expect("scratch schema")
        .url()
        .to_owned()
}

/// What one run of the command line did.
#[derive(Debug)]
pub(super) struct Ran {
    pub(super) exit: Exit,
    pub(super) out: String,
    pub(super) err: String,
}

impl Ran {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub(super) fn expect(self, exit: Exit) -> Ran {
        assert_eq!(
            self.exit, exit,
            "exit {:?}, expected {exit:?}\nstdout: {}\nstderr: {}",
            self.exit, self.out, self.err
        );
        self
    }

    /// Stdout as JSON.
    #[track_caller]
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {}", self.out))
    }

    /// Stdout's only line, as a task id.
    #[track_caller]
    pub(super) fn id(&self) -> TaskId {
        self.out
            .trim()
            .parse()
            .unwrap_or_else(|err| panic!("stdout is not one task id ({err}): {}", self.out))
    }
}

/// Runs `taskq --database URL ARGS…` in process.
pub(super) async fn taskq(url: &str, args: &[&str]) -> Ran {
    let mut argv = vec!["taskq", "--database", url];
    argv.extend_from_slice(args);
    run(argv, None).await
}

/// Runs `argv` (program name first) in process, over `client` if given.
pub(super) async fn run(argv: Vec<&str>, client: Option<Client>) -> Ran {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = taskq::cli::run_from(argv, client, &mut out, &mut err).await;
    Ran {
        exit,
        out: String::from_utf8(out).expect("stdout is UTF-8"),
        err: String::from_utf8(err).expect("stderr is UTF-8"),
    }
}

/// Submits through the command line and returns the id it printed.
pub(super) async fn submit(url: &str, args: &[&str]) -> TaskId {
    let mut argv = vec!["submit"];
    argv.extend_from_slice(args);
    taskq(url, &argv).await.expect(Exit::Ok).id()
}

/// A client on the database at `url`, for what the command line cannot
/// do (create a schedule) and to check what it did.
pub(super) async fn client(url: &str) -> Client {
    let backend = taskq::SqlBackend::connect(url).await.expect("database");
    Client::new(Arc::new(backend)).expect("registry")
}

/// Polls `probe` until it gives a value; fails after 30 s.
pub(super) async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
