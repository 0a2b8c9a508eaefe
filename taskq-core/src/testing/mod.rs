//! Testing your tasks: three ways, from the smallest to the widest.
//!
//! - **Call the handler.** `#[long_task]` keeps the function in the handle
//!   it makes: [`TaskHandle::run_detached`](crate::TaskHandle::run_detached)
//!   runs it with typed params and gives its typed result;
//!   [`TaskHandle::call`](crate::TaskHandle::call) takes a
//!   [`TaskContext::detached`](crate::TaskContext::detached) you keep, to
//!   stop the handler from the test
//!   ([`request_stop`](crate::TaskContext::request_stop)) or run it as a
//!   later attempt ([`with_attempt`](crate::TaskContext::with_attempt)).
//! - **Assert what was enqueued** (Oban's `assert_enqueued`, Sidekiq's
//!   fake mode): submit through a client on a plain
//!   [`MemoryBackend`](crate::MemoryBackend) (or any backend), then read
//!   the pending tasks back typed with [`enqueued`], or check with
//!   [`assert_enqueued!`](crate::assert_enqueued) /
//!   [`assert_not_enqueued!`](crate::assert_not_enqueued); [`records`]
//!   filters by state, queue and type. [`drain`] then runs what is
//!   pending, without a worker (Oban's `drain_queue`).
//! - **Run at once** (Celery's `task_always_eager`, Oban's `:inline`):
//!   [`inline_client`] — a client on an [`InlineBackend`], where
//!   `submit(..).await` returns after the handler ran and the record is
//!   already ended. See [`InlineBackend`] for what it does not do.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use taskq::prelude::*;
//! use taskq::testing;
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
//! struct Welcome { user: u64 }
//!
//! #[long_task(name = "doc.testing.send_welcome", queue = "mail")]
//! async fn send_welcome(p: Welcome) -> Result<String, TaskError> {
//!     Ok(format!("sent to {}", p.user))
//! }
//!
//! /// The code under test: signs a user up and queues the mail.
//! async fn sign_up(client: &Client, user: u64) -> Result<(), taskq::Error> {
//!     client.submit(send_welcome, Welcome { user }).await.map(drop)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), taskq::Error> {
//! // 1. The handler alone.
//! assert_eq!(send_welcome.run_detached(Welcome { user: 1 }).await, Ok("sent to 1".into()));
//!
//! // 2. What the code under test enqueued, then run it.
//! let client = Client::new(std::sync::Arc::new(taskq::MemoryBackend::new()))?;
//! sign_up(&client, 7).await?;
//! taskq::assert_enqueued!(client, send_welcome, Welcome { user: 7 });
//! assert_eq!(testing::enqueued(&client, send_welcome).await?, vec![Welcome { user: 7 }]);
//! assert_eq!(testing::drain(&client).await?.finished, 1);
//! taskq::assert_not_enqueued!(client, send_welcome);
//!
//! // 3. Everything inline.
//! let client = testing::inline_client()?;
//! sign_up(&client, 8).await?;
//! let done = testing::records(&client, &TaskFilter {
//!     state: Some(TaskState::Finished),
//!     ..TaskFilter::default()
//! }).await?;
//! assert_eq!(done[0].result, Some(serde_json::json!("sent to 8")));
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `mod.rs`: the read helpers and assertion macros.
//! - `runner.rs`: running one attempt without a worker.
//! - `drain.rs`: [`drain`].
//! - `inline.rs`: [`InlineBackend`].

mod drain;
mod inline;
mod runner;

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::backend::{PageRequest, TaskFilter};
use crate::client::Client;
use crate::error::Error;
use crate::registry::{TaskHandle, parse_params};
use crate::task::{TaskRecord, TaskState};

pub use drain::{DRAIN_MAX_ATTEMPTS_DEFAULT, Drain, DrainReport, drain};
pub use inline::InlineBackend;
pub use runner::RUNNER_ID;

// The assertion macros live at the crate root (`#[macro_export]`); named
// here too, next to the helpers they wrap.
pub use crate::{assert_enqueued, assert_not_enqueued};

/// A client on a new [`InlineBackend`] for every task registered with
/// `#[long_task]`: submitting runs the task at once. Fails if two tasks
/// share a name.
pub fn inline_client() -> Result<Client, Error> {
    Client::new(Arc::new(InlineBackend::new()?))
}

/// Every record matching `filter`, oldest first (all pages): what the
/// backend's [`list`](crate::Client::list) gives, without paging.
pub async fn records(client: &Client, filter: &TaskFilter) -> Result<Vec<TaskRecord>, Error> {
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let found = client
            .list(filter, PageRequest::new(page, PageRequest::MAX_PAGE_SIZE))
            .await?;
        let last = found.items.is_empty() || page * found.page_size >= found.total;
        all.extend(found.items);
        if last {
            break;
        }
        page += 1;
    }
    // Lists are newest first; a test reads submissions in their order.
    all.reverse();
    Ok(all)
}

