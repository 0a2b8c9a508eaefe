//! Submit rates of unique tasks against plain ones (`--only unique`).

use std::time::Instant;

use taskq::prelude::*;

use crate::figure::Figure;
use crate::place::{Place, open};
use crate::{bench_plain, bench_unique};

/// Submit rates, plain against unique, in interleaved rounds: batches of
/// 1,000 (new keys, then the same keys again: all duplicates), and single
/// submits.
pub async fn unique_submits(name: &str, place: &Place, n: usize) {
    let client = Client::new(open(name, place).await).expect("client");
    let rounds = 3;
    let per_round = (n / rounds).max(1000) / 1000 * 1000;
    let singles = (per_round / 20).max(50);
    let mut next = 0u64;
    let mut rates: [Vec<f64>; 5] = Default::default();
    let rate = |count: usize, started: Instant| count as f64 / started.elapsed().as_secs_f64();
    for _ in 0..rounds {
        let keys: Vec<u64> = (next..next + per_round as u64).collect();
        next += per_round as u64;
        let started = Instant::now();
        for chunk in keys.chunks(1000) {
            client
                .submit_many(bench_plain, chunk.iter().copied())
                .await
                .expect("plain");
        }
        rates[0].push(rate(per_round, started));
        let started = Instant::now();
        for chunk in keys.chunks(1000) {
            client
                .submit_many(bench_unique, chunk.iter().copied())
                .await
                .expect("unique");
        }
        rates[1].push(rate(per_round, started));
        let started = Instant::now();
        for chunk in keys.chunks(1000) {
            let ids = client
                .submit_many(bench_unique, chunk.iter().copied())
                .await
                .expect("dup");
            assert_eq!(ids.len(), chunk.len());
        }
        rates[2].push(rate(per_round, started));
        let started = Instant::now();
        for key in &keys[..singles] {
            client
                .submit(bench_plain, *key)
                .await
                .expect("plain single");
        }
        rates[3].push(rate(singles, started));
        let started = Instant::now();
        for offset in 0..singles as u64 {
            client
                .submit(bench_unique, next + offset)
                .await
                .expect("unique single");
        }
        next += singles as u64;
        rates[4].push(rate(singles, started));
    }
    let labels = [
        "batch plain",
        "batch unique, new keys",
        "batch unique, held keys",
        "single plain",
        "single unique, new key",
    ];
    for (label, mut rates) in labels.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        let figure = format!("submit {label}");
        Figure::new(name, &figure, rates[rates.len() / 2], "tasks/s").report();
        println!(
            "{name:<14} submit {label:<24} {:>9.0} tasks/s (median of {rounds}; min {:.0}, max {:.0})",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
}
