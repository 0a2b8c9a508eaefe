use taskq::prelude::*;

#[long_task(queu = "heavy")]
async fn misspelled(n: u32) -> Result<u32, TaskError> {
    Ok(n)
}

fn main() {}
