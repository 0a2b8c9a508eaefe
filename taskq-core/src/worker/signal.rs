//! The signal a worker process stops on.

/// Resolves on Ctrl-C, or on SIGTERM on Unix (what process managers and
/// container runtimes send): the future to hand to
/// [`Worker::run_until`](super::Worker::run_until) or to axum's graceful
/// shutdown.
///
/// ```no_run
/// # async fn run(worker: taskq_core::Worker) -> Result<(), taskq_core::Error> {
/// worker.run_until(taskq_core::worker::shutdown_signal()).await
/// # }
/// ```
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            // No SIGTERM handler could be set: Ctrl-C still stops it.
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
