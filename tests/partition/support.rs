//! What the partition tests share: the task the worker runs, its event
//! log, the network namespaces and black hole ([`Link`]), and the
//! scenario itself ([`cut_off_worker`]), run once per backend.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use taskq::MaintenanceConfig;
use taskq::prelude::*;

use crate::common;

/// The cut-off worker's lease, heartbeat and cancel grace.
pub const LEASE: Duration = Duration::from_secs(3);
pub const HEARTBEAT: Duration = Duration::from_secs(1);
pub const CANCEL_GRACE: Duration = Duration::from_secs(1);
/// How long the link stays a black hole: well past the lease.
const CUT_FOR: Duration = Duration::from_secs(8);
/// The handler must see its token fire no later than this after the cut
/// (its last renewal was at most one heartbeat before it, so its lease
/// ended at most `LEASE` after it).
const CANCEL_BY: Duration = Duration::from_millis(4_500);
/// After the heal, the cut-off worker runs new work within this.
const RESUME_BY: Duration = Duration::from_secs(5);

pub const CHILD_URL: &str = "TASKQ_PARTITION_CHILD_URL";
pub const CHILD_PREFIX: &str = "TASKQ_PARTITION_CHILD_PREFIX";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Nap {
    /// How long the first attempt runs (later ones finish at once).
    ms: u64,
    /// The file every run appends its events to.
    log: String,
}

/// Appends `<event> <task id> <attempt> <pid> <ms since the epoch>
/// <stop reason>` to the task's log, one `write` per line (both processes
/// share the file).
fn log_event(ctx: &TaskContext, log: &str, event: &str) -> Result<(), TaskError> {
    let reason = ctx
        .stop_reason()
        .map_or_else(|| "-".to_owned(), |reason| format!("{reason:?}"));
    let line = format!(
        "{event} {} {} {} {} {reason}\n",
        ctx.id(),
        ctx.attempt(),
        std::process::id(),
        epoch_ms()
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(TaskError::permanent)
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Logs `dropped` when the handler's future is dropped before it ended:
/// the attempt was aborted (not cancelled through its token).
struct DropLog {
    line: Option<String>,
    log: String,
}

impl Drop for DropLog {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            let line = format!("dropped {line} {}\n", epoch_ms());
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.log)
                .and_then(|mut file| file.write_all(line.as_bytes()));
        }
    }
}

/// Logs `start`, then naps (first attempt only) until done or until its
/// token fires, logging `cancelled` or `done` (or `dropped`, aborted).
#[long_task(queue = "partition", retries = 3, retry_delay = 0.1, jitter = 0.0)]
async fn partition_nap(ctx: TaskContext, p: Nap) -> Result<(), TaskError> {
    log_event(&ctx, &p.log, "start")?;
    let mut guard = DropLog {
        line: Some(format!(
            "{} {} {}",
            ctx.id(),
            ctx.attempt(),
            std::process::id()
        )),
        log: p.log.clone(),
    };
    let ms = if ctx.attempt() == 1 { p.ms } else { 0 };
    let outcome = tokio::select! {
        () = ctx.cancelled() => {
            log_event(&ctx, &p.log, "cancelled")?;
            Err(TaskError::cancelled("stopped"))
        }
        () = tokio::time::sleep(Duration::from_millis(ms)) => {
            log_event(&ctx, &p.log, "done")?;
            Ok(())
        }
    };
    guard.line = None;
    outcome
}

/// The worker's namespace, reached from here through a router namespace:
/// host `h` — veth — `r1` [router] `r0` — veth — `c` [worker]. The black
/// hole is in the router, so both ends' own TCP stacks see plain silence:
/// a packet dropped by the sender's own queue counts as local congestion,
/// which Linux retries every half second without backing off (a cut made
/// there heals in milliseconds, unlike a dead switch). Both namespaces and
/// the host's veth end are deleted on drop.
pub struct Link {
    pub ns: String,
    router: String,
    host_dev: String,
    /// The host's address on the link: where the servers listen.
    pub host_ip: String,
}

static LINKS: AtomicU32 = AtomicU32::new(0);

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The router's two interfaces.
const ROUTER_DEVS: [&str; 2] = ["r0", "r1"];

