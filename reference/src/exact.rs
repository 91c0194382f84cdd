//! The exact results of a game, typed and computed once: the truth (`Q*`, the optimal joint
//! actions, the optimal return) and every class's ideal, per state. [`crate::analysis`]
//! presents them (`qfactor analyze`), [`crate::verify`] judges learned tables against them, and
//! the learners' reports measure distances to them; nobody recomputes them with other options.
//!
//! Two notions of "optimal" for a set of greedy joint actions per state, both reported:
//! * **policy optimal** ([`Truth::policy_optimal`]): the greedy policy obtains the optimal
//!   return from the initial state, whichever tied greedy action it takes (what an agent
//!   acting greedily achieves; states off the optimal path do not matter);
//! * **every state optimal** ([`Truth::state_optimal`] in every state): every greedy joint
//!   action of every state is optimal for `Q*(s, ·)`.
//!
//! In a matrix game they coincide.

use crate::error::Result;
use crate::factorization::Factorization;
use crate::game::Game;
use crate::ideal::qmix::{project_qmix, QmixOptions, QmixProjection};
use crate::ideal::vdn::{project_vdn, VdnProjection};
use crate::multistep::{greedy_return, greedy_set, optimal_q, projected_induction};
use crate::table::JointTable;
use crate::tol;

/// The game's true tables and optima.
#[derive(Debug, Clone)]
pub struct Truth {
    /// The game (with the discount it is judged under).
    pub game: Game,
    /// `Q*(s, ·)` per state, by backward induction.
    pub q_star: Vec<JointTable>,
    /// Per state, the flat indices of every optimal joint action (ties by [`tol`]).
    pub optimal: Vec<Vec<usize>>,
    /// The optimal return from the initial state, `max_u Q*(s_0, u)`.
    pub optimal_return: f64,
}

impl Truth {
    /// Solves `game` (validated) exactly.
    pub fn new(game: &Game) -> Result<Truth> {
        let q_star = optimal_q(game)?;
        let optimal = q_star.iter().map(greedy_set).collect();
        let optimal_return = q_star[game.initial].max();
        Ok(Truth {
            game: game.clone(),
            q_star,
            optimal,
            optimal_return,
        })
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.q_star.len()
    }

    /// The true return from the initial state when state `s` plays any of `greedy[s]` (flat
    /// indices), as `(min, max)` over the tied choices.
    pub fn greedy_return(&self, greedy: &[Vec<usize>]) -> Result<(f64, f64)> {
        greedy_return(&self.game, greedy, self.game.initial)
    }

    /// The greedy policy obtains the optimal return from the initial state, whichever tied
    /// greedy action it takes.
    pub fn policy_optimal(&self, greedy: &[Vec<usize>]) -> Result<bool> {
        let (lo, _) = self.greedy_return(greedy)?;
        Ok(tol::tied(lo, self.optimal_return))
    }

    /// Every joint action of `greedy` (flat indices) is optimal in state `s`.
    pub fn state_optimal(&self, s: usize, greedy: &[usize]) -> bool {
        greedy.iter().all(|k| self.optimal[s].contains(k))
    }
}

/// The exact results of a game: the truth and each class's ideal per state, each ideal
/// computed by the projected backward induction of [`crate::multistep`] (its target
/// bootstraps from the projection's own greedy value, as TD learning of that class would).
#[derive(Debug, Clone)]
pub struct Exact {
    /// `Q*`, the optimal joint actions and return.
    pub truth: Truth,
    /// The tables VDN projects, per state (equal to `Q*` in a matrix game).
    pub vdn_targets: Vec<JointTable>,
    /// VDN's exact least-squares projection per state.
    pub vdn: Vec<VdnProjection>,
    /// The tables QMIX projects, per state.
    pub qmix_targets: Vec<JointTable>,
    /// QMIX's global monotonic projection per state (exact or heuristic: see its `exact`).
    pub qmix: Vec<QmixProjection>,
    /// The QMIX search options used.
    pub qmix_options: QmixOptions,
}

impl Exact {
    /// Computes the exact results of `game` with per-state `weights` (uniform when `None`)
    /// and the QMIX search options `qmix`.
    pub fn compute(game: &Game, weights: Option<&[Vec<f64>]>, qmix: &QmixOptions) -> Result<Exact> {
        Exact::with_truth(Truth::new(game)?, weights, qmix)
    }

