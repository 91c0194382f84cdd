//! Verifying learned tables (from qfactor or any framework) against a game: what
//! `qfactor check` reports.
//!
//! Per state: the utilities' greedy joint action(s); whether they are optimal for the true
//! table `Q*`; IGM against the learned joint table (`q_jt`, else `q_tot`) and against `Q*`;
//! QTRAN's conditions (4a), (4b) and (7) with their largest violations, computed for the
//! learned `Q_jt` when given (else `Q*`) and the learned `V_jt` when given (else its
//! definition `max Q_jt − Σ max Q_i`); and, when IGM holds, the largest common affine scale
//! under which (4) holds. With the class's exact ideal ([`check_with`]), also the learned
//! joint table's distance to it.
//!
//! Per game: both notions of optimality of [`crate::exact`] — every checked state's greedy
//! joint actions optimal (`all_optimal`), and the greedy policy's return from the initial
//! state equal to the optimal return (`policy_optimal`, with the return itself).
//!
//! This is the only verifier: `qfactor check` runs it on a file, and `qfactor train` and
//! `compare` run it on every seed in process (the learners' tables become
//! [`crate::Factorization`]s) and fold its reports into their summaries.

use serde::Serialize;

use crate::affine::largest_common_scale;
use crate::error::{Error, Result};
use crate::exact::Truth;
use crate::factorization::{JointKind, LearnedFactorization};
use crate::game::Game;
use crate::igm::{check_igm, check_igm_within, greedy_attains_max};
use crate::qtran::{theorem1_within, theorem2_within};
use crate::table::JointTable;
use crate::tol::Tolerance;

/// Which joint table QTRAN's conditions were computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum QjtSource {
    /// The learned `Q_jt`.
    #[serde(rename = "learned q_jt")]
    Learned,
    /// The true table `Q*` (no learned `Q_jt` was given).
    #[serde(rename = "true table")]
    TrueTable,
}

impl QjtSource {
    /// As written in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            QjtSource::Learned => "learned q_jt",
            QjtSource::TrueTable => "true table",
        }
    }
}

/// Where the `V_jt` used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VjtSource {
    /// Given with the learned tables.
    #[serde(rename = "learned")]
    Learned,
    /// Its definition `max Q_jt − Σ max Q_i`.
    #[serde(rename = "definition")]
    Definition,
}

impl VjtSource {
    /// As written in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            VjtSource::Learned => "learned",
            VjtSource::Definition => "definition",
        }
    }
}
/// Per-agent result of condition (7).
#[derive(Debug, Clone, Serialize)]
pub struct Cond7Check {
    /// Agent (1-based).
    pub agent: usize,
    /// Whether (7) holds for this agent.
    pub holds: bool,
    /// Largest |min_{u_i} D(u_i, u_−i)| over u ∉ G.
    pub max_residual: f64,
}

/// One state's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct StateCheck {
    /// State label.
    pub state: String,
    /// Greedy joint actions of the utilities (the product of each agent's greedy set, ties
    /// decided by the report's tolerance).
    pub greedy: Vec<Vec<String>>,
    /// Every greedy joint action is optimal for the true table (this state's optimality;
    /// see [`CheckReport::policy_optimal`] for the greedy policy's).
    pub optimal: bool,
    /// What the learned joint table is (`q_jt` or `q_tot`), when one is given.
    pub joint_kind: Option<JointKind>,
    /// Which joint table the conditions use: "learned q_jt" or "true table".
    pub q_jt_source: QjtSource,
    /// IGM against the learned joint table (`q_jt`, else `q_tot`), to the report's tolerance:
    /// every greedy joint action of the utilities attains the joint table's maximum
    /// ([`crate::igm::greedy_attains_max`]). VDN's `q_tot` and a monotonic QMIX `q_tot` meet
    /// it by construction, so for them it says nothing about optimality; for QTRAN it says
    /// whether the utilities execute `q_jt`'s choice. `null` when no joint table is given.
    pub igm: Option<bool>,
    /// IGM against the true table, as a set: the true table's optimal joint actions are
    /// exactly the product of the utilities' greedy sets (ties among the utilities to the
    /// tolerance, the true table's ties exact). Stricter than `optimal`, which asks only that
    /// every greedy joint action be optimal.
    pub igm_true: bool,
    /// `V_jt` used.
    pub v_jt: f64,
    /// "learned" or "definition".
    pub v_jt_source: VjtSource,
    /// (4a).
    pub cond_4a: bool,
    /// max |D| over greedy joint actions.
    pub violation_4a: f64,
    /// (4b).
    pub cond_4b: bool,
    /// max(0, −min D) over non-greedy joint actions.
    pub violation_4b: f64,
    /// (7) for every agent.
    pub cond_7: bool,
    /// (7) per agent.
    pub cond_7_agents: Vec<Cond7Check>,
    /// MSE of the learned joint table to the true table, when a learned joint is given.
    pub mse_true: Option<f64>,
    /// MSE of the learned joint table to the class's exact ideal, when one was given to
    /// [`check_with`] (left out of the output otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mse_ideal: Option<f64>,
    /// Largest common scale of the utilities under which (4) holds (`null` when exact IGM
    /// fails against the joint table used, or when unbounded).
    pub affine_scale: Option<f64>,
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Game name.
    pub game: String,
    /// The tolerance for learned values every verdict below was decided with.
    pub tolerance: Tolerance,
    /// Per state with learned entries.
    pub states: Vec<StateCheck>,
    /// Labels of the states without any learned entries (not checked).
    pub unchecked: Vec<String>,
    /// Every checked state's greedy joint actions are all optimal ("every state optimal").
    pub all_optimal: bool,
    /// The greedy policy obtains the optimal return from the initial state, whichever tied
    /// greedy action it takes ("policy optimal"); `null` when some state has no learned
    /// entries (the policy is then not defined there). Equal to `all_optimal` in a matrix game.
    pub policy_optimal: Option<bool>,
    /// The greedy policy's true return from the initial state, `[min, max]` over tied greedy
    /// actions (`null` as for `policy_optimal`).
    pub greedy_return: Option<[f64; 2]>,
    /// The optimal return from the initial state.
    pub optimal_return: f64,
}

