//! Batch submits: many tasks of one type in one backend call, under fresh
//! ids or the caller's (idempotent like a single submit with an id).

use chrono::Utc;
use serde::Serialize;

use super::Client;
use crate::error::Error;
use crate::idempotent::Submitted;
use crate::registry::TaskHandle;
use crate::submit::{Overrides, apply_concurrency_key, apply_unique, new_record};
use crate::task::{TaskId, TaskRecord};

impl Client {
    /// Submits many tasks of one type in one backend call, and gives
    /// their ids in order. A task type declared unique stores only one
    /// task per held key: a duplicate's place holds the id of the task
    /// that holds its key.
    pub async fn submit_many<P: Serialize, R>(
        &self,
        task: TaskHandle<P, R>,
        params: impl IntoIterator<Item = P>,
    ) -> Result<Vec<TaskId>, Error> {
        let records = self.many_records(task.name(), params.into_iter().map(|p| (None, p)))?;
        let mut ids: Vec<TaskId> = records.iter().map(|r| r.id).collect();
        // A duplicate's place names the task holding its key.
        for (at, holder) in self.backend.enqueue(records).await?.duplicates {
            if let Some(id) = ids.get_mut(at) {
                *id = holder;
            }
        }
        Ok(ids)
    }

    /// [`submit_many`](Client::submit_many) under the caller's ids, each
    /// as [`Submission::id`](crate::Submission::id) gives one, so that the batch can be submitted
    /// again safely: an id already stored with the same task type and
    /// params answers `duplicate: true` and stores nothing; with another
    /// type or params the call is [`Error::TaskExists`] naming it, and
    /// nothing of the batch is stored. The rest of the batch is stored in
    /// one backend call. An id given twice is refused. The client retries
    /// by itself after an ambiguous error, like a single submit
    /// ([`Client::with_submit_retry`]). Answers in the order given.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use taskq::prelude::*;
    /// # #[long_task]
    /// # async fn batch_import(n: u32) -> Result<(), TaskError> { let _ = n; Ok(()) }
    /// # #[tokio::main] async fn main() -> Result<(), taskq::Error> {
    /// # let client = Client::new(Arc::new(taskq::MemoryBackend::new()))?;
    /// let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    /// let first = client.submit_many_with_ids(batch_import, [(a, 1)]).await?;
    /// assert!(!first[0].duplicate);
    /// // Again, with one more: `a` is stored already, `b` is new.
    /// let again = client.submit_many_with_ids(batch_import, [(a, 1), (b, 2)]).await?;
    /// assert_eq!((again[0].id, again[0].duplicate), (a, true));
    /// assert_eq!((again[1].id, again[1].duplicate), (b, false));
    /// # Ok(()) }
    /// ```
    pub async fn submit_many_with_ids<P: Serialize, R>(
        &self,
        task: TaskHandle<P, R>,
        items: impl IntoIterator<Item = (TaskId, P)>,
    ) -> Result<Vec<Submitted>, Error> {
        let records =
            self.many_records(task.name(), items.into_iter().map(|(id, p)| (Some(id), p)))?;
        crate::lifecycle::check_batch_ids(&records)?;
        crate::idempotent::submit_batch(self, records).await
    }

    /// The records of a batch of `task_type`, each under its given id or
    /// a fresh one, with the type's defaults, unique key and concurrency key.
    fn many_records<P: Serialize>(
        &self,
        task_type: &str,
        items: impl Iterator<Item = (Option<TaskId>, P)>,
    ) -> Result<Vec<TaskRecord>, Error> {
        let def = self.task_def(task_type)?;
        let now = Utc::now();
        items
            .map(|(id, p)| {
                let params = serde_json::to_value(p).map_err(Error::Serialization)?;
                self.payload_limits.check_params(&params)?;
                let overrides = Overrides::default();
                let mut record = new_record(def, params, &overrides, now);
                if let Some(id) = id {
                    record.id = id;
                }
                apply_unique(&mut record, def, &overrides)?;
                apply_concurrency_key(&mut record, def, &overrides)?;
                Ok(record)
            })
            .collect()
    }
}
