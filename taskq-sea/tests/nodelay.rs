//! `SeaBackend::connect` gives its pool's TCP sockets `TCP_NODELAY`,
//! which SQLx 0.9.0 no longer sets (see `taskq_sea::tcp_nodelay`). A
//! binary of its own: the check looks at every socket of the process.
//!
//! Reads `TASKQ_TEST_POSTGRES_URL` / `TASKQ_TEST_MYSQL_URL`; a test whose
//! variable is unset at build time is ignored.
#![cfg(target_os = "linux")]

use std::mem::ManuallyDrop;
use std::net::TcpStream;
use std::os::fd::FromRawFd;

use taskq_core::conformance::record;
use taskq_core::{Broker, Store, TaskFilter};
use taskq_sea::SeaBackend;
use taskq_sea::scratch::{Scratch, Server};

/// `TCP_NODELAY`, `SO_KEEPALIVE` and `TCP_USER_TIMEOUT` (ms) of each of
/// this process's sockets connected to `port`.
fn sockets_to(port: u16) -> Vec<(bool, bool, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .expect("fd list")
        .flatten()
    {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // SAFETY: the stream is never dropped, so the descriptor (owned by
        // the pool, or not a socket at all) is only inspected.
        let stream = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        if stream.peer_addr().is_ok_and(|peer| peer.port() == port) {
            found.push((
                stream.nodelay().expect("TCP_NODELAY"),
                int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE) == 1,
                int_option(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) as u32,
            ));
        }
    }
    found
}

fn int_option(fd: libc::c_int, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` outlive the call and describe one int.
    unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &mut len) };
    value
}

async fn pool_sockets_get_nodelay(server: Server) {
    let scratch = Scratch::from_env(server)
        .await
        .unwrap_or_else(|err| panic!("scratch on {}: {err}", server.env_var()));
    // `scheme://user@host:port/…`
    let port: u16 = scratch
        .url()
        .split_once('@')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|host| host.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .expect("a port in the test server's URL");
    let backend = SeaBackend::connect(scratch.url()).await.expect("connect");
    // A statement of many rows: what Nagle's algorithm held back.
    let tasks: Vec<_> = (0..500)
        .map(|_| record("t", "q", 0, chrono::Utc::now()))
        .collect();
    backend.enqueue(tasks).await.expect("enqueue");
    let page = backend
        .list(&TaskFilter::default(), Default::default())
        .await
        .expect("list");
    assert_eq!(page.total, 500);
    let sockets = sockets_to(port);
    assert!(!sockets.is_empty(), "no socket to port {port}");
    // Keepalive and a user timeout of `DEAD_CONNECTION_AFTER_DEFAULT`
    // too: a statement sent into a black hole fails in seconds.
    let dead = taskq_sea::DEAD_CONNECTION_AFTER_DEFAULT.as_millis() as u32;
    assert!(
        sockets.iter().all(|&s| s == (true, true, dead)),
        "sockets to port {port} without TCP_NODELAY, keepalive or a {dead} ms user \
         timeout: {sockets:?}"
    );
    if server == Server::Postgres {
        // The server's side of the session, and the statement timeout.
        use sea_orm::ConnectionTrait;
        for (name, value) in [
            ("statement_timeout", "30s"),
            ("tcp_user_timeout", "4000"),
            ("tcp_keepalives_idle", "4"),
        ] {
            let row = backend
                .connection()
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT current_setting('{name}') AS v"),
                ))
                .await
                .expect("SHOW")
                .expect("a row");
            let got: String = row.try_get("", "v").expect("text");
            assert_eq!(got, value, "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
async fn postgres_pool_sockets_get_tcp_nodelay() {
    pool_sockets_get_nodelay(Server::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
async fn mysql_pool_sockets_get_tcp_nodelay() {
    pool_sockets_get_nodelay(Server::Mysql).await;
}
