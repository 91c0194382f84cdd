//! Helpers shared by the end-to-end tests: run the `qfactor` binary built for this test run.
#![allow(dead_code)] // each test file uses its own subset

use std::process::{Command, Output};

/// Runs `qfactor ARGS…` in the repository root, colours off, and returns what it did.
pub fn qfactor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qfactor"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("qfactor runs")
}

/// [`qfactor`], asserting success (the message shows the exit code and stderr).
pub fn ok(args: &[&str]) -> Output {
    let out = qfactor(args);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`qfactor`] with extra environment variables.
pub fn qfactor_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qfactor"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .output()
        .expect("qfactor runs")
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that `out` exited with `code`, showing stderr otherwise; returns stderr.
pub fn exits(out: &Output, code: i32, what: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    err
}
