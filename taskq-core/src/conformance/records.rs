//! Records: round trips, lists and their filters, delete and purge.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::backend::{Backend, Outcome, PageRequest, Settlement, TaskFilter};
use crate::error::Error;
use crate::task::{ErrorKind, TaskId, TaskRecord, TaskState};

use super::helpers::*;

/// Stores every field of a record unchanged.
pub async fn records_round_trip(backend: Arc<dyn Backend>) {
    let mut task = record("round_trip", "q", -3, now());
    task.params = json!({ "text": "<script>alert(1)</script>", "list": [1, 2.5, null] });
    task.timeout = Some(Duration::from_millis(1500));
    task.soft_timeout = Some(Duration::from_millis(700));
    task.max_retries = 7;
    backend.enqueue(vec![task.clone()]).await.expect("enqueue");
    let stored = get(&*backend, task.id).await;
    assert_eq!(stored.params, task.params);
    assert_eq!(
        (stored.priority, stored.max_retries, stored.seq),
        (-3, 7, task.seq)
    );
    assert_eq!(
        (stored.timeout, stored.soft_timeout),
        (task.timeout, task.soft_timeout)
    );
    assert_eq!(
        stored.created_at.timestamp_micros(),
        task.created_at.timestamp_micros()
    );
    assert_eq!(
        stored.scheduled_at.timestamp_micros(),
        task.scheduled_at.timestamp_micros()
    );
}

