//! `--compare <other bench binary>`: runs this bench and another build of
//! it alternately (round by round, the first of each round swapped, so
//! neither always runs on a warmer or busier machine) with the same
//! arguments and `--json`, and prints each figure's medians side by side.
//!
//! The other binary is another commit's build of this bench:
//!
//! ```text
//! git worktree add /tmp/taskq-base <commit>
//! cd /tmp/taskq-base && CARGO_TARGET_DIR=/tmp/taskq-base/target \
//!   cargo bench --all-features --bench throughput --no-run
//! #   Executable benches/throughput… (/tmp/taskq-base/target/release/deps/throughput-<hash>)
//! cd - && cargo bench --all-features --bench throughput -- postgres -n 20000 \
//!   --mode insert-then-work --compare /tmp/taskq-base/target/release/deps/throughput-<hash>
//! ```
//!
//! A build from before `--json` existed ignores the flags it does not
//! know and runs all its figures; its submit and burn-down rates are read
//! from its human lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::figure::{Figure, merge, read_output};
use crate::settings::Settings;

/// Runs both binaries `settings.rounds` times each and prints the table.
pub fn compare(settings: &Settings, other: &Path) {
    let this = std::env::current_exe().expect("bench binary");
    assert!(
        other.is_file(),
        "--compare {}: no such file",
        other.display()
    );
    let mut runs: [Vec<Vec<Figure>>; 2] = Default::default();
    for round in 0..settings.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let exe = if side == 0 { this.as_path() } else { other };
            let started = Instant::now();
            let output = Command::new(exe)
                .args(&settings.forwarded)
                .arg("--json")
                .stderr(Stdio::inherit())
                .output()
                .expect("run a bench binary");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{} failed ({}):\n{stdout}",
                exe.display(),
                output.status
            );
            let figures = read_output(&stdout);
            eprintln!(
                "round {}/{}: {} gave {} figures in {:.1} s",
                round + 1,
                settings.rounds,
                ["this", "other"][side],
                figures.len(),
                started.elapsed().as_secs_f64()
            );
            runs[side].push(figures);
        }
    }
    println!("this:  {}", this.display());
    println!("other: {}", other.display());
    println!(
        "medians of {} rounds each; arguments: {}",
        settings.rounds,
        settings.forwarded.join(" ")
    );
    println!(
        "{:<14} {:<34} {:>12} {:>12} {:>10}",
        "backend", "figure", "this", "other", "this/other"
    );
    let value = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for row in merge(&runs[0], &runs[1]) {
        let ratio = row.ratio().map_or("-".to_owned(), |r| format!("{r:.3}"));
        println!(
            "{:<14} {:<34} {:>12} {:>12} {:>10}",
            row.backend,
            format!("{} ({})", row.figure, row.unit),
            value(row.this),
            value(row.other),
            ratio
        );
    }
}
