//! The model test: seeded random sequences of operations, applied to a
//! backend and to a reference store built on [`crate::lifecycle`] alone,
//! comparing every return value and every observable record after each
//! step. On a difference, proptest shrinks the sequence and the test
//! prints the shortest one that still differs.
//!
//! A backend's test calls [`check`] with a factory giving a fresh backend
//! per case:
//!
//! ```ignore
//! #[test]
//! fn model_sqlite() {
//!     taskq_core::conformance::model::check("sqlite", 32, || async { fresh_sqlite().await });
//! }
//! ```
//!
//! The clock is virtual: each case starts a day after the real now, at a
//! whole millisecond, and only [`Op::Advance`] moves it, so leases expire
//! and retries come due when the sequence says. Every call that takes a
//! time gets the virtual one; what a backend decides by its own clock
//! (whether a pending task counts as scheduled in its queue counts) is
//! left out of the comparison.
//!
//! `TASKQ_MODEL_CASES` overrides every backend's case count (say, 2000
//! for a long run); `TASKQ_MODEL_SEED` replays the run a failure names.

mod case;
mod limits;
mod observe;
mod ops;
mod reference;
mod settings;

use std::future::Future;
use std::sync::Arc;

use chrono::{DurationRound, Utc};
use proptest::collection::vec;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

pub use case::{Case, Tally};
pub use limits::TypeLimits;
pub use ops::{Op, OutcomeKind, ReorderTo};
pub use reference::Reference;

use crate::backend::Backend;

/// Operations per case, at most.
const MAX_STEPS: usize = 40;

/// Runs `cases` random cases (or `TASKQ_MODEL_CASES`) against fresh
/// backends from `factory`, and panics with the shortest differing
/// sequence if the backend and the reference ever disagree.
pub fn check<F, Fut>(label: &str, cases: u32, factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Backend>>,
{
    let cases = std::env::var("TASKQ_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let seed: u64 = std::env::var("TASKQ_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // A backend that cannot be made fails here, once, rather than as a
    // "difference" that proptest would try to shrink.
    drop(runtime.block_on(factory()));
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tally = std::sync::Mutex::new(Tally::new());
    // Cases run until the first difference (the rest are shrinking runs).
    let ran = std::sync::atomic::AtomicU32::new(0);
    let first_failure = std::sync::OnceLock::new();
    let result = runner.run(&vec(ops::op(), 1..MAX_STEPS), |ops| {
        let mut case_tally = Tally::new();
        let run = ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let outcome = runtime.block_on(run_case(&factory, &ops, &mut case_tally));
        if outcome.is_err() {
            first_failure.get_or_init(|| run);
        }
        let mut total = tally
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (effect, count) in case_tally {
            *total.entry(effect).or_default() += count;
        }
        outcome.map_err(TestCaseError::fail)
    });
    let tally = tally
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match result {
        Ok(()) => eprintln!(
            "model {label}: {cases} cases agree (seed {seed}); steps by effect: {tally:?}"
        ),
        Err(TestError::Fail(reason, ops)) => panic!(
            "model {label}: the backend and the model differ (TASKQ_MODEL_SEED={seed}), \
             first in case {}, shrunk in {} more runs\n\
             {reason}\nshortest sequence ({} steps):\n{ops:#?}",
            first_failure.get().copied().unwrap_or_default(),
            ran.load(std::sync::atomic::Ordering::Relaxed)
                - first_failure.get().copied().unwrap_or_default(),
            ops.len()
        ),
        Err(TestError::Abort(reason)) => panic!("model {label}: aborted: {reason}"),
    }
}

async fn run_case<F, Fut>(factory: &F, ops: &[Op], tally: &mut Tally) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Backend>>,
{
    let backend = factory().await;
    let start = (Utc::now() + chrono::Duration::days(1))
        .duration_trunc(chrono::Duration::milliseconds(1))
        .map_err(|err| err.to_string())?;
    let mut case = Case::start(&*backend, start).await?;
    for (at, op) in ops.iter().enumerate() {
        case.step(op, tally)
            .await
            .map_err(|diff| format!("step {at}: {diff}"))?;
    }
    case.compare_ids().await
}
