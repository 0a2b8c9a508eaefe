//! **history**: what an attempt's end leaves on the record, and the labels
//! (tags, metadata) a submission may give a task.
//!
//! Every transition that ends a running attempt — settle, release, rescue
//! — appends one [`AttemptRecord`] in the same atomic step
//! ([`end_attempt`]), and the record keeps the last [`HISTORY_MAX`]. The
//! worker and start of the entry are the record's own (`worker_id`,
//! `started_at`, which the claim set and the attempt's end leaves); the
//! rest comes from the event. SQL and Lua build the event's part in Rust
//! ([`history_entry`]) and take those two from the stored row.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use crate::error::Error;
use crate::schedule::ScheduleFiring;
use crate::task::{AttemptOutcome, AttemptRecord, TaskFailure, TaskRecord};

/// The most attempts a record keeps: older ones are dropped, so a task
/// retried without end stays small.
pub const HISTORY_MAX: usize = 20;

/// The longest error message an attempt's entry keeps, in characters
/// (the record's own `error` keeps the last one whole).
pub const HISTORY_MESSAGE_MAX: usize = 500;

/// The most tags one task carries.
pub const MAX_TAGS: usize = 16;

/// The longest tag, in characters.
pub const MAX_TAG_LEN: usize = 64;

/// The largest metadata object, as JSON, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

/// The most metadata pairs one list filter takes.
pub const MAX_METADATA_FILTERS: usize = 16;

/// The longest metadata key a list filter names, in characters.
pub const MAX_METADATA_KEY_LEN: usize = 64;

/// The entry attempt `record.attempt` leaves when it ends at `at` with
/// `outcome` (and `error`), its worker and start read from `record`.
pub fn history_entry(
    record: &TaskRecord,
    outcome: AttemptOutcome,
    error: Option<&TaskFailure>,
    at: DateTime<Utc>,
) -> AttemptRecord {
    AttemptRecord {
        worker_id: record.worker_id.clone(),
        started_at: record.started_at,
        ..event_entry(record.attempt, outcome, error, at)
    }
}

/// The part of [`history_entry`] the event gives (no worker, no start):
/// what SQL and Lua receive, adding the two from the stored row.
pub fn event_entry(
    attempt: u32,
    outcome: AttemptOutcome,
    error: Option<&TaskFailure>,
    at: DateTime<Utc>,
) -> AttemptRecord {
    AttemptRecord {
        attempt,
        worker_id: None,
        started_at: None,
        ended_at: at,
        outcome,
        error: error.map(|error| TaskFailure {
            kind: error.kind,
            message: truncate(&error.message, HISTORY_MESSAGE_MAX),
        }),
        // The store's append numbers it (`next_ordinal`).
        ordinal: 0,
    }
}

/// The [`AttemptRecord::ordinal`] of the entry appended to `history`: one
/// past the last entry's, or past the number of entries when that is
/// more (entries written before ordinals were kept read 0). SQL and Lua
/// compute the same from the stored array inside the append.
pub fn next_ordinal(history: &[AttemptRecord]) -> u32 {
    let last = history.last().map_or(0, |entry| entry.ordinal);
    let kept = u32::try_from(history.len()).unwrap_or(u32::MAX);
    last.max(kept).saturating_add(1)
}

/// Appends `entry` to `history`, numbered ([`next_ordinal`]), dropping
/// the oldest entries past [`HISTORY_MAX`].
pub fn push_history(history: &mut Vec<AttemptRecord>, mut entry: AttemptRecord) {
    entry.ordinal = next_ordinal(history);
    history.push(entry);
    if history.len() > HISTORY_MAX {
        let excess = history.len() - HISTORY_MAX;
        history.drain(..excess);
    }
}

/// **end of an attempt**: appends the entry of the running attempt that
/// ends (call it before the transition changes `attempt`, `worker_id` or
/// `started_at`).
pub fn end_attempt(
    record: &mut TaskRecord,
    outcome: AttemptOutcome,
    error: Option<&TaskFailure>,
    at: DateTime<Utc>,
) {
    let entry = history_entry(record, outcome, error, at);
    push_history(&mut record.attempts, entry);
}

/// **fire** (schedules): every task a firing queues names its schedule
/// ([`TaskRecord::schedule`]). Each backend applies it to the firings it
/// is given, whoever built them.
pub fn name_fired_tasks(firing: &mut ScheduleFiring) {
    for task in &mut firing.tasks {
        task.schedule = Some(firing.name.clone());
    }
}

