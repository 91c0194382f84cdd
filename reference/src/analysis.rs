//! The exact analysis of a game, per state: optimal joint actions, IGM-factorizability, and
//! each method's ideal factorization with a verdict. This is what `qfactor analyze` prints.
//!
//! For a multi-step game, `q` is `Q*(s, ·)`; each method's ideal is computed by the projected
//! backward induction of [`crate::multistep`], so its `target` (the bootstrapped table the
//! method projects) can differ from `q` in earlier states.

use serde::Serialize;

use crate::affine::largest_common_scale;
use crate::error::Result;
use crate::exact::Exact;
use crate::game::Game;
use crate::ideal::qmix::QmixOptions;
use crate::ideal::qtran::{qtran_alt, qtran_base, Cond7Solution};
use crate::igm::igm_factorizable;
use crate::multistep::greedy_set;
use crate::qtran::{theorem1, theorem2};
use crate::table::JointTable;
use crate::tol::TIE_TOL;

/// Options of an analysis. The default is meant for interactive use: uniform weights and
/// [`QmixOptions::interactive`], which keeps every analysis to milliseconds; a QMIX
/// projection it cannot certify comes back with `exact: false`, the heuristic method label
/// and a lower bound. Use [`AnalysisOptions::thorough`] (or set `qmix` to
/// [`QmixOptions::default`]) for the full search.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Weights over joint actions per state (uniform when `None`).
    pub weights: Option<Vec<Vec<f64>>>,
    /// Options of the QMIX projection (its work budget, time limit, ordering budget).
    pub qmix: QmixOptions,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            weights: None,
            qmix: QmixOptions::interactive(),
        }
    }
}

impl AnalysisOptions {
    /// Uniform weights and the full QMIX search ([`QmixOptions::default`], about 5–8 s per
    /// state at most).
    pub fn thorough() -> Self {
        AnalysisOptions {
            weights: None,
            qmix: QmixOptions::default(),
        }
    }
}

/// Static description of the game.
#[derive(Debug, Clone, Serialize)]
pub struct GameInfo {
    /// Name.
    pub name: String,
    /// Source citation.
    pub source: Option<String>,
    /// Note (e.g. reconstructed).
    pub note: Option<String>,
    /// Agent names.
    pub agents: Vec<String>,
    /// Action labels per agent.
    pub actions: Vec<Vec<String>>,
    /// State labels.
    pub states: Vec<String>,
    /// Initial state label.
    pub initial: String,
    /// Discount γ.
    pub gamma: f64,
}

impl GameInfo {
    /// Describes `game`.
    pub fn of(game: &Game) -> Self {
        GameInfo {
            name: game.name.clone(),
            source: game.source.clone(),
            note: game.note.clone(),
            agents: game.agents.iter().map(|a| a.name.clone()).collect(),
            actions: game.agents.iter().map(|a| a.actions.clone()).collect(),
            states: game.states.iter().map(|s| s.label.clone()).collect(),
            initial: game.states[game.initial].label.clone(),
            gamma: game.gamma,
        }
    }
}

/// VDN's ideal in one state.
#[derive(Debug, Clone, Serialize)]
pub struct VdnIdeal {
    /// The table VDN projects here (equal to `q` in a matrix game).
    pub target: Vec<f64>,
    /// The projection `Q_tot`.
    pub q_tot: Vec<f64>,
    /// Utilities in the canonical gauge.
    pub utilities: Vec<Vec<f64>>,
    /// Weighted MSE of `q_tot` to `target`.
    pub mse: f64,
    /// Greedy joint actions of `q_tot` (labels).
    pub greedy: Vec<Vec<String>>,
    /// Whether every greedy joint action is optimal for `Q*`.
    pub keeps_optimal: bool,
    /// Always true: the projection is a closed form.
    pub exact: bool,
}

/// QMIX's ideal in one state.
#[derive(Debug, Clone, Serialize)]
pub struct QmixIdeal {
    /// The table QMIX projects here.
    pub target: Vec<f64>,
    /// The projection `Q_tot`.
    pub q_tot: Vec<f64>,
    /// Weighted MSE of `q_tot` to `target`.
    pub mse: f64,
    /// Weighted SSE.
    pub sse: f64,
    /// True only when the global optimum over all orderings is certified.
    pub exact: bool,
    /// How it was found.
    pub method: String,
    /// Each agent's action order, ascending, under which `q_tot` is monotone.
    pub orders: Vec<Vec<String>>,
    /// A lower bound on the optimal SSE, when known.
    pub lower_bound: Option<f64>,
    /// Orderings evaluated.
    pub orderings_evaluated: u64,
    /// Greedy joint actions of `q_tot` (labels).
    pub greedy: Vec<Vec<String>>,
    /// Whether every greedy joint action is optimal for `Q*`.
    pub keeps_optimal: bool,
}

