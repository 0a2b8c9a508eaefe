//! `api/openapi.json`: the OpenAPI 3.1 document of the routes, generated
//! from the handlers' and types' annotations (utoipa), with what no single
//! handler declares added in one place: the `servers` entry, and the
//! error responses every route shares (401 behind auth, 400 for a bad
//! path, query or body, 403 and 415 for writes, 413 for bodies, 503 when
//! the backend fails).

use axum::Json;
use axum::extract::OriginalUri;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Server};

use super::{
    bulk, errors, fair_weights, queues, schedules, stats, task_types, tasks, workers, workflows,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "taskq", description = "Background tasks: submit, inspect and steer them.\n\n\
        Every error is `{\"error\": {\"code\", \"message\", \"details\"}}` (`ErrorBody`); where a \
        field of the request is at fault, `details.field` names it.\n\n\
        Writes cannot be forged by another site: every POST, PUT, PATCH and DELETE with a body \
        sends it as `application/json` (other content types are `415`), and one without a body \
        sends `Content-Type: application/json` or an `X-Requested-With` header (any value), \
        else `403` (`csrf_header_missing`). A form or a \"simple\" request from another site can \
        send neither, and a browser asks the host (CORS) before it sends either. A generated \
        client sends the header on every call (a default header of its HTTP client)."),
    paths(
        task_types::list, task_types::detail, task_types::limit, task_types::key_limit,
        task_types::rate_limit, task_types::key_rate_limit,
        tasks::submit, tasks::list, tasks::detail, tasks::delete, tasks::cancel, tasks::retry,
        tasks::reorder, tasks::purge, bulk::bulk,
        workflows::submit, workflows::detail, workflows::cancel,
        queues::list, queues::pause, queues::resume, queues::limit, queues::rate_limit, queues::fair,
        fair_weights::list, fair_weights::set, queues::purge,
        schedules::list, schedules::create, schedules::detail, schedules::update,
        schedules::enable, schedules::disable, schedules::run_now, schedules::delete,
        workers::list, workers::detail, workers::pause, workers::resume, workers::shutdown,
        stats::throughput, super::metrics::metrics,
    ),
    components(schemas(
        errors::ErrorBody, errors::ErrorDetail,
        crate::task::TaskRecord, crate::task::TaskState, crate::task::Progress,
        crate::task::TaskFailure, crate::task::ErrorKind, crate::task::AttemptRecord,
        crate::task::AttemptOutcome, crate::backend::QueueStats,
        crate::backend::TypeCount,
        crate::task::WorkflowStep, crate::task::StepInput, crate::task::RunWhen,
        crate::workflow::WorkflowSpec, crate::workflow::StepSpec,
        crate::workflow::WorkflowRecord, crate::workflow::WorkflowState,
        task_types::TaskTypeInfo, task_types::TypeLimitRequest, task_types::TypeRateLimitRequest, tasks::SubmitRequest, tasks::UniqueRequest, tasks::TaskList,
        tasks::ReorderRequest, tasks::ReorderTo, tasks::PurgeRequest, tasks::PurgeResult,
        bulk::BulkRequest, crate::bulk::BulkAction, bulk::BulkFilter, bulk::BulkResult, bulk::BulkError,
        queues::QueuePurgeResult, queues::QueueLimitRequest, queues::QueueRateLimitRequest, queues::QueueFairRequest,
        fair_weights::FairWeights, fair_weights::FairWeightRequest, crate::backend::FairWeight,
        crate::rate_limit::RateLimit,
        schedules::ScheduleRequest, schedules::ScheduleKindName, schedules::MisfireName,
        schedules::ScheduleList, schedules::ScheduleInfo, crate::schedule::MisfirePolicy,
        crate::backend::WorkerInfo, crate::backend::WorkerQueue, crate::backend::WorkerState,
        stats::Throughput, crate::throughput::MinuteCounts,
    )),
    modifiers(&BearerAuth, &SharedResponses),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The error responses shared by many operations, as reusable components,
/// added to each operation that can answer them and does not say more
/// itself. The rules follow the router: every documented route is behind
/// auth; a path parameter, a query or a body can be malformed; only
/// writes (POST, PUT, PATCH, DELETE) are checked for their content type
/// and CSRF header; only routes
/// that read a body hit its size limit; everything but the registry's
/// routes reads the backend.
struct SharedResponses;

