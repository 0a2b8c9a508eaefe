//! The error texts the lifecycle stores on records. Every backend stores
//! these words (the SQL backend calls these functions, the Lua scripts
//! receive or repeat them), so a record reads the same everywhere.

use crate::task::{ErrorKind, TaskFailure};

/// The error of a pending task cancelled before any attempt ran it.
pub fn cancelled_before_run() -> TaskFailure {
    TaskFailure {
        kind: ErrorKind::Cancelled,
        message: "cancelled before it ran".into(),
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
