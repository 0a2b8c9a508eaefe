//! What a worker process of `--mode multi-process` tells the producer, one
//! line each on its stdout. (`tests/bench_throughput.rs` includes this
//! file and tests it.)

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildLine {
    /// Its worker runs: the producer may start.
    Ready,
    /// Tasks it has run so far.
    Ran(usize),
    /// Stopped (its stdin closed): tasks run, and its CPU time from
    /// `Ready` to the end.
    Done { ran: usize, cpu: Duration },
}

impl fmt::Display for ChildLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildLine::Ready => write!(f, "ready"),
            ChildLine::Ran(ran) => write!(f, "ran {ran}"),
            ChildLine::Done { ran, cpu } => write!(f, "done {ran} {}", cpu.as_micros()),
        }
    }
}

impl ChildLine {
    /// A line as [`Display`](fmt::Display) wrote it; `None` for other
    /// output.
    pub fn parse(line: &str) -> Option<ChildLine> {
        let mut words = line.split_whitespace();
        let line = match (words.next()?, words.next(), words.next()) {
            ("ready", None, None) => ChildLine::Ready,
            ("ran", Some(ran), None) => ChildLine::Ran(ran.parse().ok()?),
            ("done", Some(ran), Some(micros)) => ChildLine::Done {
                ran: ran.parse().ok()?,
                cpu: Duration::from_micros(micros.parse().ok()?),
            },
            _ => return None,
        };
        words.next().is_none().then_some(line)
    }
}
