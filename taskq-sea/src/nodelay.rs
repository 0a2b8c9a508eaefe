//! `TCP_NODELAY` on the pool's sockets, which SQLx 0.9.0 no longer sets
//! (SQLx issue #4335; the fix, #4336, is merged but not released).
//!
//! With Nagle's algorithm on, a statement that spans more than one TCP
//! segment holds its last segment until the server acknowledges the
//! earlier ones, and the server delays that acknowledgement by up to
//! 40 ms. A batch of 1,000 submitted tasks is three such statements:
//! measured on this project's 2-core VM, PostgreSQL over TCP took 7.5k
//! tasks/s, the same server over its Unix socket 70k.
//!
//! SQLx gives no access to a connection's socket, so after it opens one,
//! every TCP socket of this process whose peer is the database's port gets
//! the option (Linux, through `/proc/self/fd`; elsewhere nothing happens).
//! The option only changes when small writes go out, so setting it on
//! another socket to that port as well does no harm.

use sea_orm::ConnectOptions;

/// Gives each new connection of a PostgreSQL or MySQL pool `TCP_NODELAY`
/// (see the module docs; SQLite has no socket, so nothing changes).
/// [`SeaBackend::connect`](crate::SeaBackend::connect) does this itself;
/// call it on options for [`SeaBackend::connect_with`](crate::SeaBackend::connect_with).
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
    let url = options.get_url().to_owned();
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres") {
        use sea_orm::sqlx::postgres::PgConnectOptions;
        if let Ok(parsed) = url.parse::<PgConnectOptions>() {
            let port = parsed.get_port();
            options.map_sqlx_postgres_pool_opts(move |pool| with_hook(pool, port));
        }
    }
    #[cfg(feature = "mysql")]
    if url.starts_with("mysql") || url.starts_with("mariadb") {
        use sea_orm::sqlx::mysql::MySqlConnectOptions;
        if let Ok(parsed) = url.parse::<MySqlConnectOptions>() {
            let port = parsed.get_port();
            options.map_sqlx_mysql_pool_opts(move |pool| with_hook(pool, port));
        }
    }
    let _ = url;
}

/// `pool` with an `after_connect` hook that sets the option on the
/// sockets to `port`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn with_hook<DB: sea_orm::sqlx::Database>(
    pool: sea_orm::sqlx::pool::PoolOptions<DB>,
    port: u16,
) -> sea_orm::sqlx::pool::PoolOptions<DB> {
    pool.after_connect(move |_, _| {
        Box::pin(async move {
            set_on_sockets_to(port);
            Ok(())
        })
    })
}

/// Sets `TCP_NODELAY` on this process's TCP sockets connected to `port`;
/// returns how many it set it on.
#[cfg(all(target_os = "linux", any(feature = "postgres", feature = "mysql")))]
pub(crate) fn set_on_sockets_to(port: u16) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut set = 0;
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if peer_port(fd) == Some(port) && set_nodelay(fd) {
            set += 1;
        }
    }
    set
}

#[cfg(all(not(target_os = "linux"), any(feature = "postgres", feature = "mysql")))]
pub(crate) fn set_on_sockets_to(_port: u16) -> usize {
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
    let on: libc::c_int = 1;
    // SAFETY: `on` outlives the call and the length is its size; a
    // descriptor that is not a TCP socket only yields an error.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const on).cast(),
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
        assert!(set_on_sockets_to(port) >= 1);
        assert!(nodelay(&to_port));
        assert!(!nodelay(&elsewhere), "a socket to another port was changed");
    }
}
