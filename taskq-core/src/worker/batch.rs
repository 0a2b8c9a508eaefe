//! A claimed batch on its way to the handler runtime: one runner starts
//! its attempts one after another (a batch of short handlers costs one
//! spawn), and a watcher on the worker's runtime adds a runner whenever
//! the batch stops moving — so a handler that blocks its thread in its
//! first poll does not hold back the rest of its batch, even when such
//! handlers hold every handler thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::sleep;

use super::attempt::{self, Attempt, Slot};
use super::shared::Shared;

/// How long a batch may go without starting an attempt before the watcher
/// adds a runner. Longer than any first poll of a handler that yields as
/// tokio asks (well under a millisecond), short next to a timeout.
const STALL: Duration = Duration::from_millis(10);

struct Batch {
    shared: Arc<Shared>,
    attempts: Mutex<VecDeque<(Attempt, Slot)>>,
    /// Attempts taken so far: the watcher's sign that the batch moves.
    taken: AtomicUsize,
    /// A runner was spawned and has not started yet: do not add another.
    runner_waiting: AtomicBool,
}

impl Batch {
    fn next(&self) -> Option<(Attempt, Slot)> {
        let next = self
            .attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if next.is_some() {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        next
    }

    fn is_empty(&self) -> bool {
        self.attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}

/// Starts a claimed batch's attempts on the handler runtime. Call it on
/// the worker's runtime: the watcher runs there.
pub(super) fn start(shared: &Arc<Shared>, attempts: Vec<(Attempt, Slot)>) {
    let batch = Arc::new(Batch {
        shared: shared.clone(),
        attempts: Mutex::new(attempts.into()),
        taken: AtomicUsize::new(0),
        runner_waiting: AtomicBool::new(false),
    });
    spawn_runner(&batch);
    // Even a batch of one: its runner may wait for a thread that blocked
    // handlers hold.
    tokio::spawn(watch(batch));
}

fn spawn_runner(batch: &Arc<Batch>) {
    batch.runner_waiting.store(true, Ordering::Release);
    let runner = batch.clone();
    batch.shared.handlers.spawn(async move {
        runner.runner_waiting.store(false, Ordering::Release);
        run(&runner).await;
    });
}

/// A runner on a thread of the handler runtime's blocking pool, for when
/// every handler thread is blocked: the batch's other attempts start there
/// (a handler still running after its first poll goes on on the handler
/// runtime, when it has a thread again).
fn spawn_blocking_runner(batch: &Arc<Batch>) {
    let runner = batch.clone();
    let runtime = batch.shared.handlers.clone();
    batch
        .shared
        .handlers
        .spawn_blocking(move || runtime.block_on(run(&runner)));
}

async fn run(batch: &Batch) {
    while let Some((attempt, slot)) = batch.next() {
        attempt::start(&batch.shared, attempt, slot).await;
    }
}

/// Adds a runner each time the batch went a [`STALL`] without starting an
/// attempt, until it is empty: on the handler runtime, or — when the
/// runner added before is still waiting for a thread there (every handler
/// thread blocked) — on the blocking pool.
async fn watch(batch: Arc<Batch>) {
    loop {
        let before = batch.taken.load(Ordering::Relaxed);
        sleep(STALL).await;
        if batch.is_empty() {
            return;
        }
        if batch.taken.load(Ordering::Relaxed) == before {
            if batch.runner_waiting.load(Ordering::Acquire) {
                spawn_blocking_runner(&batch);
            } else {
                spawn_runner(&batch);
            }
        }
    }
}
