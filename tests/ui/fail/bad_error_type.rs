use taskq::prelude::*;

/// Not a `std::error::Error`, so no `Into<TaskError>`.
struct NotAnError;

#[long_task]
async fn bad_error_type(n: u32) -> Result<u32, NotAnError> {
    Ok(n)
}

fn main() {}
