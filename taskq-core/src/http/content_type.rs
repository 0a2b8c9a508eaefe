//! Request bodies are JSON: a POST, PUT or PATCH whose `Content-Type` is
//! anything else is refused with `415` before it reaches a route.
//!
//! The reason is more than tidiness. An HTML form on another site can post
//! only `application/x-www-form-urlencoded`, `multipart/form-data` or
//! `text/plain`, with the browser's cookies and without asking; a JSON
//! content type makes the browser ask first (a CORS preflight), which a
//! host that does not allow the other site refuses. So a host that
//! authenticates the routes by cookie ([`super::Auth::check`]) is not
//! open to a forged form. A request without a body may leave the header
//! out (`curl -X POST …/cancel`); one with a body may not.

use axum::body::HttpBody;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::ApiError;

/// The middleware in front of the guarded routes (after auth).
pub(crate) async fn require_json(request: Request, next: Next) -> Response {
    let writes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    );
    if !writes {
        return next.run(request).await;
    }
    let refused = match request.headers().get(header::CONTENT_TYPE) {
        Some(value) => match value.to_str() {
            Ok(value) if is_json(value) => None,
            Ok(value) => Some(value.to_owned()),
            Err(_) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        },
        // An empty body needs no type; any other body does.
        None if request.body().size_hint().upper() == Some(0) => None,
        None => Some(String::new()),
    };
    match refused {
        None => next.run(request).await,
        Some(content_type) => {
            let message = if content_type.is_empty() {
                "a request body must come with `Content-Type: application/json`".to_owned()
            } else {
                format!("request bodies must be `application/json`, not `{content_type}`")
            };
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            )
            .with_details(json!({ "content_type": content_type }))
            .into_response()
        }
    }
}

/// `application/json`, in any case, with or without parameters
/// (`; charset=utf-8`).
fn is_json(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn http_json_content_types_are_recognised() {
        for json in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;charset=UTF-8",
        ] {
            assert!(is_json(json), "{json}");
        }
        for other in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "text/json",
            "",
        ] {
            assert!(!is_json(other), "{other}");
        }
    }
}
