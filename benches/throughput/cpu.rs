//! CPU time spent around a measured phase, per job: the bench process's
//! own (getrusage: every thread, µs resolution) and each server's —
//! Redis from `INFO cpu` (`used_cpu_user` + `used_cpu_sys`), PostgreSQL
//! and MariaDB/MySQL from `/proc/<pid>/stat` (utime + stime of every
//! process whose name starts with `postgres`, `mariadbd` or `mysqld`,
//! in clock ticks: 10 ms each, so a phase wants a second or more).
//!
//! Server figures count everything the server did meanwhile, so they are
//! only the bench's when no one else uses the server; the `/proc` ones
//! only exist for a server on this machine. A process that ends inside
//! the phase (a closed connection's backend) loses its share, one that
//! starts inside it counts whole.
//! (`tests/bench_throughput.rs` includes this file and tests it.)

use std::collections::HashMap;
use std::time::Duration;

/// A server whose CPU a [`Meter`] reads.
pub enum Watch<'a> {
    /// Redis at this URL (`redis://host:port`, a `#prefix` is dropped).
    Redis(&'a str),
    Postgres,
    Mysql,
}

/// The bench process's CPU time so far (user + system, all threads).
pub fn own() -> Duration {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes the zeroed struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
                return Duration::ZERO;
            }
            usage
        };
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        time(usage.ru_utime) + time(usage.ru_stime)
    }
    #[cfg(not(unix))]
    Duration::ZERO
}

/// The CPU seconds of an `INFO cpu` reply: `used_cpu_user` +
/// `used_cpu_sys` (the main thread's and the background threads').
pub fn info_cpu(info: &str) -> Option<Duration> {
    let field = |name: &str| -> Option<f64> {
        info.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))?
            .trim()
            .parse()
            .ok()
    };
    let seconds = field("used_cpu_user")? + field("used_cpu_sys")?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// CPU ticks of every process whose name starts with one of `names`, by
/// (pid, start time) so a reused pid is another process.
#[cfg(target_os = "linux")]
pub fn process_ticks(names: &[&str]) -> HashMap<(i32, u64), u64> {
    let Ok(processes) = procfs::process::all_processes() else {
        return HashMap::new();
    };
    processes
        .flatten()
        .filter_map(|process| process.stat().ok())
        .filter(|stat| names.iter().any(|name| stat.comm.starts_with(name)))
        .map(|stat| ((stat.pid, stat.starttime), stat.utime + stat.stime))
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub fn process_ticks(_names: &[&str]) -> HashMap<(i32, u64), u64> {
    HashMap::new()
}

/// CPU time between two [`process_ticks`] readings: each process's growth,
/// `None` when no process was found.
pub fn ticks_spent(
    before: &HashMap<(i32, u64), u64>,
    after: &HashMap<(i32, u64), u64>,
) -> Option<Duration> {
    if after.is_empty() {
        return None;
    }
    let ticks: u64 = after
        .iter()
        .map(|(key, now)| now.saturating_sub(before.get(key).copied().unwrap_or(0)))
        .sum();
    Some(Duration::from_secs_f64(ticks as f64 / ticks_per_second()))
}

pub fn ticks_per_second() -> f64 {
    #[cfg(target_os = "linux")]
    return procfs::ticks_per_second() as f64;
    #[cfg(not(target_os = "linux"))]
    100.0
}

enum Source {
    Redis(fred::clients::Client),
    Processes(&'static [&'static str]),
}

enum Sample {
    Redis(Option<Duration>),
    Processes(HashMap<(i32, u64), u64>),
}

