use taskq::prelude::*;

#[long_task]
async fn zero_args() -> Result<(), TaskError> {
    Ok(())
}

fn main() {}
