use taskq::prelude::*;

#[long_task]
async fn no_result(n: u32) {
    let _ = n;
}

fn main() {}
