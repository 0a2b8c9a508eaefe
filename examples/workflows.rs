//! Workflows on the embedded default (SQLite): a chain, a group with a
//! chord, batch callbacks, a failure that cancels what depends on it, a
//! retry that resumes the workflow from the failed step, and a schedule
//! that fires a whole workflow.
//!
//! ```text
//! cargo run --example workflows
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskq::prelude::*;
use taskq::workflow::{StepEnd, StepSpec, Workflow, WorkflowRecord, WorkflowSpec};

/// Downloads one page (here: counts the words of a made-up page).
#[long_task]
async fn fetch_page(page: u32) -> Result<u32, TaskError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(100 + page * 7)
}

/// The chord's callback: the group's results, in the group's order.
#[long_task]
async fn total_words(counts: Vec<u32>) -> Result<u32, TaskError> {
    Ok(counts.iter().sum())
}

/// A chain link: the previous step's result is this step's params.
#[long_task]
async fn format_report(total: u32) -> Result<String, TaskError> {
    Ok(format!("{total} words in all"))
}

/// A batch's completion callback: how each member ended, whatever it was.
#[long_task]
async fn batch_summary(ends: Vec<StepEnd>) -> Result<String, TaskError> {
    let failed = ends
        .iter()
        .filter(|e| e.state != TaskState::Finished)
        .count();
    Ok(format!("{} steps, {failed} not finished", ends.len()))
}

/// Fails the first time (the "upstream outage"), then works.
static OUTAGE: AtomicBool = AtomicBool::new(true);

#[long_task(retries = 0)]
async fn charge_card(amount: u32) -> Result<u32, TaskError> {
    if OUTAGE.swap(false, Ordering::SeqCst) {
        return Err(TaskError::permanent("payment provider unavailable"));
    }
    Ok(amount)
}

#[long_task]
async fn send_receipt(amount: u32) -> Result<String, TaskError> {
    Ok(format!("receipt for {amount}"))
}

fn show(title: &str, record: &WorkflowRecord) {
    println!("{title}: {:?}", record.state);
    for step in &record.steps {
        let name = step.step.as_ref().map(|s| s.name.as_str()).unwrap_or("?");
        let outcome = match (&step.result, &step.error) {
            (Some(result), _) => result.to_string(),
            (None, Some(error)) => format!("{}: {}", error.kind, error.message),
            (None, None) => String::new(),
        };
        println!("  {name:<18} {:<10} {outcome}", step.state.as_str());
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("taskq-workflows.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let backend = taskq::SqlBackend::connect(&format!("sqlite://{}", path.display())).await?;
    let client = Client::new(Arc::new(backend))?;
    let worker = Worker::builder(&client).queue("default", 4).build()?;
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let wait = Duration::from_secs(30);

    // A group of pages, a chord summing them, a chain link after it, and
    // a completion callback over the group.
    let mut wf = Workflow::new();
    let pages: Vec<_> = (1..=5)
        .map(|page| {
            let step = wf.add(fetch_page, page);
            wf.rename(&step, format!("page {page}"));
            step
        })
        .collect();
    let total = wf.join(&pages, total_words);
    wf.rename(&total, "total");
    let report = wf.then(&total, format_report);
    wf.rename(&report, "report");
    let members: Vec<_> = pages.iter().map(|p| p.any()).collect();
    let summary = wf.on_complete(&members, batch_summary);
    wf.rename(&summary, "summary");
    let id = client.submit_workflow(wf).await?;
    println!("report: {}", client.result(report.task_ref(), wait).await?);
    show("pages", &client.wait_workflow(id, wait).await?);

    // A failure cancels the chain after it; retrying the failed step
    // resumes the workflow from there.
    let mut wf = Workflow::new();
    let charge = wf.add(charge_card, 42);
    wf.rename(&charge, "charge");
    let receipt = wf.then(&charge, send_receipt);
    wf.rename(&receipt, "receipt");
    let id = client.submit_workflow(wf).await?;
    show(
        "\npayment, first try",
        &client.wait_workflow(id, wait).await?,
    );
    client.retry(charge.id()).await?;
    println!(
        "\nretried: {}",
        client.result(receipt.task_ref(), wait).await?
    );
    show(
        "payment, after the retry",
        &client.wait_workflow(id, wait).await?,
    );

    // A schedule fires a whole workflow (by names and JSON) at each tick:
    // here once, a moment from now, picked up by the worker's scheduler.
    let mut total = StepSpec::new("total", "total_words", serde_json::Value::Null);
    total.after = vec!["page 1".into(), "page 2".into()];
    let spec = WorkflowSpec {
        steps: vec![
            StepSpec::new("page 1", "fetch_page", serde_json::json!(1)),
            StepSpec::new("page 2", "fetch_page", serde_json::json!(2)),
            total,
        ],
    };
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(200);
    client
        .create_schedule(ScheduleDef::once("pages-soon", spec, at))
        .await?;
    let first = loop {
        if let Some(id) = client.get_schedule("pages-soon").await?.last_task_id {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let workflow = client.get(first).await?.step.map(|s| s.workflow);
    if let Some(workflow) = workflow {
        show(
            "
fired by a schedule",
            &client.wait_workflow(workflow, wait).await?,
        );
    }

    stop.shutdown();
    running.await??;
    Ok(())
}
