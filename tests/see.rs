//! End-to-end tests of what people *see*: pictures, the report, `compare`, `demo`, shell
//! completions, `--help`, output directories that are never overwritten silently, exit codes.
//! Tests that train need the `neural` feature; the rest run in every build.

mod common;

use common::{ok, qfactor, stdout};
use std::path::Path;
use std::process::Command;

/// Decodes a PNG completely and returns its size; panics when it is not a valid PNG.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Not blank: a drawn picture has both light and dark pixels.
    let data = &buf[..info.buffer_size()];
    assert!(
        data.iter().any(|&b| b < 64) && data.iter().any(|&b| b > 192),
        "{}",
        path.display()
    );
    (info.width, info.height)
}

#[test]
fn every_command_has_help_with_examples() {
    let mut commands = vec!["games", "analyze", "check", "completions"];
    if cfg!(feature = "neural") {
        commands.extend(["train", "compare", "demo"]);
    }
    let top = stdout(&ok(&["--help"]));
    assert!(top.contains("Examples:") && top.contains("--quiet") && top.contains("--verbose"));
    for c in commands {
        let out = stdout(&ok(&[c, "--help"]));
        assert!(out.contains("Usage:"), "{c}: {out}");
        assert!(
            c == "games" || out.contains("Examples:"),
            "{c} --help has no examples: {out}"
        );
    }
}

