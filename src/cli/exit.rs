//! Exit codes, and which error gets which: the one place scripts' promises
//! are kept.

use std::fmt;
use std::process::ExitCode;

use crate::Error;

/// How a command ended, as the process's exit code (see the
/// [module docs](super#exit-codes)). Scripts branch on the code; the
/// message on stderr is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: the awaited task ended `FAILED`, `CANCELLED` or `EXPIRED` (`wait`,
    /// `submit --wait`); its record is printed as for a success.
    TaskFailed,
    /// 2: the command line or its input is wrong: clap's own usage errors,
    /// and input taskq refuses before changing anything (malformed JSON
    /// or duration, unknown task type, params that do not fit the
    /// handler, a bad queue name, a purge of live states, a workflow
    /// step that cannot be stored).
    Usage,
    /// 3: no task, schedule, worker or workflow has this id or name.
    NotFound,
    /// 4: the backend could not be reached or failed (connection refused,
    /// lost, I/O): the command may or may not have taken effect. Also the
    /// rare failure outside the request (output that cannot be written).
    Unavailable,
    /// 5: the wait ran out of time: the task is still pending or running,
    /// and goes on.
    Timeout,
    /// 6: the current state does not allow the command (cancel a finished
    /// task, retry a running one, resume a stopping worker, a taken id or
    /// name); nothing changed.
    Conflict,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::TaskFailed => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Unavailable => 4,
            Exit::Timeout => 5,
            Exit::Conflict => 6,
        }
    }

    /// A short stable name (`"not_found"`, …), the `kind` of a `--json`
    /// error.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::TaskFailed => "task_failed",
            Exit::Usage => "usage",
            Exit::NotFound => "not_found",
            Exit::Unavailable => "unavailable",
            Exit::Timeout => "timeout",
            Exit::Conflict => "conflict",
        }
    }

    /// The code for a taskq error.
    pub fn of(error: &Error) -> Exit {
        match error {
            Error::TaskFailed { .. } => Exit::TaskFailed,
            Error::UnknownTaskType(_)
            | Error::InvalidParams { .. }
            | Error::InvalidCron { .. }
            | Error::UnknownTimeZone(_)
            | Error::InvalidSchedule { .. }
            | Error::PayloadTooLarge { .. }
            | Error::InvalidArgument(_)
            | Error::InvalidName { .. }
            | Error::InvalidUnique { .. }
            | Error::InvalidLabel { .. }
            | Error::InvalidDeadline { .. }
            | Error::InvalidWorkflow { .. } => Exit::Usage,
            Error::NotFound(_)
            | Error::ScheduleNotFound(_)
            | Error::WorkerNotFound(_)
            | Error::WorkflowNotFound(_) => Exit::NotFound,
            Error::WaitTimeout { .. } => Exit::Timeout,
            Error::InvalidTransition { .. }
            | Error::InvalidWorkerControl { .. }
            | Error::TaskExists(_)
            | Error::ScheduleExists(_) => Exit::Conflict,
            // `Backend`, `Serialization`, `DuplicateTask` (two handlers of
            // one name linked into this binary) and whatever comes later.
            _ => Exit::Unavailable,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Why a command stopped: a taskq error, a usage problem the command line
/// found itself, or output that could not be written.
#[derive(Debug)]
pub(crate) enum Failure {
    Taskq(Error),
    Usage(String),
    Output(std::io::Error),
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage(message.into())
    }

    pub(crate) fn exit(&self) -> Exit {
        match self {
            Failure::Taskq(error) => Exit::of(error),
            Failure::Usage(_) => Exit::Usage,
            Failure::Output(_) => Exit::Unavailable,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Taskq(error) => write!(f, "{error}"),
            Failure::Usage(message) => f.write_str(message),
            Failure::Output(error) => write!(f, "writing the output: {error}"),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Taskq(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::Output(error)
    }
}
