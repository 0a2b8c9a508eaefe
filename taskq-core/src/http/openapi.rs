//! `api/openapi.json`: the OpenAPI 3.1 document of the routes, generated
//! from the handlers' and types' annotations (utoipa).

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{errors, queues, schedules, task_types, tasks, workers};

#[derive(OpenApi)]
#[openapi(
    info(title = "taskq", description = "Background tasks: submit, inspect and steer them."),
    paths(
        task_types::list, task_types::detail,
        tasks::submit, tasks::list, tasks::detail, tasks::delete, tasks::cancel, tasks::retry,
        tasks::reorder, tasks::purge,
        queues::list, queues::pause, queues::resume, queues::purge,
        schedules::list, schedules::create, schedules::detail, schedules::update,
        schedules::enable, schedules::disable, schedules::run_now, schedules::delete,
        workers::list, workers::detail, workers::pause, workers::resume, workers::shutdown,
        super::metrics::metrics,
    ),
    components(schemas(
        errors::ErrorBody, errors::ErrorDetail,
        crate::task::TaskRecord, crate::task::TaskState, crate::task::Progress,
        crate::task::TaskFailure, crate::task::ErrorKind, crate::backend::QueueStats,
        crate::backend::TypeCount,
        task_types::TaskTypeInfo, tasks::SubmitRequest, tasks::UniqueRequest, tasks::TaskList,
        tasks::ReorderRequest, tasks::ReorderTo, tasks::PurgeRequest, tasks::PurgeResult,
        queues::QueuePurgeResult,
        schedules::ScheduleRequest, schedules::ScheduleKindName, schedules::MisfireName,
        schedules::ScheduleList,
        crate::backend::WorkerInfo, crate::backend::WorkerQueue, crate::backend::WorkerState,
    )),
    modifiers(&BearerAuth),
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

/// The OpenAPI 3.1 document of [`super::router`] (paths relative to where
/// the host nests it).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}
