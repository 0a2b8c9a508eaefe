//! Workflows through the API: submit by JSON spec, read back, run to the
//! end, cancel, and retry of a failed step resuming the workflow.

use std::collections::HashSet;
use std::sync::Mutex;

use super::*;

/// The length of its text.
#[long_task(name = "wf.len", retries = 0)]
pub(super) async fn wf_len(text: String) -> Result<u32, TaskError> {
    Ok(u32::try_from(text.chars().count()).unwrap_or(u32::MAX))
}

/// The sum of its numbers (a chord's callback).
#[long_task(name = "wf.sum", retries = 0)]
pub(super) async fn wf_sum(counts: Vec<u32>) -> Result<u32, TaskError> {
    Ok(counts.iter().sum())
}

/// Keys whose first run already failed.
static FAILED_ONCE: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Fails its first run for each `key` (no retries), succeeds after with
/// the key: an operator's retry is what makes it pass.
#[long_task(name = "wf.flaky", retries = 0)]
pub(super) async fn wf_flaky(key: String) -> Result<String, TaskError> {
    let first = {
        let mut failed = FAILED_ONCE.lock().unwrap_or_else(|e| e.into_inner());
        failed.get_or_insert_with(HashSet::new).insert(key.clone())
    };
    if first {
        return Err(TaskError::permanent(format!("first run of {key}")));
    }
    Ok(key)
}

