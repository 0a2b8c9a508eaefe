//! What a queue limit and a rate limit cost the claims (`--only limit`):
//! burn-downs of the same queue with no limit, with a limit far above the
//! worker's slots and with a rate limit far above the load (so neither
//! binds, and only their bookkeeping shows), in interleaved rounds.

use std::time::Duration;

use taskq::RateLimit;
use taskq::prelude::*;

use crate::burn_down::{drain, submit_batches};
use crate::figure::Figure;
use crate::place::{Place, open};
use crate::{CONCURRENCY, bench_noop};

/// Submits `n` no-op tasks, then drains them; the drain's jobs per second.
async fn drain_noops(client: &Client, n: usize) -> f64 {
    submit_batches(client, bench_noop, n).await;
    n as f64 / drain(client, n).await
}

/// What a round sets on the queue.
#[derive(Clone, Copy)]
enum Setting {
    None,
    Limit(u32),
    Rate(RateLimit),
}

impl Setting {
    fn label(self) -> String {
        match self {
            Setting::None => "no limit".to_owned(),
            Setting::Limit(limit) => format!("limit {limit}"),
            Setting::Rate(rate) => format!("rate {}/s", rate.starts),
        }
    }

    async fn apply(self, client: &Client) {
        let (limit, rate) = match self {
            Setting::None => (None, None),
            Setting::Limit(limit) => (Some(limit), None),
            Setting::Rate(rate) => (None, Some(rate)),
        };
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
    ];
    let mut rates: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        for (setting, rates) in settings.iter().zip(rates.iter_mut()) {
            setting.apply(&client).await;
            rates.push(drain_noops(&client, n).await);
        }
    }
    Setting::None.apply(&client).await;
    for (setting, mut rates) in settings.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        let label = setting.label();
        let median = rates[rates.len() / 2];
        Figure::new(name, &format!("burn-down {label}"), median, "jobs/s").report();
        println!(
            "{name:<14} burn-down {n:>8} tasks, {label:<15} {median:>9.0} jobs/s (median of {rounds}; min {:.0}, max {:.0}; {CONCURRENCY} slots)",
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
