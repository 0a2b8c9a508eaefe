//! Submitting: the client's [`Submission`] builder. A submission's
//! overrides and their checks live in `overrides`, the record it builds
//! in `record` (shared with batches, workflows and the scheduler).

mod overrides;
mod record;

#[cfg(feature = "http")]
pub(crate) use overrides::BadOverride;
pub(crate) use overrides::Overrides;
use overrides::checked_overrides;
pub(crate) use record::{apply_concurrency_key, apply_unique, check_labels, new_record};

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::bounds::check_queue_name;
use crate::client::Client;
use crate::error::Error;
use crate::idempotent::{Submitted, submit_record};
use crate::task::{TaskId, TaskRecord, Unique};
// The items the builder's docs link to.
#[cfg(doc)]
use crate::{TaskState, bounds, lifecycle};

/// A task about to be submitted: set overrides, then `.await` it for the
/// new task's id, or [`.wait(timeout)`](Submission::wait) for its result
/// as `R`, the handler's `Ok` type (`serde_json::Value` by name).
///
/// # Example
///
/// `client.submit(..)` and `client.submit_json(..)` return a submission:
/// override the task type's defaults, then `.await` it for the id.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use taskq::prelude::*;
///
/// #[long_task(queue = "mail", priority = 5)]
/// async fn notify(user: u64) -> Result<(), TaskError> {
///     # let _ = user;
///     Ok(())
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
/// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
/// let id = client
///     .submit(notify, 7)
///     .queue("urgent")                       // instead of `mail`
///     .priority(9)                           // higher runs first
///     .countdown(Duration::from_secs(30))    // or `.at(when)`
///     .timeout(Duration::from_secs(60))      // hard timeout of each attempt
///     .await?;
/// let record = client.get(id).await?;
/// assert_eq!((record.queue.as_str(), record.priority), ("urgent", 9));
/// assert_eq!(record.state, TaskState::Pending);
/// # Ok(()) }
/// ```
///
/// [`into_record`](Submission::into_record) builds the record without
/// storing it, for `enqueue_in` inside a host's own SQL transaction.
#[must_use = "a submission does nothing until awaited"]
pub struct Submission<'c, R = Value> {
    client: &'c Client,
    task_type: Cow<'static, str>,
    params: Result<Value, Error>,
    validate: bool,
    overrides: Overrides,
    countdown: Option<Duration>,
    /// Turned into `overrides.expires_at` at submit, like `countdown`.
    expires_in: Option<Duration>,
    id: Option<TaskId>,
    _result: PhantomData<fn() -> R>,
}

impl<'c, R> Submission<'c, R> {
    pub(crate) fn new(
        client: &'c Client,
        task_type: Cow<'static, str>,
        params: Result<Value, Error>,
        validate: bool,
    ) -> Self {
        Submission {
            client,
            task_type,
            params,
            validate,
            overrides: Overrides::default(),
            countdown: None,
            expires_in: None,
            id: None,
            _result: PhantomData,
        }
    }

