//! Unique tasks: what a task type or a submission declares
//! ([`Unique`]), and what a stored task holds ([`UniqueKey`]).
//!
//! The rules — how a key is derived, when a holder still holds it — are
//! `lifecycle::unique_key` and `lifecycle::holds_unique`.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TaskState;

/// "At most one such task": a task submitted while another task of its
/// queue holds the same key is not stored, and the submit answers with
/// the holder's id ([`Submitted::unique_conflict`](crate::Submitted)).
///
/// The key is, in this order of preference:
/// - [`key`](Unique::key): given as is;
/// - [`fields`](Unique::fields): the task type and the values of these
///   top-level params fields (`"resize:[42]"`);
/// - neither: the task type and all of its params.
///
/// A holder holds its key while it is in one of [`states`](Unique::states)
/// (by default `PENDING` and `RUNNING`: "not while one is queued or
/// running") and, with a [`period`](Unique::period), for that long after
/// it was submitted ("at most one an hour"). Keys are scoped by queue, as
/// each backend enforces them atomically where the queue's tasks live.
///
/// Declared on the task type with `#[long_task(unique(...))]`, or per
/// submission with [`Submission::unique`](crate::Submission::unique):
///
/// ```
/// use std::time::Duration;
/// use taskq::prelude::*;
/// use taskq::{TaskState, Unique};
///
/// // One refresh per account queued or running at a time.
/// #[long_task(unique(fields = ["account"]))]
/// async fn refresh(p: serde_json::Value) -> Result<(), TaskError> {
///     # let _ = p;
///     Ok(())
/// }
///
/// // At most one digest mail per user an hour, whatever became of it.
/// let hourly = Unique::fields(["user"])
///     .period(Duration::from_secs(3600))
///     .states(&TaskState::ALL);
/// # let _ = hourly;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Unique {
    /// An explicit key (at most [`Unique::MAX_KEY_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub key: Option<Cow<'static, str>>,
    /// Top-level params fields the key is made of (ignored with `key`);
    /// empty means all the params.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    #[cfg_attr(feature = "http", schema(value_type = Vec<String>))]
    pub fields: Cow<'static, [Cow<'static, str>]>,
    /// How long after submission the key is held at most (seconds in
    /// JSON); `None`: as long as the holder is in `states`.
    #[serde(default, with = "super::opt_duration_secs")]
    #[schemars(with = "Option<f64>")]
    #[cfg_attr(feature = "http", schema(value_type = Option<f64>))]
    pub period: Option<Duration>,
    /// The holder's states in which it holds the key.
    #[serde(default = "Unique::default_states")]
    #[cfg_attr(feature = "http", schema(value_type = Vec<TaskState>))]
    pub states: Cow<'static, [TaskState]>,
}

impl Unique {
    /// The longest key, in bytes. A derived key past it is replaced by
    /// its SHA-256; an explicit one is refused.
    pub const MAX_KEY_BYTES: usize = 255;

    /// The default states: a queued or running holder holds its key.
    pub const ACTIVE: &'static [TaskState] = &[TaskState::Pending, TaskState::Running];

    /// Unique by all of the params, while a holder is pending or running.
    pub const BY_PARAMS: Unique = Unique {
        key: None,
        fields: Cow::Borrowed(&[]),
        period: None,
        states: Cow::Borrowed(Unique::ACTIVE),
    };

    fn default_states() -> Cow<'static, [TaskState]> {
        Cow::Borrowed(Unique::ACTIVE)
    }

    /// Unique by all of the params.
    pub fn params() -> Unique {
        Unique::BY_PARAMS
    }

    /// Unique by these top-level params fields (and the task type).
    pub fn fields<I, S>(fields: I) -> Unique
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Unique {
            fields: fields
                .into_iter()
                .map(|f| Cow::Owned(f.into()))
                .collect::<Vec<_>>()
                .into(),
            ..Unique::BY_PARAMS
        }
    }

    /// Unique by this key, as is (not prefixed by the task type, so tasks
    /// of several types can share one).
    pub fn key(key: impl Into<String>) -> Unique {
        Unique {
            key: Some(Cow::Owned(key.into())),
            ..Unique::BY_PARAMS
        }
    }

    /// Held for at most this long after submission.
    pub fn period(mut self, period: Duration) -> Unique {
        self.period = Some(period);
        self
    }

    /// Held while the holder is in one of these states.
    pub fn states(mut self, states: &[TaskState]) -> Unique {
        self.states = states.to_vec().into();
        self
    }
}

impl Default for Unique {
    fn default() -> Self {
        Unique::BY_PARAMS
    }
}

/// The uniqueness a stored task holds: its key, the states in which it
/// holds it, and until when at most. On [`TaskRecord::unique`](crate::TaskRecord).
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UniqueKey {
    /// The key, unique among the live holders of the task's queue.
    pub key: String,
    /// The states in which the task holds it.
    pub states: Vec<TaskState>,
    /// The end of the period, if one was given.
    pub until: Option<DateTime<Utc>>,
}

impl UniqueKey {
    /// The states as a bit set (`PENDING` 1, `RUNNING` 2, `FINISHED` 4,
    /// `FAILED` 8, `CANCELLED` 16): how SQL and Redis store them.
    pub fn states_mask(&self) -> u8 {
        states_mask(&self.states)
    }
}

/// `states` as the bit set [`UniqueKey::states_mask`] describes.
pub fn states_mask(states: &[TaskState]) -> u8 {
    states
        .iter()
        .fold(0, |mask, state| mask | state_bit(*state))
}

/// One state's bit in a [`states_mask`].
pub const fn state_bit(state: TaskState) -> u8 {
    match state {
        TaskState::Pending => 1,
        TaskState::Running => 2,
        TaskState::Finished => 4,
        TaskState::Failed => 8,
        TaskState::Cancelled => 16,
        TaskState::Waiting => 32,
        TaskState::Expired => 64,
    }
}

/// The states of a [`states_mask`], in lifecycle order.
pub fn states_from_mask(mask: u8) -> Vec<TaskState> {
    TaskState::ALL
        .into_iter()
        .filter(|state| mask & state_bit(*state) != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_round_trip() {
        for mask in 0..32u8 {
            assert_eq!(states_mask(&states_from_mask(mask)), mask);
        }
        assert_eq!(states_mask(Unique::ACTIVE), 3);
    }

    #[test]
    fn unique_reads_from_json_with_defaults() {
        let unique: Unique =
            serde_json::from_value(serde_json::json!({ "fields": ["user"], "period": 60 }))
                .unwrap();
        assert_eq!(unique.fields.as_ref(), [Cow::Borrowed("user")]);
        assert_eq!(unique.period, Some(Duration::from_secs(60)));
        assert_eq!(unique.states.as_ref(), Unique::ACTIVE);
    }
}
