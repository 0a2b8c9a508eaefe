//! Task type rate limits end to end: a type declares `rate_limit(starts
//! = 1, period = 1.5)`, the worker stores it at start, the second task of
//! the type waits for its token (pending, the hold shown in the type's
//! row) while the queue's other type runs past it, and the worker claims
//! it when the token arrives, not at its (long) poll interval, nor more
//! often than that interval meanwhile.

use taskq::RateLimit;

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Ping {
    pub n: u32,
}

/// One start per 1.5 s, on every worker together.
#[long_task(
    queue = "type_rated",
    retries = 0,
    rate_limit(starts = 1, period = 1.5)
)]
pub(super) async fn rated_ping(p: Ping) -> Result<u32, TaskError> {
    Ok(p.n)
}

/// The same queue, no rate limit.
#[long_task(queue = "type_rated", retries = 0)]
pub(super) async fn free_ping(p: Ping) -> Result<u32, TaskError> {
    Ok(p.n)
}

pub async fn limit_rate_type_declared_paces_starts_without_polling(backend: Arc<dyn Backend>) {
    const PERIOD: Duration = Duration::from_millis(1500);
    let counting = Arc::new(LostReply::wrap(backend));
    let client = Client::new(counting.clone()).unwrap();
    let mut rated = Vec::new();
    let mut free = Vec::new();
    for n in 0..2 {
        rated.push(client.submit(rated_ping, Ping { n }).await.unwrap());
        free.push(client.submit(free_ping, Ping { n }).await.unwrap());
    }
    // A poll interval far above the period: a prompt second start can
    // only come from the claim's wake-up time.
    let worker = fast_worker(&client)
        .queue("type_rated", 4)
        .poll_interval(Duration::from_secs(5))
        .build()
        .unwrap();
    let stop = spawn(worker);
    let first = wait_terminal(&client, rated[0]).await;
    assert_eq!(first.state, TaskState::Finished);
    for id in &free {
        assert_eq!(
            wait_terminal(&client, *id).await.state,
            TaskState::Finished,
            "the other type runs past the held one"
        );
    }
    let claims = counting.claims();
    assert_eq!(
        client.get(rated[1]).await.unwrap().state,
        TaskState::Pending,
        "held back by the type's rate limit"
    );
    let row = client
        .type_limits()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.task_type == "rated_ping")
        .expect("the declared rate limit was stored");
    assert_eq!(row.rate_limit, Some(RateLimit::new(1, PERIOD)));
    let held_until = row.rate_held_until.expect("held back until the next token");
    // Claims while held (up to 500 ms, ending before the token arrives,
    // when claiming again is right): a worker that polled instead of
    // sleeping to the claim's wake-up time would claim hundreds of times.
    // A few come from work signals (other tests' submissions on the same
    // server wake every worker, which then claims: a held type never
    // holds the queue's other types back).
    let window = (held_until - chrono::Utc::now() - chrono::Duration::milliseconds(100))
        .to_std()
        .unwrap_or_default()
        .min(Duration::from_millis(500));
    tokio::time::sleep(window).await;
    let polled = counting.claims() - claims;
    assert!(polled <= 20, "{polled} claims while held ({window:?})");
    let second = wait_terminal(&client, rated[1]).await;
    assert_eq!(second.state, TaskState::Finished);
    let gap = second.started_at.unwrap() - first.started_at.unwrap();
    assert!(
        gap >= chrono::Duration::from_std(PERIOD).unwrap() - chrono::Duration::milliseconds(1),
        "the second start came {gap} after the first"
    );
    assert!(
        gap < chrono::Duration::seconds(4),
        "the worker waited for its poll interval: {gap}"
    );
    stop().await;
    // A limit set at runtime is kept; bad input changes nothing.
    let slower = RateLimit::new(1, Duration::from_secs(60));
    client
        .set_type_rate_limit("rated_ping", Some(slower))
        .await
        .unwrap();
    assert!(matches!(
        client
            .set_type_rate_limit("rated_ping", Some(RateLimit::new(0, PERIOD)))
            .await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client
            .set_key_rate_limit("", Some(RateLimit::new(1, PERIOD)))
            .await,
        Err(Error::InvalidName { .. })
    ));
    let stop = spawn(fast_worker(&client).queue("type_rated", 4).build().unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop().await;
    let rows = client.type_limits().await.unwrap();
    let row = rows.iter().find(|r| r.task_type == "rated_ping").unwrap();
    assert_eq!(row.rate_limit, Some(slower), "kept over the declaration");
    assert!(!rows.iter().any(|r| r.task_type.is_empty()));
    client
        .set_type_rate_limit("rated_ping", None)
        .await
        .unwrap();
}
