//! History and labels: every ended attempt's entry on the record
//! (`lifecycle::end_attempt`), bounded; tags, metadata and the schedule
//! that queued a task, stored and filtered on.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use crate::backend::{Backend, Outcome, PageRequest, Settlement, TaskFilter};
use crate::lifecycle::{HISTORY_MAX, HISTORY_MESSAGE_MAX, RetryPolicy};
use crate::task::{AttemptOutcome, ErrorKind, TaskId, TaskRecord, TaskState};

use super::helpers::*;

/// Whole microseconds, as every store keeps times.
fn at(base: DateTime<Utc>, ms: i64) -> DateTime<Utc> {
    (base + chrono::Duration::milliseconds(ms)).trunc_subsecs(6)
}

fn settle_one(id: TaskId, attempt: u32, outcome: Outcome, at: DateTime<Utc>) -> Vec<Settlement> {
    vec![Settlement {
        id,
        attempt,
        outcome,
        at,
    }]
}

/// Each end appends one entry — a retry, a hand-back, a finish — with its
/// attempt, worker, start, end, outcome and error, oldest first.
pub async fn history_records_each_attempt_end(backend: Arc<dyn Backend>) {
    let base = now() - secs(60);
    let mut task = record("t", "q", 5, base);
    task.max_retries = 3;
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let lease = Duration::from_secs(30);
    claim_at(&*backend, "q", 1, "w-1", at(base, 1), lease).await;
    let retry = Outcome::Retry {
        error: failure(ErrorKind::Retryable, "flaky"),
        run_at: at(base, 3),
    };
    let applied = backend
        .settle(settle_one(task.id, 1, retry, at(base, 2)))
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    claim_at(&*backend, "q", 1, "w-2", at(base, 4), lease).await;
    backend
        .release("w-2", &[(task.id, 2)], at(base, 5))
        .await
        .expect("release");
    let claimed = claim_at(&*backend, "q", 1, "w-3", at(base, 6), lease).await;
    assert_eq!(claimed[0].attempts.len(), 2, "a claim returns the history");
    let applied = backend
        .settle(settle_one(
            task.id,
            2,
            Outcome::Finished(json!(1)),
            at(base, 7),
        ))
        .await
        .expect("settle");
    assert_eq!(applied, vec![true]);
    // A stale settlement appends nothing.
    let stale = backend
        .settle(settle_one(
            task.id,
            1,
            Outcome::Finished(json!(1)),
            at(base, 8),
        ))
        .await
        .expect("settle");
    assert_eq!(stale, vec![false]);
    let done = get(&*backend, task.id).await;
    assert_eq!(done.state, TaskState::Finished);
    let seen: Vec<(u32, Option<&str>, AttemptOutcome)> = done
        .attempts
        .iter()
        .map(|e| (e.attempt, e.worker_id.as_deref(), e.outcome))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, Some("w-1"), AttemptOutcome::Retried),
            (2, Some("w-2"), AttemptOutcome::Released),
            (2, Some("w-3"), AttemptOutcome::Finished),
        ]
    );
    let times: Vec<(Option<DateTime<Utc>>, DateTime<Utc>)> = done
        .attempts
        .iter()
        .map(|e| (e.started_at, e.ended_at))
        .collect();
    assert_eq!(
        times,
        vec![
            (Some(at(base, 1)), at(base, 2)),
            (Some(at(base, 4)), at(base, 5)),
            (Some(at(base, 6)), at(base, 7)),
        ]
    );
    assert_eq!(
        done.attempts[0].error,
        Some(failure(ErrorKind::Retryable, "flaky"))
    );
    assert_eq!(done.attempts[1].error, None);
    assert_eq!(done.attempts[2].error, None);
}

/// A rescue, a cancelled attempt and a failure each leave their entry;
/// a long message is cut in the entry and kept whole on the record.
pub async fn history_rescue_cancel_and_failure_are_recorded(backend: Arc<dyn Backend>) {
    let base = now() - secs(60);
    let mut tasks: Vec<TaskRecord> = (0..3).map(|_| record("t", "q", 5, base)).collect();
    for task in &mut tasks {
        task.max_retries = 1;
    }
    let [rescued, cancelled, failed] = [tasks[0].id, tasks[1].id, tasks[2].id];
    backend.enqueue(tasks).await.expect("enqueue");
    // The rescued task's lease ends at once; the others' last.
    let short = claim_at(&*backend, "q", 1, "w-dead", at(base, 1), Duration::ZERO).await;
    assert_eq!(short[0].id, rescued);
    claim_at(
        &*backend,
        "q",
        2,
        "w",
        at(base, 2),
        Duration::from_secs(600),
    )
    .await;
    let report = backend
        .rescue_expired(at(base, 3), &RetryPolicy::IMMEDIATE)
        .await
        .expect("rescue");
    assert_eq!(report.requeued, 1);
    let entry = get(&*backend, rescued).await.attempts;
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].outcome, AttemptOutcome::Retried);
    assert_eq!(entry[0].worker_id.as_deref(), Some("w-dead"));
    assert_eq!(entry[0].ended_at, at(base, 3));
    assert_eq!(
        entry[0].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::LeaseExpired)
    );

    backend
        .cancel(cancelled, at(base, 4))
        .await
        .expect("cancel");
    let long = "x".repeat(HISTORY_MESSAGE_MAX + 50);
    let applied = backend
        .settle(vec![
            Settlement {
                id: cancelled,
                attempt: 1,
                outcome: Outcome::Cancelled(failure(ErrorKind::Cancelled, "stopped")),
                at: at(base, 5),
            },
            Settlement {
                id: failed,
                attempt: 1,
                outcome: Outcome::Failed(failure(ErrorKind::Permanent, &long)),
                at: at(base, 5),
            },
        ])
        .await
        .expect("settle");
    assert_eq!(applied, vec![true, true]);
    let entry = get(&*backend, cancelled).await.attempts;
    assert_eq!(
        (entry.len(), entry[0].outcome),
        (1, AttemptOutcome::Cancelled)
    );
    let record = get(&*backend, failed).await;
    assert_eq!(record.attempts[0].outcome, AttemptOutcome::Failed);
    let kept = record.attempts[0].error.as_ref().map(|e| e.message.len());
    assert_eq!(kept, Some(HISTORY_MESSAGE_MAX));
    assert_eq!(record.error.map(|e| e.message), Some(long));
}

