//! Socket options on the pool's sockets that SQLx does not set:
//! `TCP_NODELAY`, which SQLx 0.9.0 no longer sets (SQLx issue #4335; the
//! fix, #4336, is merged but not released), and TCP keepalive with
//! `TCP_USER_TIMEOUT`, which SQLx has no option for at all.
//!
//! With Nagle's algorithm on, a statement that spans more than one TCP
//! segment holds its last segment until the server acknowledges the
//! earlier ones, and the server delays that acknowledgement by up to
//! 40 ms. A batch of 1,000 submitted tasks is three such statements:
//! measured on this project's 2-core VM, PostgreSQL over TCP took 7.5k
//! tasks/s, the same server over its Unix socket 70k.
//!
//! Without keepalive and a user timeout, a statement sent into a network
//! black hole waits out TCP retransmission (about 15 minutes on Linux),
//! and an idle pooled connection whose server is gone looks alive until
//! used. With them the kernel fails the connection once sent data (or a
//! keepalive probe, sent after that long idle) went unacknowledged for
//! the configured time: the statement errors, the pool drops the
//! connection and opens a new one. A long-running statement is not
//! affected — the server acknowledges the bytes of the query at once and
//! answers keepalive probes while it works.
//!
//! SQLx gives no access to a connection's socket, so after it opens one,
//! every TCP socket of this process whose peer is the database's port gets
//! the options (Linux, through `/proc/self/fd`; elsewhere nothing happens).
//! Setting them on another socket to that port as well does no harm: they
//! change only when small writes go out and when a dead peer is given up.

use std::time::Duration;

use sea_orm::ConnectOptions;

/// [`SqlSettings::dead_connection_after`](crate::SqlSettings::dead_connection_after)
/// by default, and what [`tcp_nodelay`] sets.
pub const DEAD_CONNECTION_AFTER_DEFAULT: Duration = Duration::from_secs(4);

/// Gives each new connection of a PostgreSQL or MySQL pool `TCP_NODELAY`,
/// TCP keepalive and a `TCP_USER_TIMEOUT` of
/// [`DEAD_CONNECTION_AFTER_DEFAULT`] (see the module docs; SQLite has no
/// socket, so nothing changes).
/// [`SeaBackend::connect`](crate::SeaBackend::connect) does this itself;
/// call it on options for [`SeaBackend::connect_with`](crate::SeaBackend::connect_with),
/// or [`tcp_options`] for another dead-connection time.
///
/// It installs a per-connection SQLx `after_connect` hook through
/// `map_sqlx_postgres_pool_opts` / `map_sqlx_mysql_pool_opts`, replacing a
/// mapping set there before (and SeaORM's `set_schema_search_path` hook:
/// select a schema with the URL's `options=-csearch_path%3D…` instead).
///
/// ```no_run
/// # async fn demo() -> Result<(), taskq_core::Error> {
/// let url = "postgres://postgres@127.0.0.1:5432/app";
/// let mut options = sea_orm::ConnectOptions::new(url);
/// options.max_connections(20);
/// taskq_sea::tcp_nodelay(&mut options);
/// let backend = taskq_sea::SeaBackend::connect_with(options).await?;
/// # Ok(()) }
/// ```
pub fn tcp_nodelay(options: &mut ConnectOptions) {
    tcp_options(options, DEAD_CONNECTION_AFTER_DEFAULT);
}

/// [`tcp_nodelay`] with `dead_connection_after` as the keepalive idle time
/// and user timeout: a connection whose peer acknowledges nothing for
/// about that long (sent data, or probes once idle) fails.
pub fn tcp_options(options: &mut ConnectOptions, dead_connection_after: Duration) {
    let url = options.get_url().to_owned();
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres") {
        use sea_orm::sqlx::postgres::PgConnectOptions;
        if let Ok(parsed) = url.parse::<PgConnectOptions>() {
            let port = parsed.get_port();
            options.map_sqlx_postgres_pool_opts(move |pool| {
                with_hook(pool, port, dead_connection_after)
            });
        }
    }
    #[cfg(feature = "mysql")]
    if url.starts_with("mysql") || url.starts_with("mariadb") {
        use sea_orm::sqlx::mysql::MySqlConnectOptions;
        if let Ok(parsed) = url.parse::<MySqlConnectOptions>() {
            let port = parsed.get_port();
            options
                .map_sqlx_mysql_pool_opts(move |pool| with_hook(pool, port, dead_connection_after));
        }
    }
    let _ = (url, dead_connection_after);
}

