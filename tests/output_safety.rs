//! Outputs never replace what they should not (issue 16): `--force` replaces only regular
//! files and directories qfactor wrote, never devices, FIFOs, symbolic links or foreign
//! directories; paths without a name or under a non-directory are bad input (exit code 2);
//! staging left by dead runs is cleaned up. `analyze --png` runs in every build; the `train`
//! cases need the `neural` feature.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{ok, qfactor};

/// Asserts exit code 2 and returns stderr.
fn bad_input(out: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    err
}

fn png(path: &Path, force: bool) -> Output {
    let p = path.to_str().unwrap();
    let mut args = vec!["analyze", "paper-table1", "--png", p, "--quiet"];
    if force {
        args.push("--force");
    }
    qfactor(&args)
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn is_char_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::symlink_metadata(p)
        .unwrap()
        .file_type()
        .is_char_device()
}

#[cfg(unix)]
fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .expect("mkfifo runs")
        .success();
    assert!(ok, "mkfifo {}", p.display());
}

#[cfg(unix)]
#[test]
fn png_never_replaces_dev_null() {
    for force in [false, true] {
        let err = bad_input(&png(Path::new("/dev/null"), force), "--png /dev/null");
        assert!(err.contains("character device"), "{err}");
        assert!(
            is_char_device(Path::new("/dev/null")),
            "/dev/null was replaced"
        );
    }
}

#[cfg(unix)]
#[test]
fn png_never_replaces_a_fifo_or_a_symlink() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("pipe");
    mkfifo(&fifo);
    let err = bad_input(&png(&fifo, true), "--png FIFO --force");
    assert!(err.contains("FIFO"), "{err}");
    // A link to a device, and one to nothing: the link itself is never replaced.
    let to_null = t.path().join("null.png");
    std::os::unix::fs::symlink("/dev/null", &to_null).unwrap();
    let dangling = t.path().join("dangling.png");
    std::os::unix::fs::symlink(t.path().join("nowhere"), &dangling).unwrap();
    for (link, force) in [(&to_null, true), (&dangling, false), (&dangling, true)] {
        let err = bad_input(&png(link, force), "--png LINK");
        assert!(err.contains("symbolic link"), "{err}");
        assert!(fs::symlink_metadata(link).unwrap().file_type().is_symlink());
    }
    assert!(is_char_device(Path::new("/dev/null")));
    assert!(!t.path().join("nowhere").exists());
    assert_eq!(names(t.path()), ["dangling.png", "null.png", "pipe"]);
}

#[test]
fn png_force_replaces_a_file_or_a_qfactor_directory_but_no_other_directory() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("fig.png");
    fs::write(&file, b"old").unwrap();
    let err = bad_input(&png(&file, false), "--png FILE");
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    ok(&[
        "analyze",
        "paper-table1",
        "--png",
        file.to_str().unwrap(),
        "--force",
        "--quiet",
    ]);
    assert!(fs::read(&file).unwrap().starts_with(b"\x89PNG"));
    // Nothing hidden is left beside it (no .tmp, no .old).
    assert_eq!(names(t.path()), ["fig.png"]);

    let theirs = t.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::write(theirs.join("precious"), b"keep").unwrap();
    let err = bad_input(&png(&theirs, true), "--png DIR --force");
    assert!(
        err.contains("did not write") && err.contains("yourself"),
        "{err}"
    );
    assert_eq!(fs::read(theirs.join("precious")).unwrap(), b"keep");

    let ours = t.path().join("ours");
    fs::create_dir(&ours).unwrap();
    fs::write(ours.join(".qfactor-output"), b"marker").unwrap();
    let out = png(&ours, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ours.is_file());
    assert_eq!(names(t.path()), ["fig.png", "ours", "theirs"]);
}

#[test]
fn png_paths_without_a_name_are_bad_input() {
    let t = tempfile::tempdir().unwrap();
    for p in [PathBuf::from("/"), t.path().join("x/..")] {
        let err = bad_input(&png(&p, true), "--png without a name");
        assert!(err.contains("no final name"), "{err}");
    }
}

#[test]
fn png_under_a_non_directory_says_so() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("file");
    fs::write(&file, b"x").unwrap();
    let mut cases = vec![(file.join("fig.png"), file.clone())];
    if cfg!(unix) {
        cases.push((PathBuf::from("/dev/full/x"), PathBuf::from("/dev/full")));
    }
    for (p, parent) in cases {
        let err = bad_input(&png(&p, false), "--png under a file");
        assert!(
            err.contains(&format!("{} is not a directory", parent.display())),
            "{err}"
        );
        assert!(!err.contains("File exists"), "{err}");
    }
}