/// Checks learned tables against `game`, to the default tolerance for learned values
/// ([`Tolerance::LEARNED`]).
pub fn check(game: &Game, learned: &LearnedFactorization) -> Result<CheckReport> {
    check_with(&Truth::new(game)?, learned, None, &Tolerance::LEARNED)
}

/// Checks learned tables against the solved game `truth`; with `ideal` (one table per state,
/// the exact ideal of the learner's class), also measures each learned joint table's MSE to
/// it. Ties among learned values and QTRAN's equalities are decided by `tolerance` (learned
/// values are f32 approximations; the true table's own ties stay exact). This is the only
/// verifier: `qfactor check`, `train` and `compare` all use it.
pub fn check_with(
    truth: &Truth,
    learned: &LearnedFactorization,
    ideal: Option<&[JointTable]>,
    tolerance: &Tolerance,
) -> Result<CheckReport> {
    let game = &truth.game;
    if learned.states.len() != truth.n_states() {
        return Err(Error::Invalid(format!(
            "the factorization has {} states but the game has {}",
            learned.states.len(),
            truth.n_states()
        )));
    }
    if let Some(ideal) = ideal {
        if ideal.len() != truth.n_states() {
            return Err(Error::Invalid(format!(
                "{} ideal tables for a game of {} states",
                ideal.len(),
                truth.n_states()
            )));
        }
    }
    let mut states = Vec::new();
    let mut unchecked = Vec::new();
    let mut greedy_all: Vec<Vec<usize>> = Vec::with_capacity(learned.states.len());
    for (s, entry) in learned.states.iter().enumerate() {
        let Some(l) = entry else {
            unchecked.push(game.states[s].label.clone());
            continue;
        };
        let truth_s = &truth.q_star[s];
        let (joint, source): (&JointTable, QjtSource) = match l.q_jt() {
            Some(q) => (q, QjtSource::Learned),
            None => (truth_s, QjtSource::TrueTable),
        };
        let learned_joint = l.joint_table();
        let igm = learned_joint
            .map(|j| greedy_attains_max(j, &l.utilities, tolerance))
            .transpose()?;
        let igm_true = check_igm_within(truth_s, &l.utilities, tolerance)?.holds;
        let t1 = theorem1_within(joint, &l.utilities, l.v_jt, tolerance)?;
        let t2 = theorem2_within(joint, &l.utilities, l.v_jt, tolerance)?;
        let greedy = l.utilities.greedy_joint_actions_within(tolerance);
        let greedy_flat: Vec<usize> = greedy.iter().map(|u| truth_s.index_of(u)).collect();
        let optimal = truth.state_optimal(s, &greedy_flat);
        let affine_scale = if check_igm(joint, &l.utilities)?.holds {
            largest_common_scale(joint, &l.utilities)?.scale
        } else {
            f64::INFINITY
        };
        states.push(StateCheck {
            state: game.states[s].label.clone(),
            greedy: greedy.iter().map(|u| game.joint_labels(u)).collect(),
            optimal,
            joint_kind: l.joint.as_ref().map(|j| j.kind),
            q_jt_source: source,
            igm,
            igm_true,
            v_jt: t1.v_jt,
            v_jt_source: if l.v_jt.is_some() {
                VjtSource::Learned
            } else {
                VjtSource::Definition
            },
            cond_4a: t1.cond_4a,
            violation_4a: t1.violation_4a,
            cond_4b: t1.cond_4b,
            violation_4b: t1.violation_4b,
            cond_7: t2.holds,
            cond_7_agents: t2
                .agents
                .iter()
                .map(|a| Cond7Check {
                    agent: a.agent + 1,
                    holds: a.holds,
                    max_residual: a.max_residual,
                })
                .collect(),
            mse_true: learned_joint.map(|j| j.mse(truth_s, None)),
            mse_ideal: ideal.and_then(|i| learned_joint.map(|j| j.mse(&i[s], None))),
            affine_scale: affine_scale.is_finite().then_some(affine_scale),
        });
        greedy_all.push(greedy_flat);
    }
    let all_optimal = states.iter().all(|s| s.optimal);
    let complete = greedy_all.len() == truth.n_states();
    let greedy_return = if complete {
        let (lo, hi) = truth.greedy_return(&greedy_all)?;
        Some([lo, hi])
    } else {
        None
    };
    let policy_optimal = if complete {
        Some(truth.policy_optimal(&greedy_all)?)
    } else {
        None
    };
    Ok(CheckReport {
        game: game.name.clone(),
        tolerance: *tolerance,
        states,
        unchecked,
        all_optimal,
        policy_optimal,
        greedy_return,
        optimal_return: truth.optimal_return,
    })
}
