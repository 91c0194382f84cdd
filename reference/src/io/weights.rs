//! Weight files for weighted ideal projections: a long CSV with one column per agent (named
//! as the game's agents, any order), optionally a first column `state`, and a last column
//! `weight`. Every joint action appears exactly once per state present; weights are finite
//! and ≥ 0 with a positive sum per state.
//!
//! For a weighted fit every action of every agent needs some positive weight (a positive
//! marginal): the utility of an action whose joint actions all weigh 0 is not determined.
//! [`read_weights_for_fit`] (or [`check_weights_for_fit`] after [`read_weights`]) refuses
//! such a file, naming the state, the agent and the action label.
//!
//! Without a `state` column the weights apply to every state. With one, states without rows
//! get uniform weights (all 1).

use std::path::Path;

use crate::error::{Error, Result};
use crate::game::Game;
use crate::io::csv::parse_number;
use crate::io::labels::LabelSet;
use crate::io::long::{read_keyed, KeyedSpec};
use crate::io::text::read_text;
use crate::table::increment;

/// The first (agent, action) whose joint actions all have weight 0 in the row-major `weights`
/// of a table of `shape`.
fn zero_marginal(weights: &[f64], shape: &[usize]) -> Option<(usize, usize)> {
    let mut positive: Vec<Vec<bool>> = shape.iter().map(|&k| vec![false; k]).collect();
    let mut u = vec![0usize; shape.len()];
    for &w in weights {
        if w > 0.0 {
            for (p, &a) in positive.iter_mut().zip(&u) {
                p[a] = true;
            }
        }
        increment(&mut u, shape);
    }
    positive
        .iter()
        .enumerate()
        .find_map(|(i, p)| p.iter().position(|&x| !x).map(|a| (i, a)))
}

/// Reads weights as [`read_weights`] and checks that they determine a weighted least-squares
/// fit (see [`check_weights_for_fit`]): what `analyze --weights` and `check --weights` need,
/// with the refusal naming the file, the agent and the action label.
pub fn read_weights_for_fit(path: &Path, game: &Game) -> Result<Vec<Vec<f64>>> {
    let w = read_weights(path, game)?;
    check_weights_for_fit(&path.display().to_string(), game, &w)?;
    Ok(w)
}

/// Checks per-state weights (as [`read_weights`] returns them) against a weighted fit of
/// utilities: every action of every agent needs a positive marginal weight, otherwise its
/// utility is not determined (the VDN and QMIX projections refuse such weights, naming only
/// an action index). The error is an [`Error::Input`] at `file` naming the state (in a game
/// with several), the agent and the action label.
pub fn check_weights_for_fit(file: &str, game: &Game, weights: &[Vec<f64>]) -> Result<()> {
    let shape = game.shape();
    for (s, w) in weights.iter().enumerate() {
        let Some((i, a)) = zero_marginal(w, &shape) else {
            continue;
        };
        let which = match game.states.get(s) {
            Some(st) if game.states.len() > 1 => format!("state {:?}: ", st.label),
            _ => String::new(),
        };
        let agent = &game.agents[i];
        return Err(Error::input(
            file,
            None,
            format!(
                "{which}agent {} ({:?})'s action {:?} has zero weight: every joint action with \
                 it weighs 0, so its utility is not determined by a weighted fit; give one of \
                 those rows a positive weight",
                i + 1,
                agent.name,
                agent.actions[a]
            ),
        ));
    }
    Ok(())
}

/// Reads per-state weights (row-major, like the game's tables) from `path`.
pub fn read_weights(path: &Path, game: &Game) -> Result<Vec<Vec<f64>>> {
    let text = read_text(path)?;
    parse_weights(&path.display().to_string(), &text, game)
}

