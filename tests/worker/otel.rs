//! OpenTelemetry (feature `opentelemetry`): a task submitted inside a
//! traced span stores its context, and the attempt's span is a child of
//! that span, in its trace; a task submitted outside any span stores none
//! and its attempt's span starts a trace of its own. The spans are read
//! from the in-memory exporter of the binary's subscriber
//! (`subscriber.rs`), picked out by task id.

use opentelemetry::trace::{SpanId, TraceContextExt};
use opentelemetry_sdk::trace::SpanData;
use taskq::TaskId;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::*;

/// The ended span of an attempt of task `id`, once the exporter has it.
async fn attempt_span(id: TaskId) -> SpanData {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = CAPTURED.spans.get_finished_spans().expect("spans");
        let found = spans.into_iter().find(|span| {
            span.name == "task"
                && span
                    .attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "id" && kv.value.as_str() == id.to_string())
        });
        if let Some(span) = found {
            return span;
        }
        assert!(Instant::now() < deadline, "no attempt span for {id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn otel_trace_id_set_at_submit_is_the_attempt_parent(backend: Arc<dyn Backend>) {
    LazyLock::force(&CAPTURED);
    let client = Client::new(backend).unwrap();
    let stop = spawn(fast_worker(&client).build().unwrap());
    let text = |text: &str| Echo {
        text: text.into(),
        times: 1,
    };

    // As an HTTP handler's span would be, around the submit.
    let request = tracing::info_span!("submit_request");
    let traced = async { client.submit(echo, text("traced")).await }
        .instrument(request.clone())
        .await
        .unwrap();
    let submitter = request.context().span().span_context().clone();
    assert!(submitter.is_valid(), "the test's span is not traced");
    drop(request);
    let untraced = client.submit(echo, text("untraced")).await.unwrap();

    // The record carries the W3C context: version, trace id, span id, flags.
    let stored = client.get(traced).await.unwrap();
    let traceparent = stored
        .trace_context
        .as_ref()
        .and_then(|context| context.get("traceparent"))
        .expect("a stored traceparent");
    assert_eq!(
        traceparent,
        &format!("00-{}-{}-01", submitter.trace_id(), submitter.span_id())
    );
    assert_eq!(client.get(untraced).await.unwrap().trace_context, None);

    assert_eq!(
        wait_terminal(&client, traced).await.state,
        TaskState::Finished
    );
    assert_eq!(
        wait_terminal(&client, untraced).await.state,
        TaskState::Finished
    );
    stop().await;

    let attempt = attempt_span(traced).await;
    assert_eq!(attempt.span_context.trace_id(), submitter.trace_id());
    assert_eq!(attempt.parent_span_id, submitter.span_id());
    let alone = attempt_span(untraced).await;
    assert_eq!(alone.parent_span_id, SpanId::INVALID);
    assert_ne!(alone.span_context.trace_id(), submitter.trace_id());
}
