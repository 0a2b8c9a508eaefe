//! Two `#[long_task]`s sharing a name make startup fail, naming the task and
//! both declarations. A test binary of its own: the duplicate would break
//! every other test linked with it.

use std::sync::Arc;

use taskq::registry::Registry;
use taskq::{Client, Error, MemoryBackend};

/// Line of the `#[long_task]` attribute of `billing::send`.
const BILLING_LINE: u32 = line!() + 5;

mod billing {
    use taskq::prelude::*;

    #[long_task(name = "notify.send")]
    pub async fn send(to: String) -> Result<String, TaskError> {
        Ok(format!("invoice to {to}"))
    }
}

/// Line of the `#[long_task]` attribute of `alerts::send`.
const ALERTS_LINE: u32 = line!() + 5;

mod alerts {
    use taskq::prelude::*;

    #[long_task(name = "notify.send", queue = "alerts")]
    pub async fn send(to: String) -> Result<String, TaskError> {
        Ok(format!("alert to {to}"))
    }
}

/// Checks the error names the task and both declarations, in file order.
fn assert_duplicate(err: &Error) {
    let Error::DuplicateTask {
        name,
        first,
        second,
    } = err
    else {
        panic!("expected Error::DuplicateTask, got {err:?}");
    };
    assert_eq!(*name, "notify.send");
    assert_eq!(
        (first.file, first.line, first.module),
        (file!(), BILLING_LINE, concat!(module_path!(), "::billing"))
    );
    assert_eq!(
        (second.file, second.line, second.module),
        (file!(), ALERTS_LINE, concat!(module_path!(), "::alerts"))
    );

    let message = err.to_string();
    assert!(message.contains("`notify.send`"), "{message}");
    for location in [first, second] {
        let place = format!("{}:{}", location.file, location.line);
        assert!(message.contains(&place), "{message} should name {place}");
    }
    assert!(
        message.find(&format!(":{BILLING_LINE} ")) < message.find(&format!(":{ALERTS_LINE} ")),
        "{message}"
    );
}

#[test]
fn memory_client_new_rejects_duplicate_task_names() {
    let err = Client::new(Arc::new(MemoryBackend::new())).unwrap_err();
    assert_duplicate(&err);
}

#[test]
fn memory_registry_from_inventory_rejects_duplicate_task_names() {
    let err = Registry::from_inventory().unwrap_err();
    assert_duplicate(&err);
    // Both handles still exist and carry the shared name.
    assert_eq!(billing::send.name(), alerts::send.name());
}
