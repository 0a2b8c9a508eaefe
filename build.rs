//! Which test servers this build was configured with: for each unset
//! `TASKQ_TEST_*` variable a `taskq_no_*` cfg, so the tests that need that
//! server are compiled as `#[ignore]`d with the reason, and cargo's summary
//! counts them as ignored rather than passed. Set a variable and the tests
//! rebuild and run; a server that then does not answer fails them.

const SERVERS: [(&str, &str); 4] = [
    ("TASKQ_TEST_POSTGRES_URL", "taskq_no_postgres"),
    ("TASKQ_TEST_MYSQL_URL", "taskq_no_mysql"),
    ("TASKQ_TEST_REDIS_URL", "taskq_no_redis"),
    // `1` starts a private Redis Cluster from redis-server and redis-cli.
    ("TASKQ_TEST_REDIS_CLUSTER", "taskq_no_redis_cluster"),
];

/// Set when this build cannot make network namespaces (not root, or no
/// `ip` from iproute2): the partition tests, which run a worker in one,
/// are then ignored — unless `CI` is set, where they must run and a
/// machine that cannot fails them.
const NO_NETNS: &str = "taskq_no_netns";

fn main() {
    let mut cfgs: Vec<&str> = SERVERS.iter().map(|(_, cfg)| *cfg).collect();
    cfgs.push(NO_NETNS);
    println!("cargo::rustc-check-cfg=cfg({})", cfgs.join(", "));
    println!("cargo::rerun-if-env-changed=CI");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
    if !ci && !can_make_netns() {
        println!("cargo::rustc-cfg={NO_NETNS}");
    }
    for (var, cfg) in SERVERS {
        println!("cargo::rerun-if-env-changed={var}");
        let value = std::env::var(var).unwrap_or_default();
        let set = if var == "TASKQ_TEST_REDIS_CLUSTER" {
            value == "1"
        } else {
            !value.is_empty()
        };
        if !set {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// Root (`ip netns add` needs it) with `ip` on the `PATH`.
fn can_make_netns() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0");
    let ip = std::process::Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|out| out.status.success());
    root && ip
}