/// QTRAN's ideal in one state: `Q_jt = Q*` with exact utilities and `V_jt`.
#[derive(Debug, Clone, Serialize)]
pub struct QtranIdeal {
    /// Utilities meeting (4) (from the (7) solution when one exists, else the (4) construction).
    pub utilities: Option<Vec<Vec<f64>>>,
    /// `V_jt`.
    pub v_jt: Option<f64>,
    /// `Q'_jt = Σ Q_i`.
    pub q_prime: Option<Vec<f64>>,
    /// Condition (4a) holds for these utilities.
    pub cond_4a: bool,
    /// Condition (4b) holds.
    pub cond_4b: bool,
    /// Condition (7) holds (QTRAN-alt).
    pub cond_7: bool,
    /// "found", "none exists" or "not found" for a (7) solution.
    pub cond_7_status: Cond7Status,
    /// Why (7) has no solution or none was found.
    pub cond_7_reason: Option<String>,
    /// Utilities meeting (4a)/(4b) (the QTRAN-base construction).
    pub base_utilities: Option<Vec<Vec<f64>>>,
    /// Largest common scale `a` of the returned utilities under which (4) still holds
    /// (`null` when unbounded).
    pub affine_scale: Option<f64>,
    /// Whether the greedy joint action is optimal (QTRAN's class is unrestricted).
    pub keeps_optimal: bool,
}

/// The outcome of the search for a QTRAN-alt solution ((4a) and (7)), without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cond7Status {
    /// A verified solution was found.
    #[serde(rename = "found")]
    Found,
    /// Proven: none exists.
    #[serde(rename = "none exists")]
    NoneExists,
    /// None was found; existence is not decided.
    #[serde(rename = "not found")]
    NotFound,
}

impl std::fmt::Display for Cond7Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cond7Status::Found => "found",
            Cond7Status::NoneExists => "none exists",
            Cond7Status::NotFound => "not found",
        })
    }
}

/// One state's analysis.
#[derive(Debug, Clone, Serialize)]
pub struct StateAnalysis {
    /// State label.
    pub state: String,
    /// `Q*(s, ·)`, row-major, agent 1 slowest.
    pub q: Vec<f64>,
    /// Every optimal joint action (labels), ties within the tolerance.
    pub optimal: Vec<Vec<String>>,
    /// Whether the argmax set is a product set.
    pub igm_factorizable: bool,
    /// VDN.
    pub vdn: VdnIdeal,
    /// QMIX.
    pub qmix: QmixIdeal,
    /// QTRAN.
    pub qtran: QtranIdeal,
}

/// Return from the initial state under each method's greedy ideal policy, `[min, max]` over
/// tied greedy choices.
#[derive(Debug, Clone, Serialize)]
pub struct Returns {
    /// Optimal return.
    pub optimal: f64,
    /// VDN's ideal policy.
    pub vdn: [f64; 2],
    /// QMIX's ideal policy.
    pub qmix: [f64; 2],
    /// QTRAN's ideal policy (`Q*` itself).
    pub qtran: [f64; 2],
}

/// The full analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The game.
    pub game: GameInfo,
    /// The relative tie tolerance used.
    pub tolerance: f64,
    /// Per state.
    pub states: Vec<StateAnalysis>,
    /// Returns from the initial state.
    pub returns: Returns,
    /// The typed exact results presented above (not serialized: the fields above are their
    /// JSON form).
    #[serde(skip)]
    pub exact: Exact,
}

fn labels_of(game: &Game, table: &JointTable, set: &[usize]) -> Vec<Vec<String>> {
    set.iter()
        .map(|&k| game.joint_labels(&table.joint_action(k)))
        .collect()
}

/// Analyses `game` exactly.
pub fn analyze(game: &Game, opts: &AnalysisOptions) -> Result<Analysis> {
    let exact = Exact::compute(game, opts.weights.as_deref(), &opts.qmix)?;
    Analysis::of(exact)
}

/// Flat joint-action indices (row-major, agent 1 slowest) of one state's optimum and of each
/// ideal's greedy joint actions: the typed counterparts of the label lists above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateIndices {
    /// Every optimal joint action of `Q*(s, ·)`.
    pub optimal: Vec<usize>,
    /// Greedy joint actions of VDN's ideal.
    pub vdn: Vec<usize>,
    /// Greedy joint actions of QMIX's ideal.
    pub qmix: Vec<usize>,
}

impl Analysis {
    /// The flat indices of state `s`'s optimum and ideals' greedy joint actions.
    pub fn indices(&self, s: usize) -> StateIndices {
        StateIndices {
            optimal: self.exact.truth.optimal[s].clone(),
            vdn: greedy_set(&self.exact.vdn[s].q_tot),
            qmix: greedy_set(&self.exact.qmix[s].q_tot),
        }
    }

