//! Verifying learned tables (from qfactor or any framework) against a game: what
//! `qfactor check` reports.
//!
//! Per state: the utilities' greedy joint action(s); whether they are optimal for the true
//! table `Q*`; IGM against the learned joint table (`q_jt`, else `q_tot`) and against `Q*`;
//! QTRAN's conditions (4a), (4b) and (7) with their largest violations, computed for the
//! learned `Q_jt` when given (else `Q*`) and the learned `V_jt` when given (else its
//! definition `max Q_jt − Σ max Q_i`); and, when IGM holds, the largest common affine scale
//! under which (4) holds.

use serde::Serialize;

use crate::affine::largest_common_scale;
use crate::error::Result;
use crate::game::Game;
use crate::igm::check_igm;
use crate::io::LearnedFactorization;
use crate::multistep::{greedy_set, optimal_q};
use crate::qtran::{theorem1, theorem2};
use crate::table::JointTable;

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
    /// Greedy joint actions of the utilities (the product of each agent's greedy set).
    pub greedy: Vec<Vec<String>>,
    /// Every greedy joint action is optimal for the true table.
    pub optimal: bool,
    /// Which joint table the conditions use: "learned q_jt" or "true table".
    pub q_jt_source: String,
    /// IGM against the learned joint table (`q_jt`, else `q_tot`); `null` when neither given.
    pub igm: Option<bool>,
    /// IGM against the true table.
    pub igm_true: bool,
    /// `V_jt` used.
    pub v_jt: f64,
    /// "learned" or "definition".
    pub v_jt_source: String,
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
    /// Largest common scale of the utilities under which (4) holds (`null` when IGM fails
    /// against the joint table used, or when unbounded).
    pub affine_scale: Option<f64>,
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Game name.
    pub game: String,
    /// Per state with learned entries.
    pub states: Vec<StateCheck>,
    /// Every checked state's greedy action is optimal.
    pub all_optimal: bool,
}

/// Checks learned tables against `game`.
pub fn check(game: &Game, learned: &LearnedFactorization) -> Result<CheckReport> {
    let q_star = optimal_q(game)?;
    let mut states = Vec::new();
    for (s, entry) in learned.states.iter().enumerate() {
        let Some(l) = entry else { continue };
        let truth = &q_star[s];
        let (joint, source): (&JointTable, &str) = match &l.q_jt {
            Some(q) => (q, "learned q_jt"),
            None => (truth, "true table"),
        };
        let learned_joint = l.q_jt.as_ref().or(l.q_tot.as_ref());
        let igm = learned_joint
            .map(|j| check_igm(j, &l.utilities))
            .transpose()?;
        let igm_true = check_igm(truth, &l.utilities)?;
        let t1 = theorem1(joint, &l.utilities, l.v_jt)?;
        let t2 = theorem2(joint, &l.utilities, l.v_jt)?;
        let greedy_sets: Vec<Vec<usize>> = (0..l.utilities.n_agents())
            .map(|i| l.utilities.greedy_set(i))
            .collect();
        let greedy = product(&greedy_sets);
        let optimal_set = greedy_set(truth);
        let optimal = greedy
            .iter()
            .all(|u| optimal_set.contains(&truth.index_of(u)));
        let igm_joint = check_igm(joint, &l.utilities)?;
        let affine_scale = if igm_joint.holds {
            largest_common_scale(joint, &l.utilities)?.scale
        } else {
            f64::INFINITY
        };
        states.push(StateCheck {
            state: game.states[s].label.clone(),
            greedy: greedy.iter().map(|u| game.joint_labels(u)).collect(),
            optimal,
            q_jt_source: source.into(),
            igm: igm.map(|r| r.holds),
            igm_true: igm_true.holds,
            v_jt: t1.v_jt,
            v_jt_source: if l.v_jt.is_some() {
                "learned"
            } else {
                "definition"
            }
            .into(),
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
            mse_true: learned_joint.map(|j| j.mse(truth, None)),
            affine_scale: affine_scale.is_finite().then_some(affine_scale),
        });
    }
    let all_optimal = states.iter().all(|s| s.optimal);
    Ok(CheckReport {
        game: game.name.clone(),
        states,
        all_optimal,
    })
}

/// Cartesian product of per-agent index sets, in row-major order.
fn product(sets: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    for set in sets {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                set.iter().map(move |&a| {
                    let mut p = prefix.clone();
                    p.push(a);
                    p
                })
            })
            .collect();
    }
    out
}