/// Polls `api/workflows/{id}` until `done`.
async fn wait_workflow(app: &Router, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let (status, workflow) = get(app, &format!("/api/workflows/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{workflow}");
        if done(&workflow) {
            return workflow;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("workflow {id} never reached the expected state");
}

/// The step named `name` of a workflow's JSON.
#[track_caller]
fn step<'w>(workflow: &'w Value, name: &str) -> &'w Value {
    workflow["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"]["name"] == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {workflow}"))
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

/// A chord (two counts, then their sum) submitted as JSON: stored with
/// its roots pending and the callback waiting, listed by state, run to
/// the end by a worker.
pub(super) async fn workflow_submit_reads_back_and_runs_to_the_end(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let spec = json!({ "steps": [
        { "name": "a", "task": "wf.len", "params": "abc" },
        { "name": "b", "task": "wf.len", "params": "hello" },
        { "name": "sum", "task": "wf.sum", "after": ["a", "b"] },
    ]});
    let (status, created) = post(&app, "/api/workflows", spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "RUNNING");
    assert_eq!(created["steps"].as_array().map(Vec::len), Some(3));
    let (a, b, sum) = (
        step(&created, "a"),
        step(&created, "b"),
        step(&created, "sum"),
    );
    assert_eq!(a["state"], "PENDING");
    assert_eq!(sum["state"], "WAITING");
    assert_eq!(sum["step"]["waiting_on"], 2);
    assert_eq!(sum["step"]["input"], "results");
    assert_eq!(sum["step"]["parents"], json!([a["id"], b["id"]]));
    assert_eq!(a["step"]["children"], json!([sum["id"]]));
    assert_eq!(
        created["edges"],
        json!([[a["id"], sum["id"]], [b["id"], sum["id"]]])
    );
    let workflow = id_of(&created);
    assert_eq!(sum["step"]["workflow"], workflow.as_str());

    // The record reads back the same, and each step is a task of its own.
    let (status, read) = get(&app, &format!("/api/workflows/{workflow}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
    let (status, task) = get(&app, &format!("/api/tasks/{}", id_of(sum))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(task["step"], sum["step"]);
    // The list filter takes WAITING (any case).
    for state in ["WAITING", "waiting"] {
        let (status, list) = get(&app, &format!("/api/tasks?state={state}")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["tasks"][0]["id"], sum["id"]);
    }

    let (shutdown, running) = spawn_worker(test_worker(&client));
    let done = wait_workflow(&app, &workflow, |w| w["state"] != "RUNNING").await;
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_eq!(step(&done, "sum")["result"], 8);
    assert!(done["finished_at"].is_string(), "{done}");
}

/// A bad spec is a 422 naming the step (or a 422/400/415 for the body as
/// a whole), and stores nothing; an unknown or malformed id is 404/400.
pub(super) async fn workflow_errors_name_the_step_and_store_nothing(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let good = json!({ "name": "a", "task": "wf.len", "params": "x" });
    let cases = [
        (
            json!({ "steps": [good, { "name": "b", "task": "nope" }] }),
            "b",
            "unknown task type",
        ),
        (
            json!({ "steps": [good, { "name": "b", "task": "wf.len", "params": 5 }] }),
            "b",
            "invalid params",
        ),
        (
            json!({ "steps": [good, { "name": "b", "task": "wf.sum", "after": ["zz"] }] }),
            "b",
            "names no step",
        ),
        (
            json!({ "steps": [good, { "name": "a", "task": "wf.len", "params": "y" }] }),
            "a",
            "two steps",
        ),
        (
            json!({ "steps": [
                { "name": "p", "task": "wf.len", "after": ["q"] },
                { "name": "q", "task": "wf.len", "after": ["p"] },
            ]}),
            "p",
            "cycle",
        ),
        (json!({ "steps": [] }), "", "at least one step"),
    ];
    for (spec, at, words) in cases {
        let (status, body) = post(&app, "/api/workflows", spec.clone()).await;
        let (code, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(code, "invalid_workflow", "{spec}: {body}");
        assert_eq!(details["step"], at, "{spec}: {body}");
        assert_eq!(details["field"], "steps", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{spec}: {message}");
    }
    // A field the spec does not have, and a step field of the wrong type.
    for spec in [
        json!({ "steps": [good], "name": "x" }),
        json!({ "steps": [{ "name": "a", "task": "wf.len", "params": "x", "prio": 1 }] }),
        json!({ "steps": [{ "name": "a", "task": "wf.len", "after": "b" }] }),
    ] {
        let (status, body) = post(&app, "/api/workflows", spec.clone()).await;
        let (code, _) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(code, "invalid_field", "{spec}: {body}");
    }
    let (status, body) = post_raw(&app, "/api/workflows", "{\"steps\": [").await;
    error_of(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/workflows",
        Some("text/plain"),
        &json!({ "steps": [good] }).to_string(),
    )
    .await;
    error_of(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Without the token, nothing either.
    let body = Body::from(json!({ "steps": [good] }).to_string());
    let (status, _) = call(&app, Method::POST, "/api/workflows", Some(body), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(stored_tasks(&client).await, 0, "nothing was stored");

    let unknown = uuid::Uuid::now_v7();
    for uri in [
        format!("/api/workflows/{unknown}"),
        format!("/api/workflows/{unknown}/cancel"),
    ] {
        let (status, body) = if uri.ends_with("cancel") {
            post(&app, &uri, json!({})).await
        } else {
            get(&app, &uri).await
        };
        let (code, details) = error_of(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(code, "not_found", "{uri}");
        assert_eq!(details["resource"], "workflow", "{uri}");
    }
    let (status, body) = get(&app, "/api/workflows/not-a-uuid").await;
    bad_field(status, &body, "id");
}

/// Cancel ends every step not yet ended, at once when none runs; a second
/// cancel changes nothing.
pub(super) async fn workflow_cancel_ends_every_open_step(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let spec = json!({ "steps": [
        { "name": "a", "task": "wf.len", "params": "abc" },
        { "name": "b", "task": "wf.len", "after": ["a"], "input": "params", "params": "de" },
        { "name": "c", "task": "wf.sum", "after": ["a", "b"] },
    ]});
    let (status, created) = post(&app, "/api/workflows", spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let workflow = id_of(&created);
    let (status, cancelled) = post(
        &app,
        &format!("/api/workflows/{workflow}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "CANCELLED", "{cancelled}");
    for name in ["a", "b", "c"] {
        assert_eq!(step(&cancelled, name)["state"], "CANCELLED", "{name}");
    }
    let (status, again) = post(
        &app,
        &format!("/api/workflows/{workflow}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, cancelled);
}

/// A failed step cancels its dependents (`parent_failed`); retrying a
/// cancelled dependent is a 409, retrying the failed step resumes the
/// workflow to its end.
pub(super) async fn workflow_retry_of_the_failed_step_resumes_it(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let key = format!("http-{}", uuid::Uuid::now_v7());
    let spec = json!({ "steps": [
        { "name": "flaky", "task": "wf.flaky", "params": key },
        { "name": "len", "task": "wf.len", "after": ["flaky"] },
        { "name": "sum", "task": "wf.sum", "after": ["len"], "input": "results" },
    ]});
    let (status, created) = post(&app, "/api/workflows", spec).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let workflow = id_of(&created);
    let (shutdown, running) = spawn_worker(test_worker(&client));
    let failed = wait_workflow(&app, &workflow, |w| w["state"] != "RUNNING").await;
    assert_eq!(failed["state"], "FAILED", "{failed}");
    assert_eq!(step(&failed, "flaky")["state"], "FAILED");
    for name in ["len", "sum"] {
        let dependent = step(&failed, name);
        assert_eq!(dependent["state"], "CANCELLED", "{name}");
        assert_eq!(dependent["error"]["kind"], "parent_failed", "{dependent}");
    }

    // A step its parent's failure cancelled: retry the parent instead.
    let len = id_of(step(&failed, "len"));
    let (status, body) = post(&app, &format!("/api/tasks/{len}/retry"), json!({})).await;
    let (code, details) = error_of(status, &body, StatusCode::CONFLICT);
    assert_eq!(code, "invalid_transition", "{body}");
    assert_eq!(details["id"], len.as_str(), "{body}");

    let flaky = id_of(step(&failed, "flaky"));
    let (status, retried) = post(&app, &format!("/api/tasks/{flaky}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    let done = wait_workflow(&app, &workflow, |w| w["state"] != "RUNNING").await;
    shutdown.shutdown();
    running.await.expect("join").expect("worker");
    assert_eq!(done["state"], "FINISHED", "{done}");
    let expected = u64::try_from(key.chars().count()).expect("small");
    assert_eq!(step(&done, "sum")["result"], expected, "{done}");
}

/// The document has the three routes, the spec and record schemas, a
/// task's `step`, and `WAITING` among the states.
#[tokio::test]
async fn http_workflow_routes_and_schemas_are_documented() {
    let client = client_for(Arc::new(taskq::MemoryBackend::new()));
    let (status, doc) = call(&app(&client), Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = &doc["paths"];
    assert_eq!(
        paths["/api/workflows"]["post"]["operationId"],
        "submit_workflow"
    );
    assert_eq!(
        paths["/api/workflows"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/WorkflowSpec"
    );
    let created = &paths["/api/workflows"]["post"]["responses"]["201"];
    assert_eq!(
        created["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/WorkflowRecord"
    );
    assert!(paths["/api/workflows"]["post"]["responses"]["422"].is_object());
    assert_eq!(
        paths["/api/workflows/{id}"]["get"]["operationId"],
        "get_workflow"
    );
    assert_eq!(
        paths["/api/workflows/{id}/cancel"]["post"]["operationId"],
        "cancel_workflow"
    );
    let schemas = &doc["components"]["schemas"];
    let step = &schemas["TaskRecord"]["properties"]["step"];
    assert!(
        step.to_string()
            .contains("#/components/schemas/WorkflowStep"),
        "{step}"
    );
    let states = schemas["TaskState"]["enum"].as_array().expect("enum");
    assert!(states.contains(&json!("WAITING")), "{states:?}");
    let kinds = schemas["ErrorKind"].to_string();
    assert!(kinds.contains("parent_failed"), "{kinds}");
    for name in [
        "WorkflowStep",
        "StepInput",
        "RunWhen",
        "StepSpec",
        "WorkflowState",
    ] {
        assert!(schemas[name].is_object(), "{name}");
    }
    assert!(
        schemas["WorkflowRecord"]["properties"]["edges"].is_object(),
        "{}",
        schemas["WorkflowRecord"]
    );
}

/// A schedule that fires a workflow, over REST: created with `workflow`
/// instead of `task_type`, read back with it, run now (answering the
/// first step, whose workflow holds every step); `task_type` with
/// `workflow`, neither, or a bad step is refused and stores nothing.
pub(super) async fn workflow_schedule_over_rest(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let spec = json!({ "steps": [
        { "name": "a", "task": "wf.len", "params": "abc" },
        { "name": "b", "task": "wf.len", "params": "hello" },
        { "name": "sum", "task": "wf.sum", "after": ["a", "b"] },
    ]});
    let body = |extra: Value| {
        let mut body = json!({ "name": "wf-nightly", "kind": "cron", "expression": "0 3 * * *" });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    let (status, created) = post(&app, "/api/schedules", body(json!({ "workflow": spec }))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["task_type"], "");
    assert_eq!(created["params"], Value::Null);
    let steps = created["workflow"]["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3, "{created}");
    assert_eq!(steps[2]["after"], json!(["a", "b"]));

    let (status, first) = post(&app, "/api/schedules/wf-nightly/run", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["step"]["name"], "a");
    let workflow = first["step"]["workflow"].as_str().expect("workflow id");
    let (status, read) = get(&app, &format!("/api/workflows/{workflow}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["steps"].as_array().map(Vec::len), Some(3));
    assert_eq!(step(&read, "sum")["state"], "WAITING");
    let (_, schedule) = get(&app, "/api/schedules/wf-nightly").await;
    assert_eq!(schedule["run_count"], 1);
    assert_eq!(schedule["last_task_id"], first["id"]);

    let bad_step = json!({ "steps": [
        { "name": "a", "task": "wf.len", "params": "abc" },
        { "name": "b", "task": "nope" },
    ]});
    let cases = [
        (
            json!({ "name": "x1", "task_type": "wf.len", "params": "a", "workflow": spec }),
            "workflow",
        ),
        (json!({ "name": "x2" }), "task_type"),
        (json!({ "name": "x3", "workflow": bad_step }), "steps"),
    ];
    for (extra, field) in cases {
        let (status, error) = post(&app, "/api/schedules", body(extra)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    let (_, list) = get(&app, "/api/schedules").await;
    assert_eq!(list["total"], 1, "nothing else stored: {list}");
}
