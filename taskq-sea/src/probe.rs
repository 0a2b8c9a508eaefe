//! One direct connection before the pool's. SQLx's pool retries a
//! connection the server refuses until its acquire timeout (30 s by
//! default) and then reports only `PoolTimedOut`; a single attempt of our
//! own fails at once with the cause (refused, unknown host, bad password,
//! no such database).

use taskq_core::Error;

/// How long the direct attempt may take. A server that does not answer in
/// this time is left to the pool's own timeout: only a definite refusal
/// fails here.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `Err` with the cause when a PostgreSQL or MySQL server at `url` refuses
/// a connection; `Ok` otherwise (SQLite, a server that answers, or one too
/// slow to tell).
pub(crate) async fn refuse_fast(url: &str) -> Result<(), Error> {
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres") {
        use sea_orm::sqlx::postgres::PgConnectOptions;
        if let Ok(options) = url.parse::<PgConnectOptions>() {
            let place = format!(
                "PostgreSQL at {}:{}",
                options.get_host(),
                options.get_port()
            );
            return attempt(&options, &place).await;
        }
    }
    #[cfg(feature = "mysql")]
    if url.starts_with("mysql") || url.starts_with("mariadb") {
        use sea_orm::sqlx::mysql::MySqlConnectOptions;
        if let Ok(options) = url.parse::<MySqlConnectOptions>() {
            let place = format!("MySQL at {}:{}", options.get_host(), options.get_port());
            return attempt(&options, &place).await;
        }
    }
    let _ = url;
    Ok(())
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn attempt<O>(options: &O, place: &str) -> Result<(), Error>
where
    O: sea_orm::sqlx::ConnectOptions,
    O::Connection: Sized,
{
    use sea_orm::sqlx::Connection;
    match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            // Closing politely only saves the server a log line.
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(Error::backend(format!("cannot connect to {place}: {err}"))),
        Err(_elapsed) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Port 1 on the loopback has no listener: the kernel refuses at once.
    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn closed_port_says_refused_postgres() {
        // Through the public entry point: before the probe this waited out
        // the pool's acquire timeout and said `PoolTimedOut`.
        let Err(err) = crate::SeaBackend::connect("postgres://postgres@127.0.0.1:1/x").await else {
            panic!("nothing listens on port 1");
        };
        let message = err.to_string();
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(message.to_lowercase().contains("refused"), "{message}");
    }

    #[cfg(feature = "mysql")]
    #[tokio::test]
    async fn closed_port_says_refused_mysql() {
        let err = refuse_fast("mysql://root@127.0.0.1:1/x")
            .await
            .expect_err("nothing listens on port 1");
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    }

    #[tokio::test]
    async fn sqlite_is_not_probed() {
        assert!(refuse_fast("sqlite::memory:").await.is_ok());
    }
}
