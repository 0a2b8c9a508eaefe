//! Snoozes end to end (a handler that snoozes twice then finishes spends
//! one attempt; one that always snoozes fails with the kind), and a
//! deadline to start that passes while the task waits.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Snoozy {
    /// Snoozes before it finishes.
    pub(super) snoozes: u32,
}

/// Snoozes 50 ms at a time until it has snoozed `snoozes` times.
#[long_task(retries = 0, max_snoozes = 3)]
pub(super) async fn snoozy(ctx: TaskContext, p: Snoozy) -> Result<u32, TaskError> {
    if ctx.snoozes() < p.snoozes {
        return Err(TaskError::snooze(Duration::from_millis(50)));
    }
    Ok(ctx.snoozes())
}

pub async fn snooze_twice_then_finish_spends_one_attempt(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client.submit(snoozy, Snoozy { snoozes: 2 }).await.unwrap();
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.state, TaskState::Finished, "{done:?}");
    assert_eq!(done.result_as::<u32>().unwrap(), Some(2));
    assert_eq!((done.attempt, done.snoozes), (1, 2));
    assert_eq!(done.error, None, "a snooze is not a failure");
    stop().await;
}

pub async fn snooze_past_the_bound_fails_with_its_kind(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let id = client.submit(snoozy, Snoozy { snoozes: 10 }).await.unwrap();
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.state, TaskState::Failed, "{done:?}");
    assert_eq!(done.snoozes, 3, "the bound of its type");
    assert_eq!(
        done.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::SnoozeLimit)
    );
    stop().await;
}

pub async fn expire_while_waiting_for_its_eta(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    // Bad input first: nothing stored.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let err = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 1,
            },
        )
        .expires_at(past)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidDeadline {
                field: "expires_at",
                ..
            }
        ),
        "{err}"
    );
    let err = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 1,
            },
        )
        .countdown(Duration::from_secs(60))
        .expires_in(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidDeadline { .. }), "{err}");
    let listed = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 0, "refused submissions stored nothing");
    // Due after its deadline passed: the sweep ends it, it never runs.
    let id = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 1,
            },
        )
        .countdown(Duration::from_millis(600))
        .expires_in(Duration::from_millis(700))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let stop = spawn(fast_worker(&client).build().unwrap());
    taskq::maintenance::expirer::expire_pass(&**client.backend())
        .await
        .unwrap();
    let done = wait_terminal(&client, id).await;
    assert_eq!(done.state, TaskState::Expired, "{done:?}");
    assert_eq!(done.attempt, 0);
    let waited = client.wait_for(id, Duration::from_secs(1)).await;
    assert!(
        matches!(
            waited,
            Err(Error::TaskFailed {
                state: TaskState::Expired,
                ..
            })
        ),
        "{waited:?}"
    );
    stop().await;
}
