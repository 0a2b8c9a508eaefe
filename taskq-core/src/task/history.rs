//! A task's history and labels: what each ended attempt left
//! ([`AttemptRecord`], kept on [`TaskRecord::attempts`](super::TaskRecord)),
//! and the tags and metadata a submission gives it.
//!
//! The rules — what an attempt's end appends, how many entries stay, which
//! tags and metadata are accepted — are `lifecycle::end_attempt` and
//! `lifecycle::check_tags` / `lifecycle::check_metadata`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{TaskFailure, TaskRecord};

/// How one attempt ended: the state it led the task to.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The handler returned `Ok`: `FINISHED`.
    Finished,
    /// The attempt failed for good: `FAILED` (an error, retries spent, or
    /// a lease that expired with no retry left).
    Failed,
    /// The attempt failed and the task went back to `PENDING` for another
    /// (a retryable error, or a lease that expired with retries left).
    Retried,
    /// The attempt was cancelled: `CANCELLED`.
    Cancelled,
    /// The worker handed the attempt back on shutdown: `PENDING`, with the
    /// attempt number given back (the next claim runs it again).
    Released,
    /// The handler snoozed ([`TaskError::snooze`](crate::TaskError::snooze)):
    /// `PENDING` until its delay passed, the attempt number given back.
    Snoozed,
}

impl AttemptOutcome {
    /// The stored name (`"finished"`, `"retried"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Finished => "finished",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Retried => "retried",
            AttemptOutcome::Cancelled => "cancelled",
            AttemptOutcome::Released => "released",
            AttemptOutcome::Snoozed => "snoozed",
        }
    }
}

/// One ended attempt, as [`TaskRecord::attempts`](super::TaskRecord) keeps
/// it: its number, who ran it, when, and how it ended.
///
/// Times read leniently (RFC 3339, a SQL `YYYY-MM-DD hh:mm:ss.ffffff` in
/// UTC, or microseconds since the epoch), because each backend appends
/// the entry inside its own atomic step and takes the worker and start
/// time from the stored row in that store's own text; they are written
/// as RFC 3339.
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptRecord {
    /// The attempt's number (1 for the first run).
    pub attempt: u32,
    /// The worker that ran it.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// When it was claimed.
    #[serde(default, with = "lenient_time::option")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended (settled, handed back, or found with an expired lease).
    #[serde(with = "lenient_time")]
    #[schemars(with = "DateTime<Utc>")]
    pub ended_at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    /// Its error (`None` for a finished or released attempt); the message
    /// is cut to [`lifecycle::HISTORY_MESSAGE_MAX`](crate::lifecycle::HISTORY_MESSAGE_MAX)
    /// characters.
    #[serde(default)]
    pub error: Option<TaskFailure>,
    /// This end's place among all of the task's attempt ends, 1 for the
    /// first (snoozes and hand-backs count: they give the attempt number
    /// back, so `attempt` repeats). The entries before the oldest kept
    /// were dropped ([`TaskRecord::attempts_dropped`]). 0 on an entry
    /// written before the place was kept.
    #[serde(default)]
    pub ordinal: u32,
}

impl AttemptRecord {
    /// How long the attempt ran, when its start is known.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.started_at.map(|start| self.ended_at - start)
    }
}

impl TaskRecord {
    /// How many older attempt entries were dropped from
    /// [`TaskRecord::attempts`] past [`HISTORY_MAX`](crate::lifecycle::HISTORY_MAX):
    /// the oldest kept entry's [`AttemptRecord::ordinal`] less one (0 when
    /// nothing was dropped, or the entries predate the ordinal).
    pub fn attempts_dropped(&self) -> u32 {
        self.attempts
            .first()
            .map_or(0, |entry| entry.ordinal.saturating_sub(1))
    }
}

/// Times that read from any store's JSON text (see [`AttemptRecord`]).
pub(crate) mod lenient_time {
    use chrono::{DateTime, NaiveDateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// RFC 3339, a naive SQL time taken as UTC, or epoch microseconds.
    pub(crate) fn parse(raw: &str) -> Option<DateTime<Utc>> {
        let raw = raw.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
            return Some(at.with_timezone(&Utc));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(at) = NaiveDateTime::parse_from_str(raw, format) {
                return Some(at.and_utc());
            }
        }
        // SQLite's text for a time may carry a ` +00:00` offset.
        if let Ok(at) = DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f %:z") {
            return Some(at.with_timezone(&Utc));
        }
        raw.parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Micros(i64),
        Float(f64),
    }

    fn from_raw<E: serde::de::Error>(raw: Raw) -> Result<DateTime<Utc>, E> {
        match raw {
            Raw::Text(text) => parse(&text),
            Raw::Micros(micros) => DateTime::from_timestamp_micros(micros),
            // Lua's JSON encoder may write a large integer as a float.
            Raw::Float(micros) => DateTime::from_timestamp_micros(micros as i64),
        }
        .ok_or_else(|| E::custom("not a time"))
    }

    pub(crate) fn serialize<S: Serializer>(
        at: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        from_raw(Raw::deserialize(deserializer)?)
    }

    pub(crate) mod option {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<Raw>::deserialize(deserializer)?
                .map(from_raw)
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_times_read_from_every_store() {
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap();
        for raw in [
            "\"2025-12-06T05:46:40.123456+00:00\"",
            "\"2025-12-06T06:46:40.123456+01:00\"",
            "\"2025-12-06 05:46:40.123456\"",
            "\"2025-12-06 05:46:40.123456 +00:00\"",
            "\"1765000000123456\"",
            "1765000000123456",
        ] {
            let json = format!(
                r#"{{"attempt":1,"started_at":{raw},"ended_at":{raw},"outcome":"finished"}}"#
            );
            let entry: AttemptRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(entry.started_at, Some(at), "{raw}");
            assert_eq!(entry.ended_at, at, "{raw}");
        }
        let bad = r#"{"attempt":1,"ended_at":"yesterday","outcome":"finished"}"#;
        assert!(serde_json::from_str::<AttemptRecord>(bad).is_err());
    }
}
