//! Reading the scripts' replies: arrays, integers, and the
//! status-and-record reply of the calls that act on one task by id; and
//! grouping a batch's positions by queue (each queue's keys share a slot,
//! so a batch goes to Redis one queue at a time).

use std::sync::Arc;

use fred::prelude::*;

use super::record;
use crate::error::Error;
use crate::task::{TaskId, TaskRecord, TaskState};

/// A reply of another shape than `what`'s script gives, as an error.
pub(super) fn unexpected(what: &str, value: &Value) -> Error {
    Error::backend(format!("unexpected reply from Redis to {what}: {value:?}"))
}

/// An array reply (`nil` as an empty one).
pub(super) fn array(what: &str, value: Value) -> Result<Vec<Value>, Error> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(unexpected(what, &other)),
    }
}

/// An integer reply.
pub(super) fn integer(what: &str, value: &Value) -> Result<i64, Error> {
    value.as_i64().ok_or_else(|| unexpected(what, value))
}

/// Groups positions of `items` by queue, keeping their order.
pub(super) fn by_queue(queues: &[Option<Arc<str>>]) -> Vec<(Arc<str>, Vec<usize>)> {
    let mut groups: Vec<(Arc<str>, Vec<usize>)> = Vec::new();
    for (i, queue) in queues.iter().enumerate() {
        let Some(queue) = queue else { continue };
        match groups.iter_mut().find(|(q, _)| q == queue) {
            Some((_, positions)) => positions.push(i),
            None => groups.push((queue.clone(), vec![i])),
        }
    }
    groups
}

/// What a status-and-record script (`cancel`, `retry`, `reorder`) said.
pub(super) enum Reply {
    Ok(Box<TaskRecord>),
    Missing,
    Invalid(TaskState),
    Other(String, Option<String>),
}

impl Reply {
    /// The record of a call that acts on one task by id, or its refusal:
    /// a missing task is [`Error::NotFound`], a state the call does not
    /// take [`Error::InvalidTransition`].
    pub(super) fn into_record(self, id: TaskId, action: &'static str) -> Result<TaskRecord, Error> {
        match self {
            Reply::Ok(record) => Ok(*record),
            Reply::Missing => Err(Error::NotFound(id)),
            Reply::Invalid(state) => Err(Error::InvalidTransition { id, state, action }),
            Reply::Other(status, _) => Err(Error::backend(format!("{action}: {status}"))),
        }
    }
}

/// The reply of a status-and-record script: `{"ok", fields[, lease]}`,
/// `{"missing"}`, `{"invalid", state}` or another status.
pub(super) fn status_reply(what: &str, value: Value) -> Result<Reply, Error> {
    let mut items = array(what, value)?.into_iter();
    let status = items
        .next()
        .and_then(Value::into_string)
        .ok_or_else(|| Error::backend(format!("empty reply from Redis to {what}")))?;
    let detail = items.next();
    Ok(match (status.as_str(), detail) {
        ("ok", Some(fields)) => {
            let mut found = record::from_value(fields)?;
            if let Some(lease) = items.next() {
                record::set_lease(&mut found, &lease)?;
            }
            Reply::Ok(Box::new(found))
        }
        ("missing", _) => Reply::Missing,
        ("invalid", Some(state)) => Reply::Invalid(
            state
                .into_string()
                .ok_or_else(|| Error::backend(format!("bad state in reply to {what}")))?
                .parse()?,
        ),
        (_, detail) => Reply::Other(status, detail.and_then(Value::into_string)),
    })
}
