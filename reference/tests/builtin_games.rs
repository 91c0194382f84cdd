//! Golden tests of the built-in game library: shapes, labels, exact payoffs, states,
//! transitions and γ; the embedded copies equal the files in `data/games/`.

use std::path::PathBuf;

use reference::io::{
    builtins, load_builtin, load_game, penalty_name, penalty_payoff, read_game_file,
    twentyone_payoff, PENALTY_DEFAULT_K,
};
use reference::{Error, Game, Next};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/games")
}

fn labels(g: &Game, i: usize) -> Vec<&str> {
    g.agents[i].actions.iter().map(String::as_str).collect()
}

/// Payoffs are integers or short decimals written exactly in the files, so they compare
/// bit-exactly with the literals below.
fn assert_values(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len());
    for (k, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a.to_bits(), e.to_bits(), "entry {k}: {a} vs {e}");
    }
}

fn assert_matrix_game(name: &str, actions: &[&str], expected: &[f64]) -> Game {
    let g = load_builtin(name).unwrap();
    assert_eq!(g.n_agents(), 2);
    assert_eq!(g.agents[0].name, "agent1");
    assert_eq!(g.agents[1].name, "agent2");
    assert_eq!(labels(&g, 0), actions);
    assert_eq!(labels(&g, 1), actions);
    assert_eq!(g.states.len(), 1);
    assert!(g.is_matrix());
    assert_eq!(g.states[0].next, Next::Terminal);
    assert_eq!(g.gamma.to_bits(), 1f64.to_bits());
    assert_eq!(g.initial, 0);
    assert_values(g.states[0].payoff.values(), expected);
    assert!(g.source.as_deref().is_some_and(|s| !s.is_empty()));
    g
}

#[test]
fn paper_table1() {
    let g = assert_matrix_game(
        "paper-table1",
        &["A", "B", "C"],
        &[8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0],
    );
    assert!(g.source.unwrap().contains("QTRAN"));
}

#[test]
fn climbing() {
    let g = assert_matrix_game(
        "climbing",
        &["a", "b", "c"],
        &[11.0, -30.0, 0.0, -30.0, 7.0, 6.0, 0.0, 0.0, 5.0],
    );
    assert!(g.source.unwrap().contains("Claus & Boutilier 1998"));
}

#[test]
fn qplex_games() {
    let g = assert_matrix_game(
        "qplex-1",
        &["A", "B", "C"],
        &[10.4, 0.0, 10.0, 0.0, 10.0, 10.0, 10.0, 10.0, 10.0],
    );
    assert!(g.source.unwrap().contains("QPLEX"));
    assert_matrix_game(
        "qplex-2",
        &["A", "B", "C"],
        &[8.0, -12.0, -12.0, -12.0, 6.0, 0.0, -12.0, 0.0, 6.0],
    );
}

#[test]
fn penalty_default_equals_generator() {
    let g = assert_matrix_game(
        "penalty",
        &["a", "b", "c"],
        &[10.0, 0.0, -100.0, 0.0, 2.0, 0.0, -100.0, 0.0, 10.0],
    );
    assert_eq!(
        g.states[0].payoff,
        penalty_payoff(PENALTY_DEFAULT_K).unwrap()
    );
    assert_eq!(g.name, penalty_name(PENALTY_DEFAULT_K));
    assert_eq!(load_builtin("penalty:k=-100").unwrap(), g);
}

#[test]
fn penalty_with_k() {
    for (spec, k) in [
        ("penalty:k=0", 0.0),
        ("penalty:k=-25", -25.0),
        ("penalty:k=-50", -50.0),
        ("penalty: K = -75 ", -75.0),
        ("Penalty:k=-12.5", -12.5),
    ] {
        let g = load_game(spec).unwrap();
        assert_values(
            g.states[0].payoff.values(),
            &[10.0, 0.0, k, 0.0, 2.0, 0.0, k, 0.0, 10.0],
        );
        assert_eq!(labels(&g, 0), ["a", "b", "c"]);
        assert_eq!(g.name, format!("Penalty game (k = {k})"));
        assert!(g.source.is_some());
    }
}

#[test]
fn penalty_spec_errors() {
    for (spec, phrase) in [
        ("penalty:k=5", "must be <= 0"),
        ("penalty:k=abc", "not a number"),
        ("penalty:k=inf", "not a finite number"),
        ("penalty:j=1", "no parameter \"j\""),
        ("penalty:k=-1,k=-2", "given twice"),
        ("penalty:k", "KEY=VALUE"),
        ("climbing:k=1", "takes no parameters"),
        (
            "no-such-game",
            "built-ins: paper-table1, twentyone, climbing, penalty",
        ),
    ] {
        match load_game(spec) {
            Err(Error::Input { location, message }) => {
                assert_eq!(location.file, spec);
                assert_eq!(location.line, None);
                assert!(message.contains(phrase), "{spec}: {message}");
            }
            other => panic!("{spec}: {other:?}"),
        }
    }
}