/// The params of the pending tasks (due or scheduled) of `task`, oldest
/// first, typed by the handle: what the code under test enqueued and no
/// one ran yet.
///
/// Stored params that no longer fit the type are an
/// [`Error::InvalidParams`] naming the field.
///
/// ```
/// use taskq::prelude::*;
///
/// #[long_task(name = "doc.enqueued.ping")]
/// async fn ping(n: u32) -> Result<(), TaskError> { let _ = n; Ok(()) }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(std::sync::Arc::new(taskq::MemoryBackend::new()))?;
/// client.submit(ping, 1).await?;
/// client.submit(ping, 2).countdown(std::time::Duration::from_secs(60)).await?;
/// assert_eq!(taskq::testing::enqueued(&client, ping).await?, vec![1, 2]);
/// # Ok(()) }
/// ```
pub async fn enqueued<P: DeserializeOwned, R>(
    client: &Client,
    task: TaskHandle<P, R>,
) -> Result<Vec<P>, Error> {
    enqueued_where(client, task, &TaskFilter::default()).await
}

/// [`enqueued`] narrowed by `filter` (its queue and created range; its
/// state, `PENDING` if unset; its task type is the handle's).
///
/// ```
/// use taskq::prelude::*;
///
/// #[long_task(name = "doc.enqueued_where.ping")]
/// async fn ping(n: u32) -> Result<(), TaskError> { let _ = n; Ok(()) }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(std::sync::Arc::new(taskq::MemoryBackend::new()))?;
/// client.submit(ping, 1).queue("urgent").await?;
/// client.submit(ping, 2).await?;
/// let urgent = TaskFilter { queue: Some("urgent".into()), ..TaskFilter::default() };
/// assert_eq!(taskq::testing::enqueued_where(&client, ping, &urgent).await?, vec![1]);
/// # Ok(()) }
/// ```
pub async fn enqueued_where<P: DeserializeOwned, R>(
    client: &Client,
    task: TaskHandle<P, R>,
    filter: &TaskFilter,
) -> Result<Vec<P>, Error> {
    let filter = TaskFilter {
        state: Some(filter.state.unwrap_or(TaskState::Pending)),
        task_type: Some(task.name().to_owned()),
        ..filter.clone()
    };
    records(client, &filter)
        .await?
        .into_iter()
        .map(|record| {
            parse_params::<P>(record.params).map_err(|err| Error::InvalidParams {
                task_type: record.task_type,
                path: err.path,
                message: err.message,
            })
        })
        .collect()
}

/// Asserts that a task of this handle is pending (due or scheduled) —
/// with these params, when given (`P: PartialEq + Debug`). Panics with
/// what is enqueued otherwise. In an async test:
///
/// ```
/// use taskq::prelude::*;
///
/// #[long_task(name = "doc.assert_enqueued.ping")]
/// async fn ping(n: u32) -> Result<(), TaskError> { let _ = n; Ok(()) }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(std::sync::Arc::new(taskq::MemoryBackend::new()))?;
/// client.submit(ping, 3).await?;
/// taskq::assert_enqueued!(client, ping);
/// taskq::assert_enqueued!(client, ping, 3);
/// taskq::assert_not_enqueued!(client, ping, 4);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! assert_enqueued {
    ($client:expr, $task:expr $(,)?) => {{
        let task = $task;
        let found = $crate::testing::enqueued(&$client, task)
            .await
            .expect("reading the enqueued tasks");
        ::core::assert!(
            !found.is_empty(),
            "expected a `{}` task enqueued, found none",
            task.name()
        );
    }};
    ($client:expr, $task:expr, $params:expr $(,)?) => {{
        let task = $task;
        let params = $params;
        let found = $crate::testing::enqueued(&$client, task)
            .await
            .expect("reading the enqueued tasks");
        ::core::assert!(
            found.contains(&params),
            "expected a `{}` task enqueued with {:?}; enqueued: {:?}",
            task.name(),
            params,
            found
        );
    }};
}

/// Asserts that no task of this handle is pending — or none with these
/// params, when given. See [`assert_enqueued!`](crate::assert_enqueued).
#[macro_export]
macro_rules! assert_not_enqueued {
    ($client:expr, $task:expr $(,)?) => {{
        let task = $task;
        let found = $crate::testing::enqueued(&$client, task)
            .await
            .expect("reading the enqueued tasks");
        ::core::assert!(
            found.is_empty(),
            "expected no `{}` task enqueued; enqueued: {} of them",
            task.name(),
            found.len()
        );
    }};
    ($client:expr, $task:expr, $params:expr $(,)?) => {{
        let task = $task;
        let params = $params;
        let found = $crate::testing::enqueued(&$client, task)
            .await
            .expect("reading the enqueued tasks");
        ::core::assert!(
            !found.contains(&params),
            "expected no `{}` task enqueued with {:?}",
            task.name(),
            params
        );
    }};
}
