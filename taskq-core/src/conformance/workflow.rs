//! Workflow steps (`lifecycle`, "parent ended"): a step waits until its
//! parents ended, is released by the last one in the call that ends it,
//! is cancelled by a parent that did not finish, and waits again when
//! that parent is retried.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, Outcome, Settlement};
use crate::lifecycle::RetryPolicy;
use crate::task::{
    ErrorKind, RunWhen, StepInput, TaskId, TaskRecord, TaskState, WorkflowId, WorkflowStep,
};
use crate::workflow::StepEnd;

use super::helpers::*;

/// Steps of one workflow: `(name, queue, parents by index, input, runs)`,
/// linked both ways, roots `PENDING` and the rest `WAITING`.
fn steps(plan: &[(&str, &str, &[usize], StepInput, RunWhen)]) -> (WorkflowId, Vec<TaskRecord>) {
    let workflow = uuid::Uuid::now_v7();
    let mut records: Vec<TaskRecord> = plan
        .iter()
        .map(|(name, queue, parents, input, runs)| {
            let mut task = record("t", queue, 0, now() - secs(1));
            task.step = Some(WorkflowStep {
                parents: Vec::new(),
                waiting_on: parents.len() as u32,
                input: *input,
                runs: *runs,
                ..WorkflowStep::root(workflow, *name)
            });
            if !parents.is_empty() {
                task.state = TaskState::Waiting;
                task.params = serde_json::Value::Null;
            }
            task
        })
        .collect();
    let ids: Vec<TaskId> = records.iter().map(|r| r.id).collect();
    for (i, (_, _, parents, _, _)) in plan.iter().enumerate() {
        for &p in *parents {
            if let Some(step) = records[i].step.as_mut() {
                step.parents.push(ids[p]);
            }
            if let Some(step) = records[p].step.as_mut() {
                step.children.push(ids[i]);
            }
        }
    }
    (workflow, records)
}

const OWN: StepInput = StepInput::Params;
const SUCCESS: RunWhen = RunWhen::Succeeded;

async fn settle(backend: &dyn Backend, claimed: &[TaskRecord], outcome: Outcome) {
    let settlements = claimed
        .iter()
        .map(|t| Settlement {
            id: t.id,
            attempt: t.attempt,
            outcome: outcome.clone(),
            at: now(),
        })
        .collect();
    let applied = backend.settle(settlements).await.expect("settle");
    assert!(applied.iter().all(|a| *a), "every settlement applies");
}

fn waiting_on(record: &TaskRecord) -> u32 {
    record.step.as_ref().map_or(u32::MAX, |s| s.waiting_on)
}

/// A chain: the second step waits (not claimable) until the first
/// finished, then is pending; its step round-trips.
pub async fn workflow_chain_releases_after_parent_finishes(backend: Arc<dyn Backend>) {
    let (_, tasks) = steps(&[
        ("a", "wq", &[], OWN, SUCCESS),
        ("b", "wq", &[0], StepInput::Result, SUCCESS),
    ]);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let b = get(&*backend, tasks[1].id).await;
    assert_eq!(b.state, TaskState::Waiting);
    assert_eq!(b.step, tasks[1].step, "the step round-trips");
    let first = claim(&*backend, "wq", 10, "w").await;
    assert_eq!(
        ids(&first),
        vec![tasks[0].id],
        "a waiting step is not claimable"
    );
    assert_eq!(first[0].step, tasks[0].step, "a claim carries the step");
    settle(&*backend, &first, Outcome::Finished(serde_json::json!(7))).await;
    let b = get(&*backend, tasks[1].id).await;
    assert_eq!((b.state, waiting_on(&b)), (TaskState::Pending, 0));
    let second = claim(&*backend, "wq", 10, "w").await;
    assert_eq!(ids(&second), vec![tasks[1].id]);
    assert_eq!(
        second[0].step.as_ref().map(|s| s.input),
        Some(StepInput::Result)
    );
}

