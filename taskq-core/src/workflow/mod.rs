//! Workflows: chains, groups, chords and batch callbacks, stored whole
//! and run by the backend's own bookkeeping.
//!
//! A workflow is a graph of steps; each step is a task whose record
//! carries its place ([`WorkflowStep`](crate::task::WorkflowStep)). It is
//! submitted in one atomic write (every step or none), its roots
//! `PENDING` and every other step `WAITING` for its parents. The
//! transaction or script that ends a step counts down its children and
//! releases the last one's child to `PENDING`
//! ([`lifecycle::parent_ended`](crate::lifecycle::parent_ended)), so a
//! worker killed at any point neither loses nor repeats a release.
//!
//! - [`Workflow`]: the typed builder — a chain step takes its parent's
//!   result as its params, checked by the compiler.
//! - [`WorkflowSpec`]: the same by names and JSON (the REST route).
//! - [`WorkflowRecord`]: a stored workflow, read back with
//!   [`Client::workflow`](crate::Client::workflow).
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use taskq::prelude::*;
//! use taskq::workflow::Workflow;
//!
//! #[long_task(name = "doc.wf.fetch")]
//! async fn fetch(page: u32) -> Result<u32, TaskError> { Ok(page * 10) }
//! #[long_task(name = "doc.wf.total")]
//! async fn total(counts: Vec<u32>) -> Result<u32, TaskError> { Ok(counts.iter().sum()) }
//! #[long_task(name = "doc.wf.report")]
//! async fn report(sum: u32) -> Result<String, TaskError> { Ok(format!("{sum} words")) }
//!
//! # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
//! let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
//! let mut wf = Workflow::new();
//! let pages: Vec<_> = (1..=3).map(|p| wf.add(fetch, p)).collect(); // a group
//! let sum = wf.join(&pages, total); // a chord: the group's results, in order
//! let text = wf.then(&sum, report); // a chain link: the parent's result
//! let id = client.submit_workflow(wf).await?;
//! # let worker = Worker::builder(&client).queue("default", 2).build()?;
//! # let shutdown = worker.shutdown_handle();
//! # let running = tokio::spawn(worker.run());
//! // Each step is a task: wait for one by its typed reference…
//! let out: String = client.result(text.task_ref(), Duration::from_secs(10)).await?;
//! assert_eq!(out, "60 words");
//! // …or for the whole workflow.
//! let record = client.wait_workflow(id, Duration::from_secs(10)).await?;
//! assert_eq!(record.state, taskq::workflow::WorkflowState::Finished);
//! # shutdown.shutdown(); running.await.unwrap()?;
//! # Ok(()) }
//! ```

mod builder;
mod client;
mod input;
mod read;
mod records;
mod spec;

pub use builder::{Step, StepRef, Workflow};
pub(crate) use input::attempt_handler;
pub use input::{StepEnd, resolve_input};
pub use read::{WorkflowRecord, WorkflowState};
pub(crate) use records::Placement;
pub use spec::{MAX_STEPS, StepSpec, WorkflowSpec};
