//! Workflows through the client and a worker on every backend: a chain
//! passes results on, a chord gets its group's results in order (from
//! another queue), batch callbacks run on success and on completion, a
//! failure cancels what depends on it, a retry resumes it, and bad
//! workflows are refused whole.

use taskq::workflow::{StepEnd, StepSpec, Workflow, WorkflowSpec, WorkflowState};
use taskq::{StepInput, TaskState};

use super::*;

#[long_task(queue = "wf")]
pub(super) async fn wf_double(n: u64) -> Result<u64, TaskError> {
    Ok(n * 2)
}

#[long_task(queue = "wf")]
pub(super) async fn wf_sum(numbers: Vec<u64>) -> Result<u64, TaskError> {
    Ok(numbers.iter().sum())
}

#[long_task(queue = "wf")]
pub(super) async fn wf_show(n: u64) -> Result<String, TaskError> {
    Ok(format!("total {n}"))
}

#[long_task(queue = "wf")]
pub(super) async fn wf_tally(ends: Vec<StepEnd>) -> Result<Vec<String>, TaskError> {
    Ok(ends.iter().map(|e| e.state.as_str().to_owned()).collect())
}

/// Fails until its key was seen `failures` times.
#[long_task(queue = "wf", retries = 0)]
pub(super) async fn wf_fragile(p: Flaky) -> Result<u64, TaskError> {
    if count_attempt(&p.key) <= p.failures {
        return Err(TaskError::permanent("fragile step failed"));
    }
    Ok(7)
}

fn workflow_worker(client: &Client) -> Worker {
    fast_worker(client)
        .queue("wf", 4)
        .queue("wf-other", 2)
        .build()
        .unwrap()
}

