//! The OpenAPI document, auth, junk input and the dashboard's assets.

use super::*;

pub(super) async fn openapi_document_describes_every_route(backend: Arc<dyn Backend>) {
    let app = app(&client_for(backend));
    // Served without a token: it holds no task data.
    let (status, doc) = call(&app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    for path in [
        "/api/task-types",
        "/api/task-types/{name}",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/cancel",
        "/api/tasks/{id}/retry",
        "/api/tasks/{id}/reorder",
        "/api/tasks/purge",
        "/api/queues",
        "/api/queues/{queue}/pause",
        "/api/queues/{queue}/resume",
        "/api/queues/{queue}/limit",
        "/api/queues/{queue}/purge",
        "/api/queues/{queue}/fair/weights",
        "/api/queues/{queue}/fair/weights/{key}",
        "/metrics",
        "/api/schedules",
        "/api/schedules/{name}",
        "/api/schedules/{name}/enable",
        "/api/schedules/{name}/disable",
        "/api/schedules/{name}/run",
        "/api/workers",
        "/api/workers/{id}",
        "/api/workers/{id}/pause",
        "/api/workers/{id}/resume",
        "/api/workers/{id}/shutdown",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(
        doc["paths"]["/api/tasks/{id}"]["delete"]["responses"]["204"].is_object(),
        "DELETE api/tasks/{{id}} is documented"
    );
    // The long poll of the detail route.
    let params = doc["paths"]["/api/tasks/{id}"]["get"]["parameters"]
        .as_array()
        .expect("detail parameters");
    let wait = params
        .iter()
        .find(|p| p["name"] == "wait")
        .unwrap_or_else(|| panic!("no `wait` parameter: {params:?}"));
    assert_eq!(wait["in"], "query", "{wait}");
    assert!(
        wait["description"].as_str().unwrap_or("").contains("60 s"),
        "{wait}"
    );
    for schema in [
        "TaskRecord",
        "ErrorBody",
        "SubmitRequest",
        "TaskList",
        "WorkerInfo",
        "QueueStats",
        "TypeCount",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    // What shows pending work no live worker can take, and what each
    // worker runs.
    let schemas = &doc["components"]["schemas"];
    for field in ["live_workers", "unclaimable", "unclaimable_types", "limit"] {
        assert!(
            schemas["QueueStats"]["properties"][field].is_object(),
            "QueueStats.{field}: {}",
            schemas["QueueStats"]
        );
    }
    assert!(
        schemas["WorkerInfo"]["properties"]["task_types"].is_object(),
        "WorkerInfo.task_types: {}",
        schemas["WorkerInfo"]
    );
    assert!(
        schemas["TypeCount"]["properties"]["task_type"].is_object(),
        "{}",
        schemas["TypeCount"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

pub(super) async fn auth_is_required_and_errors_keep_their_shape(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    for (method, uri) in [
        (Method::GET, "/api/tasks"),
        (Method::POST, "/api/tasks"),
        (Method::GET, "/api/task-types"),
        (Method::POST, "/api/queues/default/pause"),
        (Method::PUT, "/api/queues/default/limit"),
        (Method::POST, "/api/tasks/purge"),
    ] {
        for token in [None, Some("wrong"), Some("")] {
            let (status, body) = call(&app, method.clone(), uri, None, token).await;
            let (code, _) = error_of(status, &body, StatusCode::UNAUTHORIZED);
            assert_eq!(code, "unauthorized");
        }
    }

    // A host check, and the explicit open mode.
    let checked = http::router(
        client.clone(),
        Auth::check(|request| request.headers().contains_key("x-internal")),
    );
    let (status, _) = call(&checked, Method::GET, "/api/tasks", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let request = Request::get("/api/tasks")
        .header("x-internal", "1")
        .body(Body::empty())
        .unwrap();
    let response = checked.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let open = http::router(client.clone(), Auth::none_i_understand());
    let (status, _) = call(&open, Method::GET, "/api/tasks", None, None).await;
    assert_eq!(status, StatusCode::OK);
    // An empty bearer token refuses everything rather than nothing.
    let empty = http::router(client.clone(), Auth::bearer(""));
    let (status, _) = call(&empty, Method::GET, "/api/tasks", None, Some("")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Unknown routes and methods answer in the same JSON shape.
    let (status, body) = get(&app, "/api/nothing-here").await;
    assert_eq!(
        error_of(status, &body, StatusCode::NOT_FOUND).0,
        "not_found"
    );
    let (status, body) = call(&app, Method::DELETE, "/api/queues", None, Some(TOKEN)).await;
    assert_eq!(
        error_of(status, &body, StatusCode::METHOD_NOT_ALLOWED).0,
        "method_not_allowed"
    );

    // A smaller configured limit applies to every body.
    let small = http::router_with(
        client.clone(),
        Auth::bearer(TOKEN),
        HttpConfig {
            body_limit: 64,
            ..HttpConfig::default()
        },
    );
    let (status, body) = post(
        &small,
        "/api/tasks/purge",
        json!({ "states": ["FINISHED"], "older_than": 1, "pad": "x".repeat(100) }),
    )
    .await;
    error_of(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Junk of every kind into every write route: always a 4xx JSON error,
/// never a panic or a 5xx.
pub(super) async fn junk_input_never_breaks_a_route(backend: Arc<dyn Backend>) {
    let client = client_for(backend);
    let app = app(&client);
    let id = submit_echo(&app, "x", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bodies = [
        "",
        "null",
        "[]",
        "\"text\"",
        "1e999",
        "{\"task_type\":null}",
        "{\"task_type\":\"echo\",\"params\":{\"text\":\"\\ud800\"}}",
        "{\"task_type\":\"echo\",\"params\":[1,2,3]}",
        "{\"to\":{\"nested\":true}}",
        "{\"states\":\"FINISHED\"}",
        "{\"older_than\":-1e308}",
        "\u{0}\u{1}",
        "{\"a\":",
    ];
    let uris = [
        "/api/tasks".to_owned(),
        "/api/tasks/purge".to_owned(),
        format!("/api/tasks/{id}/reorder"),
    ];
    for uri in &uris {
        for body in bodies {
            let (status, response) = post_raw(&app, uri, body).await;
            assert!(
                status.is_client_error(),
                "{uri} {body:?}: {status} {response}"
            );
            assert!(response["error"]["code"].is_string(), "{uri} {body:?}");
        }
    }
    for uri in [
        "/api/tasks/%00",
        "/api/tasks/%E2%80%AE",
        "/api/task-types/%FF",
        "/api/tasks?state=%FF",
        "/api/tasks?page=99999999999999999999999",
        "/api/tasks?page=18446744073709551615&page_size=100",
    ] {
        let (status, response) = get(&app, uri).await;
        assert!(status.as_u16() < 500, "{uri}: {status} {response}");
        if !status.is_success() {
            assert!(response["error"]["code"].is_string(), "{uri}: {response}");
        }
    }
}

/// Every script the dashboard loads: the entry module and its imports.
const DASHBOARD_SCRIPTS: [&str; 14] = [
    "/dashboard.js",
    "/dashboard/api.js",
    "/dashboard/bulk.js",
    "/dashboard/detail.js",
    "/dashboard/dom.js",
    "/dashboard/overview.js",
    "/dashboard/pending.js",
    "/dashboard/routes.js",
    "/dashboard/schedules.js",
    "/dashboard/state.js",
    "/dashboard/submit.js",
    "/dashboard/tasks.js",
    "/dashboard/workers.js",
    "/dashboard/workflow.js",
];

pub(super) async fn dashboard_page_and_assets_are_served_without_data(backend: Arc<dyn Backend>) {
    let app = app(&client_for(backend));
    let page = [
        (
            "/dashboard",
            "text/html",
            "<script type=\"module\" src=\"dashboard.js\"",
        ),
        ("/dashboard.css", "text/css", "--failed: #58151c"),
    ];
    // The entry module imports the others; each of those exports.
    let scripts = DASHBOARD_SCRIPTS.map(|uri| {
        let marker = if uri == "/dashboard.js" {
            "import "
        } else {
            "export "
        };
        (uri, "text/javascript", marker)
    });
    for (uri, content_type, marker) in page.into_iter().chain(scripts) {
        // No token: the page asks for it and holds no task data itself.
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let headers = response.headers().clone();
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains(marker), "{uri} contains {marker}");
        if content_type == "text/javascript" {
            // No script parses data as HTML.
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!body.contains(sink), "{uri} uses {sink}");
            }
        }
    }
    // Only the dashboard's own modules are served under it.
    let (status, body) = get(&app, "/dashboard/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}
