//! What a task may carry, checked where it enters: the size of its params
//! when it is submitted and the size of its result when an attempt returns
//! one. Without a bound, one caller's 50 MB of params is stored, copied to
//! every worker that claims it and sent to every dashboard that lists it.
//! (The shape of a queue name lives with the other stored ranges, in
//! [`crate::bounds`].)

use std::io;

use serde_json::Value;

use crate::error::Error;
use crate::task::{ErrorKind, TaskFailure};

/// The most bytes of JSON a task's params and its result may take. The
/// client refuses larger params ([`Error::PayloadTooLarge`], `413` over
/// HTTP); a worker fails an attempt that returns a larger result
/// ([`ErrorKind::TooLarge`], not retried). Set with
/// [`Client::with_payload_limits`](crate::Client::with_payload_limits);
/// workers built from that client use its limits.
///
/// ```
/// use taskq_core::payload::PayloadLimits;
///
/// let limits = PayloadLimits {
///     max_params_bytes: 64 * 1024,
///     ..PayloadLimits::DEFAULT
/// };
/// assert_eq!(limits.max_result_bytes, 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLimits {
    /// Params larger than this, as JSON, are refused at submit.
    pub max_params_bytes: usize,
    /// A result larger than this, as JSON, fails its attempt.
    pub max_result_bytes: usize,
}

impl PayloadLimits {
    /// 1 MiB each.
    pub const DEFAULT: PayloadLimits = PayloadLimits {
        max_params_bytes: 1024 * 1024,
        max_result_bytes: 1024 * 1024,
    };

    /// `Err(PayloadTooLarge)` when `params` exceed the limit.
    pub fn check_params(&self, params: &Value) -> Result<(), Error> {
        check("params", params, self.max_params_bytes)
    }

    /// The failure of an attempt whose `result` exceeds the limit.
    pub fn result_failure(&self, result: &Value) -> Option<TaskFailure> {
        check("result", result, self.max_result_bytes)
            .err()
            .map(|err| TaskFailure {
                kind: ErrorKind::TooLarge,
                message: err.to_string(),
            })
    }
}

impl Default for PayloadLimits {
    fn default() -> Self {
        PayloadLimits::DEFAULT
    }
}

fn check(what: &'static str, value: &Value, limit: usize) -> Result<(), Error> {
    // Small scalars cannot reach any sensible limit: skip the walk.
    if !matches!(value, Value::Array(_) | Value::Object(_) | Value::String(_)) {
        return Ok(());
    }
    let size = encoded_len(value, limit);
    if size > limit {
        return Err(Error::PayloadTooLarge { what, size, limit });
    }
    Ok(())
}

/// The length of `value` as compact JSON, counting no further than just
/// past `stop_after` (the caller only asks whether it is larger).
pub fn encoded_len(value: &Value, stop_after: usize) -> usize {
    let mut counter = Counter { len: 0, stop_after };
    // The writer refuses once past `stop_after`, which ends the encoding
    // early with an error that only means "larger".
    let _ = serde_json::to_writer(&mut counter, value);
    counter.len
}

struct Counter {
    len: usize,
    stop_after: usize,
}

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len();
        if self.len > self.stop_after {
            return Err(io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// Queue names are checked with the other stored ranges; re-exported here,
// where they were first.
pub use crate::bounds::{MAX_QUEUE_NAME, check_queue_name};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn encoded_len_is_the_compact_json_length() {
        let value = json!({"a": [1, "two", null], "b": {"c": true}});
        let exact = serde_json::to_vec(&value).expect("encode").len();
        assert_eq!(encoded_len(&value, usize::MAX), exact);
        assert!(encoded_len(&value, 5) > 5, "stops just past the bound");
    }

    #[test]
    fn params_over_the_limit_are_refused_with_their_size() {
        let limits = PayloadLimits {
            max_params_bytes: 10,
            max_result_bytes: 10,
        };
        assert!(
            limits.check_params(&json!("12345678")).is_ok(),
            "10 bytes with quotes"
        );
        match limits.check_params(&json!("123456789")) {
            Err(Error::PayloadTooLarge { what, size, limit }) => {
                assert_eq!((what, limit), ("params", 10));
                assert!(size > 10);
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
        let failure = limits
            .result_failure(&json!([1, 2, 3, 4, 5, 6]))
            .expect("too large");
        assert_eq!(failure.kind, ErrorKind::TooLarge);
        assert!(failure.message.contains("result"), "{}", failure.message);
        assert!(
            limits.result_failure(&json!(12345678901234_i64)).is_none(),
            "scalars pass"
        );
    }
}
