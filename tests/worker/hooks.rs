//! Attempt hooks on every backend: `started` for each attempt, `around`
//! scoping a task-local the handler reads (hooks nested in the order they
//! were added) or refusing to run a handler, and `ended` with what the
//! store records — a retry, a finish, and a hard timeout the handler never
//! returned from.

use taskq::TaskId;
use taskq::backend::Outcome;
use taskq::registry::HandlerFuture;
use taskq::worker::AttemptHook;

use super::*;

tokio::task_local! {
    /// Set by a hook around the handler.
    static TENANT: String;
}

/// Answers with the tenant the hooks scoped around it.
#[long_task(retries = 0)]
pub(super) async fn hook_reads_tenant(text: String) -> Result<String, TaskError> {
    let tenant = TENANT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "none".into());
    Ok(format!("{text} for {tenant}"))
}

/// What the hooks saw, by task.
#[derive(Default)]
struct Seen(Mutex<Vec<(TaskId, String)>>);

impl Seen {
    fn push(&self, id: TaskId, event: impl Into<String>) {
        self.0.lock().unwrap().push((id, event.into()));
    }

    fn of(&self, id: TaskId) -> Vec<String> {
        let seen = self.0.lock().unwrap();
        seen.iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// Records starts and ends, scopes the tenant, refuses `panics`.
struct Outer(Arc<Seen>);

impl AttemptHook for Outer {
    fn started(&self, ctx: &TaskContext) {
        self.0.push(ctx.id(), format!("started {}", ctx.attempt()));
    }

    fn around(&self, ctx: &TaskContext, next: HandlerFuture) -> HandlerFuture {
        if ctx.task_type() == "panics" {
            return Box::pin(async { Err(TaskError::permanent("refused by a hook")) });
        }
        let (seen, id) = (self.0.clone(), ctx.id());
        Box::pin(TENANT.scope("acme".to_owned(), async move {
            seen.push(id, "outer in");
            let result = next.await;
            seen.push(id, "outer out");
            result
        }))
    }

    fn ended(&self, ctx: &TaskContext, outcome: &Outcome) {
        let event = match outcome {
            Outcome::Finished(_) => "finished".to_owned(),
            Outcome::Retry { error, .. } => format!("retry {}", error.kind),
            Outcome::Failed(error) => format!("failed {}", error.kind),
            Outcome::Cancelled(_) => "cancelled".to_owned(),
            Outcome::Snooze { .. } => "snooze".to_owned(),
        };
        self.0.push(ctx.id(), event);
    }
}

/// Added second: inside `Outer`.
struct Inner(Arc<Seen>);

impl AttemptHook for Inner {
    fn around(&self, ctx: &TaskContext, next: HandlerFuture) -> HandlerFuture {
        let (seen, id) = (self.0.clone(), ctx.id());
        Box::pin(async move {
            seen.push(id, "inner in");
            let result = next.await;
            seen.push(id, "inner out");
            result
        })
    }
}

pub async fn hooks_see_every_attempt_and_its_end(backend: Arc<dyn Backend>) {
    let client = Client::new(backend).unwrap();
    let seen = Arc::new(Seen::default());
    let worker = fast_worker(&client)
        .hook(Outer(seen.clone()))
        .hook(Inner(seen.clone()))
        .build()
        .unwrap();
    let stop = spawn(worker);

    let tenant = client
        .submit(hook_reads_tenant, "report".to_owned())
        .await
        .unwrap();
    let flaky_id = client
        .submit(
            flaky,
            Flaky {
                key: unique("hook-flaky"),
                failures: 1,
            },
        )
        .await
        .unwrap();
    let slow = client
        .submit(
            sleeper,
            Sleep {
                ms: 5_000,
                cooperative: false,
            },
        )
        .timeout(Duration::from_millis(300))
        .await
        .unwrap();
    let refused = client
        .submit(
            panics,
            Echo {
                text: "never runs".into(),
                times: 1,
            },
        )
        .await
        .unwrap();

    let done = wait_terminal(&client, tenant).await;
    assert_eq!(done.result, Some(json!("report for acme")));
    let flaky_done = wait_terminal(&client, flaky_id).await;
    assert_eq!(flaky_done.state, TaskState::Finished);
    let slow_done = wait_terminal(&client, slow).await;
    assert_eq!(slow_done.error.map(|e| e.kind), Some(ErrorKind::Timeout));
    let refused_done = wait_terminal(&client, refused).await;
    let error = refused_done.error.expect("an error");
    assert_eq!(
        (error.kind, error.message.as_str()),
        (ErrorKind::Permanent, "refused by a hook")
    );
    stop().await;

    assert_eq!(
        seen.of(tenant),
        [
            "started 1",
            "outer in",
            "inner in",
            "inner out",
            "outer out",
            "finished"
        ]
    );
    let flaky_events: Vec<String> = seen
        .of(flaky_id)
        .into_iter()
        .filter(|e| !e.contains(" in") && !e.contains(" out"))
        .collect();
    assert_eq!(
        flaky_events,
        ["started 1", "retry retryable", "started 2", "finished"]
    );
    let slow_events = seen.of(slow);
    assert_eq!(slow_events.first().map(String::as_str), Some("started 1"));
    assert_eq!(
        slow_events.last().map(String::as_str),
        Some("failed timeout")
    );
    assert_eq!(seen.of(refused), ["started 1", "failed permanent"]);
}
