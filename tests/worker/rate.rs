//! Rate limits end to end: a worker declares its queue's rate limit, a
//! task the limit holds back stays `PENDING` with the hold in the stats
//! and starts once the next token arrives, and meanwhile the worker does
//! not claim from the held queue (no busy polling).

use taskq::RateLimit;

use super::*;

/// One start per 1.5 s, declared on the worker: the second task waits
/// for its token, shown in the stats, while the worker's claims stay few.
pub async fn limit_rate_held_task_starts_when_the_token_arrives(backend: Arc<dyn Backend>) {
    const PERIOD: Duration = Duration::from_millis(1500);
    let counting = Arc::new(LostReply::wrap(backend));
    let client = Client::new(counting.clone()).unwrap();
    let mut ids = Vec::new();
    for text in ["a", "b", "c"] {
        let echo_params = Echo {
            text: text.into(),
            times: 1,
        };
        ids.push(client.submit(echo, echo_params).await.unwrap());
    }
    let worker = fast_worker(&client)
        .queue_rate_limit("default", RateLimit::new(1, PERIOD))
        .build()
        .unwrap();
    let stop = spawn(worker);
    let first = wait_terminal(&client, ids[0]).await;
    assert_eq!(first.state, TaskState::Finished);
    let claims = counting.claims();
    let held = client.get(ids[1]).await.unwrap();
    assert_eq!(
        held.state,
        TaskState::Pending,
        "held back by the rate limit"
    );
    let stats = client.queue_stats().await.unwrap();
    let default = stats.iter().find(|q| q.queue == "default").unwrap();
    assert_eq!(default.rate_limit, Some(RateLimit::new(1, PERIOD)));
    assert!(default.rate_held_until.is_some(), "{default:?}");
    // The poll interval is 20 ms: polling would claim ~25 times here.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let polled = counting.claims() - claims;
    assert!(polled <= 3, "{polled} claims while held");
    let second = wait_terminal(&client, ids[1]).await;
    assert_eq!(second.state, TaskState::Finished);
    let gap = second.started_at.unwrap() - first.started_at.unwrap();
    assert!(
        gap >= chrono::Duration::from_std(PERIOD).unwrap() - chrono::Duration::milliseconds(1),
        "the second start came {gap} after the first"
    );
    stop().await;
    // Lift it so the last task runs without waiting.
    client.set_queue_rate_limit("default", None).await.unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    assert_eq!(
        wait_terminal(&client, ids[2]).await.state,
        TaskState::Finished
    );
    stop().await;
}