    /// [`Exact::compute`] for a game already solved (`truth`), so that its `Q*` is not
    /// solved twice.
    pub fn with_truth(
        truth: Truth,
        weights: Option<&[Vec<f64>]>,
        qmix: &QmixOptions,
    ) -> Result<Exact> {
        let game = &truth.game;
        let weights_of = |s: usize| weights.map(|w| w[s].as_slice());
        let (vdn_targets, vdn) = projected_induction(
            game,
            |s, t| project_vdn(t, weights_of(s)),
            |p: &VdnProjection| p.q_tot.max(),
        )?;
        let (qmix_targets, qmix_p) = projected_induction(
            game,
            |s, t| {
                let mut o = qmix.clone();
                o.weights = weights_of(s).map(<[f64]>::to_vec);
                project_qmix(t, &o)
            },
            |p: &QmixProjection| p.q_tot.max(),
        )?;
        Ok(Exact {
            truth,
            vdn_targets,
            vdn,
            qmix_targets,
            qmix: qmix_p,
            qmix_options: qmix.clone(),
        })
    }

    /// True when every state's QMIX projection is proven globally optimal.
    pub fn qmix_exact(&self) -> bool {
        self.qmix.iter().all(|p| p.exact)
    }

    /// VDN's ideal per state as factorizations.
    pub fn vdn_factorizations(&self) -> Vec<Factorization> {
        self.vdn.iter().map(Factorization::vdn).collect()
    }

    /// QMIX's ideal per state as factorizations (rank utilities, see
    /// [`Factorization::qmix`]); `None` where the orders do not give utilities.
    pub fn qmix_factorizations(&self) -> Vec<Option<Factorization>> {
        self.qmix.iter().map(Factorization::qmix).collect()
    }

    /// Per state, the greedy joint actions (flat indices) of VDN's ideal `Q_tot`.
    pub fn vdn_greedy(&self) -> Vec<Vec<usize>> {
        self.vdn.iter().map(|p| greedy_set(&p.q_tot)).collect()
    }

    /// Per state, the greedy joint actions (flat indices) of QMIX's ideal `Q_tot`.
    pub fn qmix_greedy(&self) -> Vec<Vec<usize>> {
        self.qmix.iter().map(|p| greedy_set(&p.q_tot)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::load_builtin;

    /// The two notions of optimal differ on the two-step game: a policy that is greedy-optimal
    /// on its path but not in the state it never visits is policy optimal only.
    #[test]
    fn policy_and_state_optimality_are_distinct() {
        let mut game = load_builtin("two-step").unwrap();
        // Make state 2A (off the optimal path 1 → 2B) non-constant, so that it has a
        // non-optimal joint action.
        let s2a = game.states.iter().position(|s| s.label == "2A").unwrap();
        game.states[s2a].payoff.values_mut()[3] = 6.0;
        let t = Truth::new(&game).unwrap();
        assert!(t.policy_optimal(&t.optimal).unwrap());
        assert!((0..t.n_states()).all(|s| t.state_optimal(s, &t.optimal[s])));
        // Play each state's worst joint action in one state off the optimal path.
        let (lo, _) = t.greedy_return(&t.optimal).unwrap();
        assert!(tol::tied(lo, t.optimal_return));
        let mut found = false;
        for s in 0..t.n_states() {
            let worst = t.q_star[s]
                .values()
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(k, _)| k)
                .unwrap();
            if t.state_optimal(s, &[worst]) {
                continue; // every joint action is optimal here (a constant table)
            }
            let mut greedy = t.optimal.clone();
            greedy[s] = vec![worst];
            found |= t.policy_optimal(&greedy).unwrap();
        }
        assert!(found, "some state lies off the optimal path");
    }

    #[test]
    fn ideals_match_direct_projections_in_a_matrix_game() {
        let game = load_builtin("paper-table1").unwrap();
        let e = Exact::compute(&game, None, &QmixOptions::default()).unwrap();
        let q = &e.truth.q_star[0];
        assert_eq!(&e.vdn_targets[0], q);
        assert_eq!(e.vdn[0], project_vdn(q, None).unwrap());
        assert_eq!(e.qmix[0], project_qmix(q, &QmixOptions::default()).unwrap());
        assert!(e.qmix_exact());
    }
}
