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

/// One test's fresh store, by the URL the command line opens (`&db`
/// reads as that `&str`). On Redis it also holds a backend under the
/// test's key prefix that deletes its keys when the test drops it.
pub(super) struct Db {
    url: String,
    _keys: Option<Arc<dyn taskq::backend::Backend>>,
}

impl std::ops::Deref for Db {
    type Target = str;
    fn deref(&self) -> &str {
        &self.url
    }
}

/// A new SQLite file in the temp directory.
pub(super) async fn sqlite_url() -> Db {
    sql(common::sqlite_url("taskq-cli-test"))
}

fn sql(url: String) -> Db {
    Db { url, _keys: None }
}

/// A fresh schema on `TASKQ_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
pub(super) async fn postgres_url() -> Db {
    scratch(taskq::sea::scratch::Server::Postgres).await
}

/// A fresh database on `TASKQ_TEST_MYSQL_URL`.
#[cfg(feature = "mysql")]
pub(super) async fn mysql_url() -> Db {
    scratch(taskq::sea::scratch::Server::Mysql).await
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn scratch(server: taskq::sea::scratch::Server) -> Db {
    let scratch = taskq::sea::scratch::Scratch::from_env(server)
        .await
        .expect("scratch schema or database");
    sql(scratch.url().to_owned())
}

/// A fresh key prefix on `TASKQ_TEST_REDIS_URL`, named in the URL's
/// `prefix=` parameter as an operator names a host's prefix.
#[cfg(feature = "redis")]
pub(super) async fn redis_url() -> Db {
    let mut config = taskq::RedisConfig::new(common::redis_url());
    config.prefix = common::unique("taskq-cli");
    config.delete_keys_on_drop = true;
    let joint = if config.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{joint}{PREFIX_PARAM}{}", config.url, config.prefix);
    let keys = taskq::RedisBackend::connect_with(config)
        .await
        .unwrap_or_else(|err| panic!("no Redis server answers at {url}: {err}"));
    Db {
        url,
        _keys: Some(Arc::new(keys)),
    }
}

/// How [`redis_url`] names the prefix (its value is unique, so plain).
const PREFIX_PARAM: &str = "prefix=";

/// Whether `url` names a Redis store (no SQL schema to look at).
pub(super) fn is_redis(url: &str) -> bool {
    url.starts_with("redis")
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

/// A client on the store at `url`, for what the command line cannot do
/// (create a schedule) and to check what it did.
pub(super) async fn client(url: &str) -> Client {
    let backend: Arc<dyn taskq::backend::Backend> = if is_redis(url) {
        redis_client_backend(url).await
    } else {
        Arc::new(taskq::SqlBackend::connect(url).await.expect("database"))
    };
    Client::new(backend).expect("registry")
}

/// The Redis backend under the prefix [`redis_url`] put in `url`.
#[cfg(feature = "redis")]
async fn redis_client_backend(url: &str) -> Arc<dyn taskq::backend::Backend> {
    let (server, prefix) = url
        .rsplit_once(PREFIX_PARAM)
        .expect("a URL from redis_url()");
    let mut config = taskq::RedisConfig::new(server.trim_end_matches(['?', '&']));
    config.prefix = prefix.to_owned();
    Arc::new(
        taskq::RedisBackend::connect_with(config)
            .await
            .expect("redis"),
    )
}

#[cfg(not(feature = "redis"))]
async fn redis_client_backend(url: &str) -> Arc<dyn taskq::backend::Backend> {
    panic!("{url}: this test binary was built without the `redis` feature")
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
