// Static schedules are checked at compile time: one task per bad value.
use taskq::prelude::*;

#[long_task(cron = "61 * * * *")]
async fn cron_minute_out_of_range(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(cron = "0 0 0 * * * 2030")]
async fn cron_with_year(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(cron = "0 9 * * *", time_zone = "Mars/Olympus")]
async fn unknown_zone(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(every = "0s")]
async fn every_zero(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(every = "5 fortnights")]
async fn every_bad_unit(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(cron = "* * * * *", every = "1m")]
async fn cron_and_every(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(time_zone = "Europe/Paris")]
async fn zone_without_cron(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(cron = "0 9 * * *", params = r#"{"n": 1,}"#)]
async fn params_not_json(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

#[long_task(params = "{}")]
async fn params_without_schedule(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}
