//! Task types known to this process: what `#[long_task]` registers at link
//! time through `inventory`, checked for duplicate names at startup.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::TaskContext;
use crate::error::{Error, TaskError};
use crate::rate_limit::RateLimit;
use crate::retry_policy::{RetryPolicies, RetryPolicy};
pub use crate::task::Location;
use crate::task::{ErrorKind, TaskOptions};

/// A boxed handler future, as stored in a [`TaskDef`].
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;

/// One registered task type. `#[long_task]` emits one into `inventory`;
/// tests and hosts without the macro can build one by hand.
pub struct TaskDef {
    /// Unique name, used to submit by name and stored in records.
    pub name: &'static str,
    /// Defaults for every submission.
    pub options: TaskOptions,
    /// JSON schema of the params type (for forms and API clients).
    pub params_schema: fn() -> schemars::Schema,
    /// Checks JSON params against the params type, naming the bad field.
    pub validate: fn(&Value) -> Result<(), ParamsError>,
    /// JSON schema of the result type, when it implements `JsonSchema`
    /// (`None` otherwise): a workflow built from names checks that a
    /// step's result fits the params of the step it feeds.
    pub result_schema: fn() -> Option<schemars::Schema>,
    /// The concurrency limit declared with `#[long_task(concurrency = ...)]`
    /// ([`Concurrency::NONE`] when none is).
    pub concurrency: Concurrency,
    /// Runs one attempt: deserializes params, calls the handler, serializes
    /// its result.
    pub handler: fn(TaskContext, Value) -> HandlerFuture,
    /// Where the task was declared.
    pub location: Location,
}

impl fmt::Debug for TaskDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskDef")
            .field("name", &self.name)
            .field("options", &self.options)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

inventory::collect!(TaskDef);

/// A task type's declared concurrency limits: `#[long_task(concurrency =
/// 5)]` or `concurrency(limit = 5)` gives `limit` (at most 5 of its tasks
/// run at once), `concurrency(key = "tenant_id", limit = 2)` gives
/// `key_field` and `key_limit` (at most 2 at once per value of the params
/// field `tenant_id`); `rate_limit(starts = 100, period = 60)` gives
/// `rate` (at most 100 starts a minute) and `rate_limit(key = "tenant_id",
/// starts = 10, period = 1)` gives `key_rate` and `key_field`.
///
/// The backend's stored limits are the truth: a worker that starts stores
/// a declared limit only while none is stored for the type, so one set at
/// runtime ([`Client::set_type_limit`](crate::Client::set_type_limit))
/// outlives restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// At most this many of the type's tasks run at once.
    pub limit: Option<u32>,
    /// The top-level params field whose value is a task's concurrency key.
    pub key_field: Option<&'static str>,
    /// At most this many of the type's tasks with one key run at once.
    pub key_limit: Option<u32>,
    /// At most this many of the type's tasks start per period
    /// (`#[long_task(rate_limit(starts = 100, period = 60))]`).
    pub rate: Option<RateLimit>,
    /// At most this many of the type's tasks with one key start per
    /// period, per key (`rate_limit(key = "tenant_id", starts = 10,
    /// period = 1)`, which also names `key_field`).
    pub key_rate: Option<RateLimit>,
}

impl Concurrency {
    /// No declared limit.
    pub const NONE: Concurrency = Concurrency {
        limit: None,
        key_field: None,
        key_limit: None,
        rate: None,
        key_rate: None,
    };
}

/// Params that do not fit a task's params type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError {
    /// Path of the offending field (`.` for the root).
    pub path: String,
    pub message: String,
}

/// Deserializes params the way a handler will, reporting the path of the
/// first field that does not fit (`files[2].name`).
pub fn parse_params<P: DeserializeOwned>(params: Value) -> Result<P, ParamsError> {
    serde_path_to_error::deserialize(params).map_err(|err| ParamsError {
        path: err.path().to_string(),
        message: err.inner().to_string(),
    })
}

/// [`TaskDef::validate`] for params type `P`.
pub fn validate_params<P: DeserializeOwned>(params: &Value) -> Result<(), ParamsError> {
    // Deserializing into the real type is the exact check: the schema is a
    // description of it, the type is the truth.
    parse_params::<P>(params.clone()).map(drop)
}

/// [`TaskDef::params_schema`] for params type `P`: its JSON schema as
/// schemars derives it, with rustdoc link syntax (``[`Foo`]``,
/// `[text](crate::Foo)`) replaced by the link text in every title and
/// description, because those come from doc comments and are read by
/// people (the dashboard's form, API clients) who cannot follow the links.
pub fn params_schema<P: schemars::JsonSchema>() -> schemars::Schema {
    schemars::generate::SchemaSettings::default()
        .with_transform(crate::doc_links::strip_schema_links)
        .into_generator()
        .into_root_schema_for::<P>()
}

