//! Where handlers run: on a runtime of their own, so a handler that blocks
//! its thread cannot stop the worker's loops (claims, lease renewal,
//! deadlines, settlements), which stay on the runtime that runs the worker.

use std::num::NonZeroUsize;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::Error;

/// The process's handler runtime, made on first use and never shut down:
/// what handlers make on it (pooled connections, spawned tasks) stays
/// usable after their worker stops. One thread per core.
pub(super) fn shared_handler_runtime() -> Result<Handle, Error> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("taskq-handler")
            .enable_all()
            .build()
            .map_err(|err| err.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.handle().clone()),
        // The OS refused the threads: as close to I/O failing as it gets.
        Err(err) => Err(Error::backend(format!(
            "could not start the handler runtime: {err}"
        ))),
    }
}
