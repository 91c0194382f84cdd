//! Malformed and hostile input: every case must give `Error::Input` naming the file, the line
//! (when there is one) and the problem, quickly and without panicking.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reference::io::{
    load_game, parse_factorization, read_factorization, read_game_file, read_weights,
    FactorizationFilter,
};
use reference::{Error, Game, Result};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "qfactor-bad-input-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts an input error at `file`:`line` whose message contains `phrase`.
#[track_caller]
fn expect_input<T: std::fmt::Debug>(r: Result<T>, file: &Path, line: Option<usize>, phrase: &str) {
    match r {
        Err(Error::Input { location, message }) => {
            assert_eq!(location.file, file.display().to_string(), "{message}");
            assert_eq!(location.line, line, "{}: {message}", location.file);
            assert!(
                message.contains(phrase),
                "expected {phrase:?} in: {message}"
            );
        }
        other => panic!("expected an input error containing {phrase:?}, got {other:?}"),
    }
}

/// Writes `text` as a game file and asserts the error.
#[track_caller]
fn bad_game(name: &str, text: impl AsRef<[u8]>, line: Option<usize>, phrase: &str) {
    let s = Scratch::new();
    let p = s.write(name, text);
    let start = Instant::now();
    expect_input(read_game_file(&p), &p, line, phrase);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{name}: slow ({:?})",
        start.elapsed()
    );
}

#[test]
fn empty_and_header_only() {
    bad_game("empty.csv", "", None, "the file is empty");
    bad_game("blank.csv", "\n  \n,,\n", None, "the file is empty");
    bad_game("bom.csv", "\u{feff}", None, "the file is empty");
    bad_game("header.csv", ",A,B\n", Some(1), "header but no rows");
    bad_game(
        "header-long.csv",
        "agent1,agent2,reward\r\n\r\n",
        Some(1),
        "header but no rows",
    );
    bad_game(
        "corner.csv",
        "corner\n",
        Some(1),
        "at least one action label",
    );
    bad_game(
        "reward-only.csv",
        "reward\n1\n",
        Some(1),
        "at least one agent column",
    );
}

#[test]
fn ragged_rows() {
    bad_game(
        "ragged.csv",
        ",A,B,C\nA,1,2,3\nB,1,2\n",
        Some(3),
        "has 3 cells but the header has 4",
    );
    bad_game(
        "long.csv",
        "p,q,reward\na,b,1\na,c,2,3\n",
        Some(3),
        "has 4 cells but the header has 3",
    );
}

#[test]
fn bad_numbers() {
    for (cell, phrase) in [
        ("NaN", "not a finite number (NaN)"),
        ("inf", "not a finite number (infinite)"),
        ("-Infinity", "not a finite number (infinite)"),
        ("1e999", "overflows to infinity"),
        ("-1e999", "overflows to infinity"),
        ("twelve", "\"twelve\" is not a number"),
        ("0x10", "not a number"),
        ("", "empty cell"),
    ] {
        bad_game(
            "n.csv",
            format!(",A,B\nA,1,2\nB,3,{cell}\n"),
            Some(3),
            phrase,
        );
        bad_game(
            "n.csv",
            format!("p,q,reward\na,a,1\na,b,{cell}\n"),
            Some(3),
            phrase,
        );
    }
}

#[test]
fn duplicate_and_missing_joint_actions() {
    bad_game(
        "dup.csv",
        "p,q,reward\na,x,1\na,y,2\nb,x,3\na,x,4\nb,y,5\n",
        Some(5),
        "joint action (a, x) appears twice (first on line 2)",
    );
    bad_game(
        "missing.csv",
        "p,q,reward\na,x,1\na,y,2\nb,x,3\n",
        None,
        "joint action (b, y) has no row (1 of 4 joint actions are missing)",
    );
    bad_game(
        "dup1.csv",
        "p,reward\na,1\na,1\n",
        Some(3),
        "appears twice (first on line 2)",
    );
}

#[test]
fn duplicate_labels() {
    bad_game(
        "cols.csv",
        ",A,B,A\nA,1,2,3\n",
        Some(1),
        "action label \"A\" of agent 2 is used twice",
    );
    bad_game(
        "rows.csv",
        ",A,B\nx,1,2\ny,3,4\nx,5,6\n",
        Some(4),
        "used twice (first on line 2)",
    );
    bad_game("names.csv", "p,p,reward\na,b,1\n", Some(1), "same name");
    bad_game(
        "empty-label.csv",
        ",A,\"\"\nx,1,2\n",
        Some(1),
        "empty action label for agent 2",
    );
    bad_game(
        "space-label.csv",
        ",A,\"B C\"\nx,1,2\n",
        Some(1),
        "contains whitespace",
    );
    bad_game(
        "space-long.csv",
        "p,reward\n\"a b\",1\n",
        Some(2),
        "contains whitespace",
    );
}

