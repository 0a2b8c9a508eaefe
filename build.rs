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

/// Set when this build finds no PostgreSQL server binaries (`initdb` and
/// `pg_ctl` under `/usr/lib/postgresql/<version>/bin`): the tests that
/// start a private server of their own are then ignored — unless `CI` is
/// set, where they must run and fail without them.
const NO_POSTGRES_SERVER: &str = "taskq_no_postgres_server";

/// The same for MariaDB: set without `/usr/sbin/mariadbd` and
/// `/usr/bin/mariadb-install-db` (what `tests/common/mariadb_server.rs`
/// runs), unless `CI` is set.
const NO_MARIADB_SERVER: &str = "taskq_no_mariadb_server";

fn main() {
    let mut cfgs: Vec<&str> = SERVERS.iter().map(|(_, cfg)| *cfg).collect();
    cfgs.extend([NO_NETNS, NO_POSTGRES_SERVER, NO_MARIADB_SERVER]);
    println!("cargo::rustc-check-cfg=cfg({})", cfgs.join(", "));
    println!("cargo::rerun-if-env-changed=CI");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
    if !ci && !can_make_netns() {
        println!("cargo::rustc-cfg={NO_NETNS}");
    }
    // Installing or removing a server version rebuilds the tests (a path
    // that does not exist would rerun this script on every build).
    if std::path::Path::new("/usr/lib/postgresql").exists() {
        println!("cargo::rerun-if-changed=/usr/lib/postgresql");
    }
    if !ci && !postgres_server_installed() {
        println!("cargo::rustc-cfg={NO_POSTGRES_SERVER}");
    }
    let mariadb = ["/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"];
    for tool in mariadb {
        if std::path::Path::new(tool).exists() {
            println!("cargo::rerun-if-changed={tool}");
        }
    }
    if !ci
        && !mariadb
            .iter()
            .all(|tool| std::path::Path::new(tool).exists())
    {
        println!("cargo::rustc-cfg={NO_MARIADB_SERVER}");
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

/// `initdb` and `pg_ctl` of some version under `/usr/lib/postgresql`
/// (where Debian installs them; what `tests/common/postgres_server.rs`
/// looks for).
fn postgres_server_installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
        versions.flatten().any(|version| {
            let bin = version.path().join("bin");
            bin.join("initdb").exists() && bin.join("pg_ctl").exists()
        })
    })
}