#[test]
fn twentyone_matches_the_formula_everywhere() {
    let g = load_builtin("twentyone").unwrap();
    for alias in ["paper-figure2", "21-action", "TwentyOne"] {
        assert_eq!(load_builtin(alias).unwrap(), g);
    }
    let expected: Vec<String> = (0..21).map(|a| a.to_string()).collect();
    assert_eq!(g.agents[0].actions, expected);
    assert_eq!(g.agents[1].actions, expected);
    assert!(g.note.as_deref().unwrap().contains("re-implementation"));
    let t = &g.states[0].payoff;
    for a1 in 0..21 {
        for a2 in 0..21 {
            let v = t.get(&[a1, a2]);
            // The file was generated from this function and written with round-trip
            // formatting: bit-exact.
            assert_eq!(
                v.to_bits(),
                twentyone_payoff(a1, a2).to_bits(),
                "({a1}, {a2})"
            );
            // Independent check in integers: 9·f1 and 9·f2 are integers.
            let (y, x) = (a1 as i64, a2 as i64);
            let f1_9 = 45 - (15 - x).pow(2) - (5 - y).pow(2);
            let f2_9 = 90 - 9 * (5 - x).pow(2) - 9 * (15 - y).pow(2);
            let r = f1_9.max(f2_9).max(-90) as f64 / 9.0;
            assert!((v - r).abs() <= 1e-12, "({a1}, {a2}): {v} vs {r}"); // rounding only
        }
    }
}

#[test]
fn twentyone_optimum_and_second_peak() {
    let g = load_builtin("twentyone").unwrap();
    let t = &g.states[0].payoff;
    assert_eq!(t.argmax_set(), vec![t.index_of(&[15, 5])]);
    assert_eq!(t.get(&[15, 5]).to_bits(), 10f64.to_bits());
    assert_eq!(t.get(&[5, 15]).to_bits(), 5f64.to_bits());
    // Strict local maxima over the 8-neighbourhood: exactly the two peaks.
    let mut peaks = Vec::new();
    for a1 in 0..21i64 {
        for a2 in 0..21i64 {
            let v = t.get(&[a1 as usize, a2 as usize]);
            let mut strict = true;
            for d1 in -1..=1 {
                for d2 in -1..=1 {
                    let (b1, b2) = (a1 + d1, a2 + d2);
                    if (d1, d2) != (0, 0) && (0..21).contains(&b1) && (0..21).contains(&b2) {
                        strict &= t.get(&[b1 as usize, b2 as usize]) < v;
                    }
                }
            }
            if strict {
                peaks.push((a1, a2, v));
            }
        }
    }
    assert_eq!(peaks, vec![(5, 15, 5.0), (15, 5, 10.0)]);
}

#[test]
fn two_step() {
    let g = load_builtin("two-step").unwrap();
    assert_eq!(g.n_agents(), 2);
    assert_eq!(labels(&g, 0), ["0", "1"]);
    assert_eq!(labels(&g, 1), ["0", "1"]);
    let states: Vec<&str> = g.states.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(states, ["1", "2A", "2B"]);
    assert_eq!(g.initial, 0);
    assert_eq!(g.gamma.to_bits(), 1f64.to_bits());
    assert!(!g.is_matrix());
    assert_values(g.states[0].payoff.values(), &[0.0; 4]);
    assert_values(g.states[1].payoff.values(), &[7.0; 4]);
    assert_values(g.states[2].payoff.values(), &[0.0, 1.0, 1.0, 8.0]);
    // Agent 1's action decides: 0 → 2A, 1 → 2B, whatever agent 2 does.
    assert_eq!(
        g.states[0].next,
        Next::Joint(vec![Some(1), Some(1), Some(2), Some(2)])
    );
    assert_eq!(g.states[1].next, Next::Terminal);
    assert_eq!(g.states[2].next, Next::Terminal);
    assert_eq!(g.topological_order().unwrap().last(), Some(&0));
    assert!(g.source.unwrap().contains("QMIX"));
}

#[test]
fn builtin_list() {
    let list = builtins();
    let names: Vec<&str> = list.iter().map(|b| b.name).collect();
    assert_eq!(
        names,
        [
            "paper-table1",
            "twentyone",
            "climbing",
            "penalty",
            "two-step",
            "qplex-1",
            "qplex-2"
        ]
    );
    for b in &list {
        assert!(!b.title.is_empty() && !b.source.is_empty(), "{}", b.name);
        assert!(b.note.is_some(), "{}", b.name);
        assert_eq!(load_builtin(b.name).unwrap().name, b.title);
        assert_eq!(b.parameters.is_some(), b.name == "penalty");
    }
    assert!(list[1].aliases.contains(&"21-action") && list[1].aliases.contains(&"paper-figure2"));
}

#[test]
fn embedded_copies_equal_the_files_on_disk() {
    for b in builtins() {
        let path = data_dir().join(format!("{}.toml", b.name));
        let from_disk = read_game_file(&path).unwrap();
        assert_eq!(from_disk, load_builtin(b.name).unwrap(), "{}", b.name);
        // A path spec loads the file, not the built-in.
        assert_eq!(load_game(path.to_str().unwrap()).unwrap(), from_disk);
    }
}

#[test]
fn shipped_csv_tables_load_alone() {
    // Each CSV is a valid table on its own (grid or long), with default or header names.
    let g = read_game_file(&data_dir().join("penalty.csv")).unwrap();
    assert_eq!(g.name, "penalty");
    assert_eq!(g.agents[1].name, "agent2");
    assert_eq!(g.states[0].payoff, penalty_payoff(-100.0).unwrap());
    let g = read_game_file(&data_dir().join("twentyone.csv")).unwrap();
    assert_eq!(g.shape(), vec![21, 21]);
    assert!(g.source.is_none());
}