/// Finds the result type's schema for [`TaskDef::result_schema`] when it
/// has one: `(&ResultSchemaProbe::<R>::new()).result_schema()` resolves to
/// [`HasResultSchema`] when `R: JsonSchema` and to [`NoResultSchema`]
/// (`None`) otherwise, so the macro needs no bound on a handler's result.
pub struct ResultSchemaProbe<R>(std::marker::PhantomData<R>);

impl<R> ResultSchemaProbe<R> {
    pub const fn new() -> Self {
        ResultSchemaProbe(std::marker::PhantomData)
    }
}

impl<R> Default for ResultSchemaProbe<R> {
    fn default() -> Self {
        ResultSchemaProbe::new()
    }
}

/// The probe's answer for a result type with a schema.
pub trait HasResultSchema {
    fn result_schema(&self) -> Option<schemars::Schema>;
}

impl<R: schemars::JsonSchema> HasResultSchema for ResultSchemaProbe<R> {
    fn result_schema(&self) -> Option<schemars::Schema> {
        Some(params_schema::<R>())
    }
}

/// The probe's answer for a result type without one.
pub trait NoResultSchema {
    fn result_schema(&self) -> Option<schemars::Schema> {
        None
    }
}

impl<R> NoResultSchema for &ResultSchemaProbe<R> {}

/// Names the `Ok` type of a handler's return type, whatever alias spells
/// it: `<Result<R, E> as TaskResult>::Ok` is `R`.
pub trait TaskResult {
    type Ok;
    type Err;
}

impl<T, E> TaskResult for Result<T, E> {
    type Ok = T;
    type Err = E;
}

/// Runs a typed handler body on JSON params: the glue the macro emits.
pub async fn run_handler<P, R, F, Fut, E>(
    ctx: TaskContext,
    params: Value,
    handler: F,
) -> Result<Value, TaskError>
where
    P: DeserializeOwned,
    R: serde::Serialize,
    F: FnOnce(TaskContext, P) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Into<TaskError>,
{
    let params = parse_params::<P>(params).map_err(|err| {
        TaskError::new(
            ErrorKind::InvalidParams,
            format!("at `{}`: {}", err.path, err.message),
        )
    })?;
    let output = handler(ctx, params).await.map_err(Into::into)?;
    serde_json::to_value(output)
        .map_err(|err| TaskError::permanent(format!("result does not serialize: {err}")))
}

/// A typed handler future: what [`TaskHandle::call`] returns.
pub type TypedFuture<R> = Pin<Box<dyn Future<Output = Result<R, TaskError>> + Send>>;

/// A handler with its params and result typed: what `#[long_task]` stores
/// in the handle, so a test calls the function the attribute hid.
pub type TypedHandler<P, R> = fn(TaskContext, P) -> TypedFuture<R>;

/// Runs a typed handler on JSON params: the glue the macro emits, over
/// the handler the handle keeps. [`run_handler`] with the handler's
/// types fixed by its signature, so a bad return type is reported where
/// the signature says it, once.
pub async fn run_typed<P, R>(
    ctx: TaskContext,
    params: Value,
    handler: TypedHandler<P, R>,
) -> Result<Value, TaskError>
where
    P: DeserializeOwned,
    R: serde::Serialize,
{
    run_handler(ctx, params, handler).await
}

/// A typed reference to a registered task, what `#[long_task]` puts in place
/// of the function: `client.submit(analyze, params)` only compiles when
/// `params` has the handler's params type.
///
/// # Example
///
/// `#[long_task]` turns the function's name into a handle: submitting
/// through it only compiles with the handler's params type, and the
/// id's result is the handler's `Ok` type.
///
/// ```
/// use std::sync::Arc;
/// use serde::{Deserialize, Serialize};
/// use taskq::prelude::*;
/// use taskq::registry::TaskHandle;
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// struct Resize { width: u32 }
///
/// /// Resizes an image.
/// #[long_task(name = "images.resize")]
/// async fn resize(p: Resize) -> Result<u32, TaskError> {
///     Ok(p.width)
/// }
///
/// // A plain value: pass it around, store it in a const.
/// const RESIZE: TaskHandle<Resize, u32> = resize;
///
/// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
/// assert_eq!(RESIZE.name(), "images.resize");
/// let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
/// let id = client.submit(RESIZE, Resize { width: 640 }).await?;
/// // client.submit(resize, 640) does not compile: `u32` is not `Resize`.
/// assert_eq!(client.get(id).await?.task_type, "images.resize");
/// # Ok(()) }
/// ```
///
/// # Calling the handler in a unit test
///
/// The handle keeps the function the attribute hid:
/// [`run_detached`](TaskHandle::run_detached) calls it with typed params
/// and gives its typed result, with no client, backend or worker;
/// [`call`](TaskHandle::call) takes a context of your own, e.g. to cancel
/// it from the test (see [`TaskContext::detached`]).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use taskq::prelude::*;
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// struct Resize { width: u32 }
///
/// #[long_task(name = "doc.run_detached.resize")]
/// async fn resize(p: Resize) -> Result<u32, TaskError> {
///     if p.width == 0 { return Err(TaskError::permanent("width 0")); }
///     Ok(p.width / 2)
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(resize.run_detached(Resize { width: 640 }).await, Ok(320));
/// let err = resize.run_detached(Resize { width: 0 }).await.unwrap_err();
/// assert_eq!(err.kind(), taskq::ErrorKind::Permanent);
/// # }
/// ```
pub struct TaskHandle<P, R> {
    name: &'static str,
    handler: TypedHandler<P, R>,
    _types: PhantomData<fn(P) -> R>,
}

