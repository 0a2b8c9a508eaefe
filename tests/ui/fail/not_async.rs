use taskq::prelude::*;

#[long_task]
fn not_async(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}
