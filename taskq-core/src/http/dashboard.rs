//! `dashboard`: one page for operators, its script modules and stylesheet
//! embedded in the crate (no build step for the host). The page holds no
//! data; its script calls the API with the token the operator enters, and
//! puts every value on the page as text, never as HTML.
//!
//! `dashboard.js` is the entry module; it imports the others from
//! `dashboard/<name>.js` (one per view or concern, see its header).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
/// The page's stylesheet, then the vendored chart library's.
const STYLE: &str = concat!(
    include_str!("dashboard/dashboard.css"),
    include_str!("dashboard/vendor/uPlot.min.css")
);

/// The modules `dashboard.js` imports, by the name it imports them with,
/// and `uplot.js`, the vendored chart library (uPlot, MIT; see
/// `dashboard/vendor/README.md`), which the page loads as a classic script.
const MODULES: [(&str, &str); 15] = [
    ("api.js", include_str!("dashboard/api.js")),
    ("charts.js", include_str!("dashboard/charts.js")),
    ("bulk.js", include_str!("dashboard/bulk.js")),
    ("detail.js", include_str!("dashboard/detail.js")),
    ("dom.js", include_str!("dashboard/dom.js")),
    ("overview.js", include_str!("dashboard/overview.js")),
    ("pending.js", include_str!("dashboard/pending.js")),
    ("routes.js", include_str!("dashboard/routes.js")),
    ("schedules.js", include_str!("dashboard/schedules.js")),
    ("state.js", include_str!("dashboard/state.js")),
    ("submit.js", include_str!("dashboard/submit.js")),
    ("tasks.js", include_str!("dashboard/tasks.js")),
    ("workers.js", include_str!("dashboard/workers.js")),
    ("workflow.js", include_str!("dashboard/workflow.js")),
    (
        "uplot.js",
        include_str!("dashboard/vendor/uPlot.iife.min.js"),
    ),
];

/// Only the page's own scripts and stylesheet may load, and it may only
/// talk to its own origin: defence in depth should data ever reach the DOM
/// as markup.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `dashboard/<name>.js`: one of the entry module's imports.
pub(crate) async fn module(Path(name): Path<String>) -> Response {
    match MODULES.iter().find(|(known, _)| *known == name) {
        Some((_, body)) => asset("text/javascript; charset=utf-8", body),
        None => ApiError::not_found("dashboard module", &name).into_response(),
    }
}
