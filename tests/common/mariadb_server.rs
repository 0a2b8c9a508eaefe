//! A MariaDB server of a test's own ([`PrivateMariadb`]):
//! `mariadb-install-db` into a temporary directory, `mariadbd` on a free
//! port, so a test can cut it off without disturbing the shared server.
//! Std only.

// Each test crate uses what its tests need.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the server and its bootstrap tool.
const MARIADBD: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";

/// Whether [`PrivateMariadb`] can start a server here.
pub fn mariadb_server_installed() -> bool {
    Path::new(MARIADBD).exists() && Path::new(INSTALL_DB).exists()
}

/// A private MariaDB server, killed and its directory deleted on drop.
/// No grant tables (anyone connecting is root, no password) and no
/// flush per commit: a throwaway database.
pub struct PrivateMariadb {
    server: Child,
    dir: PathBuf,
    host: String,
    port: u16,
}

impl PrivateMariadb {
    /// A server listening on `host` only (an address of this machine,
    /// e.g. the host end of a veth pair), with a database `test`.
    pub fn start_on(host: &str) -> PrivateMariadb {
        assert!(
            mariadb_server_installed(),
            "this test starts a private MariaDB: {MARIADBD} and {INSTALL_DB} must be installed"
        );
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "taskq-private-mariadb-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("server dir");
        let root = is_root();
        if root {
            // As root the server must be told a user to run as, which
            // must own its directory.
            let status = Command::new("chown")
                .args(["-R", "mysql"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the server dir");
        }
        let data = dir.join("data");
        let mut install = Command::new(INSTALL_DB);
        install
            .arg(format!("--datadir={}", data.display()))
            .arg("--skip-test-db");
        if root {
            install.arg("--user=mysql");
        }
        let out = install.output().expect("run mariadb-install-db");
        assert!(out.status.success(), "mariadb-install-db: {out:?}");
        let mut command = Command::new(MARIADBD);
        // `--no-defaults` first: the machine's my.cnf (the shared
        // server's port, socket and data) must not apply.
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--log-error={}", dir.join("log").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--bind-address={host}"))
            .args(["--skip-grant-tables", "--innodb-flush-log-at-trx-commit=0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if root {
            command.arg("--user=mysql");
        }
        let server = PrivateMariadb {
            server: command.spawn().expect("start mariadbd"),
            dir,
            host: host.to_owned(),
            port,
        };
        server.wait_ready();
        server
    }

    /// Waits until the server accepts SQL, then creates `test`.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let created = Command::new("mariadb")
                .args(["-h", &self.host, "-P", &self.port.to_string(), "-u", "root"])
                .args(["-e", "CREATE DATABASE IF NOT EXISTS test"])
                .output()
                .is_ok_and(|out| out.status.success());
            if created {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private mariadbd did not start; log: {}",
                std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("mysql://root@{}:{}/test", self.host, self.port)
    }
}

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        // SIGKILL: nothing here needs to survive.
        let _ = self.server.kill();
        let _ = self.server.wait();
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
