// The macro stops at the first error of one attribute, but every attribute
// reports its own: one task per bad value.
use taskq::prelude::*;

#[long_task(retries = "three")]
async fn retries_string(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(retries = -1)]
async fn retries_negative(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(timeout = 0)]
async fn timeout_zero(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(jitter = 2.0)]
async fn jitter_too_big(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(priority = 1.5)]
async fn priority_float(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(queue = "a b:{c}")]
async fn queue_with_spaces(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(queue = "..")]
async fn queue_path_step(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}

#[long_task(max_snoozes = "many")]
async fn snoozes_word(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(expires = 0)]
async fn expires_zero(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}
