//! The backend conformance suite on the in-memory backend.

use std::sync::Arc;

use taskq::MemoryBackend;
use taskq::backend::Backend;

/// The shared conformance suite: `cargo test conformance::` runs it alone.
mod conformance {
    #[allow(unused_imports)]
    use super::*;

    taskq_core::conformance_suite!(memory, || async {
        Arc::new(MemoryBackend::new()) as Arc<dyn Backend>
    });
}
