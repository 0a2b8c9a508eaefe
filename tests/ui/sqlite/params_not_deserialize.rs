// Same source in `../no-sqlite/`: rustc's list of other `Deserialize` impls in
// the expected output depends on the features (`sqlite` adds some).
use serde::Serialize;
use taskq::prelude::*;

#[derive(Serialize, JsonSchema)]
struct NoDeserialize {
    text: String,
}

#[long_task]
async fn needs_deserialize(p: NoDeserialize) -> Result<String, TaskError> {
    Ok(p.text)
}

fn main() {}
