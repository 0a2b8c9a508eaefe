//! Type limits end to end: a task type declares `concurrency = 2`, the
//! worker stores it at start (only where the backend has none), and
//! however many slots the worker has, never more than two of the type
//! run at once, while other types run past them.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Nap {
    pub ms: u64,
    /// The gauge this run counts in (one per test and backend: the
    /// backends' tests share the process).
    pub gauge: String,
}

/// Per gauge: the handlers running now and the most that ever did. Read
/// inside the handlers, so it counts what ran at once, not what the
/// records' times say (a claim's `now` may precede a settle's commit it
/// waited for).
static GAUGES: LazyLock<Mutex<HashMap<String, (usize, usize)>>> = LazyLock::new(Default::default);

/// Runs `work` counted in `gauge`.
async fn gauged(gauge: &str, work: impl std::future::Future<Output = ()>) {
    {
        let mut gauges = GAUGES.lock().unwrap();
        let entry = gauges.entry(gauge.to_owned()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
    }
    work.await;
    GAUGES
        .lock()
        .unwrap()
        .entry(gauge.to_owned())
        .or_default()
        .0 -= 1;
}

/// The most handlers of `gauge` that ran at once.
pub(super) fn most_at_once(gauge: &str) -> usize {
    GAUGES.lock().unwrap().get(gauge).map_or(0, |g| g.1)
}

/// At most two at once, on every worker together.
#[long_task(queue = "limited", retries = 0, concurrency = 2)]
pub(super) async fn limited_nap(p: Nap) -> Result<(), TaskError> {
    gauged(&p.gauge, tokio::time::sleep(Duration::from_millis(p.ms))).await;
    Ok(())
}

/// The same queue, no limit.
#[long_task(queue = "limited", retries = 0)]
pub(super) async fn free_nap(p: Nap) -> Result<(), TaskError> {
    gauged(&p.gauge, tokio::time::sleep(Duration::from_millis(p.ms))).await;
    Ok(())
}

/// Eight limited and four free tasks on a worker with eight slots: at
/// most two limited ones overlap, the free ones are not held back, the
/// declared limit is stored once and a runtime change outlives a restart.
pub async fn limit_type_declared_caps_running_tasks(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let gauge = unique("limited");
    let free_gauge = unique("free");
    let nap = |gauge: &str| Nap {
        ms: 150,
        gauge: gauge.to_owned(),
    };
    let mut limited = Vec::new();
    for _ in 0..8 {
        limited.push(client.submit(limited_nap, nap(&gauge)).await.unwrap());
    }
    let mut free = Vec::new();
    for _ in 0..4 {
        free.push(client.submit(free_nap, nap(&free_gauge)).await.unwrap());
    }
    let worker = fast_worker(&client).queue("limited", 8).build().unwrap();
    let stop = spawn(worker);
    for id in limited.iter().chain(&free) {
        let record = wait_terminal(&client, *id).await;
        assert_eq!(record.state, TaskState::Finished);
    }
    stop().await;
    let most = most_at_once(&gauge);
    assert!(most <= 2, "{most} limited tasks ran at once");
    assert_eq!(most, 2, "the limit was reached");
    assert!(
        most_at_once(&free_gauge) >= 3,
        "free tasks ran beside the limited ones"
    );
    let stored = client.type_limits().await.unwrap();
    let row = stored
        .iter()
        .find(|r| r.task_type == "limited_nap")
        .expect("the declared limit was stored");
    assert_eq!((row.limit, row.running), (Some(2), 0));
    // A limit set at runtime is the truth: a restart keeps it.
    client.set_type_limit("limited_nap", Some(3)).await.unwrap();
    let stop = spawn(fast_worker(&client).queue("limited", 8).build().unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop().await;
    let stored = client.type_limits().await.unwrap();
    let row = stored.iter().find(|r| r.task_type == "limited_nap");
    assert_eq!(row.and_then(|r| r.limit), Some(3));
    // Bad input: typed errors, nothing stored.
    assert!(matches!(
        client.set_type_limit("limited_nap", Some(0)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.set_type_limit("", Some(1)).await,
        Err(Error::InvalidName { .. })
    ));
    let stored = client.type_limits().await.unwrap();
    let row = stored.iter().find(|r| r.task_type == "limited_nap");
    assert_eq!(row.and_then(|r| r.limit), Some(3), "kept: {stored:?}");
    assert!(!stored.iter().any(|r| r.task_type.is_empty()));
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct TenantNap {
    /// The concurrency key (`null`: refused at submit).
    #[serde(default)]
    pub tenant: Option<String>,
    pub ms: u64,
    /// The gauges: `<gauge>` for all, `<gauge>:<counted_as>` per key
    /// (the key the test expects the task to have).
    pub gauge: String,
    pub counted_as: String,
}

/// At most one at once per tenant.
#[long_task(queue = "limited", retries = 0, concurrency(key = "tenant", limit = 1))]
pub(super) async fn tenant_nap(p: TenantNap) -> Result<(), TaskError> {
    let per_key = format!("{}:{}", p.gauge, p.counted_as);
    let nap = tokio::time::sleep(Duration::from_millis(p.ms));
    gauged(&p.gauge, gauged(&per_key, nap)).await;
    Ok(())
}

/// Three tasks for each of two tenants on a worker with eight slots:
/// each tenant's never overlap, the two tenants' do; the key comes from
/// the params (or the submission), and params without it are refused.
pub async fn limit_key_declared_caps_each_key(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let gauge = unique("tenants");
    let nap = |tenant: Option<&str>, counted_as: &str| TenantNap {
        tenant: tenant.map(str::to_owned),
        ms: 120,
        gauge: gauge.clone(),
        counted_as: counted_as.to_owned(),
    };
    let mut ids = Vec::new();
    for tenant in ["a", "b", "a", "b", "a"] {
        ids.push(
            client
                .submit(tenant_nap, nap(Some(tenant), tenant))
                .await
                .unwrap(),
        );
    }
    // The submission's key wins over the params'.
    ids.push(
        client
            .submit(tenant_nap, nap(Some("a"), "b"))
            .concurrency_key("b")
            .await
            .unwrap(),
    );
    let before = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap()
        .total;
    let bad = client.submit(tenant_nap, nap(None, "")).await;
    assert!(
        matches!(&bad, Err(Error::InvalidParams { path, .. }) if path == "tenant"),
        "{bad:?}"
    );
    let empty = client.submit(tenant_nap, nap(Some(""), "")).await;
    assert!(
        matches!(empty, Err(Error::InvalidLabel { .. })),
        "{empty:?}"
    );
    let after = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap()
        .total;
    assert_eq!(before, after, "nothing stored");

    let stop = spawn(fast_worker(&client).queue("limited", 8).build().unwrap());
    let mut keys = Vec::new();
    for id in &ids {
        let record = wait_terminal(&client, *id).await;
        assert_eq!(record.state, TaskState::Finished);
        keys.push(record.concurrency_key);
    }
    stop().await;
    let count = |key: &str| keys.iter().filter(|k| k.as_deref() == Some(key)).count();
    assert_eq!((count("a"), count("b")), (3, 3));
    assert_eq!(
        most_at_once(&format!("{gauge}:a")),
        1,
        "tenant a one at a time"
    );
    assert_eq!(
        most_at_once(&format!("{gauge}:b")),
        1,
        "tenant b one at a time"
    );
    assert_eq!(most_at_once(&gauge), 2, "the tenants ran side by side");
    let stored = client.type_limits().await.unwrap();
    let row = stored.iter().find(|r| r.task_type == "tenant_nap").unwrap();
    assert_eq!((row.limit, row.key_limit), (None, Some(1)));
}
