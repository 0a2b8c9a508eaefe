//! Every option of `#[long_task]` at once, and the values they produce.

use std::time::Duration;

use taskq::prelude::*;
use taskq::registry::Registry;
use taskq::{Backoff, TaskOptions, Unique};

/// Overridden by `description`.
#[long_task(
    name = "all.options",
    queue = "heavy",
    priority = -5,
    timeout = 7200,
    soft_timeout = 3600.5,
    retries = 10,
    retry_delay = 1.5,
    backoff = 3,
    backoff_max = 900,
    jitter = 0.25,
    description = "Every option at once.",
    blocking = true,
    unique(key = "all", period = 60, states = ["pending"]),
    max_snoozes = 7,
    expires = 300,
    concurrency = 4,
    rate_limit(starts = 100, period = 60),
)]
async fn all_options(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency(key = "tenant", limit = 2))]
async fn per_tenant(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency(key = "tenant"))]
async fn key_field_only(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

/// Both rate limits, beside a key limit on the same field.
#[long_task(
    concurrency(key = "tenant", limit = 2),
    rate_limit(key = "tenant", starts = 10, period = 0.5),
    rate_limit(starts = 50, period = 1)
)]
async fn rated_per_tenant(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

/// A key rate limit alone names the key field.
#[long_task(rate_limit(key = "account", starts = 3, period = 2))]
async fn key_rate_only(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(
    backoff = false,
    retry_delay = 0,
    jitter = 0,
    max_snoozes = "unlimited"
)]
async fn constant_delay(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

/// The names this file's tasks register under.
pub(crate) const NAMES: [&str; 6] = [
    "all.options",
    "constant_delay",
    "key_field_only",
    "key_rate_only",
    "per_tenant",
    "rated_per_tenant",
];

#[test]
fn macro_all_options_produce_their_values() {
    let registry = Registry::from_inventory().unwrap();
    assert_eq!(
        registry.get("all.options").unwrap().options,
        TaskOptions {
            queue: "heavy".into(),
            priority: -5,
            timeout: Some(Duration::from_secs(7200)),
            soft_timeout: Some(Duration::from_millis(3_600_500)),
            max_retries: 10,
            retry_delay: Duration::from_millis(1500),
            backoff: Backoff {
                factor: 3.0,
                max: Duration::from_secs(900),
                jitter: 0.25,
            },
            description: "Every option at once.".into(),
            blocking: true,
            unique: Some(
                Unique::key("all")
                    .period(Duration::from_secs(60))
                    .states(&[TaskState::Pending])
            ),
            max_snoozes: Some(7),
            expires: Some(Duration::from_secs(300)),
        }
    );
    let all = registry.get("all.options").unwrap().concurrency;
    assert_eq!(
        (all.limit, all.key_field, all.key_limit),
        (Some(4), None, None)
    );
    let tenant = registry.get("per_tenant").unwrap().concurrency;
    assert_eq!(
        (tenant.limit, tenant.key_field, tenant.key_limit),
        (None, Some("tenant"), Some(2))
    );
    let field = registry.get("key_field_only").unwrap().concurrency;
    assert_eq!(
        (field.limit, field.key_field, field.key_limit),
        (None, Some("tenant"), None)
    );
    let per_minute = taskq::RateLimit::new(100, Duration::from_secs(60));
    assert_eq!((all.rate, all.key_rate), (Some(per_minute), None));
    assert_eq!((tenant.rate, tenant.key_rate), (None, None));
    let rated = registry.get("rated_per_tenant").unwrap().concurrency;
    assert_eq!(
        (rated.key_field, rated.key_limit, rated.rate, rated.key_rate),
        (
            Some("tenant"),
            Some(2),
            Some(taskq::RateLimit::new(50, Duration::from_secs(1))),
            Some(taskq::RateLimit::new(10, Duration::from_millis(500)))
        )
    );
    let account = registry.get("key_rate_only").unwrap().concurrency;
    assert_eq!(
        (account.key_field, account.key_limit, account.key_rate),
        (
            Some("account"),
            None,
            Some(taskq::RateLimit::new(3, Duration::from_secs(2)))
        )
    );
    let constant = &registry.get("constant_delay").unwrap().options;
    assert_eq!(constant.backoff.factor, 1.0);
    assert_eq!(constant.backoff.jitter, 0.0);
    assert_eq!(constant.retry_delay, Duration::ZERO);
    assert_eq!(constant.max_snoozes, None);
}