    /// Presents exact results computed elsewhere (so that whoever computed them, with
    /// whichever QMIX budget, shows the same numbers it uses).
    pub fn of(exact: Exact) -> Result<Analysis> {
        let game = &exact.truth.game;
        let q_star = &exact.truth.q_star;
        let optimal_sets = &exact.truth.optimal;
        let vdn_greedy = exact.vdn_greedy();
        let qmix_greedy = exact.qmix_greedy();
        let subset = |a: &[usize], b: &[usize]| a.iter().all(|k| b.contains(k));

        let mut states = Vec::with_capacity(game.states.len());
        for (s, state) in game.states.iter().enumerate() {
            let q = &q_star[s];
            let v = &exact.vdn[s];
            let m = &exact.qmix[s];
            states.push(StateAnalysis {
                state: state.label.clone(),
                q: q.values().to_vec(),
                optimal: labels_of(game, q, &optimal_sets[s]),
                igm_factorizable: igm_factorizable(q),
                vdn: VdnIdeal {
                    target: exact.vdn_targets[s].values().to_vec(),
                    q_tot: v.q_tot.values().to_vec(),
                    utilities: v.utilities.0.clone(),
                    mse: v.mse,
                    greedy: labels_of(game, q, &vdn_greedy[s]),
                    keeps_optimal: subset(&vdn_greedy[s], &optimal_sets[s]),
                    exact: true,
                },
                qmix: QmixIdeal {
                    target: exact.qmix_targets[s].values().to_vec(),
                    q_tot: m.q_tot.values().to_vec(),
                    mse: m.mse,
                    sse: m.sse,
                    exact: m.exact,
                    method: m.method.clone(),
                    orders: m
                        .orders
                        .iter()
                        .zip(&game.agents)
                        .map(|(o, a)| o.iter().map(|&i| a.actions[i].clone()).collect())
                        .collect(),
                    lower_bound: m.lower_bound,
                    orderings_evaluated: m.orderings_evaluated,
                    greedy: labels_of(game, q, &qmix_greedy[s]),
                    keeps_optimal: subset(&qmix_greedy[s], &optimal_sets[s]),
                },
                qtran: qtran_ideal(q)?,
            });
        }
        let returns = Returns {
            optimal: exact.truth.greedy_return(optimal_sets)?.0,
            vdn: exact.truth.greedy_return(&vdn_greedy)?.into(),
            qmix: exact.truth.greedy_return(&qmix_greedy)?.into(),
            qtran: exact.truth.greedy_return(optimal_sets)?.into(),
        };
        Ok(Analysis {
            game: GameInfo::of(game),
            tolerance: TIE_TOL,
            states,
            returns,
            exact,
        })
    }
}

fn qtran_ideal(q: &JointTable) -> Result<QtranIdeal> {
    let base = qtran_base(q)?;
    let alt = qtran_alt(q)?;
    let (status, reason, alt_f) = match alt {
        Cond7Solution::Found(f) => (Cond7Status::Found, None, Some(f)),
        Cond7Solution::NoneExists { reason } => (Cond7Status::NoneExists, Some(reason), None),
        Cond7Solution::NotFound { reason } => (Cond7Status::NotFound, Some(reason), None),
    };
    let chosen = alt_f.as_ref().or(base.as_ref());
    let Some(f) = chosen else {
        return Ok(QtranIdeal {
            utilities: None,
            v_jt: None,
            q_prime: None,
            cond_4a: false,
            cond_4b: false,
            cond_7: false,
            cond_7_status: status,
            cond_7_reason: reason,
            base_utilities: None,
            affine_scale: None,
            keeps_optimal: false,
        });
    };
    let t1 = theorem1(q, &f.utilities, Some(f.v_jt))?;
    let t2 = theorem2(q, &f.utilities, Some(f.v_jt))?;
    let scale = largest_common_scale(q, &f.utilities)?;
    Ok(QtranIdeal {
        utilities: Some(f.utilities.0.clone()),
        v_jt: Some(f.v_jt),
        q_prime: Some(f.q_prime.values().to_vec()),
        cond_4a: t1.cond_4a,
        cond_4b: t1.cond_4b,
        cond_7: t2.holds,
        cond_7_status: status,
        cond_7_reason: reason,
        base_utilities: base.map(|b| b.utilities.0),
        affine_scale: scale.scale.is_finite().then_some(scale.scale),
        keeps_optimal: t1.cond_4a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{builtins, load_builtin};

    /// The default is the interactive QMIX budget: every built-in game is analysed at once,
    /// exactly except the 21-action game, whose QMIX ideal is labelled heuristic with a lower
    /// bound.
    #[test]
    fn default_options_are_interactive() {
        assert_eq!(AnalysisOptions::default().qmix, QmixOptions::interactive());
        assert_eq!(AnalysisOptions::thorough().qmix, QmixOptions::default());
        for b in builtins() {
            let game = load_builtin(b.name).unwrap();
            let a = analyze(&game, &AnalysisOptions::default()).unwrap();
            for st in &a.states {
                let m = &st.qmix;
                if b.name == "twentyone" {
                    assert!(!m.exact);
                    assert_eq!(m.method, crate::ideal::qmix::METHOD_LOCAL_SEARCH);
                    assert!(m.lower_bound.is_some_and(|lb| lb > 0.0 && lb <= m.sse));
                } else {
                    assert!(m.exact, "{} state {}: {}", b.name, st.state, m.method);
                    assert_eq!(m.lower_bound, Some(m.sse));
                }
            }
        }
    }
}
