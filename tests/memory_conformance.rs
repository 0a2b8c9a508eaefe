//! The backend conformance suite on the in-memory backend.

use std::sync::Arc;

use taskq::{Backend, MemoryBackend};

taskq_core::conformance_suite!(memory, || async {
    Arc::new(MemoryBackend::new()) as Arc<dyn Backend>
});
