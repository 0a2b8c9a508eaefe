//! A PostgreSQL server of a test's own ([`PrivatePostgres`]): `initdb`
//! into a temporary directory, started with `pg_ctl` on a free port, so a
//! test can stop it or cut it off without disturbing the shared server.
//! Std only.

// Each test crate uses what its tests need.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The directory of the newest installed `initdb` and `pg_ctl` (Debian
/// puts them under `/usr/lib/postgresql/<version>/bin`, off the `PATH`).
pub fn postgres_server_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// A private PostgreSQL server, stopped (`-m immediate`) and its
/// directory deleted on drop. Trust authentication, `fsync=off`: a
/// throwaway database.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    host: String,
    port: u16,
}

impl PrivatePostgres {
    /// A server on 127.0.0.1.
    pub fn start() -> PrivatePostgres {
        PrivatePostgres::start_on("127.0.0.1")
    }

    /// A server listening on `host` only (an address of this machine,
    /// e.g. the host end of a veth pair), accepting any client address
    /// without a password: the partition test's worker connects from
    /// another network namespace.
    pub fn start_on(host: &str) -> PrivatePostgres {
        let bin = postgres_server_bin().expect(
            "this test starts a private PostgreSQL: initdb and pg_ctl must be under \
             /usr/lib/postgresql/<version>/bin",
        );
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "taskq-private-postgres-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("server dir");
        if is_root() {
            // The server refuses to run as root; it runs as `postgres`,
            // which must own its directory.
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the server dir");
        }
        let server = PrivatePostgres {
            bin,
            dir,
            host: host.to_owned(),
            port,
        };
        let data = server.data();
        let out = server.tool("initdb", &["-D", &data, "-A", "trust", "-U", "postgres"]);
        assert!(out.status.success(), "initdb: {out:?}");
        // initdb's pg_hba.conf trusts loopback clients only.
        let hba = server.dir.join("data").join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        rules.push_str("host all all 0.0.0.0/0 trust\n");
        std::fs::write(&hba, rules).expect("pg_hba.conf");
        server.up();
        server
    }

    /// Runs a server tool, as `postgres` when we are root.
    fn tool(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        command.args(args).output().expect("run a PostgreSQL tool")
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses={} -c fsync=off",
            self.port,
            self.dir.display(),
            self.host
        );
        let log = self.dir.join("log").display().to_string();
        let out = self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {out:?}; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops at once: every connection is cut, as in a crash.
    pub fn down(&self) {
        let out = self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@{}:{}/postgres", self.host, self.port)
    }

    /// The server's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A free local port (the OS picks it; it may be taken again before use,
/// which makes the start fail rather than share a server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}