/// `message` cut to at most `max` characters (on a character boundary).
fn truncate(message: &str, max: usize) -> String {
    match message.char_indices().nth(max) {
        Some((end, _)) => message[..end].to_owned(),
        None => message.to_owned(),
    }
}

/// Whether `tag` is a valid tag: 1 to [`MAX_TAG_LEN`] lowercase ASCII
/// letters, digits, `_`, `-`, `.`, `:`, `=` and `/`. No `,`: stores keep a
/// task's tags as `,a,b,` and find one as `,a,`; no `%`, space or quote,
/// which a pattern or a URL would need to escape; no capitals, which
/// MySQL's default collation would match regardless of case.
pub fn is_valid_tag(tag: &str) -> bool {
    (1..=MAX_TAG_LEN).contains(&tag.len())
        && tag.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '_' | '-' | '.' | ':' | '=' | '/')
        })
}

/// A submission's tags, checked ([`is_valid_tag`], at most [`MAX_TAGS`])
/// and with repeats dropped (first place kept). A bad one is
/// [`Error::InvalidLabel`] with `field: "tags"`, and nothing is stored.
pub fn check_tags(tags: Vec<String>) -> Result<Vec<String>, Error> {
    let mut kept: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        if !is_valid_tag(&tag) {
            return Err(Error::InvalidLabel {
                field: "tags",
                message: format!(
                    "tag {tag:?} must be 1 to {MAX_TAG_LEN} lowercase ASCII letters, \
                     digits, `_`, `-`, `.`, `:`, `=` or `/`"
                ),
            });
        }
        if !kept.contains(&tag) {
            kept.push(tag);
        }
    }
    if kept.len() > MAX_TAGS {
        return Err(Error::InvalidLabel {
            field: "tags",
            message: format!("at most {MAX_TAGS} tags, not {}", kept.len()),
        });
    }
    Ok(kept)
}

/// A submission's metadata: a JSON object of at most
/// [`MAX_METADATA_BYTES`] as JSON. Anything else is
/// [`Error::InvalidLabel`] with `field: "metadata"`.
pub fn check_metadata(metadata: Value) -> Result<Map<String, Value>, Error> {
    let bad = |message: String| Error::InvalidLabel {
        field: "metadata",
        message,
    };
    let Value::Object(map) = metadata else {
        return Err(bad("must be a JSON object".to_owned()));
    };
    let size = serde_json::to_vec(&map).map_or(usize::MAX, |json| json.len());
    if size > MAX_METADATA_BYTES {
        return Err(bad(format!(
            "{size} bytes of JSON exceed the limit of {MAX_METADATA_BYTES}"
        )));
    }
    Ok(map)
}

/// Whether a task with `tags` matches a filter on `wanted`: it carries
/// every one of them.
pub fn has_tags(tags: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| tags.contains(w))
}

/// Whether `key` can name a metadata key in a list filter: 1 to
/// [`MAX_METADATA_KEY_LEN`] ASCII letters, digits, `_`, `-` and `.`. A
/// submission's metadata may use any key; a filter reaches those only:
/// SQL stores put the key into a JSON path (`$."key"`), which these
/// characters cannot break, and REST separates it from the value with `:`.
pub fn is_valid_metadata_key(key: &str) -> bool {
    (1..=MAX_METADATA_KEY_LEN).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A list filter's metadata pairs, checked: valid keys
/// ([`is_valid_metadata_key`]), scalar values (string, number, boolean,
/// null: an object or array is no filter value), at most
/// [`MAX_METADATA_FILTERS`]. Anything else is [`Error::InvalidLabel`]
/// with `field: "metadata"`.
pub fn check_metadata_filter(wanted: &BTreeMap<String, Value>) -> Result<(), Error> {
    let bad = |message: String| Error::InvalidLabel {
        field: "metadata",
        message,
    };
    if wanted.len() > MAX_METADATA_FILTERS {
        return Err(bad(format!(
            "at most {MAX_METADATA_FILTERS} metadata filters, not {}",
            wanted.len()
        )));
    }
    for (key, value) in wanted {
        if !is_valid_metadata_key(key) {
            return Err(bad(format!(
                "filter key {key:?} must be 1 to {MAX_METADATA_KEY_LEN} ASCII letters, \
                 digits, `_`, `-` or `.`"
            )));
        }
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            return Err(bad(format!(
                "filter value of {key:?} must be a string, number, boolean or null"
            )));
        }
    }
    Ok(())
}

