use serde::{Deserialize, Serialize};
use taskq::prelude::*;

#[derive(Serialize, Deserialize)]
struct NoSchema {
    text: String,
}

#[long_task]
async fn needs_schema(p: NoSchema) -> Result<String, TaskError> {
    Ok(p.text)
}

fn main() {}