#[test]
fn binary_garbage() {
    bad_game(
        "nul.csv",
        b",A,B\nx,1,2\ny,\0\0,4\n",
        Some(3),
        "not a UTF-8 text file",
    );
    bad_game(
        "latin1.csv",
        b",A,B\nx,1,2\n\xe9,3,4\n",
        Some(3),
        "not a UTF-8 text file",
    );
    let mut noise = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..100_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    let s = Scratch::new();
    let p = s.write("noise.bin", &noise);
    match read_game_file(&p) {
        Err(Error::Input { location, message }) => {
            assert_eq!(location.file, p.display().to_string());
            assert!(location.line.is_some());
            assert!(message.contains("not a UTF-8 text file"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    bad_game("utf16.csv", b"\xff\xfe,\0A\0", Some(1), "UTF-16");
    bad_game(
        "nul.toml",
        b"name = \"x\"\n\0",
        Some(2),
        "not a UTF-8 text file",
    );
}

#[test]
fn quoting_errors() {
    bad_game("open.csv", ",A,\"B\nx,1,2\n", Some(1), "never closed");
    bad_game(
        "inner.csv",
        ",A,B\nx\"y,1,2\n",
        Some(2),
        "inside an unquoted cell",
    );
    bad_game(
        "after.csv",
        ",A,\"B\"C\nx,1,2\n",
        Some(1),
        "after the closing quote",
    );
}

#[test]
fn astronomically_large_joint_spaces() {
    // 40 agents with two labels each: refused on the line whose label pushes the product
    // past the limit, before any table is allocated.
    let n = 40;
    let header: Vec<String> = (1..=n).map(|i| format!("agent{i}")).collect();
    let text = format!(
        "{},reward\n{},1\n{},2\n",
        header.join(","),
        vec!["0"; n].join(","),
        vec!["1"; n].join(",")
    );
    bad_game("forty.csv", text, Some(3), "40 agents with 2 × 2 × 2");
    // More agent columns than supported.
    let header: Vec<String> = (1..=100).map(|i| format!("g{i}")).collect();
    bad_game(
        "hundred.csv",
        format!("{},reward\n", header.join(",")),
        Some(1),
        "at most 64",
    );
    // A grid 100000 columns wide with two rows: refused from the header line, linearly.
    let mut text = String::from("x");
    for c in 0..100_000 {
        text.push_str(&format!(",c{c}"));
    }
    text.push_str("\nr1,1\nr2,2\n");
    bad_game("wide.csv", &text, Some(1), "more than 65536 cells");
    // 5000 columns: within the lexer's limit, beyond the per-agent one.
    let mut text = String::from("x");
    for c in 0..5000 {
        text.push_str(&format!(",c{c}"));
    }
    text.push_str("\nr1,1\n");
    bad_game("wide5000.csv", &text, Some(1), "at most 4096");
    // 4096 columns but ragged rows: refused at the first row.
    let mut text = String::from("x");
    for c in 0..4096 {
        text.push_str(&format!(",c{c}"));
    }
    text.push_str("\nr1,1,2\n");
    bad_game(
        "wide4096.csv",
        &text,
        Some(2),
        "has 3 cells but the header has 4097",
    );
}

#[test]
fn huge_file_is_refused_before_reading() {
    let s = Scratch::new();
    let p = s.0.join("huge.csv");
    // A sparse file: no disk space used, no data read.
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(300 << 20).unwrap();
    drop(f);
    let start = Instant::now();
    expect_input(read_game_file(&p), &p, None, "larger than 256 MiB");
    assert!(start.elapsed() < Duration::from_secs(1));
    let q = s.0.join("huge.toml");
    std::fs::File::create(&q).unwrap().set_len(5 << 20).unwrap();
    expect_input(read_game_file(&q), &q, None, "larger than 4 MiB");
}

#[test]
fn not_a_file() {
    let s = Scratch::new();
    expect_input(read_game_file(&s.0), &s.0, None, "directory");
    match read_game_file(&s.0.join("absent.csv")) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("absent.csv")),
        other => panic!("{other:?}"),
    }
}

fn good_csv(s: &Scratch, name: &str) -> PathBuf {
    s.write(name, ",A,B\nA,1,2\nB,3,4\n")
}

#[test]
fn manifest_errors() {
    bad_game(
        "unknown.toml",
        "name = \"x\"\ncolour = \"red\"\nfile = \"t.csv\"\n",
        Some(2),
        "unknown field `colour`",
    );
    bad_game(
        "syntax.toml",
        "name = \"x\"\nfile = \"t.csv\n",
        Some(2),
        "invalid manifest",
    );
    bad_game("type.toml", "name = 3\n", Some(1), "invalid manifest");
    bad_game("empty.toml", "", None, "has no table");
    bad_game(
        "ragged.toml",
        "actions = [[\"a\", \"b\"], [\"x\", \"y\"]]\npayoff = [\n  [1, 2],\n  [3, 4, 5],\n]\n",
        Some(4),
        "ragged table: payoff[b] has 3 entries but agent 2 has 2 actions",
    );
    bad_game(
        "shallow.toml",
        "actions = [[\"a\"], [\"x\"]]\npayoff = [1]\n",
        Some(2),
        "is a number where a list",
    );
    bad_game(
        "noactions.toml",
        "payoff = [[1]]\n",
        Some(1),
        "needs action labels",
    );
    bad_game(
        "nan.toml",
        "actions = [[\"a\"]]\npayoff = [nan]\n",
        Some(2),
        "not a finite number",
    );
    bad_game(
        "str.toml",
        "actions = [[\"a\"]]\npayoff = [\"1\"]\n",
        Some(2),
        "a number or an array",
    );
    bad_game(
        "gamma.toml",
        "actions = [[\"a\"]]\npayoff = [1]\ngamma = 1.5\n",
        Some(3),
        "outside [0, 1]",
    );
    bad_game(
        "dupact.toml",
        "actions = [[\"a\", \"a\"]]\npayoff = [1, 2]\n",
        Some(1),
        "used twice",
    );
    bad_game(
        "cycle.toml",
        "actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\nnext = \"t\"\n[[states]]\nlabel = \"t\"\npayoff = [1]\nnext = \"s\"\n",
        None,
        "cycle",
    );
    bad_game(
        "nextunknown.toml",
        "actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\nnext = \"nowhere\"\n",
        Some(5),
        "\"nowhere\" is not a state",
    );
    bad_game(
        "both.toml",
        "actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\nfile = \"x.csv\"\n",
        Some(5),
        "both `file` and `payoff`",
    );
    bad_game(
        "missing.toml",
        "file = \"absent.csv\"\n",
        Some(1),
        "cannot read",
    );
}

#[test]
fn errors_in_referenced_files_name_those_files() {
    let s = Scratch::new();
    let csv = s.write("t.csv", ",A,B\nA,1,2\nB,3,oops\n");
    let m = s.write("m.toml", "name = \"m\"\nfile = \"t.csv\"\n");
    expect_input(read_game_file(&m), &csv, Some(3), "not a number");

    // Label sets differ between states.
    good_csv(&s, "one.csv");
    let two = s.write("two.csv", ",A,C\nA,1,2\nB,3,4\n");
    let m = s.write(
        "states.toml",
        "[[states]]\nlabel = \"1\"\nfile = \"one.csv\"\nnext = \"2\"\n[[states]]\nlabel = \"2\"\nfile = \"two.csv\"\n",
    );
    expect_input(
        read_game_file(&m),
        &two,
        None,
        "action \"C\" is not one of the game's actions",
    );

    // A long CSV whose header disagrees with the declared agent names.
    let long = s.write("l.csv", "p,q,reward\na,x,1\n");
    let m = s.write("names.toml", "agents = [\"u\", \"v\"]\nfile = \"l.csv\"\n");
    expect_input(
        read_game_file(&m),
        &long,
        Some(1),
        "the game's agents are (u, v)",
    );

    // A transition file with an unknown state and a missing joint action.
    let m = s.write(
        "nf.toml",
        "[[states]]\nlabel = \"1\"\nfile = \"one.csv\"\nnext_file = \"next.csv\"\n[[states]]\nlabel = \"2\"\nfile = \"one.csv\"\n",
    );
    let next = s.write(
        "next.csv",
        "agent1,agent2,next\nA,A,2\nA,B,3\nB,A,\nB,B,2\n",
    );
    expect_input(read_game_file(&m), &next, Some(3), "\"3\" is not a state");
    s.write("next.csv", "agent1,agent2,next\nA,A,2\nB,A,\nB,B,2\n");
    expect_input(read_game_file(&m), &next, None, "(A, B) has no row");
    s.write("next.csv", "agent1,agent2,next\nA,A,2\nA,Z,2\n");
    expect_input(read_game_file(&m), &next, Some(3), "unknown action \"Z\"");
    s.write(
        "next.csv",
        "agent1,agent2,next\nA,A,2\nA,B,2\nB,A,\nB,B,2\n",
    );
    assert_eq!(read_game_file(&m).unwrap().states.len(), 2);
}

fn table1() -> Game {
    load_game("paper-table1").unwrap()
}

const Q_I: &str = "q_i,1,A,1\nq_i,1,B,0\nq_i,1,C,0\nq_i,2,A,1\nq_i,2,B,0\nq_i,2,C,0\n";

#[test]
fn factorization_errors() {
    let game = table1();
    let none = FactorizationFilter::default();
    let header = "state,table,agent,actions,value\n";
    let rows = |extra: &str| {
        format!(
            "{header}{}{extra}",
            Q_I.lines().map(|l| format!(",{l}\n")).collect::<String>()
        )
    };
    let cases: Vec<(String, Option<usize>, &str)> = vec![
        (
            rows(",q_jt,,A Z,1\n"),
            Some(8),
            "unknown action \"Z\" for agent 2",
        ),
        (rows(",q_i,3,A,1\n"), Some(8), "not an agent number 1..2"),
        (rows(",q_i,1,D,1\n"), Some(8), "unknown action \"D\""),
        (rows("x,q_i,1,A,1\n"), Some(8), "unknown state \"x\""),
        (
            rows(",q_star,,A A,1\n"),
            Some(8),
            "unknown table \"q_star\"",
        ),
        (
            rows(",q_i,1,A,2\n"),
            Some(8),
            "q_i of agent 1's action \"A\" is given twice (first on line 2)",
        ),
        (
            rows(",v_jt,,,1\n,v_jt,,,2\n"),
            Some(9),
            "v_jt is given twice (first on line 8)",
        ),
        (
            rows(",q_jt,,A A,1\n,q_jt,,A  A,1\n"),
            Some(9),
            "given twice (first on line 8)",
        ),
        (rows(",q_jt,,A,1\n"), Some(8), "must hold 2 labels"),
        (rows(",q_jt,,A A,NaN\n"), Some(8), "not a finite number"),
        (rows(",q_jt,,A A,1e999\n"), Some(8), "overflows"),
        (rows(",q_jt,,A A,x\n"), Some(8), "not a number"),
        (rows(",v_jt,1,,1\n"), Some(8), "empty `agent` and `actions`"),
        (
            rows(",q_jt,,A A,1\n"),
            None,
            "q_jt has no row for joint action (A B) (8 of 9 missing)",
        ),
        (
            rows(",q_tot,,C C,1\n"),
            None,
            "q_tot has no row for joint action (A A)",
        ),
        (
            format!("{header},q_i,1,A,1\n"),
            None,
            "no q_i row for agent 1's action \"B\" (2 missing",
        ),
        (
            format!("{header},q_jt,,A A,1\n"),
            None,
            "no q_i row for agent 1's action \"A\"",
        ),
        (header.to_string(), Some(1), "header but no rows"),
        (String::new(), None, "the file is empty"),
        (
            "state,table,agent,actions\n".to_string(),
            Some(1),
            "missing column `value`",
        ),
        (
            "state,table,agent,actions,value,extra\n".to_string(),
            Some(1),
            "unknown column \"extra\"",
        ),
        (
            "table,table,agent,actions,value\n".to_string(),
            Some(1),
            "appears twice",
        ),
        (
            format!("{header},q_i,1,A\n"),
            Some(2),
            "has 4 cells but the header has 5",
        ),
    ];
    let s = Scratch::new();
    for (k, (text, line, phrase)) in cases.into_iter().enumerate() {
        let p = s.write(&format!("f{k}.csv"), &text);
        expect_input(read_factorization(&p, &game, &none), &p, line, phrase);
    }
    // Multi-state games need the state.
    let two = load_game("two-step").unwrap();
    let p = s.write("two.csv", format!("{header},v_jt,,,1\n"));
    expect_input(
        read_factorization(&p, &two, &none),
        &p,
        Some(2),
        "the state is empty but the game has 3 states",
    );
}

#[test]
fn factorization_method_and_seed_selection() {
    let game = table1();
    let mut text = String::from("method,seed,table,agent,actions,value\n");
    for (m, seed) in [("vdn", "1"), ("vdn", "2"), ("qmix", "1")] {
        for l in Q_I.lines() {
            text.push_str(&format!("{m},{seed},{l}\n"));
        }
    }
    let pick = |m: Option<&str>, s: Option<&str>| FactorizationFilter {
        method: m.map(str::to_string),
        seed: s.map(str::to_string),
    };
    let run = |f: &FactorizationFilter| parse_factorization("f.csv", &text, &game, f);
    for (f, phrase) in [
        (
            pick(None, None),
            "several factorizations (method=vdn seed=1, method=vdn seed=2, method=qmix seed=1)",
        ),
        (
            pick(Some("vdn"), None),
            "several factorizations (method=vdn seed=1, method=vdn seed=2)",
        ),
        (
            pick(None, Some("1")),
            "several factorizations (method=vdn seed=1, method=qmix seed=1)",
        ),
        (
            pick(Some("qtran"), None),
            "no rows match the requested method/seed; the file holds: method=vdn",
        ),
    ] {
        match run(&f) {
            Err(Error::Input { location, message }) => {
                assert_eq!(location.file, "f.csv");
                assert!(message.contains(phrase), "{f:?}: {message}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(run(&pick(Some("qmix"), None)).is_ok());
    assert!(run(&pick(Some("vdn"), Some("2"))).is_ok());
    let plain = format!("table,agent,actions,value\n{Q_I}");
    // Without a `method` column the tables are one method's: a requested method names their
    // class (`qfactor check --method`) and selects every row.
    assert_eq!(
        parse_factorization("g.csv", &plain, &game, &pick(Some("vdn"), None)).unwrap(),
        parse_factorization("g.csv", &plain, &game, &pick(None, None)).unwrap()
    );
}

#[test]
fn weight_errors() {
    let game = table1();
    let s = Scratch::new();
    let full = |last: &str| {
        let mut t = String::from("agent1,agent2,weight\n");
        for a in ["A", "B", "C"] {
            for b in ["A", "B", "C"] {
                t.push_str(&format!(
                    "{a},{b},{}\n",
                    if (a, b) == ("C", "C") { last } else { "0" }
                ));
            }
        }
        t
    };
    for (text, line, phrase) in [
        (full("-1"), Some(10), "weight -1 is negative"),
        (full("0"), None, "every weight is 0"),
        (full("nan"), Some(10), "not a finite number"),
        (
            "agent1,agent2,weight\nA,A,1\n".to_string(),
            None,
            "(A, B) has no row",
        ),
        (
            "agent1,agent2,weight\nA,A,1\nA,A,1\n".to_string(),
            Some(3),
            "appears twice",
        ),
        (
            "agent1,agent2,w\nA,A,1\n".to_string(),
            Some(1),
            "must be named `weight`",
        ),
        (
            "agent1,bob,weight\nA,A,1\n".to_string(),
            Some(1),
            "\"bob\" is not an agent",
        ),
        (
            "state,agent1,agent2,weight\nq,A,A,1\n".to_string(),
            Some(2),
            "unknown state \"q\"",
        ),
    ] {
        let p = s.write("w.csv", &text);
        expect_input(read_weights(&p, &game), &p, line, phrase);
    }
    let p = s.write("w.csv", full("2"));
    let w = read_weights(&p, &game).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0][8].to_bits(), 2f64.to_bits());
}

#[test]
fn fixtures_in_tests_data() {
    // Checked-in fixtures: the same checks against files a user could send.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad");
    for (name, line, phrase) in [
        ("ragged.csv", Some(3), "has 3 cells but the header has 4"),
        ("nan.csv", Some(2), "not a finite number (NaN)"),
        ("overflow.csv", Some(3), "overflows to infinity"),
        ("dup-joint.csv", Some(4), "appears twice (first on line 2)"),
        ("dup-labels.csv", Some(1), "used twice"),
        ("binary.csv", Some(2), "not a UTF-8 text file"),
        ("ragged.toml", Some(5), "ragged table"),
    ] {
        let p = dir.join(name);
        expect_input(read_game_file(&p), &p, line, phrase);
    }
    let good = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/spreadsheet.csv");
    let g = read_game_file(&good).unwrap();
    assert_eq!(g.agents[1].actions, ["A", "B", "C"]);
    assert_eq!(g.states[0].payoff.values()[8].to_bits(), 0.5f64.to_bits());
}

#[test]
fn too_many_states() {
    let mut text = String::from("actions = [[\"a\"]]\n");
    for k in 0..=10_000 {
        text.push_str(&format!("[[states]]\nlabel = \"s{k}\"\npayoff = [1]\n"));
    }
    // State 10001 (index 10000) has its label on line 1 + 3·10000 + 2.
    bad_game("states.toml", &text, Some(30_003), "more than 10000 states");
}
