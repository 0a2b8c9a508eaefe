//! The ranges every backend stores and reads back unchanged, checked where
//! a value enters (a submission, a schedule, a queue control): times from
//! 1970 to the end of year 9999, timeouts and retry counts within their
//! stored width, and queue and schedule names that survive keys, URLs and
//! metric labels.
//!
//! Past them a value would be stored and then fail to load (Redis keeps a
//! timeout in 64-bit nanoseconds), be clamped without a word (SQL keeps a
//! retry count in 32 signed bits), come back as text that no RFC 3339
//! parser reads (a countdown of 10¹² seconds is year 33715), or name a
//! queue or schedule that no URL can reach (`..`).
//!
//! ```
//! use std::time::Duration;
//! use taskq_core::bounds::{self, LATEST_TIME};
//!
//! assert_eq!(LATEST_TIME.to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
//! assert!(bounds::check_queue_name("emails.high-priority_2").is_ok());
//! assert!(bounds::check_queue_name("..").is_err());
//! assert!(bounds::check_schedule_name("nightly report (EU)").is_ok());
//! assert!(bounds::check_schedule_name("a/b").is_err());
//! assert!(Duration::from_secs(3600) < bounds::MAX_TIMEOUT);
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::Error;

/// The most retries a task may allow: `i32::MAX`, the range of the SQL
/// column (a larger count would be stored clamped).
pub const MAX_RETRIES: u32 = i32::MAX as u32;

/// The longest hard or soft timeout a task may have: 100 years (Redis
/// keeps durations in 64-bit nanoseconds, about 584 years).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The earliest time a task's ETA or a schedule may name: the Unix epoch.
pub const EARLIEST_TIME: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// The latest time a task's ETA or a schedule may name: the last
/// microsecond of year 9999, the end of RFC 3339's four-digit years and
/// of MySQL's `DATETIME`.
pub const LATEST_TIME: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 999_999_000)
{
    Some(time) => time,
    None => panic!("9999-12-31T23:59:59.999999Z is a valid time"),
};

/// Whether `time` is within [`EARLIEST_TIME`] ..= [`LATEST_TIME`]; the
/// error text says the range.
pub fn check_time(time: DateTime<Utc>) -> Result<(), String> {
    if (EARLIEST_TIME..=LATEST_TIME).contains(&time) {
        Ok(())
    } else {
        Err(format!(
            "must be between {} and {}",
            EARLIEST_TIME.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            LATEST_TIME.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ))
    }
}

/// The longest queue name.
pub const MAX_QUEUE_NAME: usize = 100;

/// A queue name is 1 to [`MAX_QUEUE_NAME`] ASCII letters, digits, `_`, `-`
/// and `.`, and not `.` or `..`: it is part of every backend's keys (Redis
/// hash tags use `{}`, key paths `:`), of URLs (where `.` and `..` are
/// path steps) and of metric labels, where other characters would need
/// escaping or silently split a queue in two. A bad one is
/// [`Error::InvalidName`] with `kind: "queue"`.
///
/// ```
/// use taskq_core::bounds::check_queue_name;
///
/// assert!(check_queue_name("emails.high-priority_2").is_ok());
/// assert!(check_queue_name("a b:{c}").is_err());
/// assert!(check_queue_name(".").is_err());
/// ```
pub fn check_queue_name(queue: &str) -> Result<(), Error> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let message = if queue.is_empty() || queue.len() > MAX_QUEUE_NAME {
        format!("must be 1 to {MAX_QUEUE_NAME} characters")
    } else if !queue.chars().all(valid_char) {
        "may hold only ASCII letters, digits, `_`, `-` and `.`".to_owned()
    } else if is_path_step(queue) {
        "must not be `.` or `..`".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        kind: "queue",
        name: queue.to_owned(),
        message,
    })
}

/// The longest task type name a limit is set for, in bytes (the SQL
/// column's width).
pub const MAX_TYPE_NAME: usize = 255;