impl Link {
    /// Names and addresses (two /30s) unique to this process and call, so
    /// parallel runs do not clash.
    pub fn create() -> Link {
        let n = LINKS.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let block = (std::process::id().wrapping_mul(8).wrapping_add(n) % 8_192) * 8;
        let ip = |host: u32| format!("10.213.{}.{}", block / 256, block % 256 + host);
        let link = Link {
            ns: format!("tqpart{id}"),
            router: format!("tqrout{id}"),
            host_dev: format!("tqp{id}h"),
            host_ip: ip(1),
        };
        let (ns, router) = (link.ns.as_str(), link.router.as_str());
        let (host_cidr, r1_cidr) = (format!("{}/30", ip(1)), format!("{}/30", ip(2)));
        let (r0_cidr, c_cidr) = (format!("{}/30", ip(5)), format!("{}/30", ip(6)));
        let (r1_ip, r0_ip, worker_net) = (ip(2), ip(5), format!("{}/30", ip(4)));
        let forward = "echo 1 > /proc/sys/net/ipv4/ip_forward";
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", ns],
            vec!["ip", "netns", "add", router],
            vec![
                "ip",
                "link",
                "add",
                &link.host_dev,
                "type",
                "veth",
                "peer",
                "name",
                "r1",
                "netns",
                router,
            ],
            vec![
                "ip", "-n", router, "link", "add", "r0", "type", "veth", "peer", "name", "c",
                "netns", ns,
            ],
            vec!["ip", "addr", "add", &host_cidr, "dev", &link.host_dev],
            vec!["ip", "link", "set", &link.host_dev, "up"],
            vec!["ip", "-n", router, "addr", "add", &r1_cidr, "dev", "r1"],
            vec!["ip", "-n", router, "addr", "add", &r0_cidr, "dev", "r0"],
            vec!["ip", "-n", router, "link", "set", "r1", "up"],
            vec!["ip", "-n", router, "link", "set", "r0", "up"],
            vec!["ip", "netns", "exec", router, "sh", "-c", forward],
            vec!["ip", "-n", ns, "addr", "add", &c_cidr, "dev", "c"],
            vec!["ip", "-n", ns, "link", "set", "c", "up"],
            vec!["ip", "-n", ns, "link", "set", "lo", "up"],
            vec!["ip", "-n", ns, "route", "add", "default", "via", &r0_ip],
            vec!["ip", "route", "add", &worker_net, "via", &r1_ip],
        ];
        for step in steps {
            if let Err(err) = run(step[0], &step[1..]) {
                // `link` is dropped here: what was made goes.
                panic!(
                    "cannot make the test's network namespaces (root and iproute2 needed): {err}"
                );
            }
        }
        link
    }

    /// Every packet through the router dropped, both ways.
    fn cut(&self) {
        for dev in ROUTER_DEVS {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &self.router,
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    dev,
                    "root",
                    "pfifo",
                    "limit",
                    "0",
                ],
            )
            .expect("black hole");
        }
    }

    fn heal(&self) {
        for dev in ROUTER_DEVS {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &self.router,
                    "tc",
                    "qdisc",
                    "del",
                    "dev",
                    dev,
                    "root",
                ],
            )
            .expect("heal");
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // The host route goes with the host's veth end.
        let _ = run("ip", &["netns", "del", &self.ns]);
        let _ = run("ip", &["netns", "del", &self.router]);
        let _ = run("ip", &["link", "del", &self.host_dev]);
    }
}

/// The child worker process; killed on drop.
struct ChildWorker(Child);

impl Drop for ChildWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One line of the log.
#[derive(Debug)]
struct Event {
    event: String,
    id: TaskId,
    attempt: u32,
    pid: u32,
    at_ms: u64,
    /// Why the handler was asked to stop (`StopReason`'s `Debug`), `-`
    /// if it was not.
    reason: String,
}

fn events(log: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            Some(Event {
                event: f.first()?.to_string(),
                id: f.get(1)?.parse().ok()?,
                attempt: f.get(2)?.parse().ok()?,
                pid: f.get(3)?.parse().ok()?,
                at_ms: f.get(4)?.parse().ok()?,
                reason: f.get(5).unwrap_or(&"-").to_string(),
            })
        })
        .collect()
}

