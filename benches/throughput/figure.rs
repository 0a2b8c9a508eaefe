//! One measured figure, as a machine-readable line: with `--json` the
//! bench prints one per figure beside its human lines, and `--compare`
//! reads them back from both binaries and sets them side by side.
//! (`tests/bench_throughput.rs` includes this file and tests it.)

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// Set by `--json`.
pub static JSON: AtomicBool = AtomicBool::new(false);

/// A value the bench measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub backend: String,
    /// What was measured: `burn-down`, `burn-down cpu bench`, ….
    pub figure: String,
    pub value: f64,
    /// `tasks/s`, `jobs/s`, `µs/job`, `ms`.
    pub unit: String,
}

/// The JSON line's shape: the key marks it as the bench's among other
/// output.
#[derive(Serialize, Deserialize)]
struct Line {
    taskq_bench: Figure,
}

impl Figure {
    pub fn new(backend: &str, figure: &str, value: f64, unit: &str) -> Figure {
        Figure {
            backend: backend.to_owned(),
            figure: figure.to_owned(),
            value,
            unit: unit.to_owned(),
        }
    }

    /// Prints the JSON line when `--json` was given.
    pub fn report(self) {
        if JSON.load(Ordering::Relaxed) {
            println!("{}", self.json_line());
        }
    }

    pub fn json_line(&self) -> String {
        let line = Line {
            taskq_bench: self.clone(),
        };
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// The figure of one of the bench's JSON lines.
    pub fn from_json_line(line: &str) -> Option<Figure> {
        serde_json::from_str::<Line>(line.trim())
            .ok()
            .map(|line| line.taskq_bench)
    }

    /// The submit and burn-down rates of a human line, as printed before
    /// `--json` existed (`sqlite  burn-down  20000 tasks in 0.31 s =
    /// 64000 jobs/s …`), so `--compare` can read an older bench binary.
    pub fn from_human_line(line: &str) -> Option<Figure> {
        let mut words = line.split_whitespace();
        let backend = words.next()?;
        let figure = words.next()?;
        if !matches!(figure, "submit" | "burn-down") || !line.contains(" tasks in ") {
            return None;
        }
        let (_, rate) = line.split_once(" = ")?;
        let mut rate = rate.split_whitespace();
        let value = rate.next()?.parse().ok()?;
        let unit = rate.next()?;
        Some(Figure::new(backend, figure, value, unit))
    }
}

/// The figures of one run's output: its JSON lines, or, when it printed
/// none (an older binary), its human rate lines.
pub fn read_output(output: &str) -> Vec<Figure> {
    let json: Vec<Figure> = output.lines().filter_map(Figure::from_json_line).collect();
    if !json.is_empty() {
        return json;
    }
    output.lines().filter_map(Figure::from_human_line).collect()
}

/// One figure of `--compare`: the medians of each binary's rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub backend: String,
    pub figure: String,
    pub unit: String,
    pub this: Option<f64>,
    pub other: Option<f64>,
}

impl Row {
    /// this / other, when both measured it.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.this? / self.other?)
    }
}

/// Merges the rounds of both binaries into one row per figure, in the
/// order the figures first appeared; a figure one binary lacks keeps
/// `None` on its side.
pub fn merge(this: &[Vec<Figure>], other: &[Vec<Figure>]) -> Vec<Row> {
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for figure in this.iter().chain(other).flatten() {
        let key = (
            figure.backend.clone(),
            figure.figure.clone(),
            figure.unit.clone(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let median_of = |runs: &[Vec<Figure>], key: &(String, String, String)| {
        let mut values: Vec<f64> = runs
            .iter()
            .flatten()
            .filter(|f| (&f.backend, &f.figure, &f.unit) == (&key.0, &key.1, &key.2))
            .map(|f| f.value)
            .collect();
        median(&mut values)
    };
    keys.iter()
        .map(|key| Row {
            this: median_of(this, key),
            other: median_of(other, key),
            backend: key.0.clone(),
            figure: key.1.clone(),
            unit: key.2.clone(),
        })
        .collect()
}

/// The middle value (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2.0),
    }
}
