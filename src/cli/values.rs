//! Parsers of the command line's values (clap `value_parser`s): each
//! error names what it expected, and clap reports it as a usage error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::Value;

use crate::{PageRequest, TaskState};

/// `--page` and `--page-size`, for the list commands.
#[derive(Debug, Clone, Copy, Args)]
pub(super) struct PageArgs {
    /// The page to show, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    page: u64,
    /// Items per page, 1 to 100.
    #[arg(
        long,
        default_value_t = PageRequest::DEFAULT_PAGE_SIZE,
        value_parser = clap::value_parser!(u64).range(1..=PageRequest::MAX_PAGE_SIZE)
    )]
    page_size: u64,
}

impl PageArgs {
    pub(super) fn request(self) -> PageRequest {
        PageRequest::new(self.page, self.page_size)
    }
}

/// The footer of a listed page: `page 1 of 3, 45 tasks`.
pub(super) fn page_footer(page: u64, page_size: u64, total: u64, noun: &str) -> String {
    let pages = total.div_ceil(page_size.max(1)).max(1);
    let plural = if total == 1 { "" } else { "s" };
    format!("page {page} of {pages}, {total} {noun}{plural}")
}

/// A duration: a number with a unit — `500ms`, `30s`, `5m`, `2h`, `7d` —
/// or a bare number of seconds; fractions allowed (`1.5s`).
pub(super) fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let not_a_duration = || format!("`{text}` is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d)");
    if number.is_empty() {
        return Err(not_a_duration());
    }
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` (use ms, s, m, h or d, e.g. 30s or 7d)"
            ));
        }
    };
    let number: f64 = number.parse().map_err(|_| not_a_duration())?;
    Duration::try_from_secs_f64(number * seconds_per_unit)
        .map_err(|_| format!("`{text}` is out of range"))
}

/// A time in RFC 3339 (`2026-05-01T09:00:00Z`, `2026-05-01T11:00:00+02:00`),
/// kept in UTC.
pub(super) fn time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| {
            format!("`{text}` is not an RFC 3339 time (e.g. 2026-05-01T09:00:00Z): {err}")
        })
}

/// A task state, in any case: `pending`, `RUNNING`, …
pub(super) fn state(text: &str) -> Result<TaskState, String> {
    text.parse::<TaskState>().map_err(|_| {
        let names: Vec<String> = TaskState::ALL
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect();
        format!("unknown state `{text}` (one of {})", names.join(", "))
    })
}

/// A JSON value, as params.
pub(super) fn json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))
}

/// One metadata filter of `list`: `key=value`, the value read by
/// [`lifecycle::metadata_value_from_text`](crate::backend::lifecycle::metadata_value_from_text)
/// (`7` a number, `"7"` a string, `acme` a string).
pub(super) fn meta_filter(text: &str) -> Result<(String, Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    if !crate::backend::lifecycle::is_valid_metadata_key(key) {
        return Err(format!(
            "metadata key `{key}` must be 1 to {} ASCII letters, digits, `_`, `-` or `.`",
            crate::backend::lifecycle::MAX_METADATA_KEY_LEN
        ));
    }
    Ok((
        key.to_owned(),
        crate::backend::lifecycle::metadata_value_from_text(value),
    ))
}

/// One queue a worker serves: `name`, or `name=N` with its own
/// concurrency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QueueSpec {
    pub(super) name: String,
    pub(super) concurrency: Option<usize>,
}

pub(super) fn queue_spec(text: &str) -> Result<QueueSpec, String> {
    match text.split_once('=') {
        None => Ok(QueueSpec {
            name: text.trim().to_owned(),
            concurrency: None,
        }),
        Some((name, concurrency)) => {
            let concurrency = concurrency
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("`{text}`: the concurrency after `=` is a number ≥ 1"))?;
            Ok(QueueSpec {
                name: name.trim().to_owned(),
                concurrency: Some(concurrency),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_durations_take_units_and_bare_seconds() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(duration("7w").unwrap_err().contains("unit `w`"));
        assert!(duration("soon").unwrap_err().contains("not a duration"));
        assert!(duration("").is_err());
        assert!(duration("-1s").is_err());
        assert!(duration("1e400").is_err());
    }

    #[test]
    fn cli_times_are_rfc3339_in_utc() {
        let at = time("2026-05-01T11:00:00+02:00").expect("a time");
        assert_eq!(at.to_rfc3339(), "2026-05-01T09:00:00+00:00");
        assert!(time("2026-05-01 09:00").unwrap_err().contains("RFC 3339"));
        assert!(time("tomorrow").is_err());
    }

    #[test]
    fn cli_states_and_queue_specs_parse() {
        assert_eq!(state("failed"), Ok(TaskState::Failed));
        assert_eq!(state("RUNNING"), Ok(TaskState::Running));
        assert!(state("done").unwrap_err().contains("pending, running"));
        assert_eq!(
            queue_spec("heavy=2"),
            Ok(QueueSpec {
                name: "heavy".into(),
                concurrency: Some(2)
            })
        );
        assert_eq!(queue_spec("default").map(|q| q.concurrency), Ok(None));
        assert!(queue_spec("heavy=0").is_err());
        assert!(queue_spec("heavy=x").is_err());
    }
}