#[test]
fn completions_for_each_shell() {
    let bash = stdout(&ok(&["completions", "bash"]));
    assert!(
        bash.contains("_qfactor") && bash.contains("analyze"),
        "{bash}"
    );
    let zsh = stdout(&ok(&["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef qfactor"), "{zsh}");
    let fish = stdout(&ok(&["completions", "fish"]));
    assert!(fish.contains("complete -c qfactor"), "{fish}");
    if cfg!(feature = "neural") {
        assert!(bash.contains("compare") && bash.contains("demo"));
    }
    let bad = qfactor(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "unknown shell is a usage error");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    assert_eq!(qfactor(&["--no-such-flag"]).status.code(), Some(2));
    assert_eq!(qfactor(&["analyze"]).status.code(), Some(2));
    assert_eq!(
        qfactor(&["--quiet", "--verbose", "games"]).status.code(),
        Some(2)
    );
    assert_eq!(qfactor(&["--version"]).status.code(), Some(0));
}

#[test]
fn no_colours_when_piped() {
    let out = Command::new(env!("CARGO_BIN_EXE_qfactor"))
        .args(["analyze", "paper-table1"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
        "escape codes in a pipe"
    );
}

#[test]
fn analyze_png_draws_the_exact_ideals_and_never_overwrites_silently() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("exact.png");
    let p = png.to_str().unwrap();
    let out = ok(&["analyze", "paper-table1", "--png", p]);
    assert!(stdout(&out).contains("QMIX ideal"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote"));
    let (w, h) = png_size(&png);
    assert!(w >= 900 && h >= 600, "{w}×{h}");
    // Again: refused with exit code 2, the file untouched; --force replaces it.
    let before = std::fs::metadata(&png).unwrap().modified().unwrap();
    let again = qfactor(&["analyze", "paper-table1", "--png", p]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::metadata(&png).unwrap().modified().unwrap(), before);
    let quiet = ok(&["--quiet", "analyze", "two-step", "--png", p, "--force"]);
    assert!(quiet.stderr.is_empty(), "--quiet prints no notes");
    let (_, h2) = png_size(&png);
    assert!(h2 > h, "two-step has three states, so a taller picture");
    // The 21-action game: every cell drawn small, still a valid picture.
    let big = dir.path().join("twentyone.png");
    ok(&[
        "analyze",
        "twentyone",
        "--png",
        big.to_str().unwrap(),
        "--qmix-time-limit",
        "1",
    ]);
    png_size(&big);
}

#[cfg(not(feature = "neural"))]
#[test]
fn learner_commands_explain_how_to_get_them() {
    for c in ["train", "compare", "demo"] {
        let out = qfactor(&[c, "paper-table1"]);
        assert_eq!(out.status.code(), Some(1), "{c}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--features neural"),
            "{c}"
        );
    }
}

#[cfg(feature = "neural")]
mod neural {
    use super::*;

    /// The report opens offline: one file, pictures embedded, nothing fetched.
    fn assert_self_contained(html: &str) {
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        let lower = html.to_lowercase();
        for forbidden in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "<script",
            "<link",
            "url(",
            "@import",
        ] {
            assert!(
                !lower.contains(forbidden),
                "report.html contains {forbidden:?}"
            );
        }
        let images = lower.matches("<img ").count();
        assert!(images > 0, "no pictures in the report");
        assert_eq!(
            lower.matches("src=\"data:image/png;base64,").count(),
            images,
            "every image embedded"
        );
    }

    #[test]
    fn compare_writes_tables_pictures_and_a_self_contained_report() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let r = run.to_str().unwrap();
        let args = [
            "compare",
            "paper-table1",
            "--seeds",
            "3",
            "--steps",
            "400",
            "--device",
            "cpu",
            "--out",
            r,
        ];
        let out = ok(&args);
        let text = stdout(&out);
        for needle in [
            "Compare on QTRAN Table 1",
            "lower median by MSE",
            "-- VDN: optimal in",
            "exact VDN projection — MSE 50.5679",
            "exact QMIX projection — MSE 32.0000",
            "exact best fit under the learned orders",
            "learned Q'_jt − Q_jt",
            "exact Q'_jt − Q_jt",
            "95% CI",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        for f in [
            "config.json",
            "tables.csv",
            "summary.csv",
            "curves.csv",
            "curves_seeds.csv",
            "report.html",
        ] {
            assert!(run.join(f).is_file(), "{f}");
        }
        let pictures = [
            "comparison",
            "curves",
            "exact",
            "vdn",
            "qmix",
            "qtran-base",
            "qtran-alt",
            "iql",
        ];
        for p in pictures {
            let (w, h) = png_size(&run.join("pictures").join(format!("{p}.png")));
            assert!(w >= 400 && h >= 400, "{p}: {w}×{h}");
        }
        let html = std::fs::read_to_string(run.join("report.html")).unwrap();
        assert_self_contained(&html);
        assert_eq!(html.matches("<img ").count(), pictures.len());
        for needle in [
            "Exact analysis",
            "Learned results",
            "Configuration",
            "50.5679",
            "Wilson",
        ] {
            assert!(html.contains(needle), "report lacks {needle:?}");
        }
        // The learned tables are readable by `check`.
        ok(&[
            "check",
            "paper-table1",
            &format!("{r}/tables.csv"),
            "--method",
            "qtran-base",
            "--seed",
            "0",
        ]);
        // Never overwritten silently; --force replaces the directory.
        std::fs::write(run.join("marker"), b"old").unwrap();
        let again = qfactor(&args);
        assert_eq!(
            again.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
        assert!(run.join("marker").exists());
        let mut forced = args.to_vec();
        forced.extend(["--force", "--method", "vdn", "--json"]);
        let out = ok(&forced);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 1);
        assert!(!run.join("marker").exists(), "replaced, not merged");
        assert!(run.join("pictures/vdn.png").exists() && !run.join("pictures/qmix.png").exists());
    }

    #[test]
    fn compare_multi_step_game_draws_every_state() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("two");
        ok(&[
            "compare",
            "two-step",
            "--method",
            "vdn,qtran-base",
            "--seeds",
            "2",
            "--steps",
            "400",
            "--device",
            "cpu",
            "--out",
            run.to_str().unwrap(),
        ]);
        for s in ["1", "2A", "2B"] {
            png_size(&run.join(format!("pictures/comparison-state-{s}.png")));
        }
        assert_self_contained(&std::fs::read_to_string(run.join("report.html")).unwrap());
    }

    #[test]
    fn training_methods_in_parallel_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut tables = Vec::new();
        for jobs in ["1", "2"] {
            let out = dir.path().join(format!("j{jobs}"));
            ok(&[
                "--quiet",
                "train",
                "paper-table1",
                "--method",
                "vdn,qmix",
                "--seeds",
                "2",
                "--steps",
                "400",
                "--device",
                "cpu",
                "--jobs",
                jobs,
                "--out",
                out.to_str().unwrap(),
            ]);
            tables.push(std::fs::read_to_string(out.join("tables.csv")).unwrap());
        }
        assert_eq!(tables[0], tables[1]);
    }

    #[test]
    fn demo_tells_the_story_from_its_own_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("demo");
        let out = ok(&[
            "demo",
            "--steps-scale",
            "0.05",
            "--seeds",
            "2",
            "--out",
            run.to_str().unwrap(),
        ]);
        let text = stdout(&out);
        for needle in [
            "Part 1",
            "Part 2",
            // Exact numbers, computed by the reference in the run.
            "MSE 50.57",
            "MSE 32.00",
            "Theorem 1",
            "VDN's greedy policy returns 7, QMIX's 8",
            "Demo finished in",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        // The step counts it reports are the scaled ones it ran.
        assert!(
            text.contains("400 steps each on the first game, 100 on the second"),
            "{text}"
        );
        for game in ["paper-table1", "two-step"] {
            assert_self_contained(
                &std::fs::read_to_string(run.join(game).join("report.html")).unwrap(),
            );
        }
        let bad = qfactor(&["demo", "--steps-scale", "0"]);
        assert_eq!(bad.status.code(), Some(2));
    }
}
