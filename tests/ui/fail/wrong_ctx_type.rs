use taskq::prelude::*;

#[long_task]
async fn wrong_ctx(attempt: u32, n: u32) -> Result<u32, TaskError> {
    Ok(attempt + n)
}

fn main() {}
