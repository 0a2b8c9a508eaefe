// Same source in `../sqlite/`: with `sqlite`, rustc spells `Result` in full in
// the expected output (another `Result` is in the dependency graph).
use taskq::prelude::*;

#[long_task]
async fn returns_u32(n: u32) -> u32 {
    n
}

fn main() {}