/// A task type name given to a limit is 1 to [`MAX_TYPE_NAME`] bytes
/// without control characters. A bad one is [`Error::InvalidName`] with
/// `kind: "task type"`.
///
/// ```
/// use taskq_core::bounds::check_type_name;
///
/// assert!(check_type_name("resize_image").is_ok());
/// assert!(check_type_name("").is_err());
/// ```
pub fn check_type_name(name: &str) -> Result<(), Error> {
    let message = if name.is_empty() || name.len() > MAX_TYPE_NAME {
        format!("must be 1 to {MAX_TYPE_NAME} bytes")
    } else if name.chars().any(char::is_control) {
        "must not hold control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        kind: "task type",
        name: name.to_owned(),
        message,
    })
}

/// The longest schedule name, in characters.
pub const MAX_SCHEDULE_NAME: usize = 200;

/// A schedule name is 1 to [`MAX_SCHEDULE_NAME`] characters, not `.` or
/// `..`, without `/` or control characters: it is the last segment of its
/// URL (`api/schedules/{name}`), where `/` would split it, `.` and `..`
/// are path steps, and a control character cannot be typed. Anything
/// else goes (spaces, punctuation, any script). A bad one is
/// [`Error::InvalidName`] with `kind: "schedule"`.
///
/// ```
/// use taskq_core::bounds::check_schedule_name;
///
/// assert!(check_schedule_name("nightly report: EU ☾").is_ok());
/// assert!(check_schedule_name("..").is_err());
/// assert!(check_schedule_name("line\nbreak").is_err());
/// ```
pub fn check_schedule_name(name: &str) -> Result<(), Error> {
    let message = if name.is_empty() || name.chars().count() > MAX_SCHEDULE_NAME {
        format!("must be 1 to {MAX_SCHEDULE_NAME} characters")
    } else if is_path_step(name) {
        "must not be `.` or `..`".to_owned()
    } else if name.contains('/') {
        "must not contain `/`".to_owned()
    } else if name.chars().any(char::is_control) {
        "must not contain control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        kind: "schedule",
        name: name.to_owned(),
        message,
    })
}

/// `.` and `..`, which URL resolution turns into steps up the path.
fn is_path_step(name: &str) -> bool {
    matches!(name, "." | "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_between_the_epoch_and_year_9999_pass() {
        assert!(check_time(EARLIEST_TIME).is_ok());
        assert!(check_time(LATEST_TIME).is_ok());
        assert!(check_time(Utc::now()).is_ok());
        let past_9999 = LATEST_TIME + chrono::Duration::microseconds(1);
        assert_eq!(past_9999.to_rfc3339(), "+10000-01-01T00:00:00+00:00");
        let message = check_time(past_9999).unwrap_err();
        assert!(message.contains("9999-12-31T23:59:59.999999Z"), "{message}");
        assert!(check_time(EARLIEST_TIME - chrono::Duration::microseconds(1)).is_err());
    }

    #[test]
    fn queue_names_are_checked_for_length_characters_and_path_steps() {
        for good in [
            "default",
            "a",
            "emails.high",
            "x-1_y",
            "...",
            ".hidden",
            &"q".repeat(MAX_QUEUE_NAME),
        ] {
            assert!(check_queue_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "a:b",
            "{c}",
            "ü",
            "a/b",
            "a\nb",
            "\u{7f}",
            &"q".repeat(MAX_QUEUE_NAME + 1),
        ] {
            match check_queue_name(bad) {
                Err(Error::InvalidName { kind, name, .. }) => {
                    assert_eq!((kind, name.as_str()), ("queue", bad));
                }
                other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
            }
        }
    }

    #[test]
    fn schedule_names_are_checked_for_length_path_steps_and_controls() {
        for good in [
            "nightly",
            "nightly report",
            "a.b",
            "...",
            "ü ☾ 東京",
            &"é".repeat(MAX_SCHEDULE_NAME),
        ] {
            assert!(check_schedule_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "/",
            "tab\there",
            "nul\0",
            "esc\u{1b}[31m",
            "c1\u{85}",
            &"é".repeat(MAX_SCHEDULE_NAME + 1),
        ] {
            match check_schedule_name(bad) {
                Err(Error::InvalidName { kind, name, .. }) => {
                    assert_eq!((kind, name.as_str()), ("schedule", bad));
                }
                other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
            }
        }
    }
}
