//! The workflow rules: how a step's end moves the steps that wait for it,
//! and how retrying a step resumes what its end cancelled.
//!
//! A step with parents is stored `WAITING` with
//! [`waiting_on`](crate::task::WorkflowStep::waiting_on) set to their
//! number. Whatever ends a step (a settle, a cancel, a rescue, a release
//! after a cancel request) applies [`parent_ended`] to each of its
//! children in the same transaction or script: the count goes down by
//! one, and the last parent releases the child to `PENDING`. A parent
//! that did not finish cancels a child that runs only after success
//! ([`RunWhen::Succeeded`]), and that child's end is applied to its own
//! children in turn ([`ended_edges`]), so a failure cancels everything
//! downstream of it and nothing else.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::task::{
    ErrorKind, RunWhen, TaskFailure, TaskId, TaskRecord, TaskState, WorkflowStep, seq_for,
};

/// What one parent's end did to one child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Counted: the child still waits for other parents.
    Counted,
    /// The last parent: the child is `PENDING` now.
    Released,
    /// The parent did not finish and the child runs only after success:
    /// the child is `CANCELLED` ([`ErrorKind::ParentFailed`]); its own
    /// children must hear of it ([`ended_edges`]).
    Cancelled,
    /// The child was not waiting (cancelled by an operator or by another
    /// parent): nothing changed.
    Ignored,
}

/// The edges a step's end travels: `(child, parent, parent's end state)`
/// for each child of `ended`, which is terminal. Empty for a task that is
/// not a workflow step or has no children.
pub fn ended_edges(ended: &TaskRecord) -> Vec<(TaskId, TaskId, TaskState)> {
    step_ended_edges(ended.id, ended.state, ended.step.as_ref())
}

/// [`ended_edges`] from the three parts of a record it reads, for a store
/// that reads only those (the rest of a row may be large).
pub fn step_ended_edges(
    id: TaskId,
    state: TaskState,
    step: Option<&WorkflowStep>,
) -> Vec<(TaskId, TaskId, TaskState)> {
    match step {
        Some(step) if state.is_terminal() => step
            .children
            .iter()
            .map(|child| (*child, id, state))
            .collect(),
        _ => Vec::new(),
    }
}

/// **parent ended**: `parent` reached `parent_state` (terminal) at `at`.
/// A `WAITING` child counts it down and is released to `PENDING`, due at
/// `at`, when it was the last; or is `CANCELLED` at once if the parent did
/// not finish and the child runs only after success. Any other child is
/// left as it is ([`Arrival::Ignored`]).
pub fn parent_ended(
    child: &mut TaskRecord,
    parent: TaskId,
    parent_state: TaskState,
    at: DateTime<Utc>,
) -> Arrival {
    let state = child.state;
    let Some(step) = child.step.as_mut().filter(|_| state == TaskState::Waiting) else {
        return Arrival::Ignored;
    };
    step.waiting_on = step.waiting_on.saturating_sub(1);
    if parent_state != TaskState::Finished && step.runs == RunWhen::Succeeded {
        child.state = TaskState::Cancelled;
        child.finished_at = Some(at);
        child.error = Some(parent_failure(parent, parent_state));
        return Arrival::Cancelled;
    }
    if step.waiting_on > 0 {
        return Arrival::Counted;
    }
    child.state = TaskState::Pending;
    child.scheduled_at = at;
    child.seq = seq_for(at);
    Arrival::Released
}

/// The error of a step its parent's end cancelled.
pub fn parent_failure(parent: TaskId, parent_state: TaskState) -> TaskFailure {
    TaskFailure {
        kind: ErrorKind::ParentFailed,
        message: format!("parent step {parent} ended {parent_state}"),
    }
}

/// One change a step's retry makes downstream ([`plan_resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// A step its parent's end cancelled waits again, for `waiting_on`
    /// parents (those not `FINISHED` once the retried step runs again).
    Rewait { id: TaskId, waiting_on: u32 },
    /// A waiting step that had counted the retried step's end (it runs
    /// whatever the outcome) waits for it again.
    CountAgain { id: TaskId },
}

/// **retry** of a workflow step resumes the workflow from there: the
/// steps its end cancelled ([`ErrorKind::ParentFailed`]) wait again, and
/// so, recursively, do theirs; a waiting child that counted its end counts
/// it again. Refused ([`Error::InvalidTransition`]) for a step its
/// parent's failure cancelled (retry that parent), and for a step with a
/// child its end already let run (a [`RunWhen::Completed`] callback).
///
/// `lookup` reads a step's record; the plan lists the changes in order,
/// for the caller to apply with [`apply_resume`] (the retried step itself
/// goes through [`super::retry`]).
pub fn plan_resume(
    retried: &TaskRecord,
    lookup: &mut dyn FnMut(TaskId) -> Option<TaskRecord>,
) -> Result<Vec<Resume>, Error> {
    let refuse = || Error::InvalidTransition {
        id: retried.id,
        state: retried.state,
        action: "retry",
    };
    let Some(step) = &retried.step else {
        return Ok(Vec::new());
    };
    if retried
        .error
        .as_ref()
        .is_some_and(|e| e.kind == ErrorKind::ParentFailed)
    {
        return Err(refuse());
    }
    let mut plan = Vec::new();
    // Steps that will not be FINISHED once the retry runs: the retried one
    // and every step the plan makes wait again.
    let mut unfinished = vec![retried.id];
    // Children of a step whose end is taken back.
    let mut frontier: Vec<TaskId> = step.children.clone();
    while let Some(id) = frontier.pop() {
        let Some(child) = lookup(id) else { continue };
        let Some(child_step) = &child.step else {
            continue;
        };
        match child.state {
            TaskState::Cancelled
                if child
                    .error
                    .as_ref()
                    .is_some_and(|e| e.kind == ErrorKind::ParentFailed) =>
            {
                if unfinished.contains(&id) {
                    continue;
                }
                let mut waiting_on = 0;
                for p in &child_step.parents {
                    let finished = !unfinished.contains(p)
                        && lookup(*p).is_some_and(|r| r.state == TaskState::Finished);
                    waiting_on += u32::from(!finished);
                }
                plan.push(Resume::Rewait { id, waiting_on });
                unfinished.push(id);
                frontier.extend(child_step.children.iter().copied());
            }
            // An operator cancelled it: it stays so.
            TaskState::Cancelled => {}
            TaskState::Waiting => {
                if child_step.runs == RunWhen::Completed {
                    plan.push(Resume::CountAgain { id });
                }
            }
            // It ran, or runs, on the end being taken back.
            _ => return Err(refuse()),
        }
    }
    Ok(plan)
}

