// Each mistake in `concurrency` is reported at its token: one task per case.
use taskq::prelude::*;

#[long_task(concurrency = 0)]
async fn zero_limit(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency = -2)]
async fn negative_limit(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency)]
async fn bare_flag(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency(key = "", limit = 2))]
async fn empty_key(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency(limit = 2, limit = 3))]
async fn limit_twice(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency(per = "tenant"))]
async fn unknown_concurrency_option(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency())]
async fn empty_list(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}