/// A shared error response: its status, component name and description.
struct Shared(&'static str, &'static str, &'static str);

const BAD_REQUEST: Shared = Shared(
    "400",
    "BadRequest",
    "a malformed path parameter, query or JSON body, or a value out of range; \
     `details.field` names the field at fault",
);
const UNAUTHORIZED: Shared = Shared(
    "401",
    "Unauthorized",
    "missing or wrong credentials (`unauthorized`); the answer carries \
     `WWW-Authenticate: Bearer`",
);
const PAYLOAD_TOO_LARGE: Shared = Shared(
    "413",
    "PayloadTooLarge",
    "the body is over the router's limit (`body_too_large`)",
);
const UNSUPPORTED_MEDIA_TYPE: Shared = Shared(
    "415",
    "UnsupportedMediaType",
    "a body that is not `application/json` (`unsupported_media_type`)",
);
const CSRF_HEADER_MISSING: Shared = Shared(
    "403",
    "CsrfHeaderMissing",
    "a write without a JSON body and without an `X-Requested-With` header \
     (`csrf_header_missing`): what a cross-site form would send",
);
const BACKEND_UNAVAILABLE: Shared = Shared(
    "503",
    "BackendUnavailable",
    "the backend failed (`backend`); the call may or may not have been applied",
);

/// Operations that read only the task registry, never the backend.
const REGISTRY_ONLY: [&str; 2] = ["list_task_types", "get_task_type"];

impl utoipa::Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for Shared(_, name, description) in [
            BAD_REQUEST,
            UNAUTHORIZED,
            PAYLOAD_TOO_LARGE,
            UNSUPPORTED_MEDIA_TYPE,
            CSRF_HEADER_MISSING,
            BACKEND_UNAVAILABLE,
        ] {
            components
                .responses
                .insert(name.to_owned(), RefOr::T(error_response(description)));
        }
        for item in openapi.paths.paths.values_mut() {
            for (writes, operation) in operations(item) {
                let has_body = operation.request_body.is_some();
                let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let id = operation.operation_id.clone().unwrap_or_default();
                let responses = &mut operation.responses.responses;
                let mut add = |Shared(status, name, _): Shared| {
                    let reference = Ref::new(format!("#/components/responses/{name}"));
                    responses
                        .entry(status.to_owned())
                        .or_insert(RefOr::Ref(reference));
                };
                add(UNAUTHORIZED);
                if has_body || has_parameters {
                    add(BAD_REQUEST);
                }
                if writes {
                    add(CSRF_HEADER_MISSING);
                    add(UNSUPPORTED_MEDIA_TYPE);
                }
                if has_body {
                    add(PAYLOAD_TOO_LARGE);
                }
                if !REGISTRY_ONLY.contains(&id.as_str()) {
                    add(BACKEND_UNAVAILABLE);
                }
            }
        }
    }
}

/// The operations of a path item, each with whether it is a write (POST,
/// PUT, PATCH or DELETE), which the content-type and CSRF guard checks.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    [
        (false, item.get.as_mut()),
        (true, item.delete.as_mut()),
        (false, item.head.as_mut()),
        (false, item.options.as_mut()),
        (false, item.trace.as_mut()),
        (true, item.post.as_mut()),
        (true, item.put.as_mut()),
        (true, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(writes, operation)| Some((writes, operation?)))
}

fn error_response(description: &str) -> Response {
    let schema = Ref::from_schema_name("ErrorBody");
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

/// The OpenAPI 3.1 document of [`super::router`], paths relative to where
/// the host nests it, with `servers` left out (see
/// [`openapi_document_at`]).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document with one `servers` entry: the URL the routes are reached
/// at, which generated clients put before every path — a path such as
/// `/taskq` (relative to the document's own host) or a full URL such as
/// `https://ops.example.com/taskq`. `GET api/openapi.json` fills it from
/// where the router is nested, or from [`HttpConfig::public_url`]; a
/// build step that writes the document to a file calls this.
///
/// ```
/// let doc = taskq_core::http::openapi_document_at("/taskq");
/// assert_eq!(doc.servers.unwrap()[0].url, "/taskq");
/// ```
///
/// [`HttpConfig::public_url`]: super::HttpConfig::public_url
pub fn openapi_document_at(server_url: &str) -> utoipa::openapi::OpenApi {
    let mut doc = openapi_document();
    doc.servers = Some(vec![Server::new(server_url)]);
    doc
}

/// Where the document's own route sits below the router's mount point.
const DOCUMENT_PATH: &str = "/api/openapi.json";

/// `GET api/openapi.json`: the document, its server the configured public
/// URL or else the path the host nested the router under (`/` at the
/// root), read from the request's original URI.
pub(crate) async fn serve(
    OriginalUri(uri): OriginalUri,
    public_url: Option<&str>,
) -> Json<utoipa::openapi::OpenApi> {
    let server = match public_url {
        Some(url) => url.to_owned(),
        None => {
            let prefix = uri.path().strip_suffix(DOCUMENT_PATH).unwrap_or_default();
            if prefix.is_empty() {
                "/".to_owned()
            } else {
                prefix.to_owned()
            }
        }
    };
    Json(openapi_document_at(&server))
}