#[test]
fn png_removes_temporary_files_of_dead_runs() {
    let t = tempfile::tempdir().unwrap();
    let stale = t.path().join(".fig.png.999999999.tmp");
    fs::write(&stale, b"half").unwrap();
    ok(&[
        "analyze",
        "paper-table1",
        "--png",
        t.path().join("fig.png").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(names(t.path()), ["fig.png"]);
}

/// `train` cases: tiny runs (one seed, 20 steps, VDN).
#[cfg(feature = "neural")]
mod train {
    use super::*;

    fn train(out: &Path, force: bool) -> Output {
        let o = out.to_str().unwrap();
        let mut args = vec![
            "train",
            "paper-table1",
            "--seeds",
            "1",
            "--steps",
            "20",
            "--method",
            "vdn",
            "--device",
            "cpu",
            "--out",
            o,
            "--quiet",
        ];
        if force {
            args.push("--force");
        }
        qfactor(&args)
    }

    #[cfg(unix)]
    #[test]
    fn train_never_replaces_dev_null_a_dangling_link_or_a_foreign_directory() {
        let err = bad_input(&train(Path::new("/dev/null"), true), "--out /dev/null");
        assert!(err.contains("character device"), "{err}");
        assert!(is_char_device(Path::new("/dev/null")));
        let t = tempfile::tempdir().unwrap();
        let link = t.path().join("run");
        std::os::unix::fs::symlink(t.path().join("nowhere"), &link).unwrap();
        let err = bad_input(&train(&link, false), "--out dangling link");
        assert!(err.contains("symbolic link"), "{err}");
        let theirs = t.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        let err = bad_input(&train(&theirs, true), "--out foreign dir --force");
        assert!(err.contains("did not write"), "{err}");
        assert_eq!(names(t.path()), ["run", "theirs"]);
        assert!(names(&theirs).is_empty());
    }

    #[test]
    fn train_paths_without_a_name_or_under_a_device_are_bad_input() {
        let t = tempfile::tempdir().unwrap();
        for p in [PathBuf::from("/"), t.path().join("x/..")] {
            let err = bad_input(&train(&p, true), "--out without a name");
            assert!(err.contains("no final name"), "{err}");
        }
        if cfg!(unix) {
            let err = bad_input(&train(Path::new("/dev/full/x"), false), "--out /dev/full/x");
            assert!(err.contains("/dev/full is not a directory"), "{err}");
        }
    }

    #[test]
    fn train_marks_its_output_replaces_it_with_force_and_cleans_dead_staging() {
        let t = tempfile::tempdir().unwrap();
        let run = t.path().join("run");
        let stale = t.path().join(".run.999999999.partial");
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join("config.json"), b"{}").unwrap();
        let out = train(&run, false);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(run.join(".qfactor-output").is_file());
        assert!(run.join("summary.csv").is_file());
        assert_eq!(names(t.path()), ["run"]);
        let err = bad_input(&train(&run, false), "--out existing");
        assert!(err.contains("already exists"), "{err}");
        let out = train(&run, true);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(names(t.path()), ["run"]);
    }

    #[test]
    fn two_runs_with_the_same_out_never_both_succeed() {
        let t = tempfile::tempdir().unwrap();
        let run = t.path().join("run");
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| train(&run, false));
            let b = s.spawn(|| train(&run, false));
            (a.join().unwrap(), b.join().unwrap())
        });
        let codes = [a.status.code(), b.status.code()];
        assert!(
            codes == [Some(0), Some(2)] || codes == [Some(2), Some(0)],
            "{codes:?}: {} / {}",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        );
        let loser = if codes[0] == Some(2) { &a } else { &b };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(
            err.contains("already exists") || err.contains("appeared"),
            "{err}"
        );
        // A loser at the very end left its finished output beside, and said where.
        let mut left = names(t.path());
        left.retain(|n| n != "run");
        assert!(
            left.iter().all(|n| n.starts_with("run.qfactor-")),
            "{left:?}"
        );
        for n in &left {
            assert!(err.contains(n.as_str()), "{err}");
        }
    }
}
