//! The OpenAPI document as a client generator reads it: a server that
//! keeps the mount prefix, one operationId per operation, the error
//! responses each operation can give, typed parameters and responses, and
//! no `$ref` that leads nowhere. (CI also runs `openapi-spec-validator`
//! on it and calls the app through a client generated from it:
//! `.ci/check-openapi`.)

use super::*;

fn memory_client() -> Client {
    client_for(Arc::new(taskq::MemoryBackend::new()))
}

/// The document as the router serves it from `uri`.
async fn served(app: &Router, uri: &str) -> Value {
    let (status, doc) = call(app, Method::GET, uri, None, None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

/// Every operation: `(path, method, operation)`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    assert!(found.len() >= 28, "{} operations", found.len());
    found
}

/// The value a local `$ref` (`#/components/...`) points at.
fn resolve<'d>(doc: &'d Value, reference: &str) -> Option<&'d Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

#[tokio::test]
async fn served_document_names_the_mount_prefix_as_its_server() {
    let client = memory_client();
    for prefix in ["/taskq", "/ops/jobs"] {
        let outer = Router::new().nest(prefix, app(&client));
        let doc = served(&outer, &format!("{prefix}/api/openapi.json")).await;
        assert_eq!(doc["servers"], json!([{ "url": prefix }]), "{prefix}");
        // A client puts the server before each path: that reaches the route.
        let uri = format!(
            "{}/api/task-types",
            doc["servers"][0]["url"].as_str().unwrap()
        );
        let (status, types) = call(&outer, Method::GET, &uri, None, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {types}");
    }
    let at_root = served(&app(&client), "/api/openapi.json").await;
    assert_eq!(at_root["servers"], json!([{ "url": "/" }]));
    // Behind a proxy the host names the public URL.
    let config = HttpConfig {
        public_url: Some("https://ops.example.com/jobs".into()),
        ..HttpConfig::default()
    };
    let proxied = Router::new().nest(
        "/taskq",
        http::router_with(client.clone(), Auth::bearer(TOKEN), config),
    );
    let doc = served(&proxied, "/taskq/api/openapi.json").await;
    assert_eq!(doc["servers"][0]["url"], "https://ops.example.com/jobs");
    // For a build step, the document with any server.
    let written = serde_json::to_value(http::openapi_document_at("/jobs")).unwrap();
    assert_eq!(written["servers"], json!([{ "url": "/jobs" }]));
    assert_eq!(written["paths"], doc["paths"]);
}

#[tokio::test]
async fn openapi_operation_ids_are_unique_and_snake_case() {
    let doc = served(&app(&memory_client()), "/api/openapi.json").await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, method, operation) in operations(&doc) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_owned();
        assert!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{method} {path}: `{id}` is not snake_case"
        );
        if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("operationId `{id}` repeats: {other} and {method} {path}");
        }
    }
    for id in [
        "list_tasks",
        "submit_task",
        "get_schedule",
        "list_schedules",
        "get_worker",
    ] {
        assert!(seen.contains_key(id), "{id}");
    }
}

#[tokio::test]
async fn openapi_operations_declare_their_error_responses() {
    let doc = served(&app(&memory_client()), "/api/openapi.json").await;
    let about = doc["info"]["description"].as_str().expect("a description");
    assert!(about.contains("`X-Requested-With` header"), "{about}");
    for (path, method, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().expect("responses");
        let declares = |status: &str| responses.contains_key(status);
        let here = format!("{method} {path}");
        // Every route is behind auth.
        assert!(declares("401"), "{here}: 401");
        let has_parameters = operation["parameters"]
            .as_array()
            .is_some_and(|p| !p.is_empty());
        let has_body = operation.get("requestBody").is_some();
        if has_parameters || has_body {
            assert!(declares("400"), "{here}: 400");
        }
        // Every write is guarded: a body must be JSON, a bodiless write
        // carries the CSRF header.
        let writes = matches!(method.as_str(), "post" | "put" | "patch" | "delete");
        assert_eq!(declares("415"), writes, "{here}: 415");
        assert_eq!(declares("403"), writes, "{here}: 403");
        if has_body {
            assert!(declares("413"), "{here}: 413");
        }
        if !path.starts_with("/api/task-types") {
            assert!(declares("503"), "{here}: 503");
        }
        // Every error answers with the JSON error body.
        for (status, response) in responses {
            if status.starts_with('2') {
                continue;
            }
            let response = match response["$ref"].as_str() {
                Some(reference) => resolve(&doc, reference).expect("resolves"),
                None => response,
            };
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{here} {status}: a description"
            );
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{here} {status}"
            );
        }
    }
    // The error body promises the field at fault.
    let detail = &doc["components"]["schemas"]["ErrorDetail"]["description"];
    assert!(
        detail
            .as_str()
            .unwrap_or_default()
            .contains("details.field"),
        "{detail}"
    );
}

