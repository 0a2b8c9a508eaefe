//! The rules of unique tasks: the key a submission holds
//! ([`unique_key`]), whether a stored task still holds its key
//! ([`holds_unique`]), and which tasks of one batch repeat an earlier
//! one's key ([`unique_in_batch`]).
//!
//! A backend keeps, per queue and key, the id of the task that last took
//! the key (a row, a Redis string, a map entry): a pointer, not a lock
//! with a lifetime of its own. Whether the key is taken is read from the
//! holder's record at the moment of the submit, so no transition of the
//! holder (settle, cancel, rescue, delete, purge) has to release
//! anything: a holder that ended, left its states, passed its period or
//! is gone simply no longer holds.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend::Enqueued;
use crate::error::Error;
use crate::task::{TaskId, TaskRecord, Unique, UniqueKey};

/// The key a task of `task_type` with `params`, submitted at `now`, holds
/// under `unique`; an [`Error::InvalidUnique`] when `unique` gives none.
///
/// A derived key is the task type, `:`, and the canonical JSON (object
/// keys sorted) of the chosen fields' values, or of all the params; past
/// [`Unique::MAX_KEY_BYTES`] it becomes `sha256:` and the hex digest of
/// that text.
pub fn unique_key(
    unique: &Unique,
    task_type: &str,
    params: &Value,
    now: DateTime<Utc>,
) -> Result<UniqueKey, Error> {
    let invalid = |field, message: String| Error::InvalidUnique { field, message };
    if unique.states.is_empty() {
        return Err(invalid("states", "name at least one state".into()));
    }
    let until = match unique.period {
        None => None,
        Some(period) if period.is_zero() => {
            return Err(invalid("period", "must be longer than zero".into()));
        }
        Some(period) => Some(
            chrono::Duration::from_std(period)
                .ok()
                .and_then(|period| now.checked_add_signed(period))
                .ok_or_else(|| invalid("period", "is too long".into()))?,
        ),
    };
    let key = match &unique.key {
        Some(key) if key.is_empty() => return Err(invalid("key", "is empty".into())),
        Some(key) if key.len() > Unique::MAX_KEY_BYTES => {
            return Err(invalid(
                "key",
                format!(
                    "is {} bytes; at most {} are stored",
                    key.len(),
                    Unique::MAX_KEY_BYTES
                ),
            ));
        }
        Some(key) => key.to_string(),
        None => derived_key(unique, task_type, params)?,
    };
    let mut states = unique.states.to_vec();
    states.sort_by_key(|state| crate::task::state_bit(*state));
    states.dedup();
    Ok(UniqueKey { key, states, until })
}

/// The key made of the task type and the params (or some of their
/// fields).
fn derived_key(unique: &Unique, task_type: &str, params: &Value) -> Result<String, Error> {
    let mut text = format!("{task_type}:");
    if unique.fields.is_empty() {
        canonical_json(params, &mut text);
    } else {
        let Value::Object(object) = params else {
            return Err(Error::InvalidUnique {
                field: "fields",
                message: "the params are not a JSON object, so they have no fields".into(),
            });
        };
        text.push('[');
        for (i, field) in unique.fields.iter().enumerate() {
            let value = object
                .get(field.as_ref())
                .ok_or_else(|| Error::InvalidUnique {
                    field: "fields",
                    message: format!("`{field}` is not a field of the params"),
                })?;
            if i > 0 {
                text.push(',');
            }
            canonical_json(value, &mut text);
        }
        text.push(']');
    }
    if text.len() <= Unique::MAX_KEY_BYTES {
        return Ok(text);
    }
    let digest = Sha256::digest(text.as_bytes());
    let mut hashed = String::with_capacity(7 + 64);
    hashed.push_str("sha256:");
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hashed, "{byte:02x}");
    }
    Ok(hashed)
}

/// JSON with object keys sorted at every level, whatever order the map
/// keeps (serde_json's `preserve_order` keeps insertion order), so equal
/// params give equal keys.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<_> = object.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// **submit (unique)**: whether `holder`, the task a queue's key points
/// to, still holds it at `now`: it is in one of its unique states and
/// within its period. A task submitted with a key that a holder holds is
/// not stored; the submit reports the holder.
pub fn holds_unique(holder: &TaskRecord, now: DateTime<Utc>) -> bool {
    holder.unique.as_ref().is_some_and(|unique| {
        unique.states.contains(&holder.state) && unique.until.is_none_or(|until| now < until)
    })
}

