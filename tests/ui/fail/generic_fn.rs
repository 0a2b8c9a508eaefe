use taskq::prelude::*;

#[long_task]
async fn generic<P: serde::de::DeserializeOwned>(p: P) -> Result<(), TaskError> {
    let _ = p;
    Ok(())
}

fn main() {}
