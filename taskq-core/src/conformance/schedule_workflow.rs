//! Workflow schedules: a tick submits a whole workflow, whose ids derive
//! from the tick's, so a tick fired twice writes it once; a run counts
//! once whatever its number of steps.

use std::sync::Arc;
use std::time::Duration;

use chrono::SubsecRound;
use serde_json::json;

use crate::backend::Backend;
use crate::error::Error;
use crate::maintenance::scheduler::Scheduler;
use crate::schedule::{ScheduleDef, ScheduleFiring};
use crate::task::TaskState;
use crate::workflow::{StepSpec, WorkflowSpec};

use super::helpers::*;

/// Two imports, then a step that takes both ends.
fn import_then_sum() -> WorkflowSpec {
    let task = SCHEDULED_TASK.name;
    let mut sum = StepSpec::new("sum", task, serde_json::Value::Null);
    sum.after = vec!["a".into(), "b".into()];
    WorkflowSpec {
        steps: vec![
            StepSpec::new("a", task, json!({ "file": 1 })),
            StepSpec::new("b", task, json!({ "file": 2 })),
            sum,
        ],
    }
}

/// A tick stores every step (roots due at the tick, the rest `WAITING`)
/// under the tick's workflow id and counts one run; the same tick's
/// records are the same ids, so firing it again stores nothing new; run
/// now answers the first step of a fresh workflow; bad definitions are
/// refused whole.
pub async fn schedule_fires_a_workflow_once_per_tick(backend: Arc<dyn Backend>) {
    let client = schedule_client(backend.clone());
    let start = (now() + secs(600)).trunc_subsecs(6);
    let created = client
        .create_schedule(
            ScheduleDef::interval("wf-every", import_then_sum(), Duration::from_secs(60))
                .start_at(start)
                .queue("wf-q"),
        )
        .await
        .expect("create");
    let read = read_schedule(&*backend, "wf-every").await;
    assert_eq!(read.def.workflow, Some(import_then_sum()), "round trip");
    assert_eq!(
        (read.def.task_type.as_str(), &read.def.params),
        ("", &serde_json::Value::Null)
    );
    let tick = created.next_run_at.expect("due at start");

    let report = Scheduler::new(&client)
        .tick(tick + secs(1))
        .await
        .expect("tick");
    assert_eq!((report.fired, report.tasks), (1, 3));
    let fired = read_schedule(&*backend, "wf-every").await;
    let workflow = fired.task_id_for(tick);
    let steps = backend.workflow_steps(workflow).await.expect("steps");
    let mut by_name: Vec<(String, TaskState, String)> = steps
        .iter()
        .map(|t| {
            let step = t.step.as_ref().expect("a step");
            (step.name.clone(), t.state, t.queue.clone())
        })
        .collect();
    by_name.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        by_name,
        [
            ("a".into(), TaskState::Pending, "wf-q".into()),
            ("b".into(), TaskState::Pending, "wf-q".into()),
            ("sum".into(), TaskState::Waiting, "wf-q".into()),
        ]
    );
    for root in steps.iter().filter(|t| t.state == TaskState::Pending) {
        assert_eq!(root.scheduled_at, tick, "roots are due at the tick");
    }
    let first = steps
        .iter()
        .find(|t| t.step.as_ref().is_some_and(|s| s.name == "a"))
        .expect("a");
    assert_eq!((fired.run_count, fired.last_task_id), (1, Some(first.id)));

    // The tick's records again: the same ids, and a firing of them (from
    // the current read) stores nothing twice.
    let again = client
        .schedule_run(&fired, workflow, Some(tick), now())
        .expect("records");
    let ids = |records: &[crate::task::TaskRecord]| {
        let mut ids: Vec<_> = records.iter().map(|t| t.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again), ids(&steps), "a tick's ids are its own");
    let refire = ScheduleFiring {
        name: fired.def.name.clone(),
        expected_next_run_at: fired.next_run_at,
        expected_revision: fired.revision,
        next_run_at: fired.next_run_at,
        fired_at: now(),
        tasks: again,
    };
    assert!(backend.fire_schedule(refire).await.expect("fire"));
    assert_eq!(
        backend.workflow_steps(workflow).await.expect("steps").len(),
        3
    );

    let by_hand = client.run_schedule_now("wf-every").await.expect("run now");
    let step = get(&*backend, by_hand).await.step.expect("a step");
    assert_eq!(step.name, "a");
    assert_ne!(step.workflow, workflow);
    let hand_steps = backend.workflow_steps(step.workflow).await.expect("steps");
    assert_eq!(hand_steps.len(), 3);
    let read = read_schedule(&*backend, "wf-every").await;
    assert_eq!((read.run_count, read.last_task_id), (3, Some(by_hand)));

    // Refused whole, nothing stored: an unknown step type, both targets.
    let mut unknown = import_then_sum();
    unknown.steps[1].task = "no-such-task".into();
    assert!(matches!(
        client
            .create_schedule(ScheduleDef::interval("bad-wf", unknown, Duration::from_secs(60)))
            .await,
        Err(Error::InvalidWorkflow { step, .. }) if step == "b"
    ));
    let mut both = ScheduleDef::interval("bad-both", import_then_sum(), Duration::from_secs(60));
    both.task_type = SCHEDULED_TASK.name.into();
    assert!(matches!(
        client.create_schedule(both).await,
        Err(Error::InvalidSchedule {
            field: "workflow",
            ..
        })
    ));
    for name in ["bad-wf", "bad-both"] {
        assert!(backend.get_schedule(name).await.expect("get").is_none());
    }
}
