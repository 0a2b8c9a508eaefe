// Each mistake in `unique(...)` is reported at its token: one task per case.
use taskq::prelude::*;

#[long_task(unique = true)]
async fn unique_with_equals(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(unique(fields = "account"))]
async fn fields_not_a_list(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(unique(states = ["done"]))]
async fn unknown_state(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(unique(key = "k", fields = ["a"]))]
async fn key_and_fields(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(unique(period = 0))]
async fn zero_period(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(unique(scope = "global"))]
async fn unknown_unique_option(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}
