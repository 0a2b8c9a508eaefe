//! OpenTelemetry (feature `opentelemetry`): a task submitted inside a
//! traced span stores its context, and the attempt's span is a child of
//! that span, in its trace (so is the span in which the worker ends an
//! attempt that timed out); a task submitted outside any span stores none
//! and its attempt's span starts a trace of its own. The spans are read
//! from the in-memory exporter of the binary's subscriber
//! (`subscriber.rs`), picked out by task id.

use opentelemetry::trace::{SpanId, TraceContextExt};
use opentelemetry_sdk::trace::SpanData;
use taskq::TaskId;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::*;

/// The ended `task` spans of task `id`, once the exporter has `n` of them.
async fn task_spans(id: TaskId, n: usize) -> Vec<SpanData> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = CAPTURED.spans.get_finished_spans().expect("spans");
        let found: Vec<SpanData> = spans
            .into_iter()
            .filter(|span| {
                span.name == "task"
                    && span
                        .attributes
                        .iter()
                        .any(|kv| kv.key.as_str() == "id" && kv.value.as_str() == id.to_string())
            })
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} task spans for {id}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ended span of the attempt of task `id`.
async fn attempt_span(id: TaskId) -> SpanData {
    task_spans(id, 1).await.remove(0)
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
    let (traced, timed_out) = async {
        let traced = client.submit(echo, text("traced")).await.unwrap();
        // Ended by the worker's deadline keeper, in a span of its own.
        let sleep = Sleep {
            ms: 1_500,
            cooperative: false,
        };
        let timed_out = client
            .submit(sleeper, sleep)
            .timeout(Duration::from_millis(300))
            .await
            .unwrap();
        (traced, timed_out)
    }
    .instrument(request.clone())
    .await;
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
    let timeout = wait_terminal(&client, timed_out).await.error;
    assert_eq!(timeout.map(|e| e.kind), Some(ErrorKind::Timeout));
    stop().await;

    let attempt = attempt_span(traced).await;
    assert_eq!(attempt.span_context.trace_id(), submitter.trace_id());
    assert_eq!(attempt.parent_span_id, submitter.span_id());
    let alone = attempt_span(untraced).await;
    assert_eq!(alone.parent_span_id, SpanId::INVALID);
    assert_ne!(alone.span_context.trace_id(), submitter.trace_id());
    // The attempt that timed out, and the deadline keeper's end of it.
    for span in task_spans(timed_out, 2).await {
        assert_eq!(span.span_context.trace_id(), submitter.trace_id());
        assert_eq!(span.parent_span_id, submitter.span_id());
    }
}
