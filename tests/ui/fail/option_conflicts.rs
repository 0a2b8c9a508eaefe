use taskq::prelude::*;

#[long_task(soft_timeout = 10, timeout = 5)]
async fn soft_after_hard(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(queue = "a", retries = 1, queue = "b")]
async fn queue_twice(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(soft_timeout = 7200)]
async fn soft_after_default_hard(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}
