//! Unique tasks through the client on every backend: declared with
//! `#[long_task(unique(...))]`, overridden per submission, refused with a
//! typed error when the declaration gives no key, and free again once the
//! holder ended.

use taskq::{TaskState, Unique};

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct Refresh {
    pub(super) account: u64,
    pub(super) note: String,
}

/// One refresh per account while one is queued or running.
#[long_task(queue = "unique", retries = 0, unique(fields = ["account"]))]
pub(super) async fn refresh_account(p: Refresh) -> Result<u64, TaskError> {
    Ok(p.account * 10)
}

fn refresh(account: u64, note: &str) -> Refresh {
    Refresh {
        account,
        note: note.to_owned(),
    }
}

/// An account no other test (or earlier run on a shared server) uses.
fn fresh_account() -> u64 {
    u64::from(uuid::Uuid::now_v7().as_u128() as u32)
}

async fn stored_count(client: &Client) -> u64 {
    let filter = TaskFilter {
        queue: Some("unique".into()),
        ..TaskFilter::default()
    };
    client
        .list(&filter, PageRequest::new(1, 1))
        .await
        .expect("list")
        .total
}

/// The declared key (the task type and `account`) makes a second submit
/// answer with the first task, other params notwithstanding; another
/// account, or `not_unique`, stores a task; once the holder finished, the
/// key is free.
pub async fn unique_declared_key_answers_with_the_holder(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let account = fresh_account();
    let first = client
        .submit(refresh_account, refresh(account, "a"))
        .outcome()
        .await
        .unwrap();
    assert!(!first.duplicate && !first.unique_conflict);
    let record = client.get(first.id).await.unwrap();
    let key = record.unique.expect("the record holds its key");
    assert_eq!(key.key, format!("refresh_account:[{account}]"));
    assert_eq!(key.states, [TaskState::Pending, TaskState::Running]);
    let again = client
        .submit(refresh_account, refresh(account, "b"))
        .outcome()
        .await
        .unwrap();
    assert!(again.duplicate && again.unique_conflict);
    assert_eq!(again.id, first.id);
    let other = client
        .submit(refresh_account, refresh(account + 1, "a"))
        .await
        .unwrap();
    assert_ne!(other, first.id);
    let forced = client
        .submit(refresh_account, refresh(account, "c"))
        .not_unique()
        .await
        .unwrap();
    assert_ne!(forced, first.id);
    assert_eq!(client.get(forced).await.unwrap().unique, None);
    // A batch: one task per held key, the duplicates' places name holders.
    let ids = client
        .submit_many(
            refresh_account,
            [
                refresh(account, "d"),
                refresh(account + 2, "d"),
                refresh(account + 2, "e"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids[0], first.id);
    assert_eq!(ids[1], ids[2]);
    assert_eq!(stored_count(&client).await, 4);

    // Waiting on a duplicate waits for the holder's result.
    let stop = spawn(fast_worker(&client).queue("unique", 2).build().unwrap());
    let result = client
        .submit(refresh_account, refresh(account, "f"))
        .wait(Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(result, account * 10);
    wait_terminal(&client, other).await;
    wait_terminal(&client, forced).await;
    wait_terminal(&client, ids[1]).await;
    stop().await;
    assert_eq!(
        client.get(first.id).await.unwrap().state,
        TaskState::Finished
    );
    // The holder finished: the key is free for a new task.
    let next = client
        .submit(refresh_account, refresh(account, "g"))
        .outcome()
        .await
        .unwrap();
    assert!(!next.duplicate);
    assert_ne!(next.id, first.id);
}

/// A submission's own uniqueness replaces the declared one; by name the
/// same; a declaration that gives no key is `InvalidUnique` naming the
/// option, and stores nothing.
pub async fn unique_per_submission_and_bad_input(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let key = format!("report-{}", uuid::Uuid::now_v7());
    let daily = Unique::key(key.clone())
        .period(Duration::from_secs(3600))
        .states(&TaskState::ALL);
    let first = client
        .submit(
            echo,
            Echo {
                text: "x".into(),
                times: 1,
            },
        )
        .queue("unique")
        .unique(daily.clone())
        .await
        .unwrap();
    let held = client.get(first).await.unwrap().unique.expect("key");
    assert_eq!(held.key, key);
    assert_eq!(held.states, TaskState::ALL);
    assert!(held.until.is_some());
    // Cancelled, the holder still holds (every state, within the period).
    client.cancel(first).await.unwrap();
    let again = client
        .submit_json("echo", json!({ "text": "y" }))
        .queue("unique")
        .unique(daily)
        .outcome()
        .await
        .unwrap();
    assert!(again.unique_conflict);
    assert_eq!(again.id, first);
    // The holder's rule decides, not the newcomer's: `unique_key` alone
    // (the default states) still finds the cancelled holder holding.
    let by_key = client
        .submit(
            echo,
            Echo {
                text: "z".into(),
                times: 1,
            },
        )
        .queue("unique")
        .unique_key(key.clone())
        .outcome()
        .await
        .unwrap();
    assert_eq!((by_key.id, by_key.unique_conflict), (first, true));
    // Deleted, the holder holds nothing: the key is free.
    client.delete(first).await.unwrap();
    let after_delete = client
        .submit(
            echo,
            Echo {
                text: "z".into(),
                times: 1,
            },
        )
        .queue("unique")
        .unique_key(key.clone())
        .outcome()
        .await
        .unwrap();
    assert!(!after_delete.duplicate);

    let before = stored_count(&client).await;
    let bad = [
        (Unique::key(""), "key"),
        (Unique::key("k".repeat(256)), "key"),
        (Unique::fields(["missing"]), "fields"),
        (Unique::params().period(Duration::ZERO), "period"),
        (Unique::params().states(&[]), "states"),
    ];
    for (unique, field) in bad {
        let err = client
            .submit(
                echo,
                Echo {
                    text: "bad".into(),
                    times: 1,
                },
            )
            .queue("unique")
            .unique(unique)
            .await
            .unwrap_err();
        match err {
            Error::InvalidUnique { field: got, .. } => assert_eq!(got, field),
            other => panic!("{field}: expected InvalidUnique, got {other:?}"),
        }
    }
    assert_eq!(stored_count(&client).await, before, "nothing stored");
}

/// The attribute's `unique(...)` becomes the task type's `Unique`, and a
/// bare `unique` the default rule (all the params, pending or running).
#[test]
fn unique_attribute_declares_the_rule() {
    let registry = taskq::registry::Registry::from_inventory().unwrap();
    let declared = registry
        .get("refresh_account")
        .unwrap()
        .options
        .unique
        .clone();
    assert_eq!(declared, Some(Unique::fields(["account"])));
    let bare = registry
        .get("unique_by_params")
        .unwrap()
        .options
        .unique
        .clone();
    assert_eq!(bare, Some(Unique::params()));
    let full = registry
        .get("unique_full_rule")
        .unwrap()
        .options
        .unique
        .clone();
    assert_eq!(
        full,
        Some(
            Unique::key("nightly")
                .period(Duration::from_secs(90))
                .states(&[TaskState::Pending, TaskState::Failed])
        )
    );
}

#[long_task(unique)]
async fn unique_by_params(n: u32) -> Result<(), TaskError> {
    let _ = n;
    Ok(())
}

#[long_task(unique(key = "nightly", period = 90, states = ["pending", "FAILED"]))]
async fn unique_full_rule(n: u32) -> Result<(), TaskError> {
    let _ = n;
    Ok(())
}
