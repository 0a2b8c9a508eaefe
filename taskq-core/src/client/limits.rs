//! The client's limits: per queue (running, rate) and per task type
//! (running, per concurrency key), stored in the backend and kept inside
//! every claim.

use crate::backend::TypeLimitStats;
use crate::bounds::check_type_name;
use crate::client::Client;
use crate::error::Error;
use crate::payload::check_queue_name;
use crate::rate_limit::RateLimit;

impl Client {
    /// Lets at most `limit` tasks of `queue` run at once, across every
    /// worker and host (`None` lifts the limit). Stored in the backend and
    /// read inside every claim: it applies to the next claim of each
    /// worker, with nothing to restart. The running count is the queue's
    /// `RUNNING` tasks, so a killed worker's slot comes back when the
    /// rescue moves its task on after the lease. A limit lowered below
    /// the running count stops nothing: claims wait until enough end.
    /// `Some(0)` is [`Error::InvalidArgument`] (pause the queue instead),
    /// and a bad queue name [`Error::InvalidName`]; neither changes
    /// anything.
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// client.set_queue_limit("emails", Some(4)).await?;
    /// let stats = client.queue_stats().await?;
    /// # let _ = stats;
    /// client.set_queue_limit("emails", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_queue_limit(&self, queue: &str, limit: Option<u32>) -> Result<(), Error> {
        check_queue_name(queue)?;
        self.backend.set_queue_limit(queue, limit).await
    }

    /// Lets at most `limit.starts` tasks of `queue` start per
    /// `limit.period`, across every worker and host (`None` lifts it): a
    /// token bucket of `starts` tokens (see [`RateLimit`]), stored in the
    /// backend and spent inside every claim, so it applies to the next
    /// claim of each worker with nothing to restart or announce. Tasks it
    /// holds back stay `PENDING`; [`Client::queue_stats`] shows until
    /// when (`rate_held_until`), and a worker sleeps until then instead of
    /// polling. A start spent is spent whatever becomes of the task (a
    /// killed worker's task does not give it back, nor hold it: the bucket
    /// refills with time). `starts` of 0 or a period out of
    /// [`RateLimit::MIN_PERIOD`]`..=`[`RateLimit::MAX_PERIOD`] is
    /// [`Error::InvalidArgument`], a bad queue name
    /// [`Error::InvalidName`]; neither changes anything. Independent of
    /// [`Client::set_queue_limit`]: a claim takes what both allow.
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// use std::time::Duration;
    /// use taskq_core::RateLimit;
    /// // At most 100 emails a minute, in bursts of up to 100.
    /// client
    ///     .set_queue_rate_limit("emails", Some(RateLimit::new(100, Duration::from_secs(60))))
    ///     .await?;
    /// client.set_queue_rate_limit("emails", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_queue_rate_limit(
        &self,
        queue: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        check_queue_name(queue)?;
        self.backend.set_queue_rate_limit(queue, limit).await
    }

    /// Makes `queue` fair (`true`) or not (`false`, the default): its
    /// concurrency keys ([`TaskRecord::concurrency_key`](crate::TaskRecord);
    /// the tasks without a key together count as one key) take turns
    /// among equal priority, so a key with 100,000 pending tasks does not
    /// delay another key's single task behind all of them. Stored in the
    /// backend: each task submitted to a fair queue gets a turn
    /// (`fair_round`, see [`crate::lifecycle::fair_round`]) and every
    /// claim, on any worker, takes the earliest turns first. Priority
    /// stays absolute. Tasks already pending when it is switched keep
    /// their turns (tasks from before the switch on go first). A bad queue
    /// name is [`Error::InvalidName`] and changes nothing.
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// client.set_queue_fair("reports", true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_queue_fair(&self, queue: &str, fair: bool) -> Result<(), Error> {
        check_queue_name(queue)?;
        self.backend.set_queue_fair(queue, fair).await
    }

    /// Gives concurrency key `key` of `queue` the weight `weight` (`None`:
    /// back to 1): in a fair queue a key of weight 3 takes three turns to
    /// a key of weight 1's one, from the next task submitted. At most
    /// [`MAX_FAIR_WEIGHT`](crate::lifecycle::MAX_FAIR_WEIGHT); 0, a larger
    /// weight, an empty key or one over 255 bytes is
    /// [`Error::InvalidArgument`], a bad queue name [`Error::InvalidName`],
    /// and changes nothing.
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// client.set_fair_weight("reports", "acme", Some(3)).await?;
    /// client.set_fair_weight("reports", "acme", None).await?; // back to 1
    /// # Ok(()) }
    /// ```
    pub async fn set_fair_weight(
        &self,
        queue: &str,
        key: &str,
        weight: Option<u32>,
    ) -> Result<(), Error> {
        check_queue_name(queue)?;
        crate::lifecycle::check_fair_weight(key, weight)?;
        self.backend.set_fair_weight(queue, key, weight).await
    }

    /// The weights set in `queue` ([`Client::set_fair_weight`]), by key.
    pub async fn fair_weights(&self, queue: &str) -> Result<Vec<crate::FairWeight>, Error> {
        check_queue_name(queue)?;
        self.backend.fair_weights(queue).await
    }

    /// Lets at most `limit` tasks of `task_type` run at once, across every
    /// worker, host and queue (`None` lifts it). Stored in the backend and read inside
    /// every claim, which counts the type's `RUNNING` tasks: it applies
    /// to the next claim of each worker, and a killed worker's slot comes
    /// back when the rescue moves its task on after the lease. A task of a
    /// full type stays `PENDING` in its place; the queue's other types
    /// are claimed past it. A limit declared with `#[long_task(concurrency
    /// = n)]` is stored by a worker that starts while none is stored; one
    /// set here replaces it. `Some(0)` is [`Error::InvalidArgument`], a
    /// bad name [`Error::InvalidName`]; neither changes anything.
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// client.set_type_limit("resize_image", Some(5)).await?;
    /// for row in client.type_limits().await? {
    ///     println!("{}: {} running of {:?}", row.task_type, row.running, row.limit);
    /// }
    /// client.set_type_limit("resize_image", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_type_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        check_type_name(task_type)?;
        self.backend.set_type_limit(task_type, limit).await
    }

    /// Lets at most `limit` tasks of `task_type` with one concurrency key
    /// run at once, for every key apart, across every worker, host and
    /// queue (`None` lifts it). A task's key
    /// is given at submission ([`Submission::concurrency_key`](crate::Submission::concurrency_key)) or read
    /// from the params field its type names; a task without a key is not
    /// held by it. Declared with `#[long_task(concurrency(key =
    /// "tenant_id", limit = 2))]`, stored by a worker that starts while
    /// none is stored. `Some(0)` is [`Error::InvalidArgument`], a bad name
    /// [`Error::InvalidName`]; neither changes anything.
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// // At most 2 reports per tenant at once.
    /// client.set_key_limit("tenant_report", Some(2)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_key_limit(&self, task_type: &str, limit: Option<u32>) -> Result<(), Error> {
        check_type_name(task_type)?;
        self.backend.set_key_limit(task_type, limit).await
    }

    /// Lets at most `limit.starts` tasks of `task_type` start per
    /// `limit.period`, across every worker, host and queue (`None` lifts
    /// it): a token
    /// bucket like [`Client::set_queue_rate_limit`]'s, kept in the backend
    /// and spent inside every claim. A task it holds back stays `PENDING`
    /// in its place; the queue's other types are claimed past it, and
    /// [`Client::type_limits`] shows until when (`rate_held_until`).
    /// Declared with `#[long_task(rate_limit(starts = 100, period =
    /// "1m"))]`, stored by a worker that starts while none is stored.
    /// `starts` of 0 or a period out of
    /// [`RateLimit::MIN_PERIOD`]`..=`[`RateLimit::MAX_PERIOD`] is
    /// [`Error::InvalidArgument`], a bad name [`Error::InvalidName`];
    /// neither changes anything. A claim takes what every limit allows
    /// (queue, queue rate, type, key, type rate, key rate).
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// use std::time::Duration;
    /// use taskq_core::RateLimit;
    /// // At most 100 calls to the payment API a minute.
    /// client
    ///     .set_type_rate_limit("charge", Some(RateLimit::new(100, Duration::from_secs(60))))
    ///     .await?;
    /// client.set_type_rate_limit("charge", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_type_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        check_type_name(task_type)?;
        self.backend.set_type_rate_limit(task_type, limit).await
    }

    /// Lets at most `limit.starts` tasks of `task_type` with one
    /// concurrency key start per `limit.period`, for every key apart, each
    /// its own bucket, any number of keys (`None` lifts it). A task without a key is not held by it.
    /// [`Client::type_limits`] shows how many keys are held now
    /// (`held_keys`). Declared with `#[long_task(rate_limit(key =
    /// "tenant_id", starts = 10, period = "1s"))]`. Bad input as
    /// [`Client::set_type_rate_limit`].
    ///
    /// ```no_run
    /// # async fn demo(client: taskq_core::Client) -> Result<(), taskq_core::Error> {
    /// use std::time::Duration;
    /// use taskq_core::RateLimit;
    /// // At most 10 exports a second per tenant.
    /// client
    ///     .set_key_rate_limit("export", Some(RateLimit::new(10, Duration::from_secs(1))))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_key_rate_limit(
        &self,
        task_type: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), Error> {
        check_type_name(task_type)?;
        self.backend.set_key_rate_limit(task_type, limit).await
    }

    /// Every task type with a stored limit, key limit, rate limit or key
    /// rate limit, by name, with its running tasks and held buckets now.
    pub async fn type_limits(&self) -> Result<Vec<TypeLimitStats>, Error> {
        self.backend.type_limits().await
    }
}