/// Whether a task with `metadata` matches a filter on `wanted`: for every
/// pair, the top-level key is present with an equal value of the same
/// JSON type. A string matches only a string (`"7"` is not `7`), `true`
/// only `true`, `null` only a key present with `null`; numbers match by
/// value (`7` is `7.0`; Redis and MySQL compare as doubles, so past 2^53
/// nearby integers may match).
pub fn has_metadata(metadata: &Map<String, Value>, wanted: &BTreeMap<String, Value>) -> bool {
    wanted
        .iter()
        .all(|(key, value)| metadata.get(key).is_some_and(|v| same_scalar(v, value)))
}

/// `stored` equals the filter value `wanted` (see [`has_metadata`]).
fn same_scalar(stored: &Value, wanted: &Value) -> bool {
    match (stored, wanted) {
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

/// Numbers by value: exact for integers, as doubles otherwise.
fn same_number(a: &Number, b: &Number) -> bool {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return a == b;
    }
    a.as_f64().zip(b.as_f64()).is_some_and(|(a, b)| a == b)
}

/// A metadata filter value given as text (REST `?metadata=key:value`, the
/// CLI's `--meta key=value`): `true`, `false`, `null`, a JSON number or a
/// JSON string in double quotes is that JSON value; any other text is a
/// string as written. So `7` finds the number 7, `"7"` the string "7",
/// and `acme` the string "acme".
pub fn metadata_value_from_text(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Bool(_) | Value::Null | Value::Number(_) | Value::String(_))) => value,
        _ => Value::String(text.to_owned()),
    }
}

/// Tags as stores keep them in one text: `,a,b,` (empty for none), so
/// that `,a,` finds a tag whole.
pub fn tags_text(tags: &[String]) -> Option<String> {
    (!tags.is_empty()).then(|| format!(",{},", tags.join(",")))
}