#[tokio::test]
async fn openapi_every_ref_resolves() {
    let doc = served(&app(&memory_client()), "/api/openapi.json").await;
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    found.push(reference.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50, "{} refs", found.len());
    for reference in &found {
        assert!(
            resolve(&doc, reference).is_some_and(|target| target.is_object()),
            "`{reference}` leads nowhere"
        );
    }
    // And no schema is left unused-and-broken: each named one is an object.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        assert!(schema.is_object(), "{name}");
    }
}

#[tokio::test]
async fn openapi_list_parameters_and_schedule_responses_are_typed() {
    let doc = served(&app(&memory_client()), "/api/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    let parameters = doc["paths"]["/api/tasks"]["get"]["parameters"]
        .as_array()
        .expect("list parameters");
    let schema_of = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}`"))["schema"]
            .clone()
    };
    let state = schema_of("state");
    let state = resolve(&doc, state["$ref"].as_str().expect("a $ref")).unwrap();
    assert_eq!(
        state["enum"],
        json!([
            "PENDING",
            "RUNNING",
            "FINISHED",
            "FAILED",
            "CANCELLED",
            "WAITING",
            "EXPIRED"
        ])
    );
    for time in ["created_after", "created_before"] {
        let schema = schema_of(time);
        assert_eq!(
            (&schema["type"], &schema["format"]),
            (&json!("string"), &json!("date-time")),
            "{time}"
        );
    }
    for number in ["page", "page_size"] {
        assert_eq!(schema_of(number)["type"], "integer", "{number}");
    }
    for (path, method, status) in [
        ("/api/schedules", "post", "201"),
        ("/api/schedules/{name}", "get", "200"),
        ("/api/schedules/{name}", "put", "200"),
        ("/api/schedules/{name}/enable", "post", "200"),
        ("/api/schedules/{name}/disable", "post", "200"),
    ] {
        let schema = &doc["paths"][path][method]["responses"][status]["content"]["application/json"]
            ["schema"];
        assert_eq!(
            schema["$ref"], "#/components/schemas/ScheduleInfo",
            "{method} {path}"
        );
    }
    assert_eq!(
        schemas["ScheduleList"]["properties"]["schedules"]["items"]["$ref"],
        "#/components/schemas/ScheduleInfo"
    );
    // One flat object (no allOf over a oneOf), every field typed.
    let info = &schemas["ScheduleInfo"];
    assert_eq!(info["type"], "object", "{info}");
    let properties = info["properties"].as_object().expect("properties");
    for (field, type_) in [
        ("name", "string"),
        ("every", "number"),
        ("expression", "string"),
        ("run_count", "integer"),
        ("revision", "integer"),
        ("enabled", "boolean"),
    ] {
        let declared = &properties[field]["type"];
        assert!(
            *declared == type_
                || declared
                    .as_array()
                    .is_some_and(|t| t.contains(&json!(type_))),
            "ScheduleInfo.{field}: {declared}"
        );
    }
    for time in ["at", "next_run_at", "last_run_at", "created_at"] {
        assert_eq!(
            properties[time]["format"], "date-time",
            "ScheduleInfo.{time}"
        );
    }
    let kind = resolve(
        &doc,
        properties["kind"]["$ref"].as_str().expect("kind $ref"),
    )
    .unwrap();
    assert_eq!(kind["enum"], json!(["once", "interval", "cron"]));
    // No JSON answer is a bare object a generator cannot type.
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let schema = &response["content"]["application/json"]["schema"];
            assert!(
                !(schema["type"] == "object" && schema.get("properties").is_none()),
                "{method} {path} {status}: a bare object"
            );
        }
    }
    // The submit body states the ranges the server checks.
    let submit = &schemas["SubmitRequest"]["properties"];
    assert_eq!(submit["max_retries"]["maximum"], 2_147_483_647_u64);
    assert_eq!(submit["timeout"]["exclusiveMinimum"], 0);
    assert_eq!(submit["countdown"]["minimum"], 0);
}

/// `TaskRecord.trace_context` (feature `opentelemetry`) is described as a
/// map of strings, and a submit cannot set it: it is read-only, written
/// only from the submitting span.
#[tokio::test]
async fn openapi_otel_trace_context_is_a_read_only_map_of_strings() {
    let client = memory_client();
    let app = app(&client);
    let doc = served(&app, "/api/openapi.json").await;
    let field = &doc["components"]["schemas"]["TaskRecord"]["properties"]["trace_context"];
    assert_eq!(field["additionalProperties"]["type"], "string", "{field}");
    let submit = &doc["components"]["schemas"]["SubmitRequest"]["properties"];
    assert!(submit.get("trace_context").is_none(), "{submit}");

    let (status, body) = post(
        &app,
        "/api/tasks",
        json!({ "task_type": "echo", "params": { "text": "x" },
                "trace_context": { "traceparent": "00-1-2-01" } }),
    )
    .await;
    let (_, details) = error_of(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(details["field"], "trace_context", "{body}");
    assert_eq!(stored_tasks(&client).await, 0);
}
