//! The accepted handler shapes: with and without a context, `pub`, a custom
//! name, a return type spelled through an alias, a non-`TaskError` error.

use serde::{Deserialize, Serialize};
use taskq::prelude::*;
use taskq::registry::{Registry, TaskHandle};

#[derive(Serialize, Deserialize, JsonSchema)]
struct Echo {
    text: String,
}

/// Returns its text.
///
/// Second paragraph.
#[long_task]
async fn without_ctx(p: Echo) -> Result<String, TaskError> {
    Ok(p.text)
}

#[long_task]
async fn with_ctx(ctx: TaskContext, p: Echo) -> Result<usize, TaskError> {
    ctx.progress(1.0, "done").await?;
    Ok(p.text.len())
}

pub mod public {
    use taskq::prelude::*;

    /// A `pub` task with its own name, usable from other modules.
    #[long_task(name = "custom.name")]
    pub async fn renamed(n: u64) -> Result<u64, TaskError> {
        Ok(n * 2)
    }
}

type R<T> = Result<T, TaskError>;

#[long_task]
async fn aliased(p: Echo) -> R<Vec<String>> {
    Ok(vec![p.text])
}

#[long_task]
async fn io_error(path: String) -> Result<(), std::io::Error> {
    std::fs::metadata(path).map(drop)
}

// Declared by a `macro_rules!` whose argument types come from the caller:
// the expansion must not mix up the two hygiene contexts.
macro_rules! declare_task {
    ($name:ident, $params:ty, $ok:ty) => {
        #[long_task]
        async fn $name(ctx: TaskContext, p: $params) -> Result<$ok, TaskError> {
            Ok(p.text.len() as $ok + ctx.attempt())
        }
    };
}

declare_task!(from_macro, Echo, u32);

/// The names this file's tasks register under.
pub(crate) const NAMES: [&str; 6] = [
    "aliased",
    "custom.name",
    "from_macro",
    "io_error",
    "with_ctx",
    "without_ctx",
];

#[test]
fn macro_handler_forms_compile_and_register() {
    // The handles carry the params and result types.
    let _: TaskHandle<Echo, String> = without_ctx;
    let _: TaskHandle<Echo, usize> = with_ctx;
    let _: TaskHandle<u64, u64> = public::renamed;
    let _: TaskHandle<Echo, Vec<String>> = aliased;
    let _: TaskHandle<String, ()> = io_error;
    let _: TaskHandle<Echo, u32> = from_macro;

    assert_eq!(without_ctx.name(), "without_ctx");
    assert_eq!(public::renamed.name(), "custom.name");

    let registry = Registry::from_inventory().unwrap();
    for name in NAMES {
        assert!(registry.get(name).is_some(), "{name} is registered");
    }
    let def = registry.get("without_ctx").unwrap();
    assert_eq!(
        def.options.description,
        "Returns its text.\n\nSecond paragraph."
    );
    assert_eq!(def.options, {
        let mut defaults = taskq::TaskOptions::DEFAULT;
        defaults.description = def.options.description.clone();
        defaults
    });
    assert!(def.location.file.ends_with("handler_forms.rs"));
}