impl<P, R> TaskHandle<P, R> {
    /// The handle `#[long_task]` makes: the task's name and its typed
    /// handler.
    #[doc(hidden)]
    pub const fn new(name: &'static str, handler: TypedHandler<P, R>) -> Self {
        TaskHandle {
            name,
            handler,
            _types: PhantomData,
        }
    }

    /// The registered task name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The typed handler, as the attribute wrote it (with the context
    /// argument even when the function has none).
    pub const fn handler(&self) -> TypedHandler<P, R> {
        self.handler
    }

    /// Calls the handler directly with `ctx` and typed params, in the
    /// caller's task: no record, no worker, no retries or timeouts. The
    /// error is the handler's, converted to a [`TaskError`] as a worker
    /// would see it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::prelude::*;
    /// use taskq::StopReason;
    ///
    /// /// Counts until cancelled.
    /// #[long_task(name = "doc.call.count")]
    /// async fn count(ctx: TaskContext, step_ms: u64) -> Result<u32, TaskError> {
    ///     let mut n = 0;
    ///     loop {
    ///         tokio::select! {
    ///             _ = ctx.cancelled() => return Err(TaskError::cancelled("asked to stop")),
    ///             _ = tokio::time::sleep(Duration::from_millis(step_ms)) => n += 1,
    ///         }
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ctx = TaskContext::detached(TaskId::now_v7(), count.name());
    /// let running = tokio::spawn(count.call(ctx.clone(), 1));
    /// tokio::time::sleep(Duration::from_millis(20)).await;
    /// ctx.request_stop(StopReason::Cancelled); // what a cancel does to a running task
    /// let err = running.await.unwrap().unwrap_err();
    /// assert_eq!(err.kind(), taskq::ErrorKind::Cancelled);
    /// assert_eq!(ctx.stop_reason(), Some(StopReason::Cancelled));
    /// # }
    /// ```
    pub fn call(&self, ctx: TaskContext, params: P) -> TypedFuture<R> {
        (self.handler)(ctx, params)
    }

    /// Calls the handler directly with a fresh
    /// [`TaskContext::detached`] (a new id, this task's name, attempt 1
    /// of 1): [`call`](TaskHandle::call) for a test that needs no handle
    /// on the context.
    pub fn run_detached(&self, params: P) -> TypedFuture<R> {
        self.call(
            TaskContext::detached(uuid::Uuid::now_v7(), self.name),
            params,
        )
    }
}

impl<P, R> Clone for TaskHandle<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P, R> Copy for TaskHandle<P, R> {}

impl<P, R> fmt::Debug for TaskHandle<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskHandle({})", self.name)
    }
}

/// The task types a client or worker knows, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    tasks: BTreeMap<&'static str, &'static TaskDef>,
}

/// The retry policy of each registered type; [`RetryPolicy::default`]
/// for a type this process does not know.
impl RetryPolicies for Registry {
    fn policy(&self, task_type: &str) -> RetryPolicy {
        self.get(task_type)
            .map_or_else(RetryPolicy::default, |def| RetryPolicy::of(&def.options))
    }
}

impl Registry {
    /// Every task registered with `#[long_task]` in the linked crates.
    ///
    /// Fails with [`Error::DuplicateTask`], naming both places, when two
    /// tasks share a name. A task declared in a library crate is only linked
    /// when the binary names that crate: add `use my_tasks as _;`.
    pub fn from_inventory() -> Result<Registry, Error> {
        Registry::from_defs(inventory::iter::<TaskDef>)
    }

    /// A registry of the given definitions only.
    pub fn from_defs(defs: impl IntoIterator<Item = &'static TaskDef>) -> Result<Registry, Error> {
        let mut registry = Registry::default();
        for def in defs {
            registry.add(def)?;
        }
        Ok(registry)
    }

    /// Adds one definition; a name already taken is an error.
    pub fn add(&mut self, def: &'static TaskDef) -> Result<(), Error> {
        if let Some(existing) = self.tasks.get(def.name) {
            // Report in a stable order, whatever order the linker chose.
            let (first, second) = if (existing.location.file, existing.location.line)
                <= (def.location.file, def.location.line)
            {
                (existing.location, def.location)
            } else {
                (def.location, existing.location)
            };
            return Err(Error::DuplicateTask {
                name: def.name,
                first,
                second,
            });
        }
        self.tasks.insert(def.name, def);
        Ok(())
    }

    /// The task registered under `name`.
    pub fn get(&self, name: &str) -> Option<&'static TaskDef> {
        self.tasks.get(name).copied()
    }

    /// Every task, by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static TaskDef> + '_ {
        self.tasks.values().copied()
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}
