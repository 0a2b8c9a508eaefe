//! Compile-time behaviour of `#[long_task]`: every mistake is a compile
//! error pointing at the offending token. The accepted forms are the
//! ordinary test binary `macro_forms`, so trybuild only checks here.
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test --no-default-features --test macro_errors`
//! and again with `--all-features` (for `tests/ui/sqlite/`), then read the
//! `.stderr` diffs.

#[test]
fn long_task_forms_and_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    // Some of rustc's output depends on the whole dependency graph, so on the
    // features: `sqlite` turns on serde_json's `raw_value` (one more
    // `Deserialize` impl listed) and brings another type named `Result` (so
    // `std::result::Result` is spelled in full). One expected output per
    // setting for those cases; the sources are the same.
    if cfg!(feature = "sqlite") {
        t.compile_fail("tests/ui/sqlite/*.rs");
    } else {
        t.compile_fail("tests/ui/no-sqlite/*.rs");
    }
}
