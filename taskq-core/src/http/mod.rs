//! HTTP routes (feature `http`): the REST API, its OpenAPI document,
//! Prometheus metrics and the dashboard page, as one axum [`Router`] the
//! host nests under any path.
//!
//! ```no_run
//! # fn demo(client: taskq_core::Client) {
//! use taskq_core::http::{self, Auth};
//! let app: axum::Router = axum::Router::new()
//!     .nest("/taskq", http::router(client, Auth::bearer("s3cret")));
//! # }
//! ```
//!
//! Every route goes through the host's [`Client`]: the routes are another
//! caller of the same API, never a second path to the backend.
//!
//! # Layout
//! - [`auth`]: [`Auth`], the mandatory choice of who may call the API.
//! - [`errors`]: [`ApiError`], the JSON error body, and extractors that turn
//!   every malformed request into one.
//! - `content_type`: writes a cross-site form cannot forge: POST, PUT,
//!   PATCH and DELETE send a JSON body or an `X-Requested-With` header.
//! - `query`: query strings, decoded with each bad value named.
//! - `task_types`, `tasks`, `workflows`, `queues`, `schedules`, `workers`:
//!   one module per resource; `bulk`: many tasks retried, cancelled or
//!   deleted in one call.
//! - `openapi`: the OpenAPI 3.1 document (`GET api/openapi.json`), its
//!   `servers` entry the path the router is nested under.
//! - `metrics`: Prometheus text (`GET metrics`).
//! - `dashboard`: the embedded page (`GET dashboard`).
//!
//! # Routes (relative to where the host nests the router)
//! | method | path | |
//! |---|---|---|
//! | GET | `api/task-types` | registered task types, options, params schema |
//! | GET | `api/task-types/{name}` | one task type |
//! | PUT | `api/task-types/{name}/limit` | set (`{"limit": n}`) or lift (`null`) the type's limit |
//! | PUT | `api/task-types/{name}/key-limit` | set (`{"limit": n}`) or lift (`null`) the type's limit per concurrency key |
//! | PUT | `api/task-types/{name}/rate-limit` | set (`{"rate_limit": {"starts": n, "period_ms": ms}}`) or lift (`null`) the type's rate limit |
//! | PUT | `api/task-types/{name}/key-rate-limit` | the same, per concurrency key (each key its own bucket) |
//! | POST | `api/tasks` | submit (now, `run_at`, `countdown`; overrides) |
//! | GET | `api/tasks` | list: `state`, `task_type`, `queue`, `created_after`, `created_before`, `page`, `page_size` |
//! | GET / DELETE | `api/tasks/{id}` | one task / delete it if it ended (`204`; `409` while pending or running) |
//! | POST | `api/tasks/{id}/cancel` | cancel a pending or running task |
//! | POST | `api/tasks/{id}/retry` | run a failed or cancelled task again (a workflow step: resumes the workflow from it) |
//! | POST | `api/tasks/{id}/reorder` | move a pending task: front, back, before another |
//! | POST | `api/tasks/bulk` | retry, cancel or delete up to 1,000 tasks, by `ids` or `filter`: matched, changed, skipped with why |
//! | POST | `api/tasks/purge` | delete terminal tasks by state and age |
//! | POST | `api/workflows` | submit a workflow (`WorkflowSpec`): every step or none |
//! | GET | `api/workflows/{id}` | one workflow: state, steps' records, edges |
//! | POST | `api/workflows/{id}/cancel` | cancel every step not yet ended |
//! | GET | `api/queues` | counts and pause flags per queue |
//! | POST | `api/queues/{queue}/pause` / `resume` | stop / restart claiming |
//! | PUT | `api/queues/{queue}/limit` | set (`{"limit": n}`) or lift (`null`) the queue's limit |
//! | PUT | `api/queues/{queue}/rate-limit` | set (`{"rate_limit": {"starts": n, "period_ms": ms}}`) or lift (`null`) the queue's rate limit |
//! | PUT | `api/queues/{queue}/fair` | make the queue's concurrency keys take turns (`{"fair": true}`) or not (`false`) |
//! | GET | `api/queues/{queue}/fair/weights` | the weights of the queue's concurrency keys |
//! | PUT | `api/queues/{queue}/fair/weights/{key}` | set a key's weight (`{"weight": 3}`) or back to 1 (`null`) |
//! | POST | `api/queues/{queue}/purge` | cancel every pending task of a queue |
//! | GET / POST | `api/schedules` | list (`page`, `page_size`) / create (`once`, `interval`, `cron`) |
//! | GET / PUT / DELETE | `api/schedules/{name}` | one schedule / replace its definition / delete it |
//! | POST | `api/schedules/{name}/enable` / `disable` / `run` | steer it; `run` submits its task now |
//! | GET | `api/workers` | live (and recently gone) workers of every host |
//! | GET | `api/workers/{id}` | one worker |
//! | POST | `api/workers/{id}/pause` / `resume` / `shutdown` | steer it through the backend |
//! | GET | `api/openapi.json` | OpenAPI 3.1 document (no auth); `servers` is where the router is nested |
//! | GET | `metrics` | Prometheus text |
//! | GET | `dashboard` | the dashboard page (no auth; it asks for the token), its `dashboard.js`, `dashboard/{module}` and `dashboard.css` |
//!
//! Errors are one JSON shape ([`ErrorBody`]); where a field, query or path
//! parameter is at fault, `details.field` names it. A POST, PUT, PATCH or
//! DELETE with a body sends `Content-Type: application/json`, or gets
//! `415`; one without a body sends that type or an `X-Requested-With`
//! header ([`REQUESTED_WITH`], any value), or gets `403`
//! (`csrf_header_missing`): what a form on another site cannot send.

