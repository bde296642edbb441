//! Compile-time behaviour of `#[runner::scope]`, `#[runner::test]` and
//! `run!`: one file per error under `tests/ui/`, with the expected
//! diagnostics beside it. The programs that must compile and run, under
//! `tests/ui/pass/`, are tests of this package of their own (`harness =
//! false`, one `[[test]]` each in `ui/Cargo.toml`): cargo builds them with
//! the other tests, and trybuild only checks, without building its
//! dependencies' code.
//!
//! The `.stderr` files follow the wording of rustc 1.95, the toolchain CI
//! uses: after a toolchain update, regenerate them with
//! `TRYBUILD=overwrite cargo test -p asyncio-runner-ui --test ui` and read
//! the diff. On another toolchain the errors are the same but their wording
//! may not be, so the compile-fail cases are skipped there.
//!
//! This is a package of its own (`ui/`), not a test of the root package:
//! trybuild builds the tested package's dev-dependencies again for the
//! cases, and this package's are only what the cases use.

use std::process::Command;

/// The toolchain whose messages the `.stderr` files hold.
const STDERR_TOOLCHAIN: &str = "rustc 1.95.";

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    let version = rustc_version();
    if version.starts_with(STDERR_TOOLCHAIN) {
        cases.compile_fail("tests/ui/*.rs");
    } else {
        eprintln!("compile-fail cases skipped: their .stderr files follow {STDERR_TOOLCHAIN}x, not {version}");
    }
}

#[test]
fn every_pass_case_is_a_test_target() {
    // A file under tests/ui/pass/ without its `[[test]]` would never run.
    let manifest = include_str!("../Cargo.toml");
    for entry in std::fs::read_dir("tests/ui/pass").unwrap() {
        let path = entry.unwrap().path();
        let line = format!("path = \"{}\"", path.display());
        assert!(
            manifest.lines().any(|l| l == line),
            "{} has no [[test]] with `{line}` in ui/Cargo.toml",
            path.display()
        );
    }
}

/// `rustc --version` of the toolchain that cargo, and so trybuild, uses.
fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    match Command::new(rustc).arg("--version").output() {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(error) => format!("no rustc ({error})"),
    }
}
