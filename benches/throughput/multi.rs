//! `--mode multi-process`: this process produces, `--workers` copies of
//! the bench binary (run with `--child-worker`) work, on one place — a
//! server or a SQLite file. Each worker process reports the tasks it ran
//! and, at the end, its CPU time; the producer times from its first
//! submit to the last task's run, and sums.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use taskq::prelude::*;
use tokio::sync::mpsc;

use crate::burn_down::{IDLE, finished, submit_batches};
use crate::child_line::ChildLine;
use crate::cpu::{self, Meter};
use crate::figure::Figure;
use crate::place::{Place, open, open_with};
use crate::settings::Child;
use crate::{CONCURRENCY, DONE, bench_noop};

/// How often a worker process reports its count.
const REPORT_EVERY: Duration = Duration::from_millis(10);

/// What the producer hears of a worker process.
enum Event {
    Line(ChildLine),
    /// Its stdout closed and it exited.
    Exited(ExitStatus),
}

/// Starts the worker processes: their stdins, whose closing stops them,
/// and their events as (worker index, event). A thread per worker reads
/// its lines and waits for its exit.
fn spawn(
    name: &str,
    place: &Place,
    workers: usize,
) -> (Vec<ChildStdin>, mpsc::UnboundedReceiver<(usize, Event)>) {
    let exe = std::env::current_exe().expect("bench binary");
    let (tx, rx) = mpsc::unbounded_channel();
    let mut stdins = Vec::with_capacity(workers);
    for i in 0..workers {
        let mut command = Command::new(&exe);
        command.args(["--child-worker", name, &place.url]);
        if let Some(delivery) = &place.delivery {
            command.args(["--delivery", delivery]);
        }
        let mut process = command
            .env("RUST_LOG", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a worker process");
        stdins.push(process.stdin.take().expect("piped stdin"));
        let stdout = process.stdout.take().expect("piped stdout");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(line) = ChildLine::parse(&line) {
                    let _ = tx.send((i, Event::Line(line)));
                }
            }
            let status = process.wait().expect("wait for a worker process");
            let _ = tx.send((i, Event::Exited(status)));
        });
    }
    (stdins, rx)
}

/// The producer's side: the figures of `n` tasks through `workers`
/// worker processes.
pub async fn multi_process(name: &str, place: &Place, n: usize, workers: usize) {
    let meter = Meter::watching(&place.watches(name)).await;
    meter.report_background(name, IDLE).await;
    // Opening migrates the place before the workers connect.
    let client = Client::new(open(name, place).await).expect("client");
    // Dropped, as when this process panics, the stdins stop the workers.
    let (stdins, mut events) = spawn(name, place, workers);
    let mut next = async || match events.recv().await.expect("a worker's reader") {
        (i, Event::Line(line)) => (i, line),
        (i, Event::Exited(status)) => panic!("worker process {i} exited early: {status}"),
    };
    let mut ready = 0;
    while ready < workers {
        if next().await.1 == ChildLine::Ready {
            ready += 1;
        }
    }

    let before = meter.mark().await;
    let started = Instant::now();
    submit_batches(&client, bench_noop, n).await;
    let submit_secs = started.elapsed().as_secs_f64();
    let mut ran = vec![0; workers];
    while ran.iter().sum::<usize>() < n {
        if let (i, ChildLine::Ran(count)) = next().await {
            ran[i] = count;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let after = meter.mark().await;

    // Closing a worker's stdin stops it; its last line is `done`.
    drop(stdins);
    let mut workers_cpu = Duration::ZERO;
    let mut reported = vec![false; workers];
    let mut exited = 0;
    while exited < workers {
        // A worker's lines come before its exit (one thread reads both).
        match events.recv().await.expect("a worker's reader") {
            (i, Event::Line(ChildLine::Done { ran: count, cpu })) => {
                ran[i] = count;
                workers_cpu += cpu;
                reported[i] = true;
            }
            (_, Event::Line(_)) => {}
            (i, Event::Exited(status)) => {
                assert!(
                    status.success() && reported[i],
                    "worker process {i} ended without its report: {status}"
                );
                exited += 1;
            }
        }
    }
    assert_eq!(ran.iter().sum::<usize>(), n, "each task ran once");
    assert_eq!(
        finished(&client).await,
        n,
        "every task finished and was recorded"
    );

    let mut spent = meter.spent("producer", &before, &after);
    spent.parts.insert(1, ("workers".into(), Some(workers_cpu)));
    let rate = n as f64 / secs;
    println!(
        "{name:<14} producer  {n:>8} tasks in {submit_secs:>6.2} s = {:>9.0} tasks/s, while {workers} worker processes ran",
        n as f64 / submit_secs
    );
    println!(
        "{name:<14} {workers} workers {n:>8} tasks in {secs:>6.2} s = {rate:>9.0} jobs/s (first submit to last run; per worker {ran:?}); {}",
        spent.per_job(n)
    );
    let label = format!("{workers} processes");
    let figures = [
        Figure::new(
            name,
            &format!("{label} submit"),
            n as f64 / submit_secs,
            "tasks/s",
        ),
        Figure::new(name, &label, rate, "jobs/s"),
    ];
    let cpu = spent.figures(name, &label, n);
    figures.into_iter().chain(cpu).for_each(Figure::report);
}

/// A worker process: runs `bench_noop` tasks on the producer's place
/// until its stdin closes, reporting its count as it goes.
pub async fn child(child: &Child) {
    let place = Place {
        url: child.url.clone(),
        scratch: None,
        delivery: child.delivery.clone(),
    };
    // The producer's backend deletes the Redis keys at the end, not this one.
    let client = Client::new(open_with(&child.backend, &place, false).await).expect("client");
    let worker = Worker::builder(&client)
        .queue("default", CONCURRENCY)
        .build()
        .expect("worker");
    let shutdown = worker.shutdown_handle();
    let before = cpu::own();
    let running = tokio::spawn(worker.run());
    say(ChildLine::Ready);
    let mut stop = tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    });
    let mut reported = 0;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = tokio::time::sleep(REPORT_EVERY) => {
                let ran = DONE.load(Ordering::Relaxed);
                if ran != reported {
                    say(ChildLine::Ran(ran));
                    reported = ran;
                }
            }
        }
    }
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    let cpu = cpu::own().saturating_sub(before);
    say(ChildLine::Done {
        ran: DONE.load(Ordering::Relaxed),
        cpu,
    });
}

fn say(line: ChildLine) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}
