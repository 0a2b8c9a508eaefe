//! The backend a URL names, by its scheme: the SQL backends through
//! `SqlBackend::connect` (which applies pending migrations, as every
//! taskq process does), Redis through `RedisBackend::connect`, and a SQL
//! URL with a Redis one as `SqlRedisBackend`. A scheme this binary was
//! built without is a usage error that names the feature.

use std::sync::Arc;

use crate::Error;
use crate::backend::Backend;

/// The kinds of URL the command line opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    Mysql,
    Redis,
}

impl Kind {
    fn of(url: &str) -> Result<Kind, Error> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Kind::Sqlite),
            "postgres" | "postgresql" => Ok(Kind::Postgres),
            "mysql" | "mariadb" => Ok(Kind::Mysql),
            "redis" | "rediss" | "redis-cluster" | "redis-sentinel" => Ok(Kind::Redis),
            _ => Err(Error::InvalidArgument(format!(
                "--database: `{}` is not a sqlite://, postgres://, mysql:// or redis:// URL",
                redacted(url)
            ))),
        }
    }

    /// Whether this binary has the feature that opens it.
    fn built_in(self) -> Result<(), Error> {
        let (built, feature) = match self {
            Kind::Sqlite => (cfg!(feature = "sqlite"), "sqlite"),
            Kind::Postgres => (cfg!(feature = "postgres"), "postgres"),
            Kind::Mysql => (cfg!(feature = "mysql"), "mysql"),
            Kind::Redis => (cfg!(feature = "redis"), "redis"),
        };
        if built {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "this program was built without taskq's `{feature}` feature"
            )))
        }
    }
}

/// Opens the backend at `database`; with `redis`, SQL records delivered
/// through that Redis.
pub(super) async fn open(database: &str, redis: Option<&str>) -> Result<Arc<dyn Backend>, Error> {
    let kind = Kind::of(database)?;
    kind.built_in()?;
    match redis {
        None => open_one(kind, database).await,
        Some(redis) => {
            if kind == Kind::Redis {
                return Err(Error::InvalidArgument(
                    "--redis goes with a SQL --database (records in SQL, delivery through Redis)"
                        .into(),
                ));
            }
            if Kind::of(redis).ok() != Some(Kind::Redis) {
                return Err(Error::InvalidArgument(format!(
                    "--redis: `{}` is not a redis:// URL",
                    redacted(redis)
                )));
            }
            Kind::Redis.built_in()?;
            open_sql_redis(database, redis).await
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn open_sql(url: &str) -> Result<crate::SqlBackend, Error> {
    crate::SqlBackend::connect(url).await
}

async fn open_one(kind: Kind, url: &str) -> Result<Arc<dyn Backend>, Error> {
    match kind {
        #[cfg(feature = "redis")]
        Kind::Redis => Ok(Arc::new(crate::RedisBackend::connect(url).await?)),
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        Kind::Sqlite | Kind::Postgres | Kind::Mysql => Ok(Arc::new(open_sql(url).await?)),
        // `built_in` refused the kinds this build lacks.
        #[allow(unreachable_patterns)]
        _ => Err(Error::InvalidArgument(format!(
            "this program cannot open `{}`",
            redacted(url)
        ))),
    }
}

#[cfg(all(
    feature = "redis",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
async fn open_sql_redis(sql: &str, redis: &str) -> Result<Arc<dyn Backend>, Error> {
    let sql = open_sql(sql).await?;
    let redis = crate::RedisBackend::connect(redis).await?;
    Ok(Arc::new(crate::SqlRedisBackend::new(sql, redis).await?))
}

#[cfg(not(all(
    feature = "redis",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
)))]
async fn open_sql_redis(_sql: &str, _redis: &str) -> Result<Arc<dyn Backend>, Error> {
    Err(Error::InvalidArgument(
        "this program was built without taskq's `redis` feature and a SQL one".into(),
    ))
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_open_names_the_kind_by_scheme() {
        assert_eq!(Kind::of("sqlite://tasks.db").ok(), Some(Kind::Sqlite));
        assert_eq!(Kind::of("sqlite::memory:").ok(), Some(Kind::Sqlite));
        assert_eq!(Kind::of("postgresql://db/app").ok(), Some(Kind::Postgres));
        assert_eq!(Kind::of("MYSQL://db/app").ok(), Some(Kind::Mysql));
        assert_eq!(
            Kind::of("redis-cluster://a:1?node=b:2").ok(),
            Some(Kind::Redis)
        );
        let err = Kind::of("http://u:secret@host/x").expect_err("not a backend");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(Kind::of("tasks.db").is_err());
    }

    #[test]
    fn cli_open_redacts_passwords() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(redacted("sqlite://tasks.db"), "sqlite://tasks.db");
    }
}
