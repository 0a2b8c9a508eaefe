//! The same random operations on the in-memory backend and on SQLite give the same answers.

use super::*;

// ---------------------------------------------------------------------------
// Differential test: the same random operations on MemoryBackend and on
// SQLite give the same answers and leave the same records.

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// An error reduced to what the contract fixes.
fn shape<T: std::fmt::Debug>(result: &Result<T, Error>) -> String {
    match result {
        Ok(value) => format!("Ok({value:?})"),
        Err(Error::NotFound(id)) => format!("NotFound({id})"),
        Err(Error::InvalidTransition { id, state, action }) => {
            format!("InvalidTransition({id}, {state}, {action})")
        }
        Err(Error::InvalidArgument(_)) => "InvalidArgument".into(),
        Err(other) => panic!("unexpected error {other}"),
    }
}

async fn all_records(backend: &dyn Backend) -> Vec<TaskRecord> {
    let mut out = Vec::new();
    for page in 1.. {
        let Page { items, .. } = backend
            .list(&TaskFilter::default(), PageRequest::new(page, 100))
            .await
            .expect("list");
        if items.is_empty() {
            break;
        }
        out.extend(items);
    }
    out
}

#[tokio::test]
async fn same_behaviour_as_memory_backend_sqlite() {
    for seed in [1_u64, 7, 42, 1234] {
        differential(seed, 400).await;
    }
}

async fn differential(seed: u64, steps: usize) {
    let memory = MemoryBackend::new();
    let sqlite = fresh_sqlite().await;
    let backends: [&dyn Backend; 2] = [&memory, &sqlite];
    let mut rng = Lcg(seed);
    // A synthetic clock a little ahead of the real one, advancing in
    // sub-second steps.
    let mut clock = Utc::now() + chrono::Duration::seconds(5);
    let queues = ["a", "b"];
    let workers = ["w1", "w2"];
    let mut known: Vec<TaskId> = Vec::new();
    for step in 0..steps {
        clock += us(rng.below(300_000) as i64);
        let op = rng.below(14);
        let pick = |rng: &mut Lcg, known: &[TaskId]| {
            if known.is_empty() || rng.below(20) == 0 {
                TaskId::now_v7()
            } else {
                known[rng.below(known.len() as u64) as usize]
            }
        };
        // Running tasks (from the reference), with their attempt and worker.
        let running: Vec<TaskRecord> = memory
            .list(
                &TaskFilter {
                    state: Some(TaskState::Running),
                    ..TaskFilter::default()
                },
                PageRequest::new(1, 100),
            )
            .await
            .expect("list")
            .items;
        // Mostly a running attempt, sometimes anything.
        let pick_running = |rng: &mut Lcg, known: &[TaskId]| -> (TaskId, u32, &'static str) {
            if running.is_empty() || rng.below(4) == 0 {
                (
                    pick(rng, known),
                    1 + rng.below(2) as u32,
                    workers[rng.below(2) as usize],
                )
            } else {
                let r = &running[rng.below(running.len() as u64) as usize];
                let worker = if r.worker_id.as_deref() == Some("w1") {
                    "w1"
                } else {
                    "w2"
                };
                (r.id, r.attempt, worker)
            }
        };
        let results: Vec<String> = match op {
            0 | 1 => {
                let n = 1 + rng.below(4);
                let batch: Vec<TaskRecord> = (0..n)
                    .map(|_| {
                        let queue = queues[rng.below(2) as usize];
                        let eta = clock + ms(rng.below(2000) as i64) - ms(1000);
                        let mut r = record("t", queue, rng.below(3) as i32, eta);
                        r.created_at = clock;
                        r.max_retries = rng.below(3) as u32;
                        if rng.below(3) == 0 {
                            r.seq = known.len() as i64;
                        }
                        r
                    })
                    .collect();
                known.extend(batch.iter().map(|r| r.id));
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.enqueue(batch.clone()).await));
                }
                out
            }
            2 | 3 => {
                let queue = queues[rng.below(2) as usize];
                let worker = workers[rng.below(2) as usize];
                let limit = rng.below(4) as usize;
                let lease = Duration::from_millis(200 + rng.below(2000));
                let mut out = Vec::new();
                for b in backends {
                    let claimed = b
                        .claim(ClaimRequest {
                            queue,
                            limit,
                            worker_id: worker,
                            lease,
                            now: clock,
                            task_types: None,
                        })
                        .await;
                    out.push(shape(&claimed));
                }
                out
            }
            4 | 5 => {
                let (id, attempt, _) = pick_running(&mut rng, &known);
                let outcome = match rng.below(4) {
                    0 => Outcome::Finished(json!({ "step": step })),
                    1 => Outcome::Failed(failure(ErrorKind::Permanent, "no")),
                    2 => Outcome::Cancelled(failure(ErrorKind::Cancelled, "stop")),
                    _ => Outcome::Retry {
                        error: failure(ErrorKind::Retryable, "again"),
                        run_at: clock + ms(rng.below(1500) as i64),
                    },
                };
                let settlement = Settlement {
                    id,
                    attempt,
                    outcome,
                    at: clock,
                };
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.settle(vec![settlement.clone()]).await));
                }
                out
            }
            6 => {
                let (first, attempt, worker) = pick_running(&mut rng, &known);
                let mut held = vec![(first, attempt)];
                for _ in 0..rng.below(3) {
                    let (id, attempt, _) = pick_running(&mut rng, &known);
                    held.push((id, attempt));
                }
                let until = clock + ms(1500);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.heartbeat(worker, &held, until).await));
                }
                out
            }
            7 => {
                let id = pick(&mut rng, &known);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.cancel(id, clock).await));
                }
                out
            }
            8 => {
                let id = pick(&mut rng, &known);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.retry(id, clock).await));
                }
                out
            }
            9 => {
                let id = pick(&mut rng, &known);
                let position = match rng.below(3) {
                    0 => Position::Front,
                    1 => Position::Back,
                    _ => Position::Before(pick(&mut rng, &known)),
                };
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.reorder(id, position).await));
                }
                out
            }
            10 => {
                let queue = queues[rng.below(2) as usize];
                let paused = rng.below(2) == 0;
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.set_queue_paused(queue, paused).await));
                }
                out
            }
            11 => {
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(
                        &b.rescue_expired(clock, &taskq_core::lifecycle::RetryPolicy::IMMEDIATE)
                            .await,
                    ));
                }
                out
            }
            12 => {
                let (id, attempt, worker) = pick_running(&mut rng, &known);
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(&b.release(worker, &[(id, attempt)], clock).await));
                }
                out
            }
            _ => {
                let (id, attempt, _) = pick_running(&mut rng, &known);
                let progress = Progress {
                    fraction: rng.below(100) as f64 / 100.0,
                    message: format!("step {step}"),
                };
                let mut out = Vec::new();
                for b in backends {
                    out.push(shape(
                        &b.record_progress(id, attempt, progress.clone()).await,
                    ));
                }
                out
            }
        };
        assert_eq!(
            results[0], results[1],
            "seed {seed}, step {step}, op {op}: memory vs sqlite"
        );
    }
    assert_eq!(
        all_records(&memory).await,
        all_records(&sqlite).await,
        "seed {seed}: final records"
    );
    assert_eq!(
        memory.queue_stats().await.expect("stats"),
        sqlite.queue_stats().await.expect("stats"),
        "seed {seed}: queue stats"
    );
}
