//! The binary's one global `tracing` subscriber, set by the first test
//! that reads it from any thread (the workers run on the multi-thread
//! runtime): the worker's start-check warnings as lines of text
//! (`unserved.rs`) and, with `opentelemetry`, an OpenTelemetry layer over
//! the attempts' spans (and the deadline keeper's) and the tests' own,
//! which an in-memory exporter keeps (`otel.rs`). Each test picks out its
//! own by a unique queue name or task id.

use std::io::Write;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::*;

/// What the global subscriber captured.
pub(super) struct Captured {
    /// Every `WARN` of the worker's start check, as log lines.
    pub(super) lines: Arc<Mutex<Vec<u8>>>,
    /// Every ended span of an attempt or of a test in `otel`.
    #[cfg(feature = "opentelemetry")]
    pub(super) spans: opentelemetry_sdk::trace::InMemorySpanExporter,
}

pub(super) static CAPTURED: LazyLock<Captured> = LazyLock::new(|| {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let log = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || Sink(sink.clone()))
        .with_filter(EnvFilter::new("taskq_core::worker::unserved=warn"));
    let registry = tracing_subscriber::registry().with(log);
    #[cfg(feature = "opentelemetry")]
    {
        use opentelemetry::trace::TracerProvider as _;

        let spans = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        // Exported as each span ends, on the thread that ends it.
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let tracer = provider.tracer("taskq-worker-tests");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let otel = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new(
                "taskq_core::worker::attempt=info,taskq_core::worker::deadlines=info,worker::otel=info",
            ));
        registry
            .with(otel)
            .try_init()
            .expect("the only global subscriber of this binary");
        // The provider lives as long as the binary: it holds the exporter.
        std::mem::forget(provider);
        Captured { lines, spans }
    }
    #[cfg(not(feature = "opentelemetry"))]
    {
        registry
            .try_init()
            .expect("the only global subscriber of this binary");
        Captured { lines }
    }
});

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