/// The tags of [`tags_text`].
pub fn tags_from_text(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::ErrorKind;

    fn entry(attempt: u32) -> AttemptRecord {
        AttemptRecord {
            attempt,
            worker_id: Some("w".into()),
            started_at: None,
            ended_at: DateTime::UNIX_EPOCH,
            outcome: AttemptOutcome::Retried,
            error: None,
            ordinal: 0,
        }
    }

    #[test]
    fn history_keeps_the_last_entries() {
        let mut history = Vec::new();
        for attempt in 1..=(HISTORY_MAX as u32 + 5) {
            push_history(&mut history, entry(attempt));
        }
        assert_eq!(history.len(), HISTORY_MAX);
        assert_eq!(history[0].attempt, 6);
        assert_eq!(history[0].ordinal, 6);
        assert_eq!(
            history.last().map(|e| e.ordinal),
            Some(HISTORY_MAX as u32 + 5)
        );
        let mut record = super::super::unique::tests::record();
        record.attempts = history.clone();
        assert_eq!(record.attempts_dropped(), 5);
        // Entries written before ordinals: counted from their number.
        let mut old: Vec<AttemptRecord> = (1..=3).map(entry).collect();
        push_history(&mut old, entry(4));
        assert_eq!(old[3].ordinal, 4);
        record.attempts = old;
        assert_eq!(record.attempts_dropped(), 0);
        assert_eq!(
            history.last().map(|e| e.attempt),
            Some(HISTORY_MAX as u32 + 5)
        );
    }

    #[test]
    fn history_entry_takes_worker_and_start_from_the_record_and_cuts_the_message() {
        let mut record = super::super::unique::tests::record();
        record.attempt = 2;
        record.worker_id = Some("w-1".into());
        record.started_at = Some(DateTime::UNIX_EPOCH);
        let error = TaskFailure {
            kind: ErrorKind::Panic,
            message: "é".repeat(HISTORY_MESSAGE_MAX + 10),
        };
        let at = DateTime::UNIX_EPOCH + chrono::Duration::seconds(3);
        end_attempt(&mut record, AttemptOutcome::Retried, Some(&error), at);
        let entry = &record.attempts[0];
        assert_eq!(entry.attempt, 2);
        assert_eq!(entry.worker_id.as_deref(), Some("w-1"));
        assert_eq!(entry.duration(), Some(chrono::Duration::seconds(3)));
        let kept = entry.error.as_ref().map(|e| e.message.chars().count());
        assert_eq!(kept, Some(HISTORY_MESSAGE_MAX));
    }

    #[test]
    fn tags_are_checked_and_deduplicated() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_tags(tags(&["team:a", "b_1", "team:a"])).unwrap(),
            tags(&["team:a", "b_1"])
        );
        for bad in [
            "",
            "a,b",
            "a b",
            "50%",
            "é",
            "Team",
            &"x".repeat(MAX_TAG_LEN + 1),
        ] {
            assert!(
                matches!(
                    check_tags(tags(&[bad])),
                    Err(Error::InvalidLabel { field: "tags", .. })
                ),
                "{bad:?}"
            );
        }
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(check_tags(many).is_err());
        assert_eq!(tags_text(&tags(&["a", "b"])).as_deref(), Some(",a,b,"));
        assert_eq!(tags_from_text(Some(",a,b,")), tags(&["a", "b"]));
        assert!(tags_from_text(None).is_empty());
        assert!(has_tags(&tags(&["a", "b"]), &tags(&["b", "a"])));
        assert!(!has_tags(&tags(&["a"]), &tags(&["a", "b"])));
    }

    #[test]
    fn metadata_filter_matches_typed_scalars() {
        let metadata = serde_json::json!({
            "n": 7, "x": 1.5, "s": "7", "who": "acme", "ok": true, "gone": null,
            "big": u64::MAX, "obj": {"a": 1}
        });
        let metadata = metadata.as_object().cloned().unwrap_or_default();
        let filter = |pairs: &[(&str, Value)]| -> BTreeMap<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        let matches = |pairs: &[(&str, Value)]| has_metadata(&metadata, &filter(pairs));
        use serde_json::json;
        assert!(matches(&[]));
        assert!(matches(&[("n", json!(7))]));
        assert!(matches(&[("n", json!(7.0))]));
        assert!(matches(&[("x", json!(1.5))]));
        assert!(matches(&[("s", json!("7"))]));
        assert!(matches(&[("big", json!(u64::MAX))]));
        assert!(matches(&[("who", json!("acme")), ("ok", json!(true))]));
        assert!(matches(&[("gone", Value::Null)]));
        assert!(!matches(&[("n", json!("7"))]));
        assert!(!matches(&[("s", json!(7))]));
        assert!(!matches(&[("who", json!("Acme"))]));
        assert!(!matches(&[("ok", json!(false))]));
        assert!(!matches(&[("ok", json!(1))]));
        assert!(!matches(&[("missing", Value::Null)]));
        assert!(!matches(&[("who", json!("acme")), ("ok", json!(false))]));
        assert!(!matches(&[("n", json!(-7))]));

        assert!(check_metadata_filter(&filter(&[("customer.id", json!(1))])).is_ok());
        for bad in [
            filter(&[("", json!(1))]),
            filter(&[("a:b", json!(1))]),
            filter(&[("a\"b", json!(1))]),
            filter(&[(&"k".repeat(MAX_METADATA_KEY_LEN + 1), json!(1))]),
            filter(&[("obj", json!({"a": 1}))]),
            filter(&[("list", json!([1]))]),
            (0..=MAX_METADATA_FILTERS)
                .map(|i| (format!("k{i}"), json!(i)))
                .collect(),
        ] {
            assert!(
                matches!(
                    check_metadata_filter(&bad),
                    Err(Error::InvalidLabel {
                        field: "metadata",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }

        assert_eq!(metadata_value_from_text("7"), json!(7));
        assert_eq!(metadata_value_from_text("-1.5"), json!(-1.5));
        assert_eq!(metadata_value_from_text("true"), json!(true));
        assert_eq!(metadata_value_from_text("null"), Value::Null);
        assert_eq!(metadata_value_from_text("\"7\""), json!("7"));
        assert_eq!(metadata_value_from_text("acme"), json!("acme"));
        assert_eq!(metadata_value_from_text("01234"), json!("01234"));
        assert_eq!(metadata_value_from_text("[1]"), json!("[1]"));
        assert_eq!(metadata_value_from_text(""), json!(""));
    }

    #[test]
    fn metadata_is_an_object_under_the_limit() {
        assert!(check_metadata(serde_json::json!({"order": 7})).is_ok());
        for bad in [
            serde_json::json!([1]),
            serde_json::json!("x"),
            serde_json::json!({"big": "x".repeat(MAX_METADATA_BYTES)}),
        ] {
            assert!(matches!(
                check_metadata(bad),
                Err(Error::InvalidLabel {
                    field: "metadata",
                    ..
                })
            ));
        }
    }
}
