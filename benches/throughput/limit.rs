//! What a queue limit costs the claims (`--only limit`): burn-downs of the
//! same queue with no limit and with a limit far above the worker's slots
//! (so it never binds, and only its bookkeeping shows), in interleaved
//! rounds.

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

pub async fn limited_burn_downs(name: &str, place: &Place, n: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    let rounds = 3;
    let limits = [None, Some(1_000_000)];
    let mut rates: [Vec<f64>; 2] = Default::default();
    for _ in 0..rounds {
        for (limit, rates) in limits.iter().zip(rates.iter_mut()) {
            client
                .set_queue_limit("default", *limit)
                .await
                .expect("limit");
            rates.push(drain_noops(&client, n).await);
        }
    }
    for (limit, mut rates) in limits.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        let label = limit.map_or_else(|| "no limit".to_owned(), |l| format!("limit {l}"));
        let median = rates[rates.len() / 2];
        Figure::new(name, &format!("burn-down {label}"), median, "jobs/s").report();
        println!(
            "{name:<14} burn-down {n:>8} tasks, {label:<15} {median:>9.0} jobs/s (median of {rounds}; min {:.0}, max {:.0}; {CONCURRENCY} slots)",
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
