//! The worker binaries' own task, shared by both and by the test (which
//! submits it), so the bare worker has a handler to be seen claiming with.

use taskq::prelude::*;

/// Answers `pong`: proves a worker claims from `default`.
#[long_task(retries = 0)]
pub async fn linking_ping(unit: ()) -> Result<String, TaskError> {
    let () = unit;
    Ok("pong".to_owned())
}
