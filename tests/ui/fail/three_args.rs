use taskq::prelude::*;

#[long_task]
async fn three_args(ctx: TaskContext, a: u32, b: u32) -> Result<u32, TaskError> {
    let _ = ctx;
    Ok(a + b)
}

fn main() {}
