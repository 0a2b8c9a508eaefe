// Each mistake in `rate_limit` is reported at its token: one task per case.
use taskq::prelude::*;

#[long_task(rate_limit(starts = 0, period = 1))]
async fn zero_starts(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(rate_limit(starts = 5, period = 0))]
async fn zero_period(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(rate_limit(starts = 5, period = "1m"))]
async fn period_as_text(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(rate_limit(starts = 5))]
async fn no_period(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(rate_limit = 5)]
async fn not_a_list(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(rate_limit(key = "", starts = 1, period = 1))]
async fn empty_key(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(rate_limit(starts = 1, period = 1, per = "tenant"))]
async fn unknown_option(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(rate_limit(starts = 1, period = 1), rate_limit(starts = 2, period = 1))]
async fn type_rate_twice(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(concurrency(key = "tenant", limit = 1), rate_limit(key = "account", starts = 1, period = 1))]
async fn other_key_field(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}
