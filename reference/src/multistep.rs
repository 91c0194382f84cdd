//! Multi-step games: optimal `Q*(s, ·)` by backward induction, and each method's ideal reached
//! the way its TD learning would reach it.
//!
//! For a finite-horizon game with deterministic transitions,
//! `Q*(s, u) = r(s, u) + γ · max_{u'} Q*(s', u')` (zero after a terminal transition), computed
//! leaves first over the acyclic state graph ([`Game::topological_order`]).
//!
//! A value-factorization method does not bootstrap from `Q*`: its TD target uses its own
//! greedy value. The ideal of a method is therefore computed by a *projected* backward
//! induction: at every state, the target table `r(s, u) + γ · V(s')` is projected onto the
//! method's class, and `V(s) = max_u Q_tot(s, u)` of that projection (the value at the
//! agents' greedy joint action, since the classes are monotone in the utilities) is what
//! earlier states bootstrap from. On the QMIX two-step game this makes VDN's ideal choose 2A
//! (value 7) while QMIX's reaches 8.

use crate::error::Result;
use crate::game::Game;
use crate::table::JointTable;
use crate::tol;

/// `Q*(s, ·)` for every state (indexed like `game.states`).
pub fn optimal_q(game: &Game) -> Result<Vec<JointTable>> {
    let (targets, _) = projected_induction(game, |_, t| Ok(t.clone()), |p: &JointTable| p.max())?;
    Ok(targets)
}

/// Backward induction that projects each state's target table.
///
/// `project(state, target)` maps the state's target table to the method's result `P`, and
/// `value(&P)` is the bootstrapped value of that state. Returns, per state, the target table
/// and the projection.
pub fn projected_induction<P>(
    game: &Game,
    mut project: impl FnMut(usize, &JointTable) -> Result<P>,
    value: impl Fn(&P) -> f64,
) -> Result<(Vec<JointTable>, Vec<P>)> {
    game.validate()?;
    let order = game.topological_order()?;
    let n = game.states.len();
    let mut values: Vec<Option<f64>> = vec![None; n];
    let mut targets: Vec<Option<JointTable>> = vec![None; n];
    let mut projections: Vec<Option<P>> = (0..n).map(|_| None).collect();
    for s in order {
        let state = &game.states[s];
        let mut target = state.payoff.clone();
        for (k, v) in target.values_mut().iter_mut().enumerate() {
            if let Some(t) = state.next_of(k) {
                *v += game.gamma * values[t].expect("invariant: successors are solved first");
            }
        }
        let p = project(s, &target)?;
        values[s] = Some(value(&p));
        targets[s] = Some(target);
        projections[s] = Some(p);
    }
    let targets = targets
        .into_iter()
        .map(|t| t.expect("invariant: every state solved"))
        .collect();
    let projections = projections
        .into_iter()
        .map(|p| p.expect("invariant: every state solved"))
        .collect();
    Ok((targets, projections))
}

/// The true return obtained from `start` when every state plays a joint action from
/// `greedy[s]` (a set of flat joint-action indices), as `(min, max)` over the choices among
/// tied greedy joint actions.
pub fn greedy_return(game: &Game, greedy: &[Vec<usize>], start: usize) -> Result<(f64, f64)> {
    let order = game.topological_order()?;
    let n = game.states.len();
    let mut lo = vec![0.0; n];
    let mut hi = vec![0.0; n];
    for s in order {
        let state = &game.states[s];
        let (mut best_lo, mut best_hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &k in &greedy[s] {
            let r = state.payoff.values()[k];
            let (l, h) = match state.next_of(k) {
                Some(t) => (r + game.gamma * lo[t], r + game.gamma * hi[t]),
                None => (r, r),
            };
            best_lo = best_lo.min(l);
            best_hi = best_hi.max(h);
        }
        lo[s] = best_lo;
        hi[s] = best_hi;
    }
    Ok((lo[start], hi[start]))
}

/// Flat indices of the greedy joint actions of a table (its argmax set, ties by [`tol`]).
pub fn greedy_set(table: &JointTable) -> Vec<usize> {
    let m = table.max();
    (0..table.len())
        .filter(|&k| tol::tied(table.values()[k], m))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{Agent, Next, State};

    pub(crate) fn two_step() -> Game {
        let agents: Vec<Agent> = (1..=2)
            .map(|i| Agent {
                name: format!("agent{i}"),
                actions: vec!["0".into(), "1".into()],
            })
            .collect();
        let t = |v: [f64; 4]| JointTable::new(vec![2, 2], v.to_vec()).unwrap();
        Game {
            name: "two-step".into(),
            source: None,
            note: None,
            agents,
            states: vec![
                State {
                    label: "1".into(),
                    payoff: t([0.0; 4]),
                    next: Next::Joint(vec![Some(1), Some(1), Some(2), Some(2)]),
                },
                State {
                    label: "2A".into(),
                    payoff: t([7.0; 4]),
                    next: Next::Terminal,
                },
                State {
                    label: "2B".into(),
                    payoff: t([0.0, 1.0, 1.0, 8.0]),
                    next: Next::Terminal,
                },
            ],
            initial: 0,
            gamma: 1.0,
        }
    }

    #[test]
    fn two_step_optimal_is_8_via_2b() {
        let g = two_step();
        let q = optimal_q(&g).unwrap();
        assert_eq!(q[0].values(), &[7.0, 7.0, 8.0, 8.0]);
        let greedy: Vec<Vec<usize>> = q.iter().map(greedy_set).collect();
        assert_eq!(greedy_return(&g, &greedy, 0).unwrap(), (8.0, 8.0));
    }

    #[test]
    fn discount_applies_to_successors() {
        let mut g = two_step();
        g.gamma = 0.5;
        let q = optimal_q(&g).unwrap();
        assert_eq!(q[0].values(), &[3.5, 3.5, 4.0, 4.0]);
    }
}