/// List: newest first, filters, pagination, total.
pub async fn list_filters_and_pages(backend: Arc<dyn Backend>) {
    let base = now() - chrono::Duration::seconds(100);
    let mut all = Vec::new();
    for i in 0..25 {
        let mut r = record(
            if i % 5 == 0 { "report" } else { "analyze" },
            if i % 2 == 0 { "a" } else { "b" },
            5,
            base,
        );
        r.created_at = base + chrono::Duration::milliseconds(i * 10);
        all.push(r);
    }
    backend.enqueue(all.clone()).await.expect("enqueue");
    let page1 = backend
        .list(&TaskFilter::default(), PageRequest::new(1, 10))
        .await
        .expect("list");
    assert_eq!(page1.total, 25);
    assert_eq!(page1.items.len(), 10);
    assert_eq!(page1.items[0].id, all[24].id, "newest first");
    let page3 = backend
        .list(&TaskFilter::default(), PageRequest::new(3, 10))
        .await
        .expect("list");
    assert_eq!(
        ids(&page3.items),
        all[..5].iter().rev().map(|r| r.id).collect::<Vec<_>>()
    );
    let reports = backend
        .list(
            &TaskFilter {
                task_type: Some("report".into()),
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(reports.total, 5);
    let queue_a = backend
        .list(
            &TaskFilter {
                queue: Some("a".into()),
                state: Some(TaskState::Pending),
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(queue_a.total, 13);
    let window = backend
        .list(
            &TaskFilter {
                created_after: Some(all[10].created_at),
                created_before: Some(all[15].created_at),
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .expect("list");
    assert_eq!(
        ids(&window.items),
        all[10..15].iter().rev().map(|r| r.id).collect::<Vec<_>>()
    );
    let running = backend
        .list(
            &TaskFilter {
                state: Some(TaskState::Running),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .expect("list");
    assert_eq!(running.total, 0);
    // A page past any list (its offset near `u64::MAX`) is empty, not an
    // error, with or without a filter.
    for filter in [
        TaskFilter::default(),
        TaskFilter {
            task_type: Some("report".into()),
            ..Default::default()
        },
    ] {
        for page in [
            PageRequest::new(u64::MAX, PageRequest::MAX_PAGE_SIZE),
            PageRequest::new(u64::MAX / 2, 2),
            PageRequest::new((1 << 53) + 1, 1),
        ] {
            let beyond = backend.list(&filter, page).await.expect("list far page");
            assert!(beyond.items.is_empty(), "{page:?}");
            assert_eq!(
                beyond.total,
                if filter.task_type.is_some() { 5 } else { 25 }
            );
        }
    }
}

/// List filters combine (state, type, queue, creation window), and a task
/// that changes state moves between the filtered lists at once while
/// keeping its place by creation time, not by when its state changed;
/// pages are offsets into the list as it is when asked.
pub async fn list_filters_follow_state_changes(backend: Arc<dyn Backend>) {
    let base = now() - chrono::Duration::seconds(100);
    let mut all = Vec::new();
    for i in 0..6 {
        let mut r = record(if i % 2 == 0 { "x" } else { "y" }, "q", 5, base);
        r.created_at = base + chrono::Duration::milliseconds(i * 10);
        all.push(r);
    }
    // A task of another queue, to be filtered out.
    let other = record("x", "other", 5, base);
    backend.enqueue(all.clone()).await.expect("enqueue");
    backend.enqueue(vec![other.clone()]).await.expect("enqueue");
    let list = |state: Option<TaskState>, task_type: Option<&str>, page: u64, size: u64| {
        let backend = backend.clone();
        let filter = TaskFilter {
            state,
            task_type: task_type.map(str::to_owned),
            queue: Some("q".into()),
            ..TaskFilter::default()
        };
        async move {
            let got = backend
                .list(&filter, PageRequest::new(page, size))
                .await
                .expect("list");
            (got.total, ids(&got.items))
        }
    };
    let newest_first =
        |picked: &[usize]| -> Vec<TaskId> { picked.iter().rev().map(|&i| all[i].id).collect() };
    let pending = Some(TaskState::Pending);
    assert_eq!(
        list(pending, Some("x"), 1, 10).await,
        (3, newest_first(&[0, 2, 4]))
    );
    // Claim the two oldest (same priority and due time: creation order).
    let claimed = claim(&*backend, "q", 2, "w").await;
    assert_eq!(ids(&claimed), vec![all[0].id, all[1].id]);
    assert_eq!(list(pending, None, 1, 2).await, (4, newest_first(&[4, 5])));
    assert_eq!(list(pending, None, 2, 2).await, (4, newest_first(&[2, 3])));
    assert_eq!(list(pending, None, 3, 2).await, (4, vec![]));
    let running = Some(TaskState::Running);
    assert_eq!(list(running, None, 1, 10).await, (2, newest_first(&[0, 1])));
    assert_eq!(list(running, None, 2, 1).await, (2, newest_first(&[0])));
    assert_eq!(
        list(running, Some("x"), 1, 10).await,
        (1, newest_first(&[0]))
    );
    assert_eq!(list(running, Some("z"), 1, 10).await, (0, vec![]));
    backend
        .settle(vec![
            Settlement {
                id: all[0].id,
                attempt: 1,
                outcome: Outcome::Finished(json!(1)),
                at: now(),
            },
            Settlement {
                id: all[1].id,
                attempt: 1,
                outcome: Outcome::Failed(failure(ErrorKind::Permanent, "x")),
                at: now(),
            },
        ])
        .await
        .expect("settle");
    assert_eq!(list(running, None, 1, 10).await, (0, vec![]));
    let finished = Some(TaskState::Finished);
    let failed = Some(TaskState::Failed);
    assert_eq!(list(finished, None, 1, 10).await, (1, newest_first(&[0])));
    assert_eq!(list(finished, Some("y"), 1, 10).await, (0, vec![]));
    assert_eq!(
        list(failed, Some("y"), 1, 10).await,
        (1, newest_first(&[1]))
    );
    // Between two pages the newest pending task is cancelled: the second
    // page is read from the list as it is now.
    assert_eq!(list(pending, None, 1, 2).await, (4, newest_first(&[4, 5])));
    backend.cancel(all[5].id, now()).await.expect("cancel");
    assert_eq!(list(pending, None, 2, 2).await, (3, newest_first(&[2])));
    let cancelled = Some(TaskState::Cancelled);
    assert_eq!(
        list(cancelled, Some("y"), 1, 10).await,
        (1, newest_first(&[5]))
    );
    // Retried, the failed task is pending again at its creation place
    // (the oldest), not at the front.
    backend.retry(all[1].id, now()).await.expect("retry");
    assert_eq!(list(failed, None, 1, 10).await, (0, vec![]));
    assert_eq!(
        list(pending, None, 1, 10).await,
        (4, newest_first(&[1, 2, 3, 4]))
    );
    assert_eq!(
        list(pending, Some("y"), 1, 10).await,
        (2, newest_first(&[1, 3]))
    );
    assert_eq!(
        list(None, Some("x"), 1, 10).await,
        (3, newest_first(&[0, 2, 4]))
    );
    // Every filter at once, with a creation window [all[1], all[4]).
    let window = TaskFilter {
        state: pending,
        task_type: Some("y".into()),
        queue: Some("q".into()),
        created_after: Some(all[1].created_at),
        created_before: Some(all[4].created_at),
        tags: Vec::new(),
        schedule: None,
        metadata: Default::default(),
    };
    let got = backend
        .list(&window, PageRequest::new(1, 10))
        .await
        .expect("list");
    assert_eq!((got.total, ids(&got.items)), (2, newest_first(&[1, 3])));
    let got = backend
        .list(&window, PageRequest::new(2, 1))
        .await
        .expect("list");
    assert_eq!((got.total, ids(&got.items)), (2, newest_first(&[1])));
    // Without the queue filter the other queue's task counts too.
    let every_x = TaskFilter {
        state: pending,
        task_type: Some("x".into()),
        ..TaskFilter::default()
    };
    let got = backend
        .list(&every_x, PageRequest::new(1, 10))
        .await
        .expect("list");
    assert_eq!(
        (got.total, ids(&got.items)),
        (3, vec![other.id, all[4].id, all[2].id])
    );
}

/// Only ended tasks can be deleted, one at a time; others stay.
pub async fn delete_one_ended_task(backend: Arc<dyn Backend>) {
    let at = now() - chrono::Duration::seconds(1);
    let done = record("t", "q", 0, at);
    let running = record("t", "q", 0, at);
    let pending = record("t", "q", 0, at + chrono::Duration::hours(1));
    let cancelled = record("t", "q", 0, at + chrono::Duration::hours(1));
    backend
        .enqueue(vec![done.clone(), running.clone()])
        .await
        .expect("enqueue");
    backend
        .enqueue(vec![pending.clone(), cancelled.clone()])
        .await
        .expect("enqueue");
    let claimed = claim(&*backend, "q", 2, "w1").await;
    assert_eq!(claimed.len(), 2);
    backend
        .settle(vec![Settlement {
            id: done.id,
            attempt: 1,
            outcome: Outcome::Finished(json!("ok")),
            at: now(),
        }])
        .await
        .expect("settle");
    backend.cancel(cancelled.id, now()).await.expect("cancel");

    for (id, state) in [
        (pending.id, TaskState::Pending),
        (running.id, TaskState::Running),
    ] {
        match backend.delete_task(id).await {
            Err(Error::InvalidTransition {
                id: got,
                state: got_state,
                action,
            }) => assert_eq!((got, got_state, action), (id, state, "delete")),
            other => panic!("expected InvalidTransition, got {other:?}"),
        }
        assert_eq!(get(&*backend, id).await.state, state, "unchanged");
    }
    let deleted = backend.delete_task(done.id).await.expect("delete");
    assert_eq!(
        (deleted.id, deleted.state, deleted.result),
        (done.id, TaskState::Finished, Some(json!("ok")))
    );
    let deleted = backend.delete_task(cancelled.id).await.expect("delete");
    assert_eq!(deleted.state, TaskState::Cancelled);
    assert_eq!(backend.get(done.id).await.expect("get"), None);
    assert!(matches!(
        backend.delete_task(done.id).await,
        Err(Error::NotFound(id)) if id == done.id
    ));
    let left = backend
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .expect("list");
    let mut left_ids = ids(&left.items);
    left_ids.sort();
    let mut want = vec![pending.id, running.id];
    want.sort();
    assert_eq!((left.total, left_ids), (2, want));
    // The running task still settles after its neighbours went.
    let applied = backend
        .settle(vec![Settlement {
            id: running.id,
            attempt: 1,
            outcome: Outcome::Finished(json!(1)),
            at: now(),
        }])
        .await
        .expect("settle");
    assert_eq!(applied, [true]);
}

/// Purge removes old terminal tasks only; non-terminal states are refused.
pub async fn purge(backend: Arc<dyn Backend>) {
    let t0 = now() - chrono::Duration::seconds(10);
    let tasks: Vec<TaskRecord> = (0..3)
        .map(|i| record("t", "q", 5, t0 + chrono::Duration::milliseconds(i)))
        .collect();
    backend.enqueue(tasks.clone()).await.expect("enqueue");
    claim(&*backend, "q", 2, "w").await;
    let finished_at = now() - chrono::Duration::seconds(5);
    backend
        .settle(vec![
            Settlement {
                id: tasks[0].id,
                attempt: 1,
                outcome: Outcome::Finished(json!(1)),
                at: finished_at,
            },
            Settlement {
                id: tasks[1].id,
                attempt: 1,
                outcome: Outcome::Failed(failure(ErrorKind::Permanent, "x")),
                at: finished_at,
            },
        ])
        .await
        .expect("settle");
    assert!(matches!(
        backend.purge(&[TaskState::Pending], now()).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        backend
            .purge(
                &[TaskState::Finished],
                finished_at - chrono::Duration::seconds(1)
            )
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        backend
            .purge(&[TaskState::Finished], now())
            .await
            .expect("purge"),
        1
    );
    assert!(backend.get(tasks[0].id).await.expect("get").is_none());
    assert!(backend.get(tasks[1].id).await.expect("get").is_some());
    assert!(backend.get(tasks[2].id).await.expect("get").is_some());
}
