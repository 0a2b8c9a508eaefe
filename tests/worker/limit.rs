//! Type limits end to end: a task type declares `concurrency = 2`, the
//! worker stores it at start (only where the backend has none), and
//! however many slots the worker has, never more than two of the type
//! run at once, while other types run past them.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Nap {
    pub ms: u64,
}

/// At most two at once, on every worker together.
#[long_task(queue = "limited", retries = 0, concurrency = 2)]
pub(super) async fn limited_nap(p: Nap) -> Result<(), TaskError> {
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    Ok(())
}

/// The same queue, no limit.
#[long_task(queue = "limited", retries = 0)]
pub(super) async fn free_nap(p: Nap) -> Result<(), TaskError> {
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    Ok(())
}

/// The most records whose run (`started_at` to `finished_at`) overlap.
pub(super) fn max_overlap(records: &[TaskRecord]) -> usize {
    let mut edges: Vec<(chrono::DateTime<chrono::Utc>, i32)> = Vec::new();
    for r in records {
        edges.push((r.started_at.expect("started"), 1));
        // An end at the same instant as a start comes first.
        edges.push((r.finished_at.expect("finished"), -1));
    }
    edges.sort_by_key(|&(at, delta)| (at, delta));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

/// Eight limited and four free tasks on a worker with eight slots: at
/// most two limited ones overlap, the free ones are not held back, the
/// declared limit is stored once and a runtime change outlives a restart.
pub async fn limit_type_declared_caps_running_tasks(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let mut limited = Vec::new();
    for _ in 0..8 {
        limited.push(client.submit(limited_nap, Nap { ms: 150 }).await.unwrap());
    }
    let mut free = Vec::new();
    for _ in 0..4 {
        free.push(client.submit(free_nap, Nap { ms: 150 }).await.unwrap());
    }
    let worker = fast_worker(&client).queue("limited", 8).build().unwrap();
    let stop = spawn(worker);
    let mut records = Vec::new();
    for id in &limited {
        let record = wait_terminal(&client, *id).await;
        assert_eq!(record.state, TaskState::Finished);
        records.push(record);
    }
    let mut free_records = Vec::new();
    for id in &free {
        free_records.push(wait_terminal(&client, *id).await);
    }
    stop().await;
    let most = max_overlap(&records);
    assert!(most <= 2, "{most} limited tasks ran at once");
    assert_eq!(most, 2, "the limit was reached");
    assert!(
        max_overlap(&free_records) >= 3,
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
}

/// At most one at once per tenant.
#[long_task(queue = "limited", retries = 0, concurrency(key = "tenant", limit = 1))]
pub(super) async fn tenant_nap(p: TenantNap) -> Result<(), TaskError> {
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    Ok(())
}

/// Three tasks for each of two tenants on a worker with eight slots:
/// each tenant's never overlap, the two tenants' do; the key comes from
/// the params (or the submission), and params without it are refused.
pub async fn limit_key_declared_caps_each_key(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let mut ids = Vec::new();
    for tenant in ["a", "b", "a", "b", "a"] {
        let nap = TenantNap {
            tenant: Some(tenant.into()),
            ms: 120,
        };
        ids.push(client.submit(tenant_nap, nap).await.unwrap());
    }
    // The submission's key wins over the params'.
    let nap = TenantNap {
        tenant: Some("a".into()),
        ms: 120,
    };
    ids.push(
        client
            .submit(tenant_nap, nap)
            .concurrency_key("b")
            .await
            .unwrap(),
    );
    let before = client
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap()
        .total;
    let bad = client
        .submit(
            tenant_nap,
            TenantNap {
                tenant: None,
                ms: 1,
            },
        )
        .await;
    assert!(
        matches!(&bad, Err(Error::InvalidParams { path, .. }) if path == "tenant"),
        "{bad:?}"
    );
    let empty = client
        .submit(
            tenant_nap,
            TenantNap {
                tenant: Some(String::new()),
                ms: 1,
            },
        )
        .await;
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
    let mut records = Vec::new();
    for id in &ids {
        let record = wait_terminal(&client, *id).await;
        assert_eq!(record.state, TaskState::Finished);
        records.push(record);
    }
    stop().await;
    let of = |key: &str| -> Vec<TaskRecord> {
        records
            .iter()
            .filter(|r| r.concurrency_key.as_deref() == Some(key))
            .cloned()
            .collect()
    };
    assert_eq!((of("a").len(), of("b").len()), (3, 3));
    assert_eq!(max_overlap(&of("a")), 1, "tenant a one at a time");
    assert_eq!(max_overlap(&of("b")), 1, "tenant b one at a time");
    assert_eq!(max_overlap(&records), 2, "the tenants ran side by side");
    let stored = client.type_limits().await.unwrap();
    let row = stored.iter().find(|r| r.task_type == "tenant_nap").unwrap();
    assert_eq!((row.limit, row.key_limit), (None, Some(1)));
}
