//! The bench's arguments, parsed without the runtime so the parsing is
//! tested (`tests/bench_throughput.rs` includes this file).

use std::path::PathBuf;

/// The backends the bench knows, by the names it is given.
pub const BACKENDS: [&str; 7] = [
    "memory",
    "sqlite",
    "postgres",
    "mysql",
    "redis",
    "redis-postgres",
    "redis-sqlite",
];

/// What the bench measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Submit, burn-down, latency, waiters and unique submits.
    All,
    /// River's shape: insert N tasks (batches), then start one worker and
    /// time the work-down alone.
    InsertThenWork,
    /// One producer (this process) and `--workers` worker processes.
    MultiProcess,
}

/// One group of figures alone (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Unique submits against plain ones.
    Unique,
    /// A chord and a chain against a plain burn-down.
    Workflow,
    /// Burn-downs with a queue limit and a rate limit that never bind
    /// against none.
    Limit,
    /// 1,000 waiters: their wake-up and the load they add while waiting.
    Waiters,
    /// A small key's task behind a big key's, fair and not.
    Fair,
}

/// A worker process of [`Mode::MultiProcess`]: this binary run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub backend: String,
    /// The records' place (`sqlite://…`, a scratch's URL, `redis://…#prefix`).
    pub url: String,
    /// SQL records with Redis delivery: the Redis place.
    pub delivery: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub backends: Vec<String>,
    pub n: Option<usize>,
    pub pending: usize,
    /// `--only unique`, `workflow`, `limit` or `waiters`: those figures
    /// alone.
    pub only: Option<Only>,
    pub mode: Mode,
    /// Worker processes of `--mode multi-process`.
    pub workers: usize,
    /// Also print each figure as a JSON line (what `--compare` reads).
    pub json: bool,
    /// `--compare <binary>`: run this bench and that one alternately.
    pub compare: Option<PathBuf>,
    /// Rounds of each binary under `--compare`.
    pub rounds: usize,
    /// The arguments both binaries of `--compare` get.
    pub forwarded: Vec<String>,
    /// Set when this process is a worker of `--mode multi-process`.
    pub child: Option<Child>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backends: Vec::new(),
            n: None,
            pending: 0,
            only: None,
            mode: Mode::All,
            workers: 2,
            json: false,
            compare: None,
            rounds: 3,
            forwarded: Vec::new(),
            child: None,
        }
    }
}

impl Settings {
    /// Parses the arguments after the program name. `--bench`, which
    /// `cargo bench` passes, is ignored; anything unknown is an error, so
    /// a misspelt flag does not silently measure something else.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Settings, String> {
        let mut settings = Settings::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
            match arg.as_str() {
                "--bench" => continue,
                "--json" => {
                    settings.json = true;
                    continue;
                }
                "--compare" => {
                    settings.compare = Some(value("--compare")?.into());
                    continue;
                }
                "--rounds" => {
                    settings.rounds = number("--rounds", &value("--rounds")?)?.max(1);
                    continue;
                }
                "--child-worker" => {
                    let backend = value("--child-worker")?;
                    let url = value("--child-worker")?;
                    settings.child = Some(Child {
                        backend,
                        url,
                        delivery: None,
                    });
                    continue;
                }
                "--delivery" => {
                    let delivery = value("--delivery")?;
                    match &mut settings.child {
                        Some(child) => child.delivery = Some(delivery),
                        None => return Err("--delivery goes after --child-worker".into()),
                    }
                    continue;
                }
                _ => {}
            }
            // The rest is what both binaries of `--compare` are given.
            settings.forwarded.push(arg.clone());
            match arg.as_str() {
                "-n" => {
                    let n = value("-n")?;
                    settings.n = Some(number("-n", &n)?);
                    settings.forwarded.push(n);
                }
                "--pending" => {
                    let pending = value("--pending")?;
                    settings.pending = number("--pending", &pending)?;
                    settings.forwarded.push(pending);
                }
                "--workers" => {
                    let workers = value("--workers")?;
                    settings.workers = number("--workers", &workers)?.max(1);
                    settings.forwarded.push(workers);
                }
                "--only" => {
                    let only = value("--only")?;
                    settings.only = Some(match only.as_str() {
                        "unique" => Only::Unique,
                        "workflow" => Only::Workflow,
                        "limit" => Only::Limit,
                        "waiters" => Only::Waiters,
                        "fair" => Only::Fair,
                        _ => {
                            return Err(format!(
                                "--only {only}: use unique, workflow, limit, fair or waiters"
                            ));
                        }
                    });
                    settings.forwarded.push(only);
                }
                "--mode" => {
                    let mode = value("--mode")?;
                    settings.mode = match mode.as_str() {
                        "all" => Mode::All,
                        "insert-then-work" => Mode::InsertThenWork,
                        "multi-process" => Mode::MultiProcess,
                        _ => {
                            return Err(format!(
                                "--mode {mode}: use all, insert-then-work or multi-process"
                            ));
                        }
                    };
                    settings.forwarded.push(mode);
                }
                name if BACKENDS.contains(&name) => settings.backends.push(arg),
                _ => return Err(format!("unknown argument `{arg}`")),
            }
        }
        if settings.backends.is_empty() {
            settings.backends = vec!["memory".into(), "sqlite".into()];
        }
        if settings.mode == Mode::MultiProcess && settings.backends.iter().any(|b| b == "memory") {
            return Err(
                "--mode multi-process needs a shared place; memory lives in one process".into(),
            );
        }
        Ok(settings)
    }

    /// N for `backend`: `-n`, or a default that runs a few seconds.
    pub fn n_for(&self, backend: &str) -> usize {
        self.n.unwrap_or(if backend == "memory" {
            500_000
        } else {
            100_000
        })
    }
}

fn number(flag: &str, text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("{flag} {text}: not a whole number"))
}
