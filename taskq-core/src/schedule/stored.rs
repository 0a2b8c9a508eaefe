//! [`Schedule`], the stored form of a schedule, and the stable id of the
//! task each of its ticks submits.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::def::ScheduleDef;
use crate::error::Error;
use crate::stable_hash::{FNV_OFFSET, fnv1a64};
use crate::task::TaskId;

/// A stored schedule: its definition and bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(flatten)]
    pub def: ScheduleDef,
    /// When it last fired.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The tick it waits for; `None` while disabled or once it is done.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Runs its firings submitted, in all: tasks, or workflows.
    pub run_count: u64,
    /// The last task a firing submitted (a workflow's first step).
    pub last_task_id: Option<TaskId>,
    /// Bumped by the store on every edit (including enable and disable):
    /// a firing planned from an older revision is refused, so a tick never
    /// runs with a definition that was replaced before it fired.
    #[serde(default)]
    pub revision: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Schedule {
    /// A new schedule, created at `now`, with its first run computed.
    /// Times are kept to the microsecond ([`ScheduleDef::normalized`]).
    pub fn new(def: ScheduleDef, now: DateTime<Utc>) -> Result<Schedule, Error> {
        def.validate()?;
        let def = def.normalized();
        let now = now.trunc_subsecs(6);
        let next_run_at = def.first_run_after(now, now, 0)?;
        Ok(Schedule {
            def,
            last_run_at: None,
            next_run_at,
            run_count: 0,
            last_task_id: None,
            revision: 0,
            created_at: now,
            updated_at: now,
        })
    }

    /// The id of the task this schedule submits for `tick`: a UUIDv7 whose
    /// timestamp is the tick's millisecond and whose random bits are a
    /// stable hash of (name, `created_at`, tick). Every scheduler, and
    /// every retry after a crash, computes the same id for one tick, so
    /// the store's unique id is what keeps a tick from being queued twice
    /// (a schedule deleted and created again under its name gets new ids).
    pub fn task_id_for(&self, tick: DateTime<Utc>) -> TaskId {
        let mut key = Vec::with_capacity(self.def.name.len() + 17);
        key.extend_from_slice(self.def.name.as_bytes());
        key.push(0);
        key.extend_from_slice(&self.created_at.timestamp_micros().to_le_bytes());
        key.extend_from_slice(&tick.timestamp_micros().to_le_bytes());
        let low = fnv1a64(&key, FNV_OFFSET);
        let high = fnv1a64(&key, low);
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&low.to_le_bytes());
        random[8..].copy_from_slice(&high.to_le_bytes()[..2]);
        let millis = u64::try_from(tick.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }
}
