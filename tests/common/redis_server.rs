//! Redis servers of a test's own, started from the machine's
//! `redis-server` and `redis-cli`: [`PrivateRedis`] (one server, to kill or
//! flush) and [`PrivateRedisCluster`] (a three-master cluster). Std only,
//! so other crates' tests include it too
//! (`#[path = "../../tests/common/redis_server.rs"]`).

// Each test crate uses what its tests need.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether `redis-server` and `redis-cli` are on the `PATH`.
fn redis_installed() -> bool {
    ["redis-server", "redis-cli"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

/// A free local port (the OS picks it; it may be taken again before use,
/// which makes the start fail rather than share a server).
fn free_port() -> Option<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()
        .map(|a| a.port())
}

/// One daemonized `redis-server` on `port`, its pid, log and data files
/// under `dir`: the part [`PrivateRedis`] and [`PrivateRedisCluster`]
/// share.
struct ServerProcess {
    /// The address it listens on (a loopback one but for the partition
    /// test, which reaches it over a veth pair).
    host: String,
    port: u16,
    dir: PathBuf,
}

impl ServerProcess {
    /// Starts it with `args` on top of the port, bind address, files and
    /// `--save ""`; true once it answers.
    fn launch(&self, args: &[&str]) -> bool {
        let started = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", &self.host])
            // No password on a test server reached over a veth pair.
            .args(["--protected-mode", "no"])
            .args(["--save", ""])
            .args(args)
            .args(["--daemonize", "yes", "--dir"])
            .arg(&self.dir)
            .arg("--pidfile")
            .arg(self.pidfile())
            .arg("--logfile")
            .arg(self.dir.join(format!("redis-{}.log", self.port)))
            .status()
            .is_ok_and(|s| s.success());
        // Wait until it answers.
        let deadline = Instant::now() + Duration::from_secs(5);
        while started && Instant::now() < deadline {
            if std::net::TcpStream::connect((self.host.as_str(), self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn pidfile(&self) -> PathBuf {
        self.dir.join(format!("redis-{}.pid", self.port))
    }

    /// `redis-cli -p <port> <args>`: its stdout when it succeeded.
    fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", &self.host, "-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// SIGKILL: no shutdown, no final save — only what AOF already has.
    fn kill(&self) {
        if let Some(pid) = read_pid(&self.pidfile()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline
                && std::net::TcpStream::connect((self.host.as_str(), self.port)).is_ok()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_file(self.pidfile());
    }
}

/// A `redis-server` of a test's own on a free port, with AOF on
/// (`appendfsync always`), for tests that kill or flush it; stopped and
/// removed on drop.
pub struct PrivateRedis {
    server: ServerProcess,
}

impl PrivateRedis {
    /// Starts one; panics when `redis-server` is missing or does not
    /// come up (a test that needs it must not pass without it).
    pub fn start() -> PrivateRedis {
        PrivateRedis::start_on("127.0.0.1")
    }

    /// [`PrivateRedis::start`] listening on `host` (an address of this
    /// machine), e.g. the host end of a veth pair.
    pub fn start_on(host: &str) -> PrivateRedis {
        assert!(
            redis_installed(),
            "this test starts a private Redis: redis-server and redis-cli must be on the PATH"
        );
        let port = free_port().expect("a free port for a private redis-server");
        let dir =
            std::env::temp_dir().join(format!("taskq-private-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        let redis = PrivateRedis {
            server: ServerProcess {
                host: host.to_owned(),
                port,
                dir,
            },
        };
        assert!(
            redis.launch(),
            "a private redis-server on port {port} did not start"
        );
        redis
    }

    /// Starts the server (again, on the same files); true once it answers.
    pub fn launch(&self) -> bool {
        self.server
            .launch(&["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// `FLUSHALL`: every key gone, as after a restart without persistence.
    pub fn flush_all(&self) -> bool {
        self.server
            .cli(&["FLUSHALL"])
            .is_some_and(|out| out.starts_with("OK"))
    }

    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.server.host, self.server.port)
    }

    /// SIGKILL: no shutdown, no final save — only what AOF already has.
    pub fn kill(&self) {
        self.server.kill();
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.server.dir);
    }
}

/// A Redis Cluster of a test binary's own: three masters (no replicas)
/// on free ports, every slot assigned, made with `redis-cli --cluster
/// create`; no persistence. Stopped and removed on drop — and, for the
/// binary-wide [`PrivateRedisCluster::shared`] one that is never dropped,
/// by a watchdog once the test process is gone.
pub struct PrivateRedisCluster {
    nodes: Vec<ServerProcess>,
    dir: PathBuf,
}

/// Masters of a private cluster.
const CLUSTER_NODES: usize = 3;

impl PrivateRedisCluster {
    /// The cluster every test of this binary shares (started by the first
    /// that asks: about two seconds); tests keep apart by key prefix.
    /// Panics as [`PrivateRedisCluster::start`]. The tests that use it are
    /// `#[ignore]`d unless `TASKQ_TEST_REDIS_CLUSTER=1` was set at build
    /// time (the `taskq_no_redis_cluster` cfg of `build.rs`).
    pub fn shared() -> &'static PrivateRedisCluster {
        static SHARED: std::sync::OnceLock<PrivateRedisCluster> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let cluster = PrivateRedisCluster::start();
            cluster.watch_this_process();
            cluster
        })
    }

    /// A new cluster; panics when `redis-server` or `redis-cli` is
    /// missing, or the cluster does not come up.
    pub fn start() -> PrivateRedisCluster {
        assert!(
            redis_installed(),
            "the Redis Cluster tests (TASKQ_TEST_REDIS_CLUSTER=1) need redis-server and \
             redis-cli on the PATH"
        );
        // A port taken between choosing and binding fails the start:
        // try again with other ports.
        let mut last_error = String::new();
        for _ in 0..3 {
            match PrivateRedisCluster::try_start() {
                Ok(cluster) => return cluster,
                Err(err) => last_error = err,
            }
        }
        panic!("could not start a private Redis Cluster: {last_error}");
    }

    fn try_start() -> Result<PrivateRedisCluster, String> {
        let mut ports = Vec::new();
        while ports.len() < CLUSTER_NODES {
            let port = free_port().ok_or("no free port")?;
            // Each node also listens on its cluster bus, port + 10000.
            let bus_free = port
                .checked_add(10_000)
                .is_some_and(|bus| std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok());
            if bus_free && !ports.contains(&port) {
                ports.push(port);
            }
        }
        let dir = std::env::temp_dir().join(format!(
            "taskq-private-redis-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cluster = PrivateRedisCluster {
            nodes: ports
                .iter()
                .map(|&port| ServerProcess {
                    host: "127.0.0.1".to_owned(),
                    port,
                    dir: dir.clone(),
                })
                .collect(),
            dir,
        };
        for node in &cluster.nodes {
            let config = format!("nodes-{}.conf", node.port);
            if !node.launch(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &config,
                "--appendonly",
                "no",
            ]) {
                return Err(format!("redis-server on port {} did not start", node.port));
            }
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let create = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .map_err(|e| format!("redis-cli --cluster create: {e}"))?;
        if !create.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&create.stdout),
                String::from_utf8_lossy(&create.stderr)
            ));
        }
        // Every node must see every slot served before a client reads
        // the slot map from it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cluster.nodes.iter().all(|node| {
            node.cli(&["CLUSTER", "INFO"])
                .is_some_and(|info| info.contains("cluster_state:ok"))
        }) {
            if Instant::now() > deadline {
                return Err("the cluster did not reach cluster_state:ok in 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(cluster)
    }

    /// Kills the nodes once this process is gone (however it ends), for a
    /// cluster that is never dropped.
    fn watch_this_process(&self) {
        let pidfiles: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.pidfile().display().to_string())
            .collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
             for f in {files}; do kill -9 \"$(cat \"$f\")\"; done; rm -rf '{dir}'",
            pid = std::process::id(),
            files = pidfiles.join(" "),
            dir = self.dir.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    /// `redis-cluster://<first>?node=<second>&node=<third>`: fred learns
    /// the whole cluster from any of them.
    pub fn url(&self) -> String {
        let mut url = format!("redis-cluster://127.0.0.1:{}", self.nodes[0].port);
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            url.push(if i == 1 { '?' } else { '&' });
            url.push_str(&format!("node=127.0.0.1:{}", node.port));
        }
        url
    }

    /// Each node on its own, as a single-server URL (`redis://…`): what
    /// a test reads to see where keys live.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }
}

impl Drop for PrivateRedisCluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
