//! `qfactor check`'s verdicts on learned (f32-like) tables: tolerances stated and settable,
//! no FAILS with a violation that prints as zero, states left unchecked named, whole files
//! checked in one call, `--fail-if`, and "class or optimiser" for anyone's tables.

mod common;

use common::{ok, qfactor, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The published QTRAN table with its optimum's `q_jt` off by `delta`: (4a)'s residual is
/// exactly `delta` (up to f64 rounding).
fn qtran_off_by(delta: f64) -> String {
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/golden/paper-table1-qtran.csv"),
    )
    .unwrap();
    golden.replace(",q_jt,,A A,8.00", &format!(",q_jt,,A A,{}", 8.0 + delta))
}

#[test]
fn rounding_level_residuals_hold_to_the_stated_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "t.csv", &qtran_off_by(3e-7));
    let f = f.to_str().unwrap();
    let text = stdout(&ok(&["check", "paper-table1", f]));
    assert!(
        text.contains("Tolerance for learned values: abs 1e-5, rel 1e-5"),
        "{text}"
    );
    assert!(text.contains("(4a) holds"), "{text}");
    // Exact arithmetic's rule refuses it, and then the violation is printed as non-zero.
    let strict = stdout(&ok(&["check", "paper-table1", f, "--tolerance", "0"]));
    assert!(
        strict.contains("(4a) FAILS (largest |residual| 3.00e-7)"),
        "{strict}"
    );
    // Never FAILS next to a number that prints as zero.
    for t in [&text, &strict] {
        for line in t.lines().filter(|l| l.contains("FAILS")) {
            assert!(!line.contains("0.000000)"), "{line}");
        }
    }
    let json: Value =
        serde_json::from_str(&stdout(&ok(&["check", "paper-table1", f, "--json"]))).unwrap();
    assert_eq!(json["tolerance"]["abs"], 1e-5);
    assert_eq!(json["states"][0]["cond_4a"], true);
    // A bad tolerance is bad input.
    let bad = qfactor(&["check", "paper-table1", f, "--tolerance", "-1"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn igm_forgives_rounding_ties_in_the_joint_table() {
    // A QMIX-like table whose Q_tot is tied to rounding along agent 2 while agent 2's utility
    // prefers A: exact set-IGM fails, IGM to the tolerance holds.
    let mut t = String::from("table,agent,actions,value\n");
    for (a, v) in [("A", 1.0), ("B", 0.0), ("C", -1.0)] {
        t.push_str(&format!("q_i,1,{a},{v}\n"));
    }
    for (a, v) in [("A", 0.5), ("B", 0.2), ("C", 0.1)] {
        t.push_str(&format!("q_i,2,{a},{v}\n"));
    }
    for (u, v) in [
        ("A A", 8.0),
        ("A B", 8.0 + 2e-7),
        ("A C", 7.0),
        ("B A", 1.0),
        ("B B", 1.0),
        ("B C", 1.0),
        ("C A", 0.0),
        ("C B", 0.0),
        ("C C", 0.0),
    ] {
        t.push_str(&format!("q_tot,,{u},{v}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "q.csv", &t);
    let f = f.to_str().unwrap();
    let r: Value = serde_json::from_str(&stdout(&ok(&[
        "check",
        "paper-table1",
        f,
        "--method",
        "qmix",
        "--json",
    ])))
    .unwrap();
    assert_eq!(r["states"][0]["igm"], true);
    let strict: Value = serde_json::from_str(&stdout(&ok(&[
        "check",
        "paper-table1",
        f,
        "--json",
        "--tolerance",
        "0",
    ])))
    .unwrap();
    assert_eq!(strict["states"][0]["igm"], false);
    // QTRAN's conditions are not shown for QMIX tables in the terminal.
    let text = stdout(&ok(&["check", "paper-table1", f, "--method", "qmix"]));
    assert!(!text.contains("(4b) FAILS"), "{text}");
    assert!(text.contains("are for QTRAN tables"), "{text}");
}

#[test]
fn class_or_optimiser_for_outside_tables() {
    let vdn = stdout(&ok(&[
        "check",
        "paper-table1",
        "data/golden/paper-table1-vdn.csv",
        "--method",
        "vdn",
    ]));
    assert!(
        vdn.contains("verdict: the class cannot keep the optimum"),
        "{vdn}"
    );
    let qmix = stdout(&ok(&[
        "check",
        "paper-table1",
        "data/golden/paper-table1-qmix.csv",
        "--method",
        "qmix",
    ]));
    assert!(
        qmix.contains("verdict: the class could, the optimiser did not"),
        "{qmix}"
    );
    assert!(
        qmix.contains("best fit under the learned action orders"),
        "{qmix}"
    );
    // With a QMIX search cut short the ideal is a heuristic result and the verdict says so.
    let cut = stdout(&ok(&[
        "check",
        "paper-table1",
        "data/golden/paper-table1-qmix.csv",
        "--method",
        "qmix",
        "--qmix-budget",
        "1",
    ]));
    assert!(cut.contains("heuristic"), "{cut}");
    assert!(!cut.contains("verdict: the class cannot"), "{cut}");
    let json: Value = serde_json::from_str(&stdout(&ok(&[
        "check",
        "paper-table1",
        "data/golden/paper-table1-qmix.csv",
        "--method",
        "qmix",
        "--json",
    ])))
    .unwrap();
    assert_eq!(json["diagnosis"]["verdict"], "optimiser-did-not");
    assert!(json["states"][0]["mse_ideal"].as_f64().unwrap() > 0.0);
    assert!(json["diagnosis"]["states"][0]["orders_fit_mse"].is_number());
}

/// A two-step factorization: every state's utilities and q_tot, except the states in `skip`.
fn two_step(method: &str, seed: &str, skip: &[&str]) -> String {
    let mut t = String::new();
    let states = [
        ("1", [[7.0, 8.0], [0.0, 0.0]], [7.0, 7.0, 8.0, 8.0]),
        ("2A", [[0.0, 0.0], [0.0, 0.0]], [7.0, 7.0, 7.0, 7.0]),
        ("2B", [[0.0, 4.0], [0.0, 4.0]], [0.0, 1.0, 1.0, 8.0]),
    ];
    for (s, u, q) in states {
        if skip.contains(&s) {
            continue;
        }
        for (i, ui) in u.iter().enumerate() {
            for (a, v) in ["0", "1"].iter().zip(ui) {
                t.push_str(&format!("{method},{seed},{s},q_i,{},{a},{v}\n", i + 1));
            }
        }
        for (k, u) in ["0 0", "0 1", "1 0", "1 1"].iter().enumerate() {
            t.push_str(&format!("{method},{seed},{s},q_tot,,{u},{}\n", q[k]));
        }
    }
    t
}

#[test]
fn unchecked_states_are_named_and_can_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let body = two_step("qmix", "0", &["2B"]);
    let f = write(
        dir.path(),
        "t.csv",
        &format!("method,seed,state,table,agent,actions,value\n{body}"),
    );
    let f = f.to_str().unwrap();
    let text = stdout(&ok(&["check", "two-step", f]));
    assert!(
        text.contains("not checked (no rows in the file): state 2B"),
        "{text}"
    );
    let r: Value = serde_json::from_str(&stdout(&ok(&["check", "two-step", f, "--json"]))).unwrap();
    assert_eq!(r["unchecked"], serde_json::json!(["2B"]));
    let failed = qfactor(&["check", "two-step", f, "--fail-if", "unchecked"]);
    assert_eq!(failed.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("unchecked (1 of 1)"));
}

#[test]
fn a_whole_file_is_checked_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = String::from("method,seed,state,table,agent,actions,value\n");
    for seed in ["0", "1", "2"] {
        t.push_str(&two_step("qmix", seed, &[]));
    }
    t.push_str(&two_step("vdn", "0", &[]));
    // The exact pseudo-method rows `train` writes are left out of a whole-file check.
    t.push_str(&two_step("exact-qmix", "", &[]));
    let f = write(dir.path(), "t.csv", &t);
    let f = f.to_str().unwrap();
    let text = stdout(&ok(&["check", "two-step", f]));
    assert!(text.contains("4 factorizations"), "{text}");
    assert!(text.contains("  qmix: policy optimal in 3 of 3"), "{text}");
    assert!(text.contains("  vdn: policy optimal in 1 of 1"), "{text}");
    let r: Value = serde_json::from_str(&stdout(&ok(&["check", "two-step", f, "--json"]))).unwrap();
    assert_eq!(r["factorizations"].as_array().unwrap().len(), 4);
    assert_eq!(r["methods"][0]["method"], "qmix");
    assert_eq!(r["methods"][0]["policy_optimal"], 3);
    // --fail-if passes when nothing fails.
    ok(&["check", "two-step", f, "--fail-if", "not-optimal,unchecked"]);
    // One seed still gives the detailed report.
    let one = stdout(&ok(&[
        "check", "two-step", f, "--method", "qmix", "--seed", "1",
    ]));
    assert!(one.contains("state 2B:"), "{one}");
}

#[test]
fn messages_suggest_and_never_repeat() {
    let out = qfactor(&["analyze", "paper-tabel1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean \"paper-table1\"?"), "{err}");
    let out = qfactor(&["analyze", "/nonexistent/x.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}