    pub(crate) fn client(&self) -> &'c Client {
        self.client
    }

    /// Stores the task under this id instead of a fresh one, so that the
    /// caller can submit again safely: when the id is stored with the same
    /// task type and params, the submit succeeds with it and stores nothing
    /// ([`outcome`](Submission::outcome) says `duplicate: true`); with
    /// another type or params it is [`Error::TaskExists`]. Any UUID will do:
    /// v7 ids (`uuid::Uuid::now_v7()`, what taskq draws) sort by creation
    /// time, which keeps the backends' indexes compact; random (v4) ids,
    /// or ids derived from the caller's own key (v5), are fine too.
    ///
    /// Without it the client draws the id before the first try, so its own
    /// retries after an ambiguous error are just as safe (see
    /// [`Client::with_submit_retry`](crate::Client::with_submit_retry)).
    pub fn id(mut self, id: TaskId) -> Self {
        self.id = Some(id);
        self
    }

    /// Submits, and says whether the task was stored already — the
    /// [`Submitted`] outcome instead of the bare id `.await` gives.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use taskq::prelude::*;
    /// # #[long_task]
    /// # async fn ping(n: u32) -> Result<(), TaskError> { let _ = n; Ok(()) }
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// # let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let id = uuid::Uuid::now_v7();
    /// assert!(!client.submit(ping, 1).id(id).outcome().await?.duplicate);
    /// assert!(client.submit(ping, 1).id(id).outcome().await?.duplicate);
    /// # Ok(()) }
    /// ```
    pub fn outcome(self) -> Pin<Box<dyn Future<Output = Result<Submitted, Error>> + Send + 'c>> {
        let built = self.build();
        Box::pin(async move {
            let (client, record) = built?;
            submit_record(client, record).await
        })
    }

    /// Runs on another queue than the task type's.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.overrides.queue = Some(queue.into());
        self
    }

    /// Higher runs first.
    pub fn priority(mut self, priority: i32) -> Self {
        self.overrides.priority = Some(priority);
        self
    }

    /// Not before this time (an ETA), from 1970 to the end of year 9999
    /// ([`crate::bounds`]); outside it the submit is
    /// [`Error::InvalidArgument`].
    pub fn at(mut self, run_at: DateTime<Utc>) -> Self {
        self.overrides.run_at = Some(run_at);
        self
    }

    /// Not before this long from now; a delay that reaches past year 9999
    /// ([`bounds::LATEST_TIME`]) is [`Error::InvalidArgument`] at submit.
    pub fn countdown(mut self, delay: Duration) -> Self {
        self.countdown = Some(delay);
        self
    }

    /// A deadline to start: not started by `expires_at`, the task ends
    /// [`TaskState::Expired`] instead of running (also while it waits for
    /// a retry). A time not in the future, or before the task's ETA, is
    /// [`Error::InvalidDeadline`] at submit.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use taskq::prelude::*;
    /// # #[long_task]
    /// # async fn send_code(user: u64) -> Result<(), TaskError> { let _ = user; Ok(()) }
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// # let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    /// let refused = client.submit(send_code, 7).expires_at(past).await;
    /// assert!(matches!(refused, Err(Error::InvalidDeadline { field: "expires_at", .. })));
    /// // A login code is worth sending for five minutes, or not at all.
    /// let id = client.submit(send_code, 7).expires_in(Duration::from_secs(300)).await?;
    /// assert!(client.get(id).await?.expires_at.is_some());
    /// # Ok(()) }
    /// ```
    pub fn expires_at(mut self, expires_at: DateTime<Utc>) -> Self {
        self.overrides.expires_at = Some(expires_at);
        self.expires_in = None;
        self
    }

    /// A deadline to start this long after submission (see
    /// [`expires_at`](Self::expires_at)); zero is [`Error::InvalidDeadline`].
    pub fn expires_in(mut self, delay: Duration) -> Self {
        self.expires_in = Some(delay);
        self
    }

    /// The concurrency key of this task: its type's key limit
    /// ([`Client::set_key_limit`]) counts the type's running tasks with
    /// this key. Overrides the key the type reads from its params
    /// (`#[long_task(concurrency(key = "tenant_id", limit = 2))]`); 1 to
    /// [`lifecycle::MAX_CONCURRENCY_KEY`] bytes, else
    /// [`Error::InvalidLabel`] at submit and nothing is stored.
    ///
    /// ```no_run
    /// # use taskq_core::{Client, Error};
    /// # async fn demo(client: Client) -> Result<(), Error> {
    /// client.submit_json("report", serde_json::json!({})).concurrency_key("acme").await?;
    /// # Ok(()) }
    /// ```
    pub fn concurrency_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.concurrency_key = Some(key.into());
        self
    }

    /// Retries after the first attempt, at most [`bounds::MAX_RETRIES`]
    /// (more is [`Error::InvalidArgument`] at submit, never clamped).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.overrides.max_retries = Some(max_retries);
        self
    }

    /// Hard timeout of this submission: longer than zero, at most
    /// [`bounds::MAX_TIMEOUT`] (otherwise [`Error::InvalidArgument`] at
    /// submit).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// Soft timeout of this submission: as [`timeout`](Self::timeout), and
    /// shorter than it.
    pub fn soft_timeout(mut self, soft_timeout: Duration) -> Self {
        self.overrides.soft_timeout = Some(soft_timeout);
        self
    }

    /// Unique as `unique` says, instead of as the task type declares:
    /// while another task of the queue holds the same key, this one is
    /// not stored and the submit answers with the holder's id
    /// ([`Submitted::unique_conflict`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use taskq::prelude::*;
    /// use taskq::Unique;
    /// # #[long_task]
    /// # async fn sync_account(account: u64) -> Result<(), TaskError> { let _ = account; Ok(()) }
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// # let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let first = client.submit(sync_account, 7).unique(Unique::params()).outcome().await?;
    /// let again = client.submit(sync_account, 7).unique(Unique::params()).outcome().await?;
    /// assert!(again.duplicate && again.unique_conflict);
    /// assert_eq!(again.id, first.id); // the task that will do the work
    /// # Ok(()) }
    /// ```
    pub fn unique(mut self, unique: Unique) -> Self {
        self.overrides.unique = Some(Some(unique));
        self
    }

    /// Unique by this explicit key, with the period and states the task
    /// type declares (or the defaults of [`Unique`]).
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.unique_key = Some(key.into());
        self
    }

    /// Not unique, whatever the task type declares.
    pub fn not_unique(mut self) -> Self {
        self.overrides.unique = Some(None);
        self
    }

    /// Adds a tag: a label a list can filter on
    /// ([`TaskFilter::tags`](crate::backend::TaskFilter)). 1 to 64
    /// lowercase ASCII letters, digits, `_`, `-`, `.`, `:`, `=` or `/`, at most 16 per
    /// task ([`lifecycle::check_tags`]); a bad one fails the submit with
    /// [`Error::InvalidLabel`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::prelude::*;
    /// use taskq::TaskFilter;
    ///
    /// #[long_task]
    /// async fn invoice(order: u64) -> Result<(), TaskError> {
    ///     # let _ = order;
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let id = client
    ///     .submit(invoice, 42)
    ///     .tag("customer:acme")
    ///     .tags(["billing", "eu"])
    ///     .metadata(serde_json::json!({ "order": 42, "requested_by": "ops" }))
    ///     .await?;
    /// let record = client.get(id).await?;
    /// assert_eq!(record.tags, ["customer:acme", "billing", "eu"]);
    /// assert_eq!(record.metadata["order"], 42);
    ///
    /// let filter = TaskFilter { tags: vec!["billing".into()], ..TaskFilter::default() };
    /// let page = client.list(&filter, Default::default()).await?;
    /// assert_eq!(page.items[0].id, id);
    /// # Ok(()) }
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.overrides.tags.push(tag.into());
        self
    }

    /// Adds several tags (see [`tag`](Submission::tag)).
    pub fn tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.overrides.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Metadata for the caller's own bookkeeping: a JSON object of at most
    /// 4 KiB ([`lifecycle::check_metadata`]), shown with the task and kept
    /// as given; anything else fails the submit with [`Error::InvalidLabel`].
    /// See [`tag`](Submission::tag) for an example.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.overrides.metadata = Some(metadata);
        self
    }

    /// The checked record this submission would store, without storing
    /// it: for a backend that can enqueue inside the host's own database
    /// transaction (`taskq_sea::SeaBackend::enqueue_in`), so the task
    /// exists only if that transaction commits.
    pub fn into_record(self) -> Result<TaskRecord, Error> {
        self.build().map(|(_, record)| record)
    }

    /// The record this submission would store, checked.
    fn build(self) -> Result<(&'c Client, TaskRecord), Error> {
        let def = self.client.task_def(&self.task_type)?;
        let params = self.params?;
        self.client.payload_limits().check_params(&params)?;
        if self.validate {
            (def.validate)(&params).map_err(|err| Error::InvalidParams {
                task_type: def.name.to_owned(),
                path: err.path,
                message: err.message,
            })?;
        }
        if let Some(queue) = &self.overrides.queue {
            check_queue_name(queue)?;
        }
        let now = Utc::now();
        let mut overrides =
            checked_overrides(&self.overrides, self.countdown, self.expires_in, now)?;
        check_labels(&mut overrides)?;
        let mut record = new_record(def, params, &overrides, now);
        apply_unique(&mut record, def, &overrides)?;
        apply_concurrency_key(&mut record, def, &overrides)?;
        if let Some(id) = self.id {
            record.id = id;
        }
        Ok((self.client, record))
    }

    /// Checks the time, timeout and retry overrides alone, naming the one
    /// at fault: for the HTTP routes, whose error names the field.
    #[cfg(feature = "http")]
    pub(crate) fn check_overrides(&self) -> Result<(), BadOverride> {
        checked_overrides(&self.overrides, self.countdown, self.expires_in, Utc::now()).map(drop)
    }
}

impl<'c, R> IntoFuture for Submission<'c, R> {
    type Output = Result<TaskId, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        let built = self.build();
        Box::pin(async move {
            let (client, record) = built?;
            Ok(submit_record(client, record).await?.id)
        })
    }
}