/// Applies one [`Resume`] change to its record.
pub fn apply_resume(record: &mut TaskRecord, change: Resume) {
    let Some(step) = record.step.as_mut() else {
        return;
    };
    match change {
        Resume::Rewait { waiting_on, .. } => {
            step.waiting_on = waiting_on;
            record.state = TaskState::Waiting;
            record.finished_at = None;
            record.error = None;
        }
        Resume::CountAgain { .. } => step.waiting_on += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::StepInput;

    fn step(parents: usize, runs: RunWhen) -> TaskRecord {
        TaskRecord {
            state: if parents > 0 {
                TaskState::Waiting
            } else {
                TaskState::Pending
            },
            step: Some(WorkflowStep {
                waiting_on: parents as u32,
                input: StepInput::Results,
                runs,
                ..WorkflowStep::root(uuid::Uuid::now_v7(), "s")
            }),
            ..super::super::test_record::pending(Utc::now())
        }
    }

    /// `parent` is the only parent of each of `children`.
    fn link(parent: &mut TaskRecord, children: &mut [&mut TaskRecord]) {
        for child in children.iter_mut() {
            if let Some(s) = child.step.as_mut() {
                s.parents = vec![parent.id];
            }
            if let Some(s) = parent.step.as_mut() {
                s.children.push(child.id);
            }
        }
    }

    #[test]
    fn the_last_parent_releases_and_a_failure_cancels() {
        let now = Utc::now();
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let mut child = step(2, RunWhen::Succeeded);
        assert_eq!(
            parent_ended(&mut child, a, TaskState::Finished, now),
            Arrival::Counted
        );
        assert_eq!(child.state, TaskState::Waiting);
        assert_eq!(
            parent_ended(&mut child, b, TaskState::Finished, now),
            Arrival::Released
        );
        assert_eq!((child.state, child.scheduled_at), (TaskState::Pending, now));
        // Not waiting any more: a late end changes nothing.
        assert_eq!(
            parent_ended(&mut child, b, TaskState::Failed, now),
            Arrival::Ignored
        );

        let mut child = step(2, RunWhen::Succeeded);
        assert_eq!(
            parent_ended(&mut child, a, TaskState::Failed, now),
            Arrival::Cancelled
        );
        assert_eq!(child.state, TaskState::Cancelled);
        assert_eq!(child.error.map(|e| e.kind), Some(ErrorKind::ParentFailed));

        let mut callback = step(2, RunWhen::Completed);
        assert_eq!(
            parent_ended(&mut callback, a, TaskState::Failed, now),
            Arrival::Counted
        );
        assert_eq!(
            parent_ended(&mut callback, b, TaskState::Cancelled, now),
            Arrival::Released
        );
    }

    #[test]
    fn resume_rewaits_what_the_end_cancelled_and_refuses_what_ran() {
        let now = Utc::now();
        let mut parent = step(0, RunWhen::Succeeded);
        let mut child = step(1, RunWhen::Succeeded);
        let mut done = step(1, RunWhen::Completed);
        link(&mut parent, &mut [&mut child, &mut done]);
        parent.state = TaskState::Failed;
        parent_ended(&mut child, parent.id, TaskState::Failed, now);
        if let Some(s) = done.step.as_mut() {
            s.waiting_on = 2;
        }
        // `done` waits for another parent too: it counts the end again.
        parent_ended(&mut done, parent.id, TaskState::Failed, now);
        let records = [child.clone(), done.clone()];
        let plan = plan_resume(&parent, &mut |id| {
            records.iter().find(|r| r.id == id).cloned()
        })
        .expect("a plan");
        assert_eq!(plan.len(), 2);
        assert!(plan.contains(&Resume::Rewait {
            id: child.id,
            waiting_on: 1
        }));
        assert!(plan.contains(&Resume::CountAgain { id: done.id }));
        for change in plan {
            let target = if matches!(change, Resume::Rewait { .. }) {
                &mut child
            } else {
                &mut done
            };
            apply_resume(target, change);
        }
        assert_eq!(
            (child.state, child.error.clone()),
            (TaskState::Waiting, None)
        );
        assert_eq!(done.step.as_ref().map(|s| s.waiting_on), Some(2));

        // Once `done` ran on the end, the retry is refused.
        done.state = TaskState::Finished;
        let records = [child.clone(), done.clone()];
        assert!(
            plan_resume(&parent, &mut |id| records
                .iter()
                .find(|r| r.id == id)
                .cloned())
            .is_err()
        );
        // So is retrying a step its parent's failure cancelled.
        let mut cancelled = step(1, RunWhen::Succeeded);
        parent_ended(&mut cancelled, parent.id, TaskState::Failed, now);
        assert!(plan_resume(&cancelled, &mut |_| None).is_err());
    }
}
