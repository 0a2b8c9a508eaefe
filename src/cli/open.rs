//! The backend a URL names, by its scheme: the SQL backends through
//! `SqlBackend::connect` (which applies pending migrations, as every
//! taskq process does), Redis through `RedisBackend::connect_with`, and a
//! SQL URL with a Redis one as `SqlRedisBackend`. A Redis URL may carry
//! `prefix=P` in its query, the host's `RedisConfig::prefix` when it is
//! not the default `taskq` (taken out before the URL reaches the Redis
//! client). A scheme this binary was built without is a usage error that
//! names the feature.

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
        Kind::Redis => Ok(Arc::new(
            crate::RedisBackend::connect_with(redis_config(url)?).await?,
        )),
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
    let redis = crate::RedisBackend::connect_with(redis_config(redis)?).await?;
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

/// The settings for a Redis URL: its `prefix` query parameter, if any,
/// as the key prefix, and the rest of the URL as it was.
#[cfg(feature = "redis")]
fn redis_config(url: &str) -> Result<crate::RedisConfig, Error> {
    let (url, prefix) = take_prefix(url)?;
    let mut config = crate::RedisConfig::new(url);
    if let Some(prefix) = prefix {
        config.prefix = prefix;
    }
    Ok(config)
}

/// `url` without its `prefix=…` query parameter, and that parameter's
/// value (percent-decoded). The other parameters (`node=…` of a cluster)
/// stay as written. Two prefixes, or an empty one, are refused.
#[cfg(any(feature = "redis", test))]
fn take_prefix(url: &str) -> Result<(String, Option<String>), Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut prefix = None;
    let mut kept = Vec::new();
    for piece in query.split('&') {
        let pair = form_urlencoded::parse(piece.as_bytes()).next();
        match pair {
            Some((key, value)) if key == "prefix" => {
                if value.is_empty() || prefix.replace(value.into_owned()).is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "`{}`: give one non-empty prefix=…",
                        redacted(url)
                    )));
                }
            }
            _ => kept.push(piece),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, prefix))
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
    fn cli_open_takes_the_redis_prefix_out_of_the_query() {
        assert_eq!(
            take_prefix("redis://127.0.0.1:6379/2?prefix=app%3Aone").ok(),
            Some((
                "redis://127.0.0.1:6379/2".to_owned(),
                Some("app:one".to_owned())
            ))
        );
        assert_eq!(
            take_prefix("redis-cluster://a:1?node=b:2&prefix=app&node=c:3").ok(),
            Some((
                "redis-cluster://a:1?node=b:2&node=c:3".to_owned(),
                Some("app".to_owned())
            ))
        );
        assert_eq!(
            take_prefix("redis://h:1").ok(),
            Some(("redis://h:1".to_owned(), None))
        );
        assert!(take_prefix("redis://h:1?prefix=").is_err());
        assert!(take_prefix("redis://h:1?prefix=a&prefix=b").is_err());
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
