//! End-to-end tests of input that is hostile or simply not what the user meant to give: a
//! manifest naming files outside its folder, files holding secrets, FIFOs and devices, numbers
//! whose squares overflow, and files that look like CSV but are not (semicolons, repeated
//! columns). Each must end with exit code 2 and one message naming the file (and line).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{exits, ok, qfactor, stdout};

/// Asserts a bad-input exit (code 2, no panic, nothing on stdout) whose message holds every
/// needle and none of the forbidden strings; returns the message.
fn refused(out: &Output, needles: &[&str], forbidden: &[&str]) -> String {
    let err = exits(out, 2, &format!("{needles:?}"));
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout for bad input: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in {err:?}");
    }
    for f in forbidden {
        assert!(!err.contains(f), "{f:?} must not appear in {err:?}");
    }
    err
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Runs `qfactor ARGS…`, killing it after `limit` (a read that blocks would hang the test).
#[cfg(unix)]
fn qfactor_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qfactor"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qfactor runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("qfactor {args:?} still runs after {limit:?} (blocked on a read?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
fn mkfifo(path: &Path) -> bool {
    Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

const TABLE: &str = ",A,B\nx,1,2\ny,3,4\n";

#[test]
fn a_manifest_cannot_name_files_outside_its_folder() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "secret/creds.csv", TABLE);
    let games = root.path().join("games");
    write(&games, "inside/t.csv", TABLE);
    let ok_manifest = write(
        &games,
        "ok.toml",
        "name = \"fine\"\nfile = \"inside/t.csv\"\n",
    );
    let out = ok(&["analyze", &ok_manifest, "--json"]);
    assert!(stdout(&out).contains("\"fine\""));

    let up = write(
        &games,
        "up.toml",
        "name = \"sneaky\"\n\nfile = \"../secret/creds.csv\"\n",
    );
    let err = refused(
        &qfactor(&["analyze", &up]),
        &[
            "up.toml:3:",
            "\"../secret/creds.csv\"",
            "outside the manifest's folder",
        ],
        &[],
    );
    assert!(err.contains("--allow-outside-files"), "{err}");
    let passwd = write(&games, "abs.toml", "file = \"/etc/passwd\"\n");
    refused(
        &qfactor(&["analyze", &passwd]),
        &[
            "abs.toml:1:",
            "\"/etc/passwd\"",
            "outside the manifest's folder",
        ],
        &["root:"],
    );
    // A transition file is a file a manifest names too.
    let next = write(
        &games,
        "next.toml",
        "actions = [[\"x\", \"y\"], [\"A\", \"B\"]]\n[[states]]\nlabel = \"a\"\npayoff = [[1, 2], [3, 4]]\nnext_file = \"../secret/creds.csv\"\n[[states]]\nlabel = \"b\"\npayoff = [[1, 2], [3, 4]]\n",
    );
    refused(
        &qfactor(&["analyze", &next]),
        &["next.toml:5:", "outside the manifest's folder"],
        &[],
    );
    // The global flag allows it, before or after the command.
    ok(&["--allow-outside-files", "analyze", &up, "--json"]);
    ok(&["analyze", &up, "--json", "--allow-outside-files"]);
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_out_of_the_folder_counts_as_outside() {
    let root = tempfile::tempdir().unwrap();
    let secret = write(root.path(), "secret/creds.csv", TABLE);
    let games = root.path().join("games");
    std::fs::create_dir_all(&games).unwrap();
    std::os::unix::fs::symlink(&secret, games.join("link.csv")).unwrap();
    std::os::unix::fs::symlink(root.path().join("secret"), games.join("dirlink")).unwrap();
    for target in ["link.csv", "dirlink/creds.csv"] {
        let m = write(&games, "m.toml", &format!("file = \"{target}\"\n"));
        refused(
            &qfactor(&["analyze", &m]),
            &["m.toml:1:", target, "outside the manifest's folder"],
            &[],
        );
        ok(&["--allow-outside-files", "analyze", &m, "--json"]);
    }
    // A link that stays inside is fine.
    write(&games, "real.csv", TABLE);
    std::os::unix::fs::symlink(games.join("real.csv"), games.join("inner.csv")).unwrap();
    let m = write(&games, "m.toml", "file = \"inner.csv\"\n");
    ok(&["analyze", &m, "--json"]);
}

#[test]
fn a_bad_cell_is_quoted_short_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let creds = write(
        dir.path(),
        "creds.csv",
        "user,password\nadmin,s3cr3t-API-KEY-123\n",
    );
    refused(
        &qfactor(&["analyze", &creds]),
        &["creds.csv:2:", "\"s3cr3t-API-K…\" is not a number"],
        &["KEY-123"],
    );
    // Control characters (a terminal escape) are escaped, not printed.
    let esc = write(dir.path(), "esc.csv", ",A\nx,\u{1b}[2Jboom\n");
    let err = refused(
        &qfactor(&["analyze", &esc]),
        &["esc.csv:2:", "\\u{1b}"],
        &[],
    );
    assert!(!err.contains('\u{1b}'), "{err:?}");
    // Labels and factorization cells too.
    let f = write(
        dir.path(),
        "f.csv",
        "table,agent,actions,value\nq_i,1,password=hunter2-and-more,1\n",
    );
    refused(
        &qfactor(&["check", "paper-table1", &f]),
        &["f.csv:2:", "\"password=hun…\""],
        &["hunter2-and-more"],
    );
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.csv");
    if !mkfifo(&fifo) {
        eprintln!("mkfifo is not available; skipped");
        return;
    }
    let limit = Duration::from_secs(20);
    let p = fifo.display().to_string();
    refused(
        &qfactor_within(&["analyze", &p], limit),
        &["pipe.csv", "FIFO"],
        &[],
    );
    let m = write(dir.path(), "m.toml", "name = \"x\"\nfile = \"pipe.csv\"\n");
    refused(
        &qfactor_within(&["analyze", &m], limit),
        &["m.toml:2:", "pipe.csv", "FIFO"],
        &[],
    );
    refused(
        &qfactor_within(&["check", "paper-table1", &p], limit),
        &["pipe.csv", "FIFO"],
        &[],
    );
    refused(
        &qfactor_within(&["analyze", "paper-table1", "--weights", &p], limit),
        &["pipe.csv", "FIFO"],
        &[],
    );
    let m = write(
        dir.path(),
        "dev.toml",
        "name = \"x\"\nfile = \"/dev/zero\"\n",
    );
    refused(
        &qfactor_within(&["--allow-outside-files", "analyze", &m], limit),
        &["dev.toml:2:", "/dev/zero", "device"],
        &[],
    );
    refused(
        &qfactor_within(&["analyze", "/dev/zero"], limit),
        &["/dev/zero", "device"],
        &[],
    );
    let d = dir.path().join("sub.csv");
    std::fs::create_dir(&d).unwrap();
    refused(
        &qfactor(&["analyze", &d.display().to_string()]),
        &["sub.csv", "directory"],
        &[],
    );
}

