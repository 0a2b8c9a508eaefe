//! A host application that mounts taskq's routes and dashboard under
//! `/taskq`, guarded by a bearer token, next to its own routes — and runs a
//! worker in the same process, on SQLite.
//!
//! ```text
//! cargo run --features http --example axum_app -- --addr 127.0.0.1:3000 --token s3cret
//! open http://127.0.0.1:3000/taskq/dashboard#token=s3cret
//! curl -H 'Authorization: Bearer s3cret' http://127.0.0.1:3000/taskq/api/tasks
//! ```

mod demo_tasks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use taskq::http::Auth;
use taskq::prelude::*;
use taskq::worker::shutdown_signal;

const USAGE: &str = "usage: axum_app [--addr HOST:PORT] [--database URL] [--token TOKEN]\n\
                     (the token defaults to $TASKQ_TOKEN)";

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct CountParams {
    /// How many steps to count.
    pub steps: u32,
    /// Milliseconds per step.
    #[serde(default = "default_step_ms")]
    pub step_ms: u64,
}

fn default_step_ms() -> u64 {
    500
}

/// Counts slowly, reporting progress each step; stops when cancelled.
#[long_task(queue = "slow", retries = 0, timeout = 3600)]
pub async fn slow_count(ctx: TaskContext, p: CountParams) -> Result<u32, TaskError> {
    for step in 1..=p.steps {
        tokio::select! {
            _ = ctx.cancelled() => return Err(TaskError::cancelled(format!("stopped at step {step}"))),
            _ = tokio::time::sleep(Duration::from_millis(p.step_ms)) => {}
        }
        ctx.progress(
            f64::from(step) / f64::from(p.steps.max(1)),
            format!("step {step} of {}", p.steps),
        )
        .await?;
    }
    Ok(p.steps)
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct GreetParams {
    /// Who to greet (shown back as text, whatever it contains).
    pub name: String,
}

/// Greets someone: its result echoes user input, for the escaping check.
#[long_task(retries = 0)]
pub async fn greet(p: GreetParams) -> Result<String, TaskError> {
    Ok(format!("hello, {}", p.name))
}

struct Args {
    addr: String,
    database: String,
    token: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:3000".into(),
        database: "sqlite://taskq-axum-app.db".into(),
        token: std::env::var("TASKQ_TOKEN").ok(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--database" | "-d" => args.database = value()?,
            "--token" => args.token = Some(value()?),
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let Some(token) = args.token.filter(|t| !t.is_empty()) else {
        eprintln!("a token is required: --token TOKEN or $TASKQ_TOKEN\n{USAGE}");
        std::process::exit(2);
    };

    let backend = taskq::SqlBackend::connect(&args.database).await?;
    let client = Client::new(Arc::new(backend))?;

    // The host's own routes, and taskq's nested under /taskq.
    let app = Router::new().route("/", get(home)).nest(
        "/taskq",
        taskq::http::router(client.clone(), Auth::bearer(token)),
    );

    let worker = Worker::builder(&client)
        .queue("default", 4)
        .queue("heavy", 2)
        .queue("slow", 2)
        .build()?;
    let stop_worker = worker.shutdown_handle();
    let worker = tokio::spawn(worker.run());

    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    println!(
        "listening on http://{}/ — dashboard at http://{}/taskq/dashboard",
        listener.local_addr()?,
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    stop_worker.shutdown();
    worker.await??;
    Ok(())
}

async fn home() -> Html<&'static str> {
    Html(
        "<!doctype html><title>host app</title><h1>The host application</h1>\
         <p>taskq is mounted at <a href=\"/taskq/dashboard\">/taskq/dashboard</a>.</p>",
    )
}