/// The history keeps the last `HISTORY_MAX` entries, each numbered among
/// all the task's ends (hand-backs repeat the attempt number), so the
/// record says how many were dropped.
pub async fn history_keeps_the_last_entries(backend: Arc<dyn Backend>) {
    let base = now() - secs(120);
    let task = record("t", "q", 5, base);
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let ends = HISTORY_MAX as i64 + 3;
    for i in 0..ends {
        let claimed = claim_at(
            &*backend,
            "q",
            1,
            "w",
            at(base, 10 * i + 1),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(claimed.len(), 1, "end {i}");
        backend
            .release("w", &[(task.id, 1)], at(base, 10 * i + 2))
            .await
            .expect("release");
    }
    let stored = get(&*backend, task.id).await;
    assert_eq!(stored.attempts_dropped(), 3);
    let history = stored.attempts;
    assert_eq!(history.len(), HISTORY_MAX);
    assert_eq!(history[0].ended_at, at(base, 10 * 3 + 2));
    assert_eq!(
        history[HISTORY_MAX - 1].ended_at,
        at(base, 10 * (ends - 1) + 2)
    );
    let ordinals: Vec<u32> = history.iter().map(|e| e.ordinal).collect();
    let expected: Vec<u32> = (4..=ends as u32).collect();
    assert_eq!(ordinals, expected);
    assert!(history.iter().all(|e| e.attempt == 1));
}

/// Tags and metadata are stored as given; a list with tags returns the
/// tasks carrying every one of them (`_` is no wildcard), with the other
/// filters; a list with a schedule returns the tasks it queued.
pub async fn tags_filter_lists_tasks_carrying_every_tag(backend: Arc<dyn Backend>) {
    let base = now() - secs(10);
    let labels: [&[&str]; 5] = [&["a", "b"], &["a"], &["b_c"], &["bxc", "b"], &[]];
    let tasks: Vec<TaskRecord> = labels
        .iter()
        .enumerate()
        .map(|(i, tags)| {
            let mut task = record("t", "q", 5, base);
            task.created_at = at(base, i as i64);
            task.tags = tags.iter().map(|t| t.to_string()).collect();
            task.metadata = json!({ "n": i, "who": { "team": "ops" } })
                .as_object()
                .cloned()
                .unwrap_or_default();
            if i == 4 {
                task.schedule = Some("nightly".into());
            }
            task
        })
        .collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let stored = get(&*backend, tasks[0].id).await;
    assert_eq!(stored.tags, ["a", "b"]);
    assert_eq!(stored.metadata["who"]["team"], "ops");
    assert_eq!(get(&*backend, tasks[4].id).await.tags, Vec::<String>::new());
    let list = |tags: &[&str], state: Option<TaskState>, schedule: Option<&str>| {
        let filter = TaskFilter {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            state,
            schedule: schedule.map(str::to_owned),
            ..TaskFilter::default()
        };
        let backend = backend.clone();
        async move {
            let page = backend
                .list(&filter, PageRequest::new(1, 10))
                .await
                .expect("list");
            (page.total, ids(&page.items))
        }
    };
    let newest_first =
        |at: &[usize]| -> Vec<TaskId> { at.iter().rev().map(|&i| tasks[i].id).collect() };
    assert_eq!(list(&["a"], None, None).await, (2, newest_first(&[0, 1])));
    assert_eq!(list(&["a", "b"], None, None).await, (1, newest_first(&[0])));
    assert_eq!(list(&["b"], None, None).await, (2, newest_first(&[0, 3])));
    assert_eq!(list(&["b_c"], None, None).await, (1, newest_first(&[2])));
    assert_eq!(
        list(&["a"], Some(TaskState::Pending), None).await,
        (2, newest_first(&[0, 1]))
    );
    assert_eq!(list(&["a"], Some(TaskState::Running), None).await.0, 0);
    assert_eq!(list(&["none"], None, None).await.0, 0);
    assert_eq!(
        list(&[], None, Some("nightly")).await,
        (1, newest_first(&[4]))
    );
    // Tags follow a task into the running set.
    claim(&*backend, "q", 5, "w").await;
    assert_eq!(
        list(&["a"], Some(TaskState::Running), None).await,
        (2, newest_first(&[0, 1]))
    );
}

/// A list with metadata pairs returns the tasks whose metadata has every
/// top-level key with an equal value of the same JSON type
/// (`lifecycle::has_metadata`): a string matches only a string, byte for
/// byte; numbers by value; `true`, `false` and `null` only themselves; a
/// task without the key (or without metadata) never. With tags, state
/// and in the running set alike.
pub async fn tags_metadata_filter_matches_typed_values(backend: Arc<dyn Backend>) {
    let base = now() - secs(10);
    let labels = [
        json!({ "customer": "acme", "order": 7, "vip": true, "note": null }),
        json!({ "customer": "Acme", "order": "7", "vip": false }),
        json!({ "customer": "acme", "order": 7.5, "nested": { "team": "ops" } }),
        json!({ "customer": "acme_x", "order": 70, "customer.id": "x-1" }),
        json!(null),
        json!({ "customer": "o'brien \"q\" é %", "order": -7 }),
    ];
    let tasks: Vec<TaskRecord> = labels
        .iter()
        .enumerate()
        .map(|(i, metadata)| {
            let mut task = record("t", "q", 5, base);
            task.created_at = at(base, i as i64);
            task.metadata = metadata.as_object().cloned().unwrap_or_default();
            if i < 2 {
                task.tags = vec!["a".into()];
            }
            task
        })
        .collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    let list = |pairs: Vec<(&str, serde_json::Value)>, tags: &[&str], state: Option<TaskState>| {
        let filter = TaskFilter {
            metadata: pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            state,
            ..TaskFilter::default()
        };
        let backend = backend.clone();
        async move {
            let page = backend
                .list(&filter, PageRequest::new(1, 10))
                .await
                .expect("list");
            ids(&page.items)
        }
    };
    let newest_first =
        |at: &[usize]| -> Vec<TaskId> { at.iter().rev().map(|&i| tasks[i].id).collect() };
    let one = |key: &'static str, value: serde_json::Value| vec![(key, value)];
    assert_eq!(
        list(one("customer", json!("acme")), &[], None).await,
        newest_first(&[0, 2])
    );
    assert_eq!(
        list(one("order", json!(7)), &[], None).await,
        newest_first(&[0])
    );
    assert_eq!(
        list(one("order", json!(7.0)), &[], None).await,
        newest_first(&[0])
    );
    assert_eq!(
        list(one("order", json!("7")), &[], None).await,
        newest_first(&[1])
    );
    assert_eq!(
        list(one("order", json!(7.5)), &[], None).await,
        newest_first(&[2])
    );
    assert_eq!(
        list(one("order", json!(-7)), &[], None).await,
        newest_first(&[5])
    );
    assert_eq!(
        list(one("vip", json!(true)), &[], None).await,
        newest_first(&[0])
    );
    assert_eq!(
        list(one("vip", json!(false)), &[], None).await,
        newest_first(&[1])
    );
    assert_eq!(
        list(one("note", serde_json::Value::Null), &[], None).await,
        newest_first(&[0])
    );
    assert!(list(one("team", json!("ops")), &[], None).await.is_empty());
    assert_eq!(
        list(one("customer.id", json!("x-1")), &[], None).await,
        newest_first(&[3])
    );
    assert_eq!(
        list(one("customer", json!("o'brien \"q\" é %")), &[], None).await,
        newest_first(&[5])
    );
    let both = vec![("customer", json!("acme")), ("order", json!(7))];
    assert_eq!(list(both, &[], None).await, newest_first(&[0]));
    let neither = vec![("customer", json!("acme")), ("vip", json!(false))];
    assert!(list(neither, &[], None).await.is_empty());
    assert_eq!(
        list(
            one("customer", json!("acme")),
            &["a"],
            Some(TaskState::Pending)
        )
        .await,
        newest_first(&[0])
    );
    // Metadata follows a task into the running set.
    claim(&*backend, "q", 6, "w").await;
    assert_eq!(
        list(
            one("customer", json!("acme")),
            &[],
            Some(TaskState::Running)
        )
        .await,
        newest_first(&[0, 2])
    );
}

/// A firing's tasks name their schedule, whoever built the firing.
pub async fn tags_schedule_firing_names_its_schedule(backend: Arc<dyn Backend>) {
    let schedule = stored_schedule("reports", Some(now() - secs(1)));
    backend
        .create_schedule(schedule.clone())
        .await
        .expect("create");
    let planned = firing(&schedule, Some(now() + secs(60)), 1);
    let id = planned.tasks[0].id;
    assert!(backend.fire_schedule(planned).await.expect("fire"));
    assert_eq!(
        get(&*backend, id).await.schedule.as_deref(),
        Some("reports")
    );
}
