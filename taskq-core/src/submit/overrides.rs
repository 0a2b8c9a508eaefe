//! A submission's overrides of its task type's options, and their checks
//! against what every backend stores ([`crate::bounds`]): a bad one is a
//! [`BadOverride`] before anything is built or stored.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::bounds;
use crate::error::Error;
use crate::lifecycle;
use crate::task::Unique;

/// Per-submission overrides of a task type's options.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) queue: Option<String>,
    pub(crate) priority: Option<i32>,
    pub(crate) run_at: Option<DateTime<Utc>>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    /// `Some(None)`: not unique, whatever the task type declares.
    pub(crate) unique: Option<Option<Unique>>,
    /// An explicit key on top of the declared (or overridden) uniqueness.
    pub(crate) unique_key: Option<String>,
    /// Tags as given (checked when the record is built).
    pub(crate) tags: Vec<String>,
    /// Metadata as given (checked when the record is built).
    pub(crate) metadata: Option<Value>,
    /// The deadline to start (overrides the type's `expires`).
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// The concurrency key (overrides the one the type reads from the
    /// params).
    pub(crate) concurrency_key: Option<String>,
}

/// An override out of range: which one (as its builder method and the HTTP
/// body name it) and why. It reaches callers as [`Error::InvalidArgument`].
#[derive(Debug)]
pub(crate) struct BadOverride {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

impl BadOverride {
    /// `countdown is too long: …`: the field, then what is wrong with it.
    pub(crate) fn sentence(&self) -> String {
        format!("{} {}", self.field, self.message)
    }
}

impl From<BadOverride> for Error {
    fn from(bad: BadOverride) -> Error {
        match bad.field {
            "expires_at" | "expires_in" => Error::InvalidDeadline {
                field: bad.field,
                message: bad.sentence(),
            },
            _ => Error::InvalidArgument(bad.sentence()),
        }
    }
}

/// The overrides with the countdown turned into an ETA at `now`, each
/// checked against what every backend stores ([`crate::bounds`]).
pub(super) fn checked_overrides(
    overrides: &Overrides,
    countdown: Option<Duration>,
    expires_in: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Overrides, BadOverride> {
    let bad = |field: &'static str, message: String| BadOverride { field, message };
    let mut overrides = overrides.clone();
    if let Some(delay) = countdown {
        let latest = bounds::LATEST_TIME;
        let run_at = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|delay| now.checked_add_signed(delay))
            .filter(|run_at| *run_at <= latest)
            .ok_or_else(|| {
                let message = format!("is too long: it must not reach past {latest:?}");
                bad("countdown", message)
            })?;
        overrides.run_at = Some(run_at);
    } else if let Some(run_at) = overrides.run_at {
        bounds::check_time(run_at).map_err(|message| bad("run_at", message))?;
    }
    for (field, timeout) in [
        ("timeout", overrides.timeout),
        ("soft_timeout", overrides.soft_timeout),
    ] {
        match timeout {
            Some(Duration::ZERO) => return Err(bad(field, "must be longer than zero".into())),
            Some(timeout) if timeout > bounds::MAX_TIMEOUT => {
                let max = bounds::MAX_TIMEOUT.as_secs();
                return Err(bad(field, format!("must be at most {max} seconds")));
            }
            _ => {}
        }
    }
    if let (Some(soft), Some(hard)) = (overrides.soft_timeout, overrides.timeout)
        && soft >= hard
    {
        return Err(bad("soft_timeout", "must be shorter than timeout".into()));
    }
    if let Some(retries) = overrides.max_retries
        && retries > bounds::MAX_RETRIES
    {
        let max = bounds::MAX_RETRIES;
        return Err(bad("max_retries", format!("must be at most {max}")));
    }
    check_deadline(&mut overrides, expires_in, now)?;
    Ok(overrides)
}

/// The deadline to start, from `expires_in` or `expires_at`: in the
/// future ([`lifecycle::check_expires_at`]), storable, and not before the
/// ETA (such a task could never start).
fn check_deadline(
    overrides: &mut Overrides,
    expires_in: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<(), BadOverride> {
    let field = if expires_in.is_some() {
        "expires_in"
    } else {
        "expires_at"
    };
    let bad = |message: String| BadOverride { field, message };
    if let Some(delay) = expires_in {
        let latest = bounds::LATEST_TIME;
        let at = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|delay| now.checked_add_signed(delay))
            .filter(|at| *at <= latest)
            .ok_or_else(|| bad(format!("is too long: it must not reach past {latest:?}")))?;
        overrides.expires_at = Some(at);
    }
    let Some(expires_at) = overrides.expires_at else {
        return Ok(());
    };
    bounds::check_time(expires_at).map_err(bad)?;
    lifecycle::check_expires_at(expires_at, now)
        .map_err(|_| bad("must be in the future".into()))?;
    if let Some(run_at) = overrides.run_at
        && expires_at <= run_at
    {
        return Err(bad(
            "must be after the ETA (run_at): the task could never start".into(),
        ));
    }
    Ok(())
}
