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

fn main() {
    let cfgs: Vec<&str> = SERVERS.iter().map(|(_, cfg)| *cfg).collect();
    println!("cargo::rustc-check-cfg=cfg({})", cfgs.join(", "));
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
