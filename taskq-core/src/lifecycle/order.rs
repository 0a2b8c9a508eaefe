//! Order among pending tasks: which one a claim takes first, and where a
//! reorder puts a task.

use std::cmp::Reverse;

use crate::backend::Position;
use crate::error::Error;
use crate::task::{TaskId, TaskRecord, TaskState};

/// The claim order of due pending tasks of one queue: higher `priority`
/// first, then lower `seq` (the ETA in microseconds, then submission
/// order; reordering rewrites it), then lower id. Sorting ascending by
/// this key gives the claim order.
pub type ClaimOrder = (Reverse<i32>, i64, TaskId);

/// The key [`ClaimOrder`] sorts a record by.
pub fn claim_order(record: &TaskRecord) -> ClaimOrder {
    (Reverse(record.priority), record.seq, record.id)
}

/// Where a reorder moves a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reorder {
    /// The moved task's new priority.
    pub priority: i32,
    /// Its new `seq`.
    pub seq: i64,
    /// `Some(target)`: first subtract 2 from the `seq` of every other
    /// pending task of the queue that has the target's priority and runs
    /// before the target (there was no room between the target and the
    /// task before it; this keeps their order and makes room).
    pub shift_before: Option<(i32, i64, TaskId)>,
}

/// Plans moving pending `record` to `position` among `others`, the other
/// pending tasks of its queue as `(priority, seq, id)`. `target` is the
/// record [`Position::Before`] names (the caller looks it up).
///
/// - `Front`: the highest pending priority of the queue (or its own, if
///   higher), one `seq` before the first task of that priority.
/// - `Back`: the lowest priority (or its own, if lower), one after the last.
/// - `Before(t)`: `t`'s priority, halfway between `t` and the task before
///   it, after making room if there is none.
pub fn reorder(
    record: &TaskRecord,
    others: &[(i32, i64, TaskId)],
    position: Position,
    target: Option<&TaskRecord>,
) -> Result<Reorder, Error> {
    let plain = |priority, seq| Reorder {
        priority,
        seq,
        shift_before: None,
    };
    match position {
        Position::Front => {
            let top = others.iter().map(|o| o.0).max().unwrap_or(record.priority);
            let priority = top.max(record.priority);
            let first = others.iter().filter(|o| o.0 == priority).map(|o| o.1).min();
            Ok(plain(priority, first.map_or(record.seq, |s| s - 1)))
        }
        Position::Back => {
            let bottom = others.iter().map(|o| o.0).min().unwrap_or(record.priority);
            let priority = bottom.min(record.priority);
            let last = others.iter().filter(|o| o.0 == priority).map(|o| o.1).max();
            Ok(plain(priority, last.map_or(record.seq, |s| s + 1)))
        }
        Position::Before(target_id) => {
            let target = target.ok_or(Error::NotFound(target_id))?;
            check_before_target(record, target)?;
            let predecessor = others
                .iter()
                .filter(|o| o.0 == target.priority && (o.1, o.2) < (target.seq, target.id))
                .map(|o| o.1)
                .max();
            Ok(match predecessor {
                Some(p) if target.seq - p < 2 => Reorder {
                    priority: target.priority,
                    seq: target.seq - 1,
                    shift_before: Some((target.priority, target.seq, target.id)),
                },
                Some(p) => plain(target.priority, p + (target.seq - p) / 2),
                None => plain(target.priority, target.seq - 1),
            })
        }
    }
}

/// A task can only be moved before another pending task of its own queue.
pub fn check_before_target(record: &TaskRecord, target: &TaskRecord) -> Result<(), Error> {
    if target.state != TaskState::Pending {
        return Err(Error::InvalidTransition {
            id: target.id,
            state: target.state,
            action: "be a reorder target",
        });
    }
    if target.queue != record.queue || target.id == record.id {
        return Err(Error::InvalidArgument(format!(
            "reorder target {} must be another pending task of queue `{}`",
            target.id, record.queue
        )));
    }
    Ok(())
}
