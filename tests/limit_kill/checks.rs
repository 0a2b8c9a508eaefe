//! What a limit kill run's logs must show: the marks the workers wrote,
//! read back, and the bounds each kind of run checks them against.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use taskq::prelude::*;

use crate::run::{FAIR_AFTER, FAIR_BIG, LOG_SLACK_US, RATE, TASKS};

/// One logged start or end.
pub struct Mark {
    start: bool,
    id: TaskId,
    attempt: u32,
    pid: u32,
    at: u128,
}

pub fn read_marks(dir: &Path) -> Vec<Mark> {
    let mut marks = Vec::new();
    for entry in std::fs::read_dir(dir).expect("log dir").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("log");
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [kind, id, attempt, pid, at] = fields[..] else {
                panic!("malformed log line {line:?}");
            };
            marks.push(Mark {
                start: kind == "start",
                id: id.parse().expect("task id"),
                attempt: attempt.parse().expect("attempt"),
                pid: pid.parse().expect("pid"),
                at: at.parse().expect("time"),
            });
        }
    }
    marks
}

/// The pid of a worker that has started a task and not ended it, if any.
pub fn busy_worker(dir: &Path) -> Option<u32> {
    let mut open: HashMap<(TaskId, u32), u32> = HashMap::new();
    for mark in read_marks(dir) {
        if mark.start {
            open.insert((mark.id, mark.attempt), mark.pid);
        } else {
            open.remove(&(mark.id, mark.attempt));
        }
    }
    open.into_values().next()
}

/// The most executions of the tasks `counted` picks that ran at once,
/// the executions and those the SIGKILL cut short. Each execution is an
/// interval: start to end, or to the kill for the victim's unfinished
/// one; a sweep over the interval ends finds the most at once.
pub fn overlap(
    marks: &[Mark],
    victim: u32,
    killed_at: u128,
    counted: impl Fn(TaskId) -> bool,
) -> (i32, usize, usize) {
    let mut ends: HashMap<(TaskId, u32), u128> = HashMap::new();
    for mark in marks.iter().filter(|m| !m.start) {
        ends.insert((mark.id, mark.attempt), mark.at);
    }
    let mut events: Vec<(u128, i32)> = Vec::new();
    let mut cut_short = 0;
    for mark in marks.iter().filter(|m| m.start && counted(m.id)) {
        let end = match ends.get(&(mark.id, mark.attempt)) {
            Some(&end) => end,
            None => {
                assert_eq!(mark.pid, victim, "only the killed worker left a run open");
                cut_short += 1;
                killed_at
            }
        };
        events.push((mark.at, 1));
        events.push((end, -1));
    }
    // Ends before starts at the same instant: a slot handed on is not an
    // overlap.
    events.sort();
    let (mut now_running, mut most) = (0, 0);
    for (_, step) in &events {
        now_running += step;
        most = most.max(now_running);
    }
    (most, events.len() / 2, cut_short)
}

/// The marks of a fair run: every task of `ids` ended exactly once (a
/// start without an end is the SIGKILL's), and each of the `late` tasks
/// started before at least `FAIR_AFTER` of the big key's tasks did.
pub fn check_fair(name: &str, marks: &[Mark], ids: &[TaskId], late: &[TaskId], elapsed: Duration) {
    let mut ends: HashMap<TaskId, usize> = HashMap::new();
    for mark in marks.iter().filter(|m| !m.start) {
        *ends.entry(mark.id).or_default() += 1;
    }
    for id in ids {
        assert_eq!(ends.get(id), Some(&1), "task {id} ended once");
    }
    assert_eq!(ends.len(), ids.len(), "no other task ran");
    let cut_short = marks.iter().filter(|m| m.start).count() - ids.len();
    assert!(cut_short >= 1, "the SIGKILL landed mid-task");
    let first_start = |id: &TaskId| {
        marks
            .iter()
            .filter(|m| m.start && m.id == *id)
            .map(|m| m.at)
            .min()
            .expect("started")
    };
    let big_starts: Vec<u128> = ids
        .iter()
        .filter(|id| !late.contains(id))
        .map(first_start)
        .collect();
    let after: Vec<usize> = late
        .iter()
        .map(|id| {
            let at = first_start(id);
            big_starts.iter().filter(|&&b| b > at).count()
        })
        .collect();
    eprintln!(
        "limit_kill_fair {name}: {FAIR_BIG} tasks of one key, {} late keys submitted after the \
         SIGKILL; {cut_short} cut short; the big key's tasks that started after each late one: \
         {after:?}; all finished in {elapsed:?}",
        late.len()
    );
    for n in after {
        assert!(
            n >= FAIR_AFTER,
            "a late key started before only {n} of the big key's tasks"
        );
    }
}

/// The starts of a rate run: in every window `[a, b]` of logged starts,
/// at most `RATE + (b − a + slack) × RATE / s` (the bucket's burst and its
/// refill); the limit bound (the starts took as long as the rate says).
pub fn check_rate(name: &str, marks: &[Mark], elapsed: Duration) {
    let mut starts: Vec<u128> = marks.iter().filter(|m| m.start).map(|m| m.at).collect();
    starts.sort_unstable();
    let (mut most_over, mut burst) = (i64::MIN, 0);
    for (i, &a) in starts.iter().enumerate() {
        for (j, &b) in starts[i..].iter().enumerate() {
            let count = (j + 1) as i64;
            let bound =
                i64::from(RATE) + ((b - a + LOG_SLACK_US) * u128::from(RATE) / 1_000_000) as i64;
            most_over = most_over.max(count - bound);
            if b - a <= LOG_SLACK_US {
                burst = burst.max(count);
            }
        }
    }
    eprintln!(
        "limit_kill_rate {name}: {TASKS} tasks, {RATE}/s, {} starts in {elapsed:?}; \
         the largest burst {burst}, the tightest window {most_over} from its bound",
        starts.len()
    );
    assert!(most_over <= 0, "{most_over} starts over the bucket's bound");
    // The limit bound: 55 starts at 10 a second after a burst of 10 take
    // at least 4.5 s, where 12 slots would run them in well under one.
    let first = 55;
    let span = starts[first - 1] - starts[0];
    let floor = (first as u128 - u128::from(RATE)) * 1_000_000 / u128::from(RATE) - LOG_SLACK_US;
    assert!(
        span >= floor,
        "{first} starts in {span} µs: the rate limit never bound"
    );
}
