//! The backend conformance suite on the in-memory backend.

use std::sync::Arc;

use taskq::MemoryBackend;
use taskq::backend::Backend;

taskq_core::conformance_suite!(memory, || async {
    Arc::new(MemoryBackend::new()) as Arc<dyn Backend>
});
