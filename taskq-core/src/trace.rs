//! A task's trace context (feature `opentelemetry`, on the `tracing`
//! bridge): the context of the span that submitted the task is stored on
//! its record ([`TaskRecord::trace_context`](crate::TaskRecord)), and each
//! attempt's span is made its child, so one trace runs from whatever
//! submitted (an HTTP request, a parent task's handler) to the handler.
//!
//! Both ends go through OpenTelemetry's global text-map propagator, which
//! the host sets (`opentelemetry::global::set_text_map_propagator`,
//! usually a W3C `TraceContextPropagator`): what is stored is what that
//! propagator writes, `traceparent` and `tracestate` for W3C. The default
//! propagator writes nothing, so nothing is stored until the host sets
//! one; without the feature nothing is stored either, and a stored
//! context is kept but not read.

use std::collections::BTreeMap;

/// A stored trace context: the fields the propagator wrote, by name
/// (`traceparent`, `tracestate`, `baggage`…).
pub type TraceContext = BTreeMap<String, String>;

/// The largest context stored, its names and values together, in bytes:
/// a propagator that writes more (a large baggage) stores nothing, rather
/// than a context cut in the middle.
pub const MAX_TRACE_CONTEXT_BYTES: usize = 8 * 1024;

/// The current span's context as the global propagator writes it; `None`
/// when it writes nothing (no propagator set, no OpenTelemetry layer, a
/// span not recorded) or more than [`MAX_TRACE_CONTEXT_BYTES`].
pub(crate) fn current() -> Option<TraceContext> {
    #[cfg(feature = "opentelemetry")]
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        let context = tracing::Span::current().context();
        let mut fields = Fields(TraceContext::new());
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut fields)
        });
        let size: usize = fields.0.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_TRACE_CONTEXT_BYTES {
            tracing::debug!(size, "trace context too large to store with the task");
            return None;
        }
        (!fields.0.is_empty()).then_some(fields.0)
    }
    #[cfg(not(feature = "opentelemetry"))]
    None
}

/// Makes `span` (an attempt's, not yet entered) a child of the stored
/// `context`. A span the OpenTelemetry layer does not see (no layer, or
/// filtered out) stays as it is.
pub(crate) fn set_parent(span: &tracing::Span, context: Option<&TraceContext>) {
    #[cfg(feature = "opentelemetry")]
    if let Some(context) = context {
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&Reading(context))
        });
        // Fails only when there is nothing to parent: no layer, a
        // disabled span, or one already started (not the case here).
        if let Err(error) = span.set_parent(parent) {
            tracing::trace!(%error, "the attempt's span takes no parent");
        }
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = (span, context);
}

/// A [`TraceContext`] the propagator writes. Names are lower-cased, as
/// OpenTelemetry's own `HashMap` carrier does (header names are
/// case-insensitive).
#[cfg(feature = "opentelemetry")]
struct Fields(TraceContext);

/// A stored [`TraceContext`] the propagator reads.
#[cfg(feature = "opentelemetry")]
struct Reading<'a>(&'a TraceContext);

#[cfg(feature = "opentelemetry")]
impl opentelemetry::propagation::Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_lowercase(), value);
    }
}

#[cfg(feature = "opentelemetry")]
impl opentelemetry::propagation::Extractor for Reading<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(&key.to_lowercase()).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
