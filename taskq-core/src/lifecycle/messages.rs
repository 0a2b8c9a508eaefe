//! The error texts the lifecycle stores on records, and its refusals. Every backend stores
//! these words (the SQL backend calls these functions, the Lua scripts
//! receive or repeat them), so a record reads the same everywhere.

use crate::error::Error;
use crate::task::{ErrorKind, TaskFailure, TaskId};

/// The refusal of a submit that names a stored id: typed, because the
/// client's idempotent submit turns it into success when the stored task is
/// the same submission.
pub fn id_exists(id: TaskId) -> Error {
    Error::TaskExists(id)
}

/// The refusal of a submit whose batch names one id twice.
pub fn id_repeated(id: TaskId) -> Error {
    Error::InvalidArgument(format!("task id {id} appears twice in one batch"))
}

/// The error of a pending task cancelled before any attempt ran it.
pub fn cancelled_before_run() -> TaskFailure {
    TaskFailure {
        kind: ErrorKind::Cancelled,
        message: "cancelled before it ran".into(),
    }
}

/// The error of a running task a worker handed back (see
/// [`super::release`]) after a cancel was requested.
pub fn released_after_cancel(worker: &str) -> TaskFailure {
    TaskFailure {
        kind: ErrorKind::Cancelled,
        message: format!("cancelled: worker `{worker}` stopped the attempt and handed it back"),
    }
}

/// The error a rescued task carries: `kind` is
/// [`ErrorKind::LeaseExpired`], or [`ErrorKind::Cancelled`] when a cancel
/// had been requested.
pub fn lease_failure(kind: ErrorKind, worker: &str) -> TaskFailure {
    TaskFailure {
        kind,
        message: format!("worker `{worker}` stopped renewing its lease"),
    }
}