/// `pool` with an `after_connect` hook that sets the options on the
/// sockets to `port`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn with_hook<DB: sea_orm::sqlx::Database>(
    pool: sea_orm::sqlx::pool::PoolOptions<DB>,
    port: u16,
    dead: Duration,
) -> sea_orm::sqlx::pool::PoolOptions<DB> {
    pool.after_connect(move |_, _| {
        Box::pin(async move {
            set_on_sockets_to(port, dead);
            Ok(())
        })
    })
}

/// Sets `TCP_NODELAY`, keepalive and the user timeout (`dead`) on this
/// process's TCP sockets connected to `port`; returns how many it set
/// `TCP_NODELAY` on.
#[cfg(all(target_os = "linux", any(feature = "postgres", feature = "mysql")))]
pub(crate) fn set_on_sockets_to(port: u16, dead: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut set = 0;
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if peer_port(fd) == Some(port) && set_nodelay(fd) {
            set_liveness(fd, dead);
            set += 1;
        }
    }
    set
}

#[cfg(all(not(target_os = "linux"), any(feature = "postgres", feature = "mysql")))]
pub(crate) fn set_on_sockets_to(_port: u16, _dead: Duration) -> usize {
    0
}

/// The peer port of a connected IPv4/IPv6 socket; `None` for anything
/// else (a closed descriptor, a file, a Unix socket).
#[cfg(all(target_os = "linux", any(feature = "postgres", feature = "mysql")))]
fn peer_port(fd: libc::c_int) -> Option<u16> {
    // SAFETY: `addr` is zeroed plain data and `len` its size, so the
    // kernel writes at most that many bytes; any `fd` is fine: a
    // descriptor that is not a connected socket only yields an error.
    unsafe {
        let mut addr: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getpeername(fd, (&raw mut addr).cast(), &mut len) != 0 {
            return None;
        }
        match libc::c_int::from(addr.ss_family) {
            libc::AF_INET => {
                let v4: &libc::sockaddr_in = &*(&raw const addr).cast();
                Some(u16::from_be(v4.sin_port))
            }
            libc::AF_INET6 => {
                let v6: &libc::sockaddr_in6 = &*(&raw const addr).cast();
                Some(u16::from_be(v6.sin6_port))
            }
            _ => None,
        }
    }
}

#[cfg(all(target_os = "linux", any(feature = "postgres", feature = "mysql")))]
fn set_nodelay(fd: libc::c_int) -> bool {
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Keepalive probes after `dead` idle, then every second (at least), 3
/// of them; and `TCP_USER_TIMEOUT` of `dead`, which bounds how long sent
/// data — a statement, or a probe — may stay unacknowledged. Best effort:
/// a failure leaves the kernel's defaults.
#[cfg(all(target_os = "linux", any(feature = "postgres", feature = "mysql")))]
fn set_liveness(fd: libc::c_int, dead: Duration) {
    let secs = |d: Duration| libc::c_int::try_from(d.as_secs().max(1)).unwrap_or(libc::c_int::MAX);
    let millis = libc::c_uint::try_from(dead.as_millis().max(1)).unwrap_or(libc::c_uint::MAX);
    let options: [(libc::c_int, libc::c_int, libc::c_int); 4] = [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(dead)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(dead / 4)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ];
    for (level, name, value) in options {
        set_int(fd, level, name, value);
    }
    // An unsigned int of milliseconds (tcp(7)).
    set_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        millis as libc::c_int,
    );
}

#[cfg(all(target_os = "linux", any(feature = "postgres", feature = "mysql")))]
fn set_int(fd: libc::c_int, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: `value` outlives the call and the length is its size; a
    // descriptor that is not a TCP socket only yields an error.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

#[cfg(all(
    test,
    target_os = "linux",
    any(feature = "postgres", feature = "mysql")
))]
mod tests {
    use super::*;

    fn nodelay(stream: &std::net::TcpStream) -> bool {
        stream.nodelay().expect("nodelay")
    }

    #[test]
    fn sets_nodelay_only_on_sockets_to_the_port() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = server.local_addr().expect("addr").port();
        let to_port =
            std::net::TcpStream::connect(server.local_addr().expect("addr")).expect("connect");
        let elsewhere =
            std::net::TcpStream::connect(other.local_addr().expect("addr")).expect("connect");
        assert!(!nodelay(&to_port) && !nodelay(&elsewhere), "off by default");
        assert!(set_on_sockets_to(port, Duration::from_secs(4)) >= 1);
        assert!(nodelay(&to_port));
        assert!(!nodelay(&elsewhere), "a socket to another port was changed");
    }
}
