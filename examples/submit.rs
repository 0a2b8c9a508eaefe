//! Submits demo tasks by name to a database that `worker` processes serve:
//!
//! ```text
//! cargo run --example submit -- sqlite://tasks.db 100
//! ```

mod demo_tasks;

use std::sync::Arc;

use taskq::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let database = args.next().unwrap_or_else(|| "sqlite://taskq.db".into());
    let count: u32 = match args.next().map(|n| n.parse()) {
        None => 10,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: submit [DATABASE_URL] [COUNT]");
            std::process::exit(2);
        }
    };
    let client = Client::new(Arc::new(taskq::SqlBackend::connect(&database).await?))?;
    for i in 0..count {
        let params = serde_json::json!({ "dataset": format!("set-{i}"), "rows": 100 + i });
        let id = client.submit_json("data_analysis", params).await?;
        println!("{id}");
    }
    Ok(())
}
