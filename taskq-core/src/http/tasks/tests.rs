//! The list query's parsing: filters, pages and the field a bad value names.

use super::*;

#[test]
fn http_list_query_takes_tags_and_schedule() {
    let (filter, _) = parse_list_query(Some("tag=a&tag=b,c&schedule=nightly%20report")).unwrap();
    assert_eq!(filter.tags, ["a", "b", "c"]);
    assert_eq!(filter.schedule.as_deref(), Some("nightly report"));
}

#[test]
fn http_list_query_takes_metadata_pairs() {
    let (filter, _) = parse_list_query(Some(
        "metadata=customer:acme&metadata=order:7&metadata=code:%227%22&metadata=url:http://x",
    ))
    .unwrap();
    let wanted = |key: &str| filter.metadata.get(key).cloned();
    assert_eq!(wanted("customer"), Some(serde_json::json!("acme")));
    assert_eq!(wanted("order"), Some(serde_json::json!(7)));
    assert_eq!(wanted("code"), Some(serde_json::json!("7")));
    assert_eq!(wanted("url"), Some(serde_json::json!("http://x")));
    for bad in ["metadata=novalue", "metadata=:x", "metadata=a%20b:x"] {
        let err = parse_list_query(Some(bad)).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(err.details["field"], "metadata", "{bad}");
    }
}

#[test]
fn http_list_query_names_the_bad_field() {
    let err = parse_list_query(Some("page=abc")).unwrap_err();
    assert_eq!(err.status, StatusCode::BAD_REQUEST);
    assert_eq!(err.details["field"], "page");
    let err = parse_list_query(Some("page=18446744073709551615")).unwrap_err();
    assert_eq!(err.details["field"], "page");
    let err = parse_list_query(Some("created_before=soon")).unwrap_err();
    assert_eq!(err.details["field"], "created_before");
    let err = parse_list_query(Some("tag=a&tag=B%20c")).unwrap_err();
    assert_eq!(err.details["field"], "tag");
    let (filter, page) = parse_list_query(Some("state=running&page_size=1000")).unwrap();
    assert_eq!(filter.state, Some(TaskState::Running));
    assert_eq!(page.page_size, PageRequest::MAX_PAGE_SIZE);
    let (filter, _) = parse_list_query(Some("queue=a%2Eb&task_type=")).unwrap();
    assert_eq!(
        (filter.queue.as_deref(), filter.task_type),
        (Some("a.b"), None)
    );
}
