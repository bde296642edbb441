//! Compile-time behaviour of `#[runner::scope]`, `#[runner::test]` and
//! `run!`: one file per error under `tests/ui/`, with the expected
//! diagnostics beside it, and programs that must compile and run under
//! `tests/ui/pass/`.
//!
//! The `.stderr` files follow rustc's wording: after a toolchain update,
//! regenerate them with `TRYBUILD=overwrite cargo test --test ui` and read
//! the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
