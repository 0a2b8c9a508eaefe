//! What `limit_kill` checks in a run's log marks: the most executions
//! at once, the fair order, the rate bound.

use super::*;

/// The most executions of the tasks `counted` picks that ran at once,
/// the executions and those the SIGKILL cut short. Each execution is an
/// interval: start to end, or to the kill for the victim's unfinished
/// one; a sweep over the interval ends finds the most at once.
pub(super) fn overlap(
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
pub(super) fn check_fair(
    name: &str,
    marks: &[Mark],
    ids: &[TaskId],
    late: &[TaskId],
    elapsed: Duration,
) {
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
pub(super) fn check_rate(name: &str, marks: &[Mark], elapsed: Duration) {
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
