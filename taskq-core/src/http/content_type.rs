//! Writes a cross-site form cannot forge: every POST, PUT, PATCH and
//! DELETE says `Content-Type: application/json` or, without a body,
//! carries an [`X-Requested-With`](REQUESTED_WITH) header (any value); a
//! body of another type is refused with `415`, a write with neither
//! with `403` (`csrf_header_missing`), before it reaches a route.
//!
//! The reason is more than tidiness. An HTML form on another site can post
//! only `application/x-www-form-urlencoded`, `multipart/form-data` or
//! `text/plain`, with the browser's cookies and without asking — and with
//! no body and no type at all (`<form method="post">` without fields, or
//! `fetch(url, {method: 'POST', mode: 'no-cors'})`). A JSON content type
//! or a header of the page's own makes the browser ask first (a CORS
//! preflight), which a host that does not allow the other site refuses.
//! So a host that authenticates the routes by cookie
//! ([`super::Auth::check`]) is not open to a forged request. A script
//! sends the header (`curl -X POST -H 'X-Requested-With: curl'
//! …/cancel`), or a JSON body.

use axum::body::HttpBody;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::ApiError;

/// The header that lets a write without a body through: a name no form
/// and no "simple" cross-site request can send (any value will do).
pub const REQUESTED_WITH: &str = "x-requested-with";

/// The middleware in front of the guarded routes (after auth).
pub(crate) async fn guard_writes(request: Request, next: Next) -> Response {
    let writes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !writes {
        return next.run(request).await;
    }
    let empty = request.body().size_hint().upper() == Some(0);
    match refusal(request.headers(), empty) {
        None => next.run(request).await,
        Some(error) => error.into_response(),
    }
}

/// Why a write with these headers (and an empty body or not) is refused.
fn refusal(headers: &HeaderMap, empty: bool) -> Option<ApiError> {
    let unsupported = |content_type: String| {
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
    };
    match headers.get(header::CONTENT_TYPE) {
        Some(value) => match value.to_str() {
            Ok(value) if is_json(value) => None,
            Ok(value) => Some(unsupported(value.to_owned())),
            Err(_) => Some(unsupported(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )),
        },
        // Any other body needs its type.
        None if !empty => Some(unsupported(String::new())),
        None if headers.contains_key(REQUESTED_WITH) => None,
        None => Some(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_header_missing",
            "a POST, PUT, PATCH or DELETE without a JSON body must carry an \
             `X-Requested-With` header (any value), which a cross-site form cannot send",
        )),
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
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, axum::http::HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn http_writes_need_json_or_the_csrf_header() {
        let code = |pairs: &[(&'static str, &'static str)], empty: bool| {
            refusal(&headers(pairs), empty).map(|error| error.code)
        };
        assert_eq!(code(&[("content-type", "application/json")], false), None);
        assert_eq!(code(&[("content-type", "application/json")], true), None);
        assert_eq!(code(&[("x-requested-with", "XMLHttpRequest")], true), None);
        assert_eq!(code(&[], true), Some("csrf_header_missing"));
        assert_eq!(code(&[], false), Some("unsupported_media_type"));
        // The header does not make a form's body acceptable.
        let form = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-requested-with", "x"),
        ];
        assert_eq!(code(&form, false), Some("unsupported_media_type"));
        assert_eq!(
            code(&[("content-type", "text/plain")], true),
            Some("unsupported_media_type")
        );
    }

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
