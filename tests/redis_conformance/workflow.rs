//! Workflows on Redis end to end — submitted with `Client::submit_workflow`
//! and run by a `Worker` — with steps in two queues (on the cluster, two
//! queues on different nodes, so every end crosses slots), and the
//! outbox a process that stopped mid-way leaves for the reconciler.

use std::collections::HashSet;
use std::sync::Mutex;

use fred::prelude::HashesInterface;
use taskq::TaskId;
use taskq::prelude::*;
use taskq_core::ErrorKind;
use taskq_core::workflow::{StepEnd, Workflow};

use super::*;

#[long_task(name = "test.wf.fetch")]
async fn wf_fetch(page: u32) -> Result<u32, TaskError> {
    Ok(page * 10)
}

#[long_task(name = "test.wf.total")]
async fn wf_total(counts: Vec<u32>) -> Result<u32, TaskError> {
    Ok(counts.iter().sum())
}

#[long_task(name = "test.wf.report")]
async fn wf_report(sum: u32) -> Result<String, TaskError> {
    Ok(format!("{sum} words"))
}

/// Keys `wf_gate` lets through; any other fails permanently.
static OPEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

#[long_task(name = "test.wf.gate", retries = 0)]
async fn wf_gate(key: String) -> Result<u32, TaskError> {
    let open = OPEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|keys| keys.contains(&key));
    if open {
        Ok(5)
    } else {
        Err(TaskError::permanent(format!("gate `{key}` is shut")))
    }
}

#[long_task(name = "test.wf.states")]
async fn wf_states(ends: Vec<StepEnd>) -> Result<Vec<String>, TaskError> {
    Ok(ends.iter().map(|e| e.state.to_string()).collect())
}

/// Two queue names: on the cluster, in slots of different nodes.
async fn two_queues(target: &Target, prefix: &str) -> (String, String) {
    if target.nodes.len() < 2 {
        return ("wf-a".to_owned(), "wf-b".to_owned());
    }
    let client = cluster_client(target).await;
    let queues = queues_on_every_node(&client, prefix, 1);
    let _ = client.quit().await;
    (queues[0].clone(), queues[1].clone())
}

/// A backend and client on a fresh prefix, and two queues for its steps.
async fn setup(target: &Target) -> (taskq::Client, Arc<RedisBackend>, String, String, String) {
    let config = test_config(&target.url);
    let prefix = config.prefix.clone();
    let (qa, qb) = two_queues(target, &prefix).await;
    let backend = Arc::new(RedisBackend::connect_with(config).await.expect("connect"));
    let client = taskq::Client::new(backend.clone()).expect("client");
    (client, backend, qa, qb, prefix)
}

type WorkerRun = (taskq::ShutdownHandle, tokio::task::JoinHandle<()>);

/// A worker on both queues, stopped and joined by [`stop`].
fn start_worker(client: &taskq::Client, qa: &str, qb: &str) -> WorkerRun {
    let worker = taskq::Worker::builder(client)
        .queue(qa, 4)
        .queue(qb, 4)
        .poll_interval(Duration::from_millis(200))
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    (
        shutdown,
        tokio::spawn(async move { worker.run().await.expect("worker") }),
    )
}

async fn stop((shutdown, running): WorkerRun) {
    shutdown.shutdown();
    running.await.expect("worker task");
}

const WAIT: Duration = Duration::from_secs(30);

/// A group of three in one queue, a chord callback in the other, then a
/// chain link back in the first: the results flow through, and a waiting
/// step is listed as WAITING and counted as nothing pending.
pub(super) async fn workflow_chain_and_cross_queue_chord_run(target: Target) {
    let (client, backend, qa, qb, _) = setup(&target).await;
    let mut wf = Workflow::new();
    let pages: Vec<_> = (1..=3).map(|p| wf.add(wf_fetch, p)).collect();
    let sum = wf.join(&pages, wf_total);
    let text = wf.then(&sum, wf_report);
    for page in &pages {
        wf.spec_mut(page).expect("step").queue = Some(qa.clone());
    }
    wf.spec_mut(&sum).expect("step").queue = Some(qb.clone());
    wf.spec_mut(&text).expect("step").queue = Some(qa.clone());
    let id = client.submit_workflow(wf).await.expect("submit");

    let stored = client.workflow(id).await.expect("workflow");
    assert_eq!(stored.count(TaskState::Waiting), 2);
    assert_eq!(stored.count(TaskState::Pending), 3);
    let waiting = taskq::TaskFilter {
        state: Some(TaskState::Waiting),
        ..Default::default()
    };
    let listed = backend
        .list(&waiting, Default::default())
        .await
        .expect("list");
    let mut listed: Vec<_> = listed.items.iter().map(|r| r.id).collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![sum.id(), text.id()],
        "waiting steps are listed"
    );
    let stats = backend.queue_stats().await.expect("stats");
    let of = |queue: &str| stats.iter().find(|s| s.queue == queue).map(|s| s.pending);
    assert_eq!(of(&qa), Some(3), "the group is pending");
    assert_eq!(of(&qb), Some(0), "a waiting step is not pending");

    let worker = start_worker(&client, &qa, &qb);
    let out: String = client.result(text.task_ref(), WAIT).await.expect("result");
    assert_eq!(out, "60 words");
    let done = client.wait_workflow(id, WAIT).await.expect("wait");
    assert_eq!(done.state, taskq_core::workflow::WorkflowState::Finished);
    assert_eq!(done.count(TaskState::Finished), 5);
    assert_eq!(
        done.steps
            .iter()
            .find(|s| s.id == sum.id())
            .map(|s| s.queue.clone()),
        Some(qb)
    );
    stop(worker).await;
}

