//! When a schedule's ticks fall: its kind compiled into a [`Timing`] that
//! finds the tick after or before an instant, cron expressions included.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::Error;

pub(super) type Tick = DateTime<Utc>;

/// A parsed schedule timing.
pub(crate) enum Timing {
    Once(Tick),
    Interval {
        anchor: Tick,
        every: chrono::Duration,
    },
    Cron {
        cron: Box<Cron>,
        zone: Tz,
    },
}

impl Timing {
    /// The first tick after `t` (or at it, if `inclusive`).
    pub(super) fn next_after(&self, t: Tick, inclusive: bool) -> Option<Tick> {
        match self {
            Timing::Once(at) => (*at > t || (inclusive && *at == t)).then_some(*at),
            Timing::Interval { anchor, every } => {
                if t < *anchor {
                    return Some(*anchor);
                }
                let k = (t - *anchor).num_nanoseconds()? / every.num_nanoseconds()?;
                let at = *anchor + *every * i32::try_from(k).ok()?;
                if at == t && inclusive {
                    Some(at)
                } else {
                    Some(at + *every)
                }
            }
            Timing::Cron { cron, zone } => cron
                .find_next_occurrence(&t.with_timezone(zone), inclusive)
                .ok()
                .map(|at| at.with_timezone(&Utc)),
        }
    }

    /// The last tick before `t` (or at it, if `inclusive`).
    pub(super) fn prev_before(&self, t: Tick, inclusive: bool) -> Option<Tick> {
        match self {
            Timing::Once(at) => (*at < t || (inclusive && *at == t)).then_some(*at),
            Timing::Interval { anchor, every } => {
                if t < *anchor {
                    return None;
                }
                let k = (t - *anchor).num_nanoseconds()? / every.num_nanoseconds()?;
                let at = *anchor + *every * i32::try_from(k).ok()?;
                if at == t && !inclusive {
                    (k > 0).then(|| at - *every)
                } else {
                    Some(at)
                }
            }
            Timing::Cron { cron, zone } => cron
                .find_previous_occurrence(&t.with_timezone(zone), inclusive)
                .ok()
                .map(|at| at.with_timezone(&Utc)),
        }
    }
}

/// Parses a 5- or 6-field cron expression (no year field).
pub(super) fn parse_cron(expression: &str) -> Result<Cron, Error> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|err| Error::InvalidCron {
            expression: expression.to_owned(),
            message: err.to_string(),
        })
}