pub mod auth;
mod bulk;
mod content_type;
mod dashboard;
pub mod errors;
mod fair_weights;
mod metrics;
mod openapi;
mod query;
mod queues;
mod schedules;
mod stats;
mod task_types;
mod tasks;
mod workers;
mod workflows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post, put};

use crate::client::Client;

pub use auth::Auth;
pub use content_type::REQUESTED_WITH;
pub use errors::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::{openapi_document, openapi_document_at};

/// The largest request body the routes accept by default (64 KiB); larger
/// bodies get `413`.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Settings of the routes beyond the client and the auth choice.
///
/// ```
/// use taskq_core::http::HttpConfig;
///
/// // Behind a proxy that serves the nested routes at another path.
/// let config = HttpConfig {
///     public_url: Some("https://ops.example.com/jobs".into()),
///     ..HttpConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Request bodies larger than this are refused with `413`.
    pub body_limit: usize,
    /// The URL clients reach the routes at, for the OpenAPI document's
    /// `servers` entry, when it is not the path the host nests the router
    /// under (the default): a proxy in front that adds or strips a prefix.
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit: DEFAULT_BODY_LIMIT,
            public_url: None,
        }
    }
}

/// The routes with the default [`HttpConfig`].
pub fn router(client: Client, auth: Auth) -> Router {
    router_with(client, auth, HttpConfig::default())
}

/// The routes: REST API and metrics behind `auth`; the dashboard page, its
/// assets and the OpenAPI document open (they hold no task data).
pub fn router_with(client: Client, auth: Auth, config: HttpConfig) -> Router {
    let guarded = Router::new()
        .route("/api/task-types", get(task_types::list))
        .route("/api/task-types/{name}", get(task_types::detail))
        .route("/api/task-types/{name}/limit", put(task_types::limit))
        .route(
            "/api/task-types/{name}/key-limit",
            put(task_types::key_limit),
        )
        .route(
            "/api/task-types/{name}/rate-limit",
            put(task_types::rate_limit),
        )
        .route(
            "/api/task-types/{name}/key-rate-limit",
            put(task_types::key_rate_limit),
        )
        .route("/api/tasks", post(tasks::submit).get(tasks::list))
        .route("/api/tasks/purge", post(tasks::purge))
        .route("/api/tasks/bulk", post(bulk::bulk))
        .route("/api/tasks/{id}", get(tasks::detail).delete(tasks::delete))
        .route("/api/tasks/{id}/cancel", post(tasks::cancel))
        .route("/api/tasks/{id}/retry", post(tasks::retry))
        .route("/api/tasks/{id}/reorder", post(tasks::reorder))
        .route("/api/workflows", post(workflows::submit))
        .route("/api/workflows/{id}", get(workflows::detail))
        .route("/api/workflows/{id}/cancel", post(workflows::cancel))
        .route("/api/queues", get(queues::list))
        .route("/api/queues/{queue}/pause", post(queues::pause))
        .route("/api/queues/{queue}/resume", post(queues::resume))
        .route("/api/queues/{queue}/limit", put(queues::limit))
        .route("/api/queues/{queue}/rate-limit", put(queues::rate_limit))
        .route("/api/queues/{queue}/fair", put(queues::fair))
        .route("/api/queues/{queue}/fair/weights", get(fair_weights::list))
        .route(
            "/api/queues/{queue}/fair/weights/{key}",
            put(fair_weights::set),
        )
        .route("/api/queues/{queue}/purge", post(queues::purge))
        .route(
            "/api/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/api/schedules/{name}",
            get(schedules::detail)
                .put(schedules::update)
                .delete(schedules::delete),
        )
        .route("/api/schedules/{name}/enable", post(schedules::enable))
        .route("/api/schedules/{name}/disable", post(schedules::disable))
        .route("/api/schedules/{name}/run", post(schedules::run_now))
        .route("/api/workers", get(workers::list))
        .route("/api/workers/{id}", get(workers::detail))
        .route("/api/workers/{id}/pause", post(workers::pause))
        .route("/api/workers/{id}/resume", post(workers::resume))
        .route("/api/workers/{id}/shutdown", post(workers::shutdown))
        .route("/api/stats/throughput", get(stats::throughput))
        .route("/metrics", get(metrics::metrics))
        // Layers run last-added first: auth, then the guard of writes.
        .route_layer(middleware::from_fn(content_type::guard_writes))
        .route_layer(middleware::from_fn_with_state(auth, auth::require));
    let public_url = config.public_url;
    let open = Router::new()
        .route(
            "/api/openapi.json",
            get(move |uri| async move { openapi::serve(uri, public_url.as_deref()).await }),
        )
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard.js", get(dashboard::script))
        .route("/dashboard/{module}", get(dashboard::module))
        .route("/dashboard.css", get(dashboard::style));
    guarded
        .merge(open)
        .fallback(errors::no_route)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(client)
}