/// A failed step cancels its chain down, across queues, and a completion
/// callback in the other queue runs with how each parent ended; the
/// failed step's retry is then refused, since that callback already ran
/// on its end.
pub(super) async fn workflow_failure_cancels_dependents(target: Target) {
    let (client, _backend, qa, qb, _) = setup(&target).await;
    let worker = start_worker(&client, &qa, &qb);
    let mut wf = Workflow::new();
    let gate = wf.add(wf_gate, format!("never-{}", uuid::Uuid::now_v7()));
    let next = wf.then(&gate, wf_fetch);
    let last = wf.then(&next, wf_fetch);
    let states = wf.on_complete(&[gate.any(), next.any()], wf_states);
    wf.spec_mut(&gate).expect("step").queue = Some(qa.clone());
    wf.spec_mut(&next).expect("step").queue = Some(qb.clone());
    wf.spec_mut(&last).expect("step").queue = Some(qa.clone());
    wf.spec_mut(&states).expect("step").queue = Some(qb.clone());
    let id = client.submit_workflow(wf).await.expect("submit");
    let done = client.wait_workflow(id, WAIT).await.expect("wait");
    assert_eq!(done.state, taskq_core::workflow::WorkflowState::Failed);
    let state_of = |id: TaskId| done.steps.iter().find(|s| s.id == id).expect("step");
    assert_eq!(state_of(gate.id()).state, TaskState::Failed);
    for step in [next.id(), last.id()] {
        let record = state_of(step);
        assert_eq!(record.state, TaskState::Cancelled, "{record:?}");
        let error = record.error.as_ref().expect("error");
        assert_eq!(error.kind, ErrorKind::ParentFailed);
        assert!(error.message.starts_with("parent step "), "{error:?}");
    }
    let ends: Vec<String> = client
        .result(states.task_ref(), WAIT)
        .await
        .expect("callback");
    assert_eq!(ends, vec!["FAILED".to_owned(), "CANCELLED".to_owned()]);
    let refused = client.retry(gate.id()).await;
    assert!(
        matches!(refused, Err(taskq::Error::InvalidTransition { .. })),
        "{refused:?}"
    );
    stop(worker).await;
}

/// Retrying the failed first link of a chain whose links alternate
/// queues makes the cancelled links wait again, each in its own queue,
/// and the chain then runs to the end.
pub(super) async fn workflow_retry_resumes_across_queues(target: Target) {
    let (client, _backend, qa, qb, _) = setup(&target).await;
    let worker = start_worker(&client, &qa, &qb);
    let key = format!("retry-{}", uuid::Uuid::now_v7());
    let mut wf = Workflow::new();
    let gate = wf.add(wf_gate, key.clone());
    let next = wf.then(&gate, wf_fetch);
    let last = wf.then(&next, wf_fetch);
    wf.spec_mut(&gate).expect("step").queue = Some(qa.clone());
    wf.spec_mut(&next).expect("step").queue = Some(qb.clone());
    wf.spec_mut(&last).expect("step").queue = Some(qa.clone());
    let id = client.submit_workflow(wf).await.expect("submit");
    let failed = client.wait_workflow(id, WAIT).await.expect("wait");
    assert_eq!(failed.count(TaskState::Cancelled), 2);
    OPEN.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(key);
    client.retry(gate.id()).await.expect("retry");
    let out: u32 = client.result(last.task_ref(), WAIT).await.expect("result");
    assert_eq!(out, 500);
    let done = client.wait_workflow(id, WAIT).await.expect("wait");
    assert_eq!(done.count(TaskState::Finished), 3);
    stop(worker).await;
}

