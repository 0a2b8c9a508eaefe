//! The workflow crash test: a chord of 1,000 steps whose callback sums
//! their results, run by worker processes that are SIGKILLed while the
//! group runs. The callback must run exactly once, after every member,
//! with every result in order: a kill between a member's end and its
//! release of the callback neither loses nor repeats the release.

use taskq::workflow::{Step, Workflow, WorkflowState};

use super::*;

/// The queue of the callback when it is not its members' (`kill`).
pub(crate) const CALLBACK_QUEUE: &str = "kill-callback";
/// Members of the chord.
const MEMBERS: u64 = 1000;
/// SIGKILLs while the group runs (at least).
const CHORD_KILLS: usize = 4;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Member {
    n: u64,
    ms: u64,
}

/// Logs its execution like `kill_logged`, works a little, returns `n`.
#[long_task(queue = "kill", retries = 50, retry_delay = 0.01)]
async fn kill_chord_member(ctx: TaskContext, p: Member) -> Result<u64, TaskError> {
    log_run(&ctx, "member")?;
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    Ok(p.n)
}

/// Logs its execution, and checks it got every member's result in order.
#[long_task(queue = "kill", retries = 50, retry_delay = 0.01)]
async fn kill_chord_callback(ctx: TaskContext, results: Vec<u64>) -> Result<u64, TaskError> {
    log_run(&ctx, "callback")?;
    if results != (0..MEMBERS).collect::<Vec<_>>() {
        return Err(TaskError::permanent(format!(
            "{} results, not 0..{MEMBERS} in order",
            results.len()
        )));
    }
    Ok(results.iter().sum())
}

fn log_run(ctx: &TaskContext, what: &str) -> Result<(), TaskError> {
    let path = std::env::var(CHILD_LOG).map_err(TaskError::permanent)?;
    let line = format!(
        "{} {} {} {what}\n",
        ctx.id(),
        ctx.attempt(),
        std::process::id()
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(TaskError::permanent)
}

/// The chord crash test on the database at `url`; the callback in
/// [`CALLBACK_QUEUE`] when `apart`.
pub(crate) async fn chord_crash_run(
    name: &str,
    url: String,
    backend: Arc<dyn Backend>,
    apart: bool,
) {
    let client = Client::new(backend.clone()).expect("client");
    let dir = std::env::temp_dir().join(format!("taskq-kill-chord-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("log dir");
    let mut dice = Dice(0x51_7CC1_B727_220A);
    let mut wf = Workflow::new();
    let members: Vec<Step<u64>> = (0..MEMBERS)
        .map(|n| {
            let ms = 20 + dice.below(40);
            wf.add(kill_chord_member, Member { n, ms })
        })
        .collect();
    let callback = wf.join(&members, kill_chord_callback);
    if apart {
        wf.spec_mut(&callback).expect("the callback").queue = Some(CALLBACK_QUEUE.to_owned());
    }
    let workflow = client.submit_workflow(wf).await.expect("submit");

    let mut fleet = Fleet {
        url,
        dir: dir.clone(),
        children: Vec::new(),
        spawned: 0,
    };
    for _ in 0..WORKERS {
        let child = fleet.spawn();
        fleet.children.push(child);
    }
    let started = Instant::now();
    let mut killed: HashSet<u32> = HashSet::new();
    while killed.len() < CHORD_KILLS {
        tokio::time::sleep(Duration::from_millis(300 + dice.below(400))).await;
        let finished = count(&*backend, TaskState::Finished).await;
        assert!(
            finished < MEMBERS * 4 / 5,
            "the group got ahead of the kills: {finished} finished after {} kills",
            killed.len()
        );
        let victim = dice.below(WORKERS as u64) as usize;
        let child = &mut fleet.children[victim];
        killed.insert(child.id());
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        fleet.children[victim] = fleet.spawn();
    }
    let record = client
        .wait_workflow(workflow, Duration::from_secs(120))
        .await
        .expect("the workflow ends");
    let elapsed = started.elapsed();
    drop(fleet);
    assert_eq!(record.state, WorkflowState::Finished, "every step finished");
    let sum: u64 = client
        .result(callback.task_ref(), Duration::from_secs(1))
        .await
        .expect("the callback's result");
    assert_eq!(sum, (0..MEMBERS).sum::<u64>());

    let log = std::fs::read_dir(&dir)
        .expect("log dir")
        .flatten()
        .map(|entry| std::fs::read_to_string(entry.path()).expect("log"))
        .collect::<String>();
    let callback_runs = log.lines().filter(|l| l.ends_with(" callback")).count();
    let member_runs = log.lines().filter(|l| l.ends_with(" member")).count();
    let callback_record = client.get(callback.id()).await.expect("callback");
    assert_eq!(callback_runs, 1, "the callback ran exactly once");
    assert_eq!(callback_record.attempt, 1, "released once, claimed once");
    assert!(member_runs >= MEMBERS as usize);
    eprintln!(
        "kill chord {name}: {MEMBERS} members and the callback finished in {elapsed:?} with {} \
         SIGKILLs; {member_runs} member executions, the callback ran once",
        killed.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