/// A chord across queues: the callback counts its parents down, one
/// settle batch may end several of them, and the last releases it.
pub async fn workflow_chord_counts_down_to_release(backend: Arc<dyn Backend>) {
    let (workflow, tasks) = steps(&[
        ("g1", "wq", &[], OWN, SUCCESS),
        ("g2", "wq", &[], OWN, SUCCESS),
        ("g3", "wq", &[], OWN, SUCCESS),
        ("sum", "wq2", &[0, 1, 2], StepInput::Results, SUCCESS),
    ]);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let group = claim(&*backend, "wq", 10, "w").await;
    assert_eq!(group.len(), 3);
    settle(
        &*backend,
        &group[..1],
        Outcome::Finished(serde_json::json!(1)),
    )
    .await;
    let sum = get(&*backend, tasks[3].id).await;
    assert_eq!((sum.state, waiting_on(&sum)), (TaskState::Waiting, 2));
    assert!(claim(&*backend, "wq2", 10, "w").await.is_empty());
    settle(
        &*backend,
        &group[1..],
        Outcome::Finished(serde_json::json!(2)),
    )
    .await;
    let sum = get(&*backend, tasks[3].id).await;
    assert_eq!((sum.state, waiting_on(&sum)), (TaskState::Pending, 0));
    assert_eq!(
        ids(&claim(&*backend, "wq2", 10, "w").await),
        vec![tasks[3].id]
    );
    let mut listed = ids(&backend.workflow_steps(workflow).await.expect("steps"));
    listed.sort();
    let mut all = ids(&tasks);
    all.sort();
    assert_eq!(listed, all, "every step of the workflow is listed");
    let parents = backend
        .get_many(&[tasks[0].id, uuid::Uuid::now_v7(), tasks[2].id])
        .await
        .expect("get_many");
    assert_eq!(parents.len(), 2, "get_many leaves out missing ids");
    // What the callback reads when it starts, looked for in its own
    // queue first (the parents are in another) or anywhere.
    let wanted = [tasks[0].id, uuid::Uuid::now_v7(), tasks[2].id];
    let mut expected: Vec<StepEnd> = parents.into_iter().map(StepEnd::of).collect();
    expected.sort_by_key(|end| end.id);
    for queue in [Some("wq2"), Some("wq"), None] {
        let mut ends = backend
            .step_parents(&wanted, queue)
            .await
            .expect("step_parents");
        ends.sort_by_key(|end| end.id);
        assert_eq!(ends, expected, "step_parents near {queue:?}");
    }
    assert_eq!(expected[0].result, Some(serde_json::json!(1)));
    assert_eq!(expected[0].name, "g1");
}

/// A failed step cancels what runs only after its success, all the way
/// down, and releases what runs whatever the outcome.
pub async fn workflow_failure_cancels_dependents(backend: Arc<dyn Backend>) {
    let (_, tasks) = steps(&[
        ("a", "wq", &[], OWN, SUCCESS),
        ("b", "wq", &[0], StepInput::Result, SUCCESS),
        ("c", "wq", &[1], StepInput::Result, SUCCESS),
        ("done", "wq", &[0], StepInput::Ends, RunWhen::Completed),
    ]);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let a = claim(&*backend, "wq", 10, "w").await;
    settle(
        &*backend,
        &a,
        Outcome::Failed(failure(ErrorKind::Permanent, "no")),
    )
    .await;
    // b by a's failure, c by b's cancellation: each names its parent.
    for (i, parent) in [(1, TaskState::Failed), (2, TaskState::Cancelled)] {
        let record = get(&*backend, tasks[i].id).await;
        assert_eq!(record.state, TaskState::Cancelled, "step {i}");
        assert_eq!(
            record.error,
            Some(crate::lifecycle::parent_failure(tasks[i - 1].id, parent)),
            "step {i}"
        );
        assert!(record.finished_at.is_some());
    }
    assert_eq!(get(&*backend, tasks[3].id).await.state, TaskState::Pending);
    assert_eq!(
        ids(&claim(&*backend, "wq", 10, "w").await),
        vec![tasks[3].id]
    );
}