#[test]
fn numbers_whose_squares_overflow_are_refused_at_read_time() {
    let dir = tempfile::tempdir().unwrap();
    let g = write(dir.path(), "big.csv", ",A,B\nx,1,2\ny,1e308,4\n");
    refused(
        &qfactor(&["analyze", &g]),
        &["big.csv:3:", "\"1e308\" is too large", "1e100"],
        &["inf"],
    );
    let m = write(
        dir.path(),
        "big.toml",
        "actions = [[\"a\", \"b\"], [\"c\", \"d\"]]\npayoff = [\n  [1, 2],\n  [-1e308, 4],\n]\n",
    );
    refused(
        &qfactor(&["analyze", &m]),
        &["big.toml:4:", "payoff[b][c] = -1e308 is too large"],
        &["prefixes"],
    );
    refused(
        &qfactor(&["analyze", "penalty:k=-1e200"]),
        &["penalty:k=-1e200: k = -1e200 is too large"],
        &[],
    );
    let w = write(
        dir.path(),
        "w.csv",
        "agent1,agent2,weight\nA,A,1e300\nA,B,1\nA,C,1\nB,A,1\nB,B,1\nB,C,1\nC,A,1\nC,B,1\nC,C,1\n",
    );
    refused(
        &qfactor(&["analyze", "paper-table1", "--weights", &w]),
        &["w.csv:2:", "too large"],
        &[],
    );
    // The bound itself is accepted.
    let edge = write(dir.path(), "edge.csv", ",A,B\nx,1e100,2\ny,-1e100,4\n");
    ok(&["analyze", &edge, "--json"]);
}

#[test]
fn messages_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let semi = write(dir.path(), "semi.csv", ";A;B\nx;1;2\ny;3;4\n");
    refused(
        &qfactor(&["analyze", &semi]),
        &["semi.csv:1:", "semicolons", "comma-separated"],
        &[],
    );
    let tabs = write(dir.path(), "tabs.csv", "p\tq\treward\nx\ty\t1\n");
    refused(
        &qfactor(&["analyze", &tabs]),
        &["tabs.csv:1:", "tabs", "comma-separated"],
        &[],
    );
    let dup = write(dir.path(), "dup.csv", "p,reward,reward\nx,1,2\ny,3,4\n");
    refused(
        &qfactor(&["analyze", &dup]),
        &["dup.csv:1:", "column `reward` appears twice"],
        &[],
    );
    let f = write(
        dir.path(),
        "f.csv",
        "table,agent,actions,value\nq_i,1,A,1\nq_i,1,B,0\nq_i,1,C,0\nq_i,2,A,1\nq_i,2,B,0\nq_i,2,C,0\nq_jt,1,A A,8\n",
    );
    refused(
        &qfactor(&["check", "paper-table1", &f]),
        &[
            "f.csv:8:",
            "must leave the `agent` cell empty, but it is \"1\"",
        ],
        &["has an empty"],
    );
}
