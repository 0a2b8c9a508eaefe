//! A library crate whose only content is a task, as hosts split them out.
//!
//! Nothing here is called by name: a binary that wants `fixture_shout`
//! registered must still mention the crate (`use taskq_fixture_tasks as _;`),
//! or the linker drops it and the task is silently missing.

use serde::{Deserialize, Serialize};
use taskq::prelude::*;

/// What [`fixture_shout`] takes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Shout {
    pub text: String,
}

/// Uppercases its text.
#[long_task(retries = 0)]
pub async fn fixture_shout(p: Shout) -> Result<String, TaskError> {
    Ok(p.text.to_uppercase())
}
