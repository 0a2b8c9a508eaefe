//! Query strings, parsed by hand so that every bad value is a `400` naming
//! its parameter (axum's `Query` rejection names none): decoding, the
//! known-parameter check and the page parameters of the list routes.

use serde_json::json;

use super::errors::ApiError;
use crate::backend::PageRequest;

/// The largest row offset a list request may ask for: 2^53, exact in a
/// double, so no backend (Lua, JSON clients) sees a rounded or overflowing
/// offset. No real list comes near it.
pub(crate) const MAX_OFFSET: u64 = 1 << 53;

/// A `400 bad_query` naming the parameter at fault.
pub(crate) fn bad_query(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad_query", message).with_details(json!({ "field": field }))
}

/// The decoded `(name, value)` pairs of a query, in order; an empty value
/// is `None`. A name outside `known` is a `400` naming it.
pub(crate) fn pairs(
    raw: Option<&str>,
    known: &[&str],
) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let mut pairs = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)
            .ok_or_else(|| ApiError::bad_request("bad_query", "query is not valid UTF-8"))?;
        if !known.contains(&key.as_str()) {
            let message = format!("unknown query parameter `{key}`");
            return Err(bad_query(&key, message));
        }
        let value = percent_decode(value)
            .ok_or_else(|| bad_query(&key, format!("`{key}` is not valid UTF-8")))?;
        pairs.push((key, (!value.is_empty()).then_some(value)));
    }
    Ok(pairs)
}

/// The page of a list route from its `page` and `page_size` values
/// (1-based page, default 1; size default 20, capped at 100); an offset
/// past [`MAX_OFFSET`] is a `400` naming `page`.
pub(crate) fn page(page: Option<&str>, page_size: Option<&str>) -> Result<PageRequest, ApiError> {
    let number = |field: &str, value: Option<&str>, default: u64| {
        value.map_or(Ok(default), |v| {
            v.parse::<u64>()
                .map_err(|_| bad_query(field, format!("`{field}` must be a positive integer")))
        })
    };
    let page = PageRequest::new(
        number("page", page, 1)?,
        number("page_size", page_size, PageRequest::DEFAULT_PAGE_SIZE)?,
    );
    if page.offset() > MAX_OFFSET {
        return Err(bad_query("page", "`page` is beyond any list"));
    }
    Ok(page)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; `None` when the bytes are not UTF-8. A stray `%` stays literal.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn http_query_decoding_keeps_stray_percents() {
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(
            percent_decode("2026-01-01T00:00:00%2B02:00").as_deref(),
            Some("2026-01-01T00:00:00+02:00")
        );
    }

    #[test]
    fn http_query_pairs_are_decoded_and_checked() {
        let found = pairs(Some("p%61ge=2&page_size=&x"), &["page", "page_size", "x"]).unwrap();
        assert_eq!(
            found,
            [
                ("page".to_owned(), Some("2".to_owned())),
                ("page_size".to_owned(), None),
                ("x".to_owned(), None),
            ]
        );
        let err = pairs(Some("colour=red"), &["page"]).unwrap_err();
        assert_eq!(
            (err.status, &err.details["field"]),
            (StatusCode::BAD_REQUEST, &json!("colour"))
        );
        let err = pairs(Some("page=%ff"), &["page"]).unwrap_err();
        assert_eq!(err.details["field"], "page");
    }

    #[test]
    fn http_page_is_capped_and_names_its_field() {
        assert_eq!(
            page(None, Some("1000")).unwrap().page_size,
            PageRequest::MAX_PAGE_SIZE
        );
        for (p, size, field) in [
            (Some("abc"), None, "page"),
            (Some("-1"), None, "page"),
            (None, Some("x"), "page_size"),
            (Some("18446744073709551615"), None, "page"),
            (Some("90071992547411"), Some("100"), "page"),
        ] {
            let err = page(p, size).unwrap_err();
            assert_eq!(err.details["field"], field, "{p:?} {size:?}");
        }
    }
}