/// Reads the bench's and the watched servers' CPU time.
pub struct Meter {
    servers: Vec<(&'static str, Source)>,
}

/// One reading of a [`Meter`].
pub struct Mark {
    own: Duration,
    servers: Vec<Sample>,
}

impl Meter {
    /// A meter of the bench process and `servers`. Panics when Redis does
    /// not answer (the bench itself needs it then).
    pub async fn watching(servers: &[Watch<'_>]) -> Meter {
        let mut meter = Meter {
            servers: Vec::new(),
        };
        for watch in servers {
            let source = match watch {
                Watch::Redis(url) => {
                    use fred::prelude::*;
                    let server = url.split_once('#').map_or(*url, |(server, _)| server);
                    let config = Config::from_url(server).expect("redis url");
                    let client = Builder::from_config(config).build().expect("client");
                    client.init().await.expect("connect to Redis");
                    ("redis", Source::Redis(client))
                }
                Watch::Postgres => ("postgres", Source::Processes(&["postgres"])),
                Watch::Mysql => ("mysql", Source::Processes(&["mariadbd", "mysqld"])),
            };
            meter.servers.push(source);
        }
        meter
    }

    pub async fn mark(&self) -> Mark {
        let mut servers = Vec::with_capacity(self.servers.len());
        for (_, source) in &self.servers {
            servers.push(match source {
                Source::Redis(client) => {
                    use fred::prelude::*;
                    let info: Option<String> =
                        client.info(Some(fred::types::InfoKind::Cpu)).await.ok();
                    Sample::Redis(info.as_deref().and_then(info_cpu))
                }
                Source::Processes(names) => Sample::Processes(process_ticks(names)),
            });
        }
        Mark {
            own: own(),
            servers,
        }
    }

    /// Prints (and reports, for `--json`) the servers' CPU time per second
    /// over `over` while the bench is idle: what other clients and the
    /// servers' own upkeep add to the phases' server figures.
    pub async fn report_background(&self, backend: &str, over: Duration) {
        if self.servers.is_empty() {
            return;
        }
        let before = self.mark().await;
        tokio::time::sleep(over).await;
        let after = self.mark().await;
        let spent = self.spent("", &before, &after);
        let mut parts = Vec::new();
        for (name, spent) in spent.parts.iter().skip(1) {
            let Some(spent) = spent else { continue };
            let per_second = spent.as_secs_f64() * 1e3 / over.as_secs_f64();
            parts.push(format!("{name} {per_second:.1}"));
            let figure = format!("idle cpu {name}");
            crate::figure::Figure::new(backend, &figure, per_second, "ms/s").report();
        }
        println!(
            "{backend:<14} servers' CPU while the bench idles, ms/s: {}",
            parts.join(", ")
        );
    }

    /// CPU time from `from` to `to`: the bench's (named `own_name`), then
    /// each server's.
    pub fn spent(&self, own_name: &str, from: &Mark, to: &Mark) -> Spent {
        let mut parts = vec![(own_name.to_owned(), Some(to.own.saturating_sub(from.own)))];
        for ((name, _), (before, after)) in self
            .servers
            .iter()
            .zip(from.servers.iter().zip(&to.servers))
        {
            let spent = match (before, after) {
                (Sample::Redis(Some(before)), Sample::Redis(Some(after))) => {
                    Some(after.saturating_sub(*before))
                }
                (Sample::Processes(before), Sample::Processes(after)) => ticks_spent(before, after),
                _ => None,
            };
            parts.push(((*name).to_owned(), spent));
        }
        Spent { parts }
    }
}

/// CPU time of a phase, by process: the bench's first, then other
/// processes' (servers, worker processes); `None` where unknown.
pub struct Spent {
    pub parts: Vec<(String, Option<Duration>)>,
}

impl Spent {
    /// `CPU µs/job: bench 12.3, postgres 40.1`.
    pub fn per_job(&self, jobs: usize) -> String {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|(name, spent)| match spent {
                Some(spent) => format!("{name} {:.1}", micros_per(*spent, jobs)),
                None => format!("{name} n/a"),
            })
            .collect();
        format!("CPU µs/job: {}", parts.join(", "))
    }

    /// The figures `<phase> cpu <process>` in µs/job, for `--json`.
    pub fn figures(&self, backend: &str, phase: &str, jobs: usize) -> Vec<crate::figure::Figure> {
        self.parts
            .iter()
            .filter_map(|(name, spent)| {
                let figure = format!("{phase} cpu {name}");
                Some(crate::figure::Figure::new(
                    backend,
                    &figure,
                    micros_per((*spent)?, jobs),
                    "µs/job",
                ))
            })
            .collect()
    }
}

fn micros_per(spent: Duration, jobs: usize) -> f64 {
    spent.as_secs_f64() * 1e6 / jobs.max(1) as f64
}
