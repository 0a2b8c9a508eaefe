//! What a starting workflow step reads of its parents
//! ([`Store::step_parents`](crate::Store::step_parents)): their state,
//! type, result, error and step name, by `PARENTS` pages — not whole
//! records (history, params) through the id index, which cost a chord's
//! callback two commands and a record's decoding per member.

use std::collections::HashSet;

use fred::prelude::*;
use futures_util::future::try_join_all;

use super::reply::{array, by_queue, unexpected};
use super::{RedisBackend, scripts};
use crate::error::Error;
use crate::task::TaskId;
use crate::workflow::StepEnd;

/// Parents one `PARENTS` call reads at most: a page keeps the script
/// short (the server runs nothing else meanwhile); the pages of a call
/// go out together.
const PARENTS_PAGE: usize = 1000;

impl RedisBackend {
    /// Those of `ids` in `queue` (the step's own, where a chord's members
    /// usually are) first; the rest where the id index says they are.
    pub(super) async fn step_parents_of(
        &self,
        ids: &[TaskId],
        queue: Option<&str>,
    ) -> Result<Vec<StepEnd>, Error> {
        let mut found = Vec::with_capacity(ids.len());
        let mut rest = ids.to_vec();
        if let Some(queue) = queue {
            found = self.parents_in(queue, &rest).await?;
            let here: HashSet<TaskId> = found.iter().map(|end| end.id).collect();
            rest.retain(|id| !here.contains(id));
        }
        if rest.is_empty() {
            return Ok(found);
        }
        let queues = self.queues_of(&rest).await?;
        let groups = by_queue(&queues);
        let reads = groups.iter().map(|(queue, positions)| {
            let some: Vec<TaskId> = positions.iter().map(|&p| rest[p]).collect();
            async move { self.parents_in(queue, &some).await }
        });
        for part in try_join_all(reads).await? {
            found.extend(part);
        }
        Ok(found)
    }

    /// `PARENTS` in `queue` for `ids`, a page a call.
    async fn parents_in(&self, queue: &str, ids: &[TaskId]) -> Result<Vec<StepEnd>, Error> {
        let pages = ids.chunks(PARENTS_PAGE).map(|page| {
            let args = page.iter().map(TaskId::to_string).collect();
            self.run(&scripts::PARENTS, queue, args)
        });
        let mut found = Vec::with_capacity(ids.len());
        for reply in try_join_all(pages).await? {
            for item in array("parents", reply)? {
                found.push(parent_end(item)?);
            }
        }
        Ok(found)
    }
}

/// One `PARENTS` item: id, state, task type, result, error, step name.
fn parent_end(item: Value) -> Result<StepEnd, Error> {
    let fields = array("parents", item)?;
    let [id, state, task_type, result, error, name] = <[Value; 6]>::try_from(fields)
        .map_err(|fields| unexpected("parents", &Value::Array(fields)))?;
    let text = |value: Value| value.into_string();
    let required = |value: Value| {
        let shown = format!("{value:?}");
        text(value).ok_or_else(|| Error::backend(format!("parents: missing field in {shown}")))
    };
    Ok(StepEnd {
        id: required(id)?
            .parse()
            .map_err(|e| Error::backend(format!("parents: bad id: {e}")))?,
        state: required(state)?.parse()?,
        task_type: required(task_type)?,
        result: json(result)?,
        error: json(error)?,
        name: text(name).unwrap_or_default(),
    })
}

/// A JSON field of a reply (nil: absent).
fn json<T: serde::de::DeserializeOwned>(value: Value) -> Result<Option<T>, Error> {
    value
        .into_string()
        .map(|raw| serde_json::from_str(&raw).map_err(Error::Serialization))
        .transpose()
}