/// **submit (unique)** over a batch: which tasks are duplicates, and of
/// which holder. `take` is asked once per task with a key (and no earlier
/// task of the batch with it): it returns the task that [holds](holds_unique)
/// the key, or records the task as the key's holder and returns `None`.
/// Repeats of a key within the batch are duplicates of the first task's
/// holder (the first task itself when it is stored).
pub fn sort_unique(
    batch: &[TaskRecord],
    mut take: impl FnMut(&TaskRecord, &UniqueKey) -> Option<TaskId>,
) -> Enqueued {
    let mut enqueued = Enqueued::ALL;
    let mut holders: Vec<TaskId> = batch.iter().map(|t| t.id).collect();
    for (i, (task, repeat)) in batch.iter().zip(unique_in_batch(batch)).enumerate() {
        let held = match (repeat, &task.unique) {
            (Some(first), _) => Some(holders[first]),
            (None, Some(unique)) => take(task, unique),
            (None, None) => None,
        };
        if let Some(holder) = held {
            holders[i] = holder;
            enqueued.duplicates.push((i, holder));
        }
    }
    enqueued
}

/// For each task of a batch, the position of an earlier task of the same
/// batch with the same queue and key (`None` for the first of each key,
/// and for tasks without a key): those repeats are duplicates of the
/// first, which a backend stores (or reports as a duplicate itself).
pub fn unique_in_batch(batch: &[TaskRecord]) -> Vec<Option<usize>> {
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    batch
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let unique = task.unique.as_ref()?;
            match first.entry((task.queue.as_str(), unique.key.as_str())) {
                std::collections::hash_map::Entry::Occupied(held) => Some(*held.get()),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::task::TaskState;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    pub(in crate::lifecycle) fn record() -> TaskRecord {
        TaskRecord {
            params: json!({ "user": 1 }),
            seq: 0,
            fair_round: 0,
            ..super::super::test_record::pending(at(0))
        }
    }

    #[test]
    fn derived_keys_ignore_the_order_of_object_keys() {
        let unique = Unique::params();
        let a = unique_key(&unique, "t", &json!({"a": 1, "b": {"y": 2, "x": 3}}), at(0));
        let b = unique_key(&unique, "t", &json!({"b": {"x": 3, "y": 2}, "a": 1}), at(0));
        assert_eq!(a.unwrap().key, b.unwrap().key);
    }

    #[test]
    fn fields_pick_values_in_their_order() {
        let unique = Unique::fields(["user", "kind"]);
        let key = unique_key(
            &unique,
            "mail",
            &json!({"kind": "digest", "user": 7}),
            at(0),
        );
        assert_eq!(key.unwrap().key, r#"mail:[7,"digest"]"#);
    }

    #[test]
    fn long_derived_keys_are_hashed_and_long_explicit_keys_refused() {
        let params = json!({ "text": "x".repeat(400) });
        let key = unique_key(&Unique::params(), "t", &params, at(0))
            .unwrap()
            .key;
        assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
        let long = Unique::key("k".repeat(Unique::MAX_KEY_BYTES + 1));
        let err = unique_key(&long, "t", &params, at(0)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidUnique { field: "key", .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_declarations_are_refused_by_field() {
        let params = json!({ "user": 1 });
        let cases = [
            (Unique::key(""), "key"),
            (Unique::fields(["team"]), "fields"),
            (Unique::params().period(Duration::ZERO), "period"),
            (Unique::params().states(&[]), "states"),
        ];
        for (unique, field) in cases {
            match unique_key(&unique, "t", &params, at(0)) {
                Err(Error::InvalidUnique { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let scalar = unique_key(&Unique::fields(["user"]), "t", &json!(5), at(0));
        assert!(matches!(
            scalar,
            Err(Error::InvalidUnique {
                field: "fields",
                ..
            })
        ));
    }

    #[test]
    fn a_holder_holds_in_its_states_and_period_only() {
        let unique = Unique::params().period(Duration::from_secs(60));
        let mut holder = record();
        holder.unique = Some(unique_key(&unique, "t", &holder.params, at(0)).unwrap());
        assert!(holds_unique(&holder, at(59)));
        assert!(!holds_unique(&holder, at(60)), "the period ended");
        holder.state = TaskState::Finished;
        assert!(
            !holds_unique(&holder, at(1)),
            "finished is not an active state"
        );
        holder.unique = None;
        holder.state = TaskState::Pending;
        assert!(!holds_unique(&holder, at(1)), "no key, nothing held");
    }

    #[test]
    fn repeats_in_a_batch_point_at_the_first() {
        let keyed = |queue: &str, key: &str| {
            let mut task = record();
            task.queue = queue.to_owned();
            task.unique = Some(UniqueKey {
                key: key.to_owned(),
                states: vec![TaskState::Pending],
                until: None,
            });
            task
        };
        let plain = record();
        let batch = [
            keyed("q", "a"),
            plain,
            keyed("q", "a"),
            keyed("other", "a"),
            keyed("q", "b"),
        ];
        assert_eq!(unique_in_batch(&batch), [None, None, Some(0), None, None]);
    }
}