/// A group of three, a chord (its callback in another queue) summing
/// their results in order, a chain link after it, and a completion
/// callback; the workflow ends FINISHED with every result where it
/// belongs.
pub async fn workflow_chain_group_chord_run_end_to_end(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(workflow_worker(&client));
    let mut wf = Workflow::new();
    let group: Vec<_> = [1, 2, 3]
        .into_iter()
        .map(|n| wf.add(wf_double, n))
        .collect();
    let sum = wf.join(&group, wf_sum);
    wf.spec_mut(&sum).unwrap().queue = Some("wf-other".into());
    let shown = wf.then(&sum, wf_show);
    let all: Vec<_> = group.iter().map(|s| s.any()).collect();
    let tally = wf.on_complete(&all, wf_tally);
    let id = client.submit_workflow(wf).await.unwrap();

    let text = client
        .result(shown.task_ref(), Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(text, "total 12");
    let states = client
        .result(tally.task_ref(), Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(states, ["FINISHED", "FINISHED", "FINISHED"]);
    let record = client
        .wait_workflow(id, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(record.state, WorkflowState::Finished);
    assert_eq!(record.steps.len(), 6);
    assert_eq!(record.edges.len(), 3 + 1 + 3);
    let sum_record = record.steps.iter().find(|s| s.id == sum.id()).unwrap();
    assert_eq!(sum_record.queue, "wf-other");
    assert_eq!(sum_record.result, Some(json!(12)));
    let step = sum_record.step.as_ref().unwrap();
    assert_eq!(step.input, StepInput::Results);
    assert_eq!(
        step.parents,
        group.iter().map(|s| s.id()).collect::<Vec<_>>()
    );
    stop().await;
}

/// A failed step cancels the chain after it (ParentFailed) while a
/// completion callback runs with how it ended; retrying the failed step of
/// a second workflow resumes it to the end.
pub async fn workflow_failure_cancels_and_retry_resumes(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(workflow_worker(&client));
    let key = unique("wf-fragile");
    let mut wf = Workflow::new();
    let fragile = wf.add(
        wf_fragile,
        Flaky {
            key: key.clone(),
            failures: 1,
        },
    );
    let shown = wf.then(&fragile, wf_show);
    let tally = wf.on_complete(&[fragile.any()], wf_tally);
    let id = client.submit_workflow(wf).await.unwrap();
    let states = client
        .result(tally.task_ref(), Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(states, ["FAILED"]);
    let record = client
        .wait_workflow(id, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(record.state, WorkflowState::Failed);
    let cancelled = record.steps.iter().find(|s| s.id == shown.id()).unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert_eq!(
        cancelled.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::ParentFailed)
    );
    // Its completion callback ran on that end: a retry is refused.
    assert!(matches!(
        client.retry(fragile.id()).await,
        Err(Error::InvalidTransition { .. })
    ));

    // Without one, the retry resumes the chain.
    let key = unique("wf-fragile");
    let mut wf = Workflow::new();
    let fragile = wf.add(wf_fragile, Flaky { key, failures: 1 });
    let shown = wf.then(&fragile, wf_show);
    let id = client.submit_workflow(wf).await.unwrap();
    let failed = wait_terminal(&client, shown.id()).await;
    assert_eq!(failed.state, TaskState::Cancelled);
    client.retry(fragile.id()).await.unwrap();
    let text = client
        .result(shown.task_ref(), Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(text, "total 7");
    let record = client
        .wait_workflow(id, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(record.state, WorkflowState::Finished);
    stop().await;
}

/// A cycle, an unknown task type, bad params, an empty group, a `result`
/// input after two parents and an empty workflow are typed errors naming
/// the step, and store nothing; cancelling a workflow cancels its steps.
pub async fn workflow_bad_input_and_cancel(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let before = client
        .list(&TaskFilter::default(), PageRequest::new(1, 1))
        .await
        .unwrap()
        .total;
    let step = |name: &str, task: &str, params: serde_json::Value, after: &[&str]| {
        let mut spec = StepSpec::new(name, task, params);
        spec.after = after.iter().map(|s| s.to_string()).collect();
        spec
    };
    let cases = [
        (
            vec![
                step("a", "wf_double", serde_json::Value::Null, &["b"]),
                step("b", "wf_double", serde_json::Value::Null, &["a"]),
            ],
            "a",
        ),
        (vec![step("x", "no_such_task", json!(1), &[])], "x"),
        (vec![step("p", "wf_double", json!("one"), &[])], "p"),
        (
            vec![
                step("a", "wf_double", json!(1), &[]),
                step("b", "wf_double", json!(2), &[]),
                {
                    let mut s = step("c", "wf_show", serde_json::Value::Null, &["a", "b"]);
                    s.input = Some(StepInput::Result);
                    s
                },
            ],
            "c",
        ),
        (vec![], ""),
    ];
    for (steps, at) in cases {
        let err = client
            .submit_workflow_spec(WorkflowSpec { steps })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidWorkflow { step, .. } if step == at),
            "{err}"
        );
    }
    let mut wf = Workflow::new();
    let none: Vec<taskq::workflow::Step<u64>> = Vec::new();
    wf.join(&none, wf_sum);
    assert!(matches!(
        client.submit_workflow(wf).await,
        Err(Error::InvalidWorkflow { .. })
    ));
    let after = client
        .list(&TaskFilter::default(), PageRequest::new(1, 1))
        .await
        .unwrap()
        .total;
    assert_eq!(before, after, "nothing was stored");

    // No worker runs: cancel the whole workflow while it waits.
    let mut wf = Workflow::new();
    let first = wf.add(wf_double, 5);
    let second = wf.then(&first, wf_double);
    let id = client.submit_workflow(wf).await.unwrap();
    assert_eq!(
        client.get(second.id()).await.unwrap().state,
        TaskState::Waiting
    );
    let record = client.cancel_workflow(id).await.unwrap();
    assert_eq!(record.state, WorkflowState::Cancelled);
    assert_eq!(record.count(TaskState::Cancelled), 2);
    assert!(matches!(
        client.workflow(uuid::Uuid::now_v7()).await,
        Err(Error::WorkflowNotFound(_))
    ));
}

/// A schedule that fires a workflow: the worker's scheduler stores the
/// whole workflow at the tick and its workers run it to the end.
pub async fn workflow_schedule_fires_and_runs_to_its_end(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(workflow_worker(&client));
    let mut sum = StepSpec::new("sum", "wf_sum", serde_json::Value::Null);
    sum.after = vec!["one".into(), "two".into()];
    let spec = WorkflowSpec {
        steps: vec![
            StepSpec::new("one", "wf_double", json!(1)),
            StepSpec::new("two", "wf_double", json!(2)),
            sum,
        ],
    };
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    client
        .create_schedule(taskq::ScheduleDef::once("wf-soon", spec, at))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let first = loop {
        if let Some(id) = client.get_schedule("wf-soon").await.unwrap().last_task_id {
            break id;
        }
        assert!(tokio::time::Instant::now() < deadline, "never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let workflow = client.get(first).await.unwrap().step.unwrap().workflow;
    let record = client
        .wait_workflow(workflow, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(record.state, WorkflowState::Finished);
    assert_eq!(record.step("sum").unwrap().result, Some(json!(6)));
    let schedule = client.get_schedule("wf-soon").await.unwrap();
    assert_eq!((schedule.run_count, schedule.next_run_at), (1, None));
    stop().await;
}