/// Cancelling a waiting step cancels it and its dependents, not its
/// parent; a lease that expires with no retry left fails the step and
/// cancels its dependents too.
pub async fn workflow_cancel_and_rescue_move_dependents(backend: Arc<dyn Backend>) {
    let (_, tasks) = steps(&[
        ("a", "wq", &[], OWN, SUCCESS),
        ("b", "wq", &[0], StepInput::Result, SUCCESS),
        ("c", "wq", &[1], StepInput::Result, SUCCESS),
    ]);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let cancelled = backend.cancel(tasks[1].id, now()).await.expect("cancel");
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert_eq!(
        get(&*backend, tasks[2].id).await.state,
        TaskState::Cancelled
    );
    assert_eq!(get(&*backend, tasks[0].id).await.state, TaskState::Pending);

    let (_, chain) = steps(&[
        ("x", "wr", &[], OWN, SUCCESS),
        ("y", "wr", &[0], StepInput::Result, SUCCESS),
    ]);
    let mut root = chain[0].clone();
    root.max_retries = 0;
    backend
        .enqueue(vec![root, chain[1].clone()])
        .await
        .expect("enqueue");
    claim_at(&*backend, "wr", 1, "w", now(), Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = backend
        .rescue_expired(now(), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.failed, 1);
    let y = get(&*backend, chain[1].id).await;
    assert_eq!(y.state, TaskState::Cancelled);
    assert_eq!(y.error.map(|e| e.kind), Some(ErrorKind::ParentFailed));
}

/// Retrying the failed step makes the steps its end cancelled wait again;
/// once it finishes they run. A step its parent cancelled refuses a retry
/// of its own.
pub async fn workflow_retry_resumes_from_the_failed_step(backend: Arc<dyn Backend>) {
    let (_, tasks) = steps(&[
        ("a", "wq", &[], OWN, SUCCESS),
        ("b", "wq", &[0], StepInput::Result, SUCCESS),
        ("c", "wq", &[1], StepInput::Result, SUCCESS),
    ]);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let a = claim(&*backend, "wq", 10, "w").await;
    settle(
        &*backend,
        &a,
        Outcome::Failed(failure(ErrorKind::Permanent, "no")),
    )
    .await;
    assert!(matches!(
        backend.retry(tasks[1].id, now()).await,
        Err(crate::Error::InvalidTransition { .. })
    ));
    let retried = backend.retry(tasks[0].id, now()).await.expect("retry");
    assert_eq!(retried.state, TaskState::Pending);
    for i in [1, 2] {
        let record = get(&*backend, tasks[i].id).await;
        assert_eq!(
            (record.state, waiting_on(&record)),
            (TaskState::Waiting, 1),
            "step {i}"
        );
        assert_eq!(record.error, None);
    }
    let a = claim(&*backend, "wq", 10, "w").await;
    assert_eq!(ids(&a), vec![tasks[0].id]);
    settle(&*backend, &a, Outcome::Finished(serde_json::json!(1))).await;
    let b = claim(&*backend, "wq", 10, "w").await;
    assert_eq!(ids(&b), vec![tasks[1].id]);
    settle(&*backend, &b, Outcome::Finished(serde_json::json!(2))).await;
    assert_eq!(get(&*backend, tasks[2].id).await.state, TaskState::Pending);
}

/// Waits until every one of `ids` is in `expected` (ends cross queues
/// through an outbox on Redis, carried after the call or by a reconcile).
async fn become_all(backend: &dyn Backend, ids: &[TaskId], expected: TaskState) {
    for _ in 0..100 {
        let mut all = true;
        for id in ids {
            all &= get(backend, *id).await.state == expected;
        }
        if all {
            return;
        }
        backend.reconcile(true).await.expect("reconcile");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut states = Vec::new();
    for id in ids {
        let record = get(backend, *id).await;
        states.push((record.state, record.step.map(|s| s.waiting_on)));
    }
    panic!("the dependents never all became {expected}: {states:?}");
}

/// A root cancelled, retried and cancelled again at the same instant (a
/// frozen or coarse clock): the second end reaches its dependents too,
/// across queues — the first end, which the retry undid, does not hide it.
pub async fn workflow_second_end_of_a_retried_step_counts(backend: Arc<dyn Backend>) {
    let (_, tasks) = steps(&[
        ("a", "wq-a", &[], OWN, SUCCESS),
        ("b", "wq-b", &[0], StepInput::Result, SUCCESS),
        ("c", "wq-b", &[1], StepInput::Result, SUCCESS),
    ]);
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let dependents = [tasks[1].id, tasks[2].id];
    let at = now();
    backend.cancel(tasks[0].id, at).await.expect("cancel");
    become_all(&*backend, &dependents, TaskState::Cancelled).await;
    backend.retry(tasks[0].id, at).await.expect("retry");
    become_all(&*backend, &dependents, TaskState::Waiting).await;
    backend.cancel(tasks[0].id, at).await.expect("cancel again");
    become_all(&*backend, &dependents, TaskState::Cancelled).await;
}

/// A step that expires is a parent that did not finish: a dependent that
/// runs only after success is cancelled, one that runs whatever its
/// parents' outcome is released (in another queue, so on Redis Cluster
/// another slot); a claim that meets an overdue step does the same.
pub async fn workflow_expired_step_moves_its_dependents(backend: Arc<dyn Backend>) {
    let (_, mut tasks) = steps(&[
        ("a", "wq", &[], OWN, SUCCESS),
        ("b", "wq", &[0], StepInput::Params, SUCCESS),
        ("c", "wx", &[0], StepInput::Params, RunWhen::Completed),
    ]);
    tasks[0].expires_at = Some(now() + secs(60));
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let later = now() + secs(120);
    let claimed = claim_at(&*backend, "wq", 10, "w", later, Duration::from_secs(30)).await;
    assert!(claimed.is_empty(), "an overdue step never starts");
    backend
        .expire_overdue(later, crate::lifecycle::EXPIRE_BATCH)
        .await
        .expect("expire");
    assert_eq!(get(&*backend, tasks[0].id).await.state, TaskState::Expired);
    let b = get(&*backend, tasks[1].id).await;
    assert_eq!(b.state, TaskState::Cancelled);
    assert_eq!(b.error.map(|e| e.kind), Some(ErrorKind::ParentFailed));
    assert_eq!(get(&*backend, tasks[2].id).await.state, TaskState::Pending);
}
