use std::sync::Arc;

use serde::{Deserialize, Serialize};
use taskq::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Echo {
    text: String,
}

#[long_task]
async fn echo_task(p: Echo) -> Result<String, TaskError> {
    Ok(p.text)
}

async fn submit(client: &Client) -> Result<TaskId, Error> {
    client.submit(echo_task, 42u32).await
}

fn main() {
    let client = Client::new(Arc::new(taskq::MemoryBackend::new())).unwrap();
    drop(submit(&client));
}
