//! What a queue limit, a rate limit, a task type limit, a task type rate
//! limit and key limits cost the claims (`--only limit`): burn-downs of
//! the same queue with no limit, with a limit far above the worker's
//! slots, a rate limit far above the load, a type limit far above the
//! slots, a type rate limit far above the load (so none binds, and only
//! their bookkeeping shows), and tasks over 1,000 distinct keys
//! each limited to 1 (which binds only when a key's next task is claimed
//! while its last runs), and a type limit on a type the worker runs but
//! the queue has no task of, in interleaved rounds.

use std::time::Duration;

use taskq::RateLimit;
use taskq::prelude::*;

use serde::{Deserialize, Serialize};

use crate::burn_down::{drain, submit_batches};
use crate::figure::Figure;
use crate::place::{Place, open};
use crate::{CONCURRENCY, bench_keyed, bench_noop};

/// Distinct keys of the key rounds.
const KEYS: u32 = 1_000;

/// The params of `bench_keyed`: its concurrency key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Keyed {
    pub k: u32,
}

/// Submits `n` no-op tasks (keyed ones for a key round), then drains
/// them; the drain's jobs per second.
pub async fn drain_noops(client: &Client, n: usize, keyed: bool) -> f64 {
    if keyed {
        let mut submitted = 0;
        while submitted < n {
            let batch = (n - submitted).min(1_000);
            let params = (submitted..submitted + batch).map(|i| Keyed {
                k: u32::try_from(i).unwrap_or(0) % KEYS,
            });
            client
                .submit_many(bench_keyed, params)
                .await
                .expect("submit");
            submitted += batch;
        }
    } else {
        submit_batches(client, bench_noop, n).await;
    }
    n as f64 / drain(client, n).await
}

/// What a round sets on the queue.
#[derive(Clone, Copy)]
enum Setting {
    None,
    Limit(u32),
    Rate(RateLimit),
    TypeLimit(u32),
    TypeRate(RateLimit),
    /// `KEYS` keys, each limited to this many.
    KeyLimit(u32),
    /// A type limit on `bench_keyed`, which the worker runs but the queue
    /// has no task of: what a limited type costs the claims of others.
    OtherTypeLimit(u32),
}

impl Setting {
    fn label(self) -> String {
        match self {
            Setting::None => "no limit".to_owned(),
            Setting::Limit(limit) => format!("limit {limit}"),
            Setting::Rate(rate) => format!("rate {}/s", rate.starts),
            Setting::TypeLimit(limit) => format!("type limit {limit}"),
            Setting::TypeRate(rate) => format!("type rate {}/s", rate.starts),
            Setting::KeyLimit(limit) => format!("{KEYS} keys ≤{limit}"),
            Setting::OtherTypeLimit(limit) => format!("other type limit {limit}"),
        }
    }

    async fn apply(self, client: &Client) {
        let (limit, rate, type_limit, key_limit) = match self {
            Setting::None | Setting::TypeRate(_) | Setting::OtherTypeLimit(_) => {
                (None, None, None, None)
            }
            Setting::Limit(limit) => (Some(limit), None, None, None),
            Setting::Rate(rate) => (None, Some(rate), None, None),
            Setting::TypeLimit(limit) => (None, None, Some(limit), None),
            Setting::KeyLimit(limit) => (None, None, None, Some(limit)),
        };
        let type_rate = match self {
            Setting::TypeRate(rate) => Some(rate),
            _ => None,
        };
        let other_limit = match self {
            Setting::OtherTypeLimit(limit) => Some(limit),
            _ => None,
        };
        client
            .set_type_limit("bench_keyed", other_limit)
            .await
            .expect("other type limit");
        client
            .set_type_rate_limit("bench_noop", type_rate)
            .await
            .expect("type rate limit");
        client
            .set_type_limit("bench_noop", type_limit)
            .await
            .expect("type limit");
        client
            .set_key_limit("bench_keyed", key_limit)
            .await
            .expect("key limit");
        client
            .set_queue_limit("default", limit)
            .await
            .expect("limit");
        client
            .set_queue_rate_limit("default", rate)
            .await
            .expect("rate limit");
    }
}

pub async fn limited_burn_downs(name: &str, place: &Place, n: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    let rounds = 3;
    let settings = [
        Setting::None,
        Setting::Limit(1_000_000),
        Setting::Rate(RateLimit::new(10_000_000, Duration::from_secs(1))),
        Setting::TypeLimit(1_000_000),
        Setting::TypeRate(RateLimit::new(10_000_000, Duration::from_secs(1))),
        Setting::KeyLimit(1),
        Setting::OtherTypeLimit(1),
    ];
    let mut rates: [Vec<f64>; 7] = Default::default();
    for _ in 0..rounds {
        for (setting, rates) in settings.iter().zip(rates.iter_mut()) {
            setting.apply(&client).await;
            let keyed = matches!(setting, Setting::KeyLimit(_));
            rates.push(drain_noops(&client, n, keyed).await);
        }
    }
    Setting::None.apply(&client).await;
    for (setting, mut rates) in settings.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        let label = setting.label();
        let median = rates[rates.len() / 2];
        Figure::new(name, &format!("burn-down {label}"), median, "jobs/s").report();
        println!(
            "{name:<14} burn-down {n:>8} tasks, {label:<19} {median:>9.0} jobs/s (median of {rounds}; min {:.0}, max {:.0}; {CONCURRENCY} slots)",
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