/// [`read_weights`] from text; `file` names it in errors.
pub fn parse_weights(file: &str, text: &str, game: &Game) -> Result<Vec<Vec<f64>>> {
    let agents: Vec<String> = game.agents.iter().map(|a| a.name.clone()).collect();
    let labels: Vec<LabelSet> = game
        .agents
        .iter()
        .map(|a| LabelSet::of_game(&a.actions))
        .collect();
    let states: Vec<String> = game.states.iter().map(|s| s.label.clone()).collect();
    let spec = KeyedSpec {
        agents: &agents,
        labels: &labels,
        value_column: "weight",
        states: Some(&states),
    };
    let keyed = read_keyed(file, text, &spec, |line, cell| {
        let w = parse_number(file, line, cell)?;
        if w < 0.0 {
            return Err(Error::input(
                file,
                Some(line),
                format!("weight {w} is negative"),
            ));
        }
        Ok(w)
    })?;
    let size: usize = game.shape().iter().product();
    for (s, t) in keyed.tables.iter().enumerate() {
        if let Some(t) = t {
            // Every weight is finite and ≥ 0, so the sum is positive iff some weight is.
            if t.iter().all(|&w| w <= 0.0) {
                let which = if keyed.has_state_column {
                    format!("state {:?}: ", game.states[s].label)
                } else {
                    String::new()
                };
                return Err(Error::input(
                    file,
                    None,
                    format!("{which}every weight is 0; at least one must be positive"),
                ));
            }
        }
    }
    Ok(if keyed.has_state_column {
        keyed
            .tables
            .into_iter()
            .map(|t| t.unwrap_or_else(|| vec![1.0; size]))
            .collect()
    } else {
        let t = keyed
            .tables
            .into_iter()
            .next()
            .flatten()
            .ok_or_else(|| Error::input(file, None, "the file has a header but no rows"))?;
        vec![t; game.states.len()]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::library::load_builtin;

    #[test]
    fn weights_with_and_without_state_column() {
        let g = load_builtin("two-step").unwrap();
        let w = parse_weights(
            "w",
            "agent2,agent1,weight\n0,0,1\n1,0,2\n0,1,3\n1,1,0\n",
            &g,
        )
        .unwrap();
        assert_eq!(w, vec![vec![1.0, 2.0, 3.0, 0.0]; 3]);
        let w = parse_weights(
            "w",
            "state,agent1,agent2,weight\n2B,0,0,1\n2B,0,1,1\n2B,1,0,1\n2B,1,1,5\n",
            &g,
        )
        .unwrap();
        assert_eq!(w[2], vec![1.0, 1.0, 1.0, 5.0]);
        assert_eq!(w[0], vec![1.0; 4]);
    }

    #[test]
    fn bad_weights() {
        let g = load_builtin("paper-table1").unwrap();
        let rows_with = |other: &str, last: &str| {
            let mut t = String::from("agent1,agent2,weight\n");
            for a in ["A", "B", "C"] {
                for b in ["A", "B", "C"] {
                    let v = if a == "C" && b == "C" { last } else { other };
                    t.push_str(&format!("{a},{b},{v}\n"));
                }
            }
            t
        };
        let rows = |last: &str| rows_with("1", last);
        assert!(parse_weights("w", &rows("2"), &g).is_ok());
        assert!(parse_weights("w", &rows("0"), &g).is_ok());
        let e = parse_weights("w", &rows_with("0", "0"), &g)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least one must be positive"), "{e}");
        for (last, phrase) in [
            ("-1", "negative"),
            ("inf", "finite"),
            ("x", "not a number"),
            ("1e200", "too large"),
        ] {
            let e = parse_weights("w", &rows(last), &g).unwrap_err().to_string();
            assert!(e.contains(phrase), "{last}: {e}");
        }
    }

    #[test]
    fn an_action_without_weight_is_named() {
        let g = load_builtin("paper-table1").unwrap();
        // Agent 2's action B weighs 0 everywhere.
        let mut t = String::from("agent1,agent2,weight\n");
        for a in ["A", "B", "C"] {
            for b in ["A", "B", "C"] {
                t.push_str(&format!("{a},{b},{}\n", if b == "B" { 0 } else { 1 }));
            }
        }
        let w = parse_weights("w.csv", &t, &g).unwrap();
        let e = check_weights_for_fit("w.csv", &g, &w)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("w.csv: ")
                && e.contains("agent 2 (\"agent2\")'s action \"B\" has zero weight"),
            "{e}"
        );
    }
}