/// What a process that stopped between a step's end and carrying it
/// leaves — the end recorded in its queue's outbox — is carried by the
/// reconciler, once however often it is found: an entry carried but not
/// deleted changes nothing a second time, and a young entry is left to
/// its writer unless the pass sweeps.
pub(super) async fn workflow_outbox_left_behind_is_carried_once(target: Target) {
    let (client, backend, qa, qb, prefix) = setup(&target).await;
    let mut wf = Workflow::new();
    let g1 = wf.add(wf_fetch, 1);
    let g2 = wf.add(wf_fetch, 2);
    let sum = wf.join(&[g1.clone(), g2.clone()], wf_total);
    wf.spec_mut(&g1).expect("step").queue = Some(qa.clone());
    wf.spec_mut(&g2).expect("step").queue = Some(qa.clone());
    wf.spec_mut(&sum).expect("step").queue = Some(qb.clone());
    client.submit_workflow(wf).await.expect("submit");
    let group = backend.claim(claim_request(&qa, "w")).await.expect("claim");
    assert_eq!(group.len(), 2);
    let first = group.iter().find(|r| r.id == g1.id()).expect("g1");
    let settled = Settlement {
        id: first.id,
        attempt: first.attempt,
        outcome: Outcome::Finished(json!(10)),
        at: Utc::now(),
    };
    assert_eq!(
        backend.settle(vec![settled]).await.expect("settle"),
        vec![true]
    );
    let waiting_on = |r: &TaskRecord| r.step.as_ref().map(|s| s.waiting_on);
    let record = backend.get(sum.id()).await.expect("get").expect("sum");
    assert_eq!(
        (record.state, waiting_on(&record)),
        (TaskState::Waiting, Some(1))
    );

    // g1's end found again (carried, its entry not deleted) while the
    // callback still waits: it counts once.
    let raw = Builder::from_config(Config::from_url(&target.url).expect("url"))
        .build()
        .expect("client");
    raw.init().await.expect("connect");
    let tag_a = format!("{{{prefix}:{qa}}}");
    let outbox = format!("{tag_a}:wf-outbox");
    let g1_end = backend.get(g1.id()).await.expect("get").expect("g1");
    let g1_at = g1_end.finished_at.expect("ended").timestamp_micros();
    let again = (
        format!("{}:{g1_at}", g1.id()),
        format!("FINISHED {}", sum.id()),
    );
    let _: () = raw.hset(&outbox, [again]).await.expect("hset");
    let report = backend
        .reconcile(true)
        .await
        .expect("reconcile")
        .expect("a report");
    assert_eq!(report.restored, 1);
    let record = backend.get(sum.id()).await.expect("get").expect("sum");
    assert_eq!(
        (record.state, waiting_on(&record)),
        (TaskState::Waiting, Some(1))
    );

    // g2 ended a minute ago, and its process stopped before carrying it:
    // its record says so and its queue's outbox holds the end.
    let at = (Utc::now() - chrono::Duration::seconds(60)).timestamp_micros();
    let entry = (
        format!("{}:{at}", g2.id()),
        format!("FINISHED {}", sum.id()),
    );
    let _: () = raw
        .hset(
            format!("{tag_a}:task:{}", g2.id()),
            [
                ("state", "FINISHED".to_owned()),
                ("finished_at", at.to_string()),
                ("result", "20".to_owned()),
            ],
        )
        .await
        .expect("hset");
    let _: () = raw.hset(&outbox, [entry.clone()]).await.expect("hset");
    let record = backend.get(sum.id()).await.expect("get").expect("sum");
    assert_eq!(record.state, TaskState::Waiting, "nothing carried it yet");

    let report = backend
        .reconcile(false)
        .await
        .expect("reconcile")
        .expect("a report");
    assert_eq!(report.restored, 1);
    let record = backend.get(sum.id()).await.expect("get").expect("sum");
    assert_eq!(
        (record.state, waiting_on(&record)),
        (TaskState::Pending, Some(0))
    );
    let left: u64 = raw.hlen(&outbox).await.expect("hlen");
    assert_eq!(left, 0, "the carried entry is deleted");

    // Carried, not deleted: found again, it changes nothing.
    let _: () = raw.hset(&outbox, [entry]).await.expect("hset");
    let report = backend
        .reconcile(false)
        .await
        .expect("reconcile")
        .expect("a report");
    assert_eq!(report.restored, 1);
    let claimed = backend.claim(claim_request(&qb, "w")).await.expect("claim");
    assert_eq!(
        claimed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![sum.id()]
    );
    assert!(
        backend
            .claim(claim_request(&qb, "w"))
            .await
            .expect("claim")
            .is_empty()
    );

    // A young entry is its writer's to carry, unless the pass sweeps.
    let now = Utc::now().timestamp_micros();
    let young = (
        format!("{}:{now}", g2.id()),
        format!("FINISHED {}", sum.id()),
    );
    let _: () = raw.hset(&outbox, [young]).await.expect("hset");
    let report = backend
        .reconcile(false)
        .await
        .expect("reconcile")
        .expect("a report");
    assert_eq!(report.restored, 0);
    let report = backend
        .reconcile(true)
        .await
        .expect("reconcile")
        .expect("a report");
    assert_eq!((report.restored, report.swept), (1, true));
    let record = backend.get(sum.id()).await.expect("get").expect("sum");
    assert_eq!(
        record.state,
        TaskState::Running,
        "a running step ignores an end"
    );
    let _ = raw.quit().await;
}
