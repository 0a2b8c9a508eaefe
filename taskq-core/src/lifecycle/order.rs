//! Order among pending tasks: which one a claim takes first, and where a
//! reorder puts a task.

use std::cmp::Reverse;

use crate::backend::Position;
use crate::error::Error;
use crate::task::{TaskId, TaskRecord, TaskState};

/// The claim order of due pending tasks of one queue: higher `priority`
/// first, then lower `fair_round` (keys take turns in a fair queue, see
/// [`super::fair_round`]; 0 in every other queue), then lower `seq` (the
/// ETA in microseconds, then submission order; reordering rewrites it),
/// then lower id. Sorting ascending by this key gives the claim order.
pub type ClaimOrder = (Reverse<i32>, u64, i64, TaskId);

/// The key [`ClaimOrder`] sorts a record by.
pub fn claim_order(record: &TaskRecord) -> ClaimOrder {
    (
        Reverse(record.priority),
        record.fair_round,
        record.seq,
        record.id,
    )
}

/// A pending task's place as [`reorder`] reads it: `(priority,
/// fair_round, seq, id)`.
pub type Place = (i32, u64, i64, TaskId);

/// The [`Place`] of a record.
pub fn place(record: &TaskRecord) -> Place {
    (record.priority, record.fair_round, record.seq, record.id)
}

/// Where a reorder moves a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reorder {
    /// The moved task's new priority.
    pub priority: i32,
    /// Its new `fair_round` (0 in a queue that is not fair).
    pub fair_round: u64,
    /// Its new `seq`.
    pub seq: i64,
    /// `Some(target)`: first subtract 2 from the `seq` of every other
    /// pending task of the queue that has the target's priority and round
    /// and runs before the target (there was no room between the target
    /// and the task before it; this keeps their order and makes room).
    pub shift_before: Option<Place>,
}

/// Plans moving pending `record` to `position` among `others`, the other
/// pending tasks of its queue ([`place`]). `target` is the record
/// [`Position::Before`] names (the caller looks it up). A priority and a
/// round together make a group, whose tasks run in `seq` order; in a
/// queue that is not fair every round is 0, so a group is a priority.
///
/// - `Front`: the highest pending priority of the queue (or its own, if
///   higher), in the first round of that priority, one `seq` before the
///   first task of that group.
/// - `Back`: the lowest priority (or its own, if lower), in the last round
///   of that priority, one after the last task of that group.
/// - `Before(t)`: `t`'s priority and round, halfway between `t` and the
///   task before it in that group, after making room if there is none.
pub fn reorder(
    record: &TaskRecord,
    others: &[Place],
    position: Position,
    target: Option<&TaskRecord>,
) -> Result<Reorder, Error> {
    let plain = |priority, fair_round, seq| Reorder {
        priority,
        fair_round,
        seq,
        shift_before: None,
    };
    match position {
        Position::Front => {
            let top = others.iter().map(|o| o.0).max().unwrap_or(record.priority);
            let priority = top.max(record.priority);
            let first = others
                .iter()
                .filter(|o| o.0 == priority)
                .map(|o| (o.1, o.2))
                .min();
            Ok(match first {
                Some((round, seq)) => plain(priority, round, seq - 1),
                None => plain(priority, record.fair_round, record.seq),
            })
        }
        Position::Back => {
            let bottom = others.iter().map(|o| o.0).min().unwrap_or(record.priority);
            let priority = bottom.min(record.priority);
            let last = others
                .iter()
                .filter(|o| o.0 == priority)
                .map(|o| (o.1, o.2))
                .max();
            Ok(match last {
                Some((round, seq)) => plain(priority, round, seq + 1),
                None => plain(priority, record.fair_round, record.seq),
            })
        }
        Position::Before(target_id) => {
            let target = target.ok_or(Error::NotFound(target_id))?;
            check_before_target(record, target)?;
            let (priority, round) = (target.priority, target.fair_round);
            let predecessor = others
                .iter()
                .filter(|o| (o.0, o.1) == (priority, round) && (o.2, o.3) < (target.seq, target.id))
                .map(|o| o.2)
                .max();
            Ok(match predecessor {
                Some(p) if target.seq - p < 2 => Reorder {
                    priority,
                    fair_round: round,
                    seq: target.seq - 1,
                    shift_before: Some(place(target)),
                },
                Some(p) => plain(priority, round, p + (target.seq - p) / 2),
                None => plain(priority, round, target.seq - 1),
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