/// Waits up to `limit` for an event matching `wanted`.
async fn wait_for(log: &Path, limit: Duration, wanted: impl Fn(&Event) -> bool) -> Option<Event> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(event) = events(log).into_iter().find(|e| wanted(e)) {
            return Some(event);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The scenario: a worker process in `link`'s namespace on `child_url`
/// (with `child_prefix`, Redis's key prefix), `client` outside on the
/// same store. Runs the long task there, cuts the link for [`CUT_FOR`],
/// rescues the task with a worker here, heals, and checks the module
/// docs' three points, printing the times first.
pub async fn cut_off_worker(
    link: &Link,
    client: &Client,
    child_url: &str,
    child_prefix: Option<&str>,
) {
    let dir = std::env::temp_dir().join(common::unique("taskq-partition"));
    std::fs::create_dir_all(&dir).expect("log dir");
    let log: PathBuf = dir.join("events.log");
    let log_text = log.display().to_string();

    let child_log = std::fs::File::create(dir.join("child.out")).expect("child output");
    let child = ChildWorker(
        Command::new("ip")
            .args(["netns", "exec", &link.ns])
            .arg(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "partition_worker_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_URL, child_url)
            .env(CHILD_PREFIX, child_prefix.unwrap_or_default())
            .env("RUST_LOG", "taskq=info")
            .stdout(Stdio::null())
            .stderr(child_log)
            .spawn()
            .expect("spawn the worker in the namespace"),
    );
    let child_pid = child.0.id();

    // A long task, run by the child.
    let long = client
        .submit(
            partition_nap,
            Nap {
                ms: 60_000,
                log: log_text.clone(),
            },
        )
        .await
        .expect("submit");
    let started = wait_for(&log, Duration::from_secs(20), |e| {
        e.event == "start" && e.id == long
    })
    .await
    .expect("the worker in the namespace never started the task");
    assert_eq!(started.pid, child_pid, "the child runs the first attempt");
    // A renewal or two go through before the cut.
    tokio::time::sleep(Duration::from_millis(1_300)).await;

    link.cut();
    let cut_ms = epoch_ms();
    let cut = Instant::now();

    // A worker outside the namespace rescues the task once the lease ends.
    let rescuer = Worker::builder(client)
        .worker_id("rescuer")
        .queue("partition", 1)
        .lease(LEASE)
        .heartbeat_interval(HEARTBEAT)
        .poll_interval(Duration::from_millis(100))
        .maintenance(MaintenanceConfig {
            rescue_interval: Duration::from_millis(250),
            ..MaintenanceConfig::default()
        })
        .build()
        .expect("rescuer");
    let stop_rescuer = rescuer.shutdown_handle();
    let rescuing = tokio::spawn(rescuer.run());

    let cancelled = wait_for(&log, CUT_FOR, |e| {
        e.event == "cancelled" && e.id == long && e.pid == child_pid
    })
    .await;
    let rescued = wait_for(&log, CUT_FOR, |e| {
        e.event == "done" && e.id == long && e.pid != child_pid
    })
    .await;
    // Keep the black hole up the whole time, then stop the rescuer so
    // that new work can only go to the child.
    tokio::time::sleep(CUT_FOR.saturating_sub(cut.elapsed())).await;
    stop_rescuer.shutdown();
    rescuing.await.expect("join").expect("rescuer");
    let cancelled_late = wait_for(&log, Duration::ZERO, |e| {
        e.event == "cancelled" && e.id == long && e.pid == child_pid
    })
    .await;

    link.heal();
    let heal_ms = epoch_ms();
    let fresh = client
        .submit(
            partition_nap,
            Nap {
                ms: 10,
                log: log_text.clone(),
            },
        )
        .await
        .expect("submit after the heal");
    let resumed = wait_for(&log, Duration::from_secs(30), |e| {
        e.event == "done" && e.id == fresh
    })
    .await;

    // The numbers first, so a failure shows all of them.
    let after = |at: Option<&Event>, from: u64| at.map(|e| e.at_ms.saturating_sub(from));
    let cancelled = cancelled.or(cancelled_late);
    let cancel_after_cut = after(cancelled.as_ref(), cut_ms);
    let cancel_reason = cancelled.as_ref().map(|e| e.reason.as_str());
    let dropped = events(&log)
        .into_iter()
        .find(|e| e.event == "dropped" && e.id == long && e.pid == child_pid);
    let dropped_after_cut = after(dropped.as_ref(), cut_ms);
    let rescued_after_cut = after(rescued.as_ref(), cut_ms);
    let resumed_after_heal = after(resumed.as_ref(), heal_ms);
    eprintln!("events and the child's log: {}", dir.display());
    eprintln!(
        "{} partition (lease {LEASE:?}, heartbeat {HEARTBEAT:?}, cut for {CUT_FOR:?}): \
         handler cancelled {cancel_after_cut:?} ms after the cut (reason \
         {cancel_reason:?}; aborted without its \
         token firing: {dropped_after_cut:?} ms), task finished by the \
         rescuer {rescued_after_cut:?} ms after the cut, new work done {resumed_after_heal:?} ms \
         after the heal (by pid {:?}; the child is {child_pid})",
        // The backend: the URL's scheme.
        child_url.split(':').next().unwrap_or(child_url),
        resumed.as_ref().map(|e| e.pid)
    );
    let record = client.get(long).await.expect("the long task");
    let done_runs = events(&log)
        .into_iter()
        .filter(|e| e.event == "done" && e.id == long)
        .count();
    let cancel_ms = cancel_after_cut.unwrap_or(u64::MAX);
    assert!(
        cancel_ms <= CANCEL_BY.as_millis() as u64,
        "the cut-off handler was cancelled {cancel_after_cut:?} ms after the cut, \
         not at its lease deadline (≤ {CANCEL_BY:?})"
    );
    assert_eq!(
        cancel_reason,
        Some("LeaseLost"),
        "the cut-off handler was stopped for its lost lease"
    );
    let rescued = rescued.expect("no worker outside the namespace finished the task");
    assert!(
        rescued.attempt >= 2,
        "the rescue ran a new attempt: {rescued:?}"
    );
    assert_eq!(done_runs, 1, "the task finished exactly once");
    assert_eq!(record.state, TaskState::Finished, "{record:?}");
    assert!(
        record.attempt >= 2,
        "the rescue ran a new attempt: {record:?}"
    );
    let resumed = resumed.expect("the worker in the namespace never ran new work after the heal");
    assert_eq!(resumed.pid, child_pid, "the child ran the new task");
    assert!(
        resumed_after_heal.is_some_and(|ms| ms <= RESUME_BY.as_millis() as u64),
        "new work ran {resumed_after_heal:?} ms after the heal (≤ {RESUME_BY:?})"
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
