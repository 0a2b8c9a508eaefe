//! The accepted forms of `#[long_task]` compile, run and register as
//! declared; the rejected ones are `macro_errors`' compile-fail cases.
//!
//! An ordinary test binary rather than trybuild's pass cases: trybuild
//! then only checks (no code generation of the whole dependency graph in
//! a second target directory), which saves minutes on a cold build.

use taskq::registry::Registry;

mod all_options;
mod handler_forms;

/// Every task this binary declares is registered once, and nothing else.
#[test]
fn macro_forms_register_each_task_once() {
    let registry = Registry::from_inventory().unwrap();
    let mut expected: Vec<&str> = all_options::NAMES
        .into_iter()
        .chain(handler_forms::NAMES)
        .collect();
    expected.sort_unstable();
    let names: Vec<&str> = registry.iter().map(|def| def.name).collect();
    assert_eq!(names, expected);
}
