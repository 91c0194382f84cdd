//! Everything the demo's story states, computed from a [`Study`] with no text in it: counts of
//! optimal seeds, MSEs, fits under learned orders, greedy destinations, the tables shown as
//! evidence, and for every place where the story branches, which outcome this run had.
//! [`super::prose`] turns these into words.

use crate::present::render::joint_list;
use crate::story::{seed_return, split_means};
use crate::study::{Shown, Study};
use anyhow::{Context, Result};
use neural::config::Method;
use reference::ideal::qmix::project_qmix_with_orders;

/// Theorem 1 on learned tables (32-bit, trained on noisy samples) is checked up to this share
/// of the payoff's range: exact equality in (4a) is not to be expected from SGD.
pub const THEOREM1_TOLERANCE: f64 = 0.05;

/// What rendering a table needs besides the table: the action labels and, per state, the flat
/// indices of the true optimum.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    /// Action labels per agent.
    pub actions: Vec<Vec<String>>,
    /// Per state, the flat indices of the true optimum.
    pub optimal: Vec<Vec<usize>>,
}

impl Board {
    /// The board of `study`'s game.
    pub fn of(study: &Study) -> Board {
        Board {
            actions: study.actions().to_vec(),
            optimal: (0..study.data.n_states())
                .map(|s| study.optimal(s))
                .collect(),
        }
    }
}

/// The share of a run's seeds whose greedy policy is optimal, with its Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// Point estimate, 0–1.
    pub rate: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
}

impl Share {
    /// Run `k`'s share.
    pub fn of(study: &Study, k: usize) -> Share {
        let r = &study.rows[k];
        Share {
            rate: r.optimal_rate,
            lo: r.optimal_rate_lo,
            hi: r.optimal_rate_hi,
        }
    }
}

/// How many seeds of a run are greedy at an optimal joint action, of how many.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeds {
    /// Seeds whose greedy policy is optimal.
    pub optimal: usize,
    /// Seeds in the run.
    pub total: usize,
    /// Their share, with its interval.
    pub share: Share,
    /// The per-seed greedy joint actions (labels) in the initial state with how many seeds
    /// chose each, most common first.
    pub greedy: Vec<(String, usize)>,
}

impl Seeds {
    /// Seeds whose greedy policy is not optimal.
    pub fn lost(&self) -> usize {
        self.total - self.optimal
    }

    fn of(study: &Study, k: usize) -> Seeds {
        Seeds {
            optimal: study.verdicts[k].iter().filter(|s| s.optimal).count(),
            total: study.runs[0].config.seeds,
            share: Share::of(study, k),
            greedy: study.greedy_counts(k, study.data.game.initial),
        }
    }
}

/// Part 1: the QTRAN paper's matrix game.
#[derive(Debug, Clone)]
pub struct MatrixFacts {
    /// For rendering the tables.
    pub board: Board,
    /// The optimal joint actions, as `(A, A)`.
    pub opt: String,
    /// The optimum's payoff.
    pub q_max: f64,
    /// The payoff table.
    pub payoff: Shown,
    /// Whether the payoff's argmax set is a product set.
    pub igm_factorizable: bool,
    /// VDN's part, when it was trained.
    pub vdn: Option<VdnFacts>,
    /// QMIX's part, when it was trained.
    pub qmix: Option<QmixFacts>,
    /// QTRAN-base's and QTRAN-alt's parts, those trained, in that order.
    pub qtran: Vec<QtranFacts>,
}

/// VDN on the matrix game.
#[derive(Debug, Clone)]
pub struct VdnFacts {
    /// Whether the exact least-squares projection keeps the optimum.
    pub keeps_optimal: bool,
    /// The projection's MSE.
    pub mse: f64,
    /// The projection's greedy joint actions, as `(A, A)`.
    pub greedy: String,
    /// The projection's value at the (first) optimal joint action.
    pub value_at_optimum: f64,
    /// The learners' seeds.
    pub seeds: Seeds,
    /// The learned tables' mean MSE to the projection (NaN when not measured).
    pub mse_ideal: f64,
    /// How the learners came out.
    pub outcome: VdnOutcome,
    /// The learned and the ideal tables shown.
    pub tables: Vec<Shown>,
}

/// How VDN's learners came out relative to their class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VdnOutcome {
    /// No seed picks the optimum.
    NoneOptimal,
    /// Some seeds pick it, and the class allows it.
    AsClassAllows,
    /// Some seeds pick it although the class does not keep it: not yet at the projection.
    NotYetAtProjection,
}

/// QMIX on the matrix game.
#[derive(Debug, Clone)]
pub struct QmixFacts {
    /// Whether the global monotonic projection keeps the optimum.
    pub keeps_optimal: bool,
    /// Whether that projection is proven global.
    pub exact: bool,
    /// Its MSE.
    pub mse: f64,
    /// Its greedy joint actions, as `(A, A)`.
    pub greedy: String,
    /// Each agent's action order (ascending) under which it is monotone.
    pub orders: Vec<Vec<String>>,
    /// The learners' seeds.
    pub seeds: Seeds,
    /// For the seeds that lost the optimum (those whose fit exists), the range of the MSEs of
    /// the best tables monotone along the orders their utilities imply; none without such fits.
    pub lost_fit_range: Option<FitRange>,
    /// Of those fits, how many would still keep the optimum.
    pub lost_fit_keeps: usize,
    /// The representative seed's mean learned `Q_tot` in the optimum's rows and columns.
    pub along: f64,
    /// Its mean elsewhere (none when there is no elsewhere).
    pub elsewhere: Option<f64>,
    /// The action every agent plays at the (first) optimum, when it is the same for all.
    pub along_action: Option<String>,
    /// The representative seed's MSE to the payoff.
    pub rep_mse: f64,
    /// How the learners came out.
    pub outcome: QmixOutcome,
    /// The learned and the ideal tables shown.
    pub tables: Vec<Shown>,
}

/// A range of MSEs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitRange {
    /// Smallest.
    pub lo: f64,
    /// Largest.
    pub hi: f64,
    /// Whether the two ends are the same to the shown precision.
    pub tied: bool,
}

impl FitRange {
    /// The range of `fits`, none when empty.
    pub fn of(fits: &[f64]) -> Option<FitRange> {
        if fits.is_empty() {
            return None;
        }
        let lo = fits.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = fits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(FitRange {
            lo,
            hi,
            tied: (hi - lo).abs() < 5e-3,
        })
    }
}

/// How QMIX's learners came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QmixOutcome {
    /// Some seeds lost the optimum; the verdict says what that means.
    SomeLost(QmixVerdict),
    /// Every seed kept it.
    AllKept,
}

/// What losing the optimum means for QMIX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QmixVerdict {
    /// The class keeps it and no seed did: a failure of optimisation.
    Optimisation,
    /// The class keeps it and some seeds did.
    SomeKept,
    /// The class does not keep it (its paragraph has said so).
    Class,
}

/// QTRAN-base or QTRAN-alt on the matrix game.
#[derive(Debug, Clone)]
pub struct QtranFacts {
    /// The method's display name.
    pub name: String,
    /// The learners' seeds.
    pub seeds: Seeds,
    /// Theorem 1's tolerance in payoff units.
    pub tol: f64,
    /// Theorem 1's tolerance as a share of the payoff's range.
    pub tol_share: f64,
    /// Median |(4a) residual| over the seeds.
    pub median_4a: f64,
    /// Largest |(4a) residual|.
    pub max_4a: f64,
    /// Largest (4b) violation.
    pub max_4b: f64,
    /// Seeds meeting Theorem 1 within `tol`.
    pub n_theorem1: usize,
    /// Seeds whose utilities' greedy action is also the learned `Q_jt`'s.
    pub n_igm: usize,
    /// The learned tables shown (without `Q'_jt`).
    pub tables: Vec<Shown>,
    /// Whether the learners had a `V_jt` network (off by default: then `V_jt = 0`).
    pub v_jt_learned: bool,
}

/// Computes part 1's facts.
pub fn matrix(study: &Study) -> Result<MatrixFacts> {
    let st = &study.analysis.states[0];
    let opt = joint_list(&st.optimal);
    let q = &study.exact().truth.q_star[0];
    let optimal_idx = study.optimal(0);
    let payoff = Shown {
        title: "payoff Q".into(),
        note: format!("optimum {opt} = {}", q.max()),
        values: st.q.clone(),
        utilities: None,
        greedy: Vec::new(),
    };

    let vdn = study.run_of(Method::Vdn).map(|k| {
        let v = &st.vdn;
        let seeds = Seeds::of(study, k);
        let outcome = if seeds.optimal == 0 {
            VdnOutcome::NoneOptimal
        } else if v.keeps_optimal {
            VdnOutcome::AsClassAllows
        } else {
            VdnOutcome::NotYetAtProjection
        };
        let mut tables = study.learned(k, 0);
        tables.extend(study.ideal(k, 0));
        VdnFacts {
            keeps_optimal: v.keeps_optimal,
            mse: v.mse,
            greedy: joint_list(&v.greedy),
            value_at_optimum: study.exact().vdn[0]
                .q_tot
                .get(&study.data.joint_actions[optimal_idx[0]]),
            seeds,
            mse_ideal: study.rows[k].mse_ideal.unwrap_or(f64::NAN),
            outcome,
            tables,
        }
    });

    let qmix = match study.run_of(Method::Qmix) {
        None => None,
        Some(k) => Some(qmix_facts(study, k)?),
    };

    let range = q.values().iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - q.values().iter().copied().fold(f64::INFINITY, f64::min);
    let tol = THEOREM1_TOLERANCE * range;
    let qtran = [Method::QtranBase, Method::QtranAlt]
        .into_iter()
        .filter_map(|method| study.run_of(method).map(|k| (method, k)))
        .map(|(method, k)| {
            let v = &study.verdicts[k];
            let residuals: Vec<f64> = v.iter().filter_map(|s| s.violation_4a).collect();
            QtranFacts {
                name: Study::display(method).to_string(),
                seeds: Seeds::of(study, k),
                tol,
                tol_share: THEOREM1_TOLERANCE,
                median_4a: neural::report::percentile(&residuals, 0.5).unwrap_or(0.0),
                max_4a: v.iter().filter_map(|s| s.violation_4a).fold(0f64, f64::max),
                max_4b: v.iter().filter_map(|s| s.violation_4b).fold(0f64, f64::max),
                n_theorem1: v
                    .iter()
                    .filter(|s| {
                        s.violation_4a.is_some_and(|x| x <= tol)
                            && s.violation_4b.is_some_and(|x| x <= tol)
                    })
                    .count(),
                n_igm: v.iter().filter(|s| s.igm).count(),
                tables: study
                    .learned(k, 0)
                    .into_iter()
                    .filter(|t| !t.title.starts_with("learned Q'_jt ="))
                    .collect(),
                v_jt_learned: study.runs[k].config.qtran.v_jt,
            }
        })
        .collect();

    Ok(MatrixFacts {
        board: Board::of(study),
        opt,
        q_max: q.max(),
        payoff,
        igm_factorizable: st.igm_factorizable,
        vdn,
        qmix,
        qtran,
    })
}

fn qmix_facts(study: &Study, k: usize) -> Result<QmixFacts> {
    let st = &study.analysis.states[0];
    let m = &st.qmix;
    let q = &study.exact().truth.q_star[0];
    let optimal_idx = study.optimal(0);
    let seeds = Seeds::of(study, k);
    // Per seed: the orders its utilities imply and the best table under those orders.
    let target = &study.exact().qmix_targets[0];
    let mut lost_fits: Vec<f64> = Vec::new();
    let mut lost_fit_keeps = 0usize;
    for (seed, verdict) in study.runs[k].tables.iter().zip(&study.verdicts[k]) {
        if verdict.optimal {
            continue;
        }
        let orders = seed.states[0].utilities.ascending_orders();
        if let Ok(fit) = project_qmix_with_orders(target, &orders, None) {
            lost_fits.push(fit.mse);
            let g = reference::multistep::greedy_set(&fit.q_tot);
            if g.iter().all(|i| optimal_idx.contains(i)) {
                lost_fit_keeps += 1;
            }
        }
    }
    let rep_table = study.rep_seed(k).states[0]
        .joint_table()
        .context("a learned seed without a joint table")?;
    let (along, elsewhere) = split_means(rep_table, &study.data.joint_actions[optimal_idx[0]]);
    let opt_actions = &st.optimal[0];
    let along_action = opt_actions
        .iter()
        .all(|a| *a == opt_actions[0])
        .then(|| opt_actions[0].clone());
    let outcome = if seeds.optimal == 0 || seeds.optimal < seeds.total {
        QmixOutcome::SomeLost(if m.keeps_optimal && seeds.optimal == 0 {
            QmixVerdict::Optimisation
        } else if m.keeps_optimal {
            QmixVerdict::SomeKept
        } else {
            QmixVerdict::Class
        })
    } else {
        QmixOutcome::AllKept
    };
    let mut tables = study.learned(k, 0);
    tables.extend(study.ideal(k, 0).into_iter().rev());
    Ok(QmixFacts {
        keeps_optimal: m.keeps_optimal,
        exact: m.exact,
        mse: m.mse,
        greedy: joint_list(&m.greedy),
        orders: m.orders.clone(),
        seeds,
        lost_fit_range: FitRange::of(&lost_fits),
        lost_fit_keeps,
        along,
        elsewhere,
        along_action,
        rep_mse: rep_table.mse(q, None),
        outcome,
        tables,
    })
}

/// A return, or the range of returns of a set of tied greedy policies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Return {
    /// Smallest.
    pub lo: f64,
    /// Largest.
    pub hi: f64,
    /// Whether the two are the same (within the reference's tolerance).
    pub tied: bool,
}

impl Return {
    /// The return range `[lo, hi]`.
    pub fn of(lo: f64, hi: f64) -> Return {
        Return {
            lo,
            hi,
            tied: reference::tol::tied(lo, hi),
        }
    }

    /// Identity as shown: the upper end counts only when it differs.
    fn key(&self) -> (u64, Option<u64>) {
        (self.lo.to_bits(), (!self.tied).then(|| self.hi.to_bits()))
    }
}

/// Part 2: the two-step game.
#[derive(Debug, Clone)]
pub struct TwoStepFacts {
    /// For rendering the tables.
    pub board: Board,
    /// Each state's reward table, with its state.
    pub payoffs: Vec<(usize, Shown)>,
    /// The initial state's label.
    pub initial: String,
    /// Where agent 1's actions lead from the initial state: (action, state label).
    pub leads: Vec<(String, String)>,
    /// The optimal return.
    pub optimal: f64,
    /// The discount.
    pub gamma: f64,
    /// VDN's exact ideal's greedy return.
    pub vdn_return: Return,
    /// QMIX's exact ideal's greedy return.
    pub qmix_return: Return,
    /// VDN's and QMIX's parts, those trained, in that order.
    pub methods: Vec<TwoStepMethod>,
}

/// One method on the two-step game.
#[derive(Debug, Clone)]
pub struct TwoStepMethod {
    /// The method's display name.
    pub name: String,
    /// Seeds in the run.
    pub seeds: usize,
    /// Seeds whose greedy policy is optimal.
    pub n_optimal: usize,
    /// The return of the method's exact ideal.
    pub ideal_return: Return,
    /// What the seeds did, with how many did it, most common first.
    pub outcomes: Vec<(SeedOutcome, usize)>,
    /// Per state reachable from the initial one: its label, the ideal's best value there and
    /// the true one.
    pub next_values: Vec<(String, f64, f64)>,
    /// How the seeds compare with the ideal.
    pub agreement: Agreement,
    /// The learned tables shown, with their states (titles name the state).
    pub tables: Vec<(usize, Shown)>,
}

/// Where a seed's greedy policy goes from the initial state and what it collects.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedOutcome {
    /// The states its greedy joint actions lead to (sorted, distinct; empty when none).
    pub dests: Vec<String>,
    /// Its return.
    pub ret: Return,
}

/// How a method's seeds on the two-step game compare with its exact ideal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// No seed is optimal and the ideal is not either: the loss is the class's.
    ClassLoss,
    /// Every seed is optimal and so is the ideal.
    AllOptimal,
    /// Anything else: the run differs from the ideal.
    Differs,
}

/// Computes part 2's facts.
pub fn two_step(study: &Study) -> Result<TwoStepFacts> {
    let a = &study.analysis;
    let r = &a.returns;
    let init = study.data.game.initial;
    let k_seeds = study.runs[0].config.seeds;
    // Where agent 1's actions lead from the initial state.
    let st0 = &study.data.game.states[init];
    let mut leads = Vec::new();
    for (a1, label) in study.actions()[0].iter().enumerate() {
        let k = st0.payoff.index_of(&{
            let mut u = vec![0usize; study.data.n_agents()];
            u[0] = a1;
            u
        });
        if let Some(t) = st0.next_of(k) {
            leads.push((label.clone(), study.data.game.states[t].label.clone()));
        }
    }
    let payoffs: Vec<(usize, Shown)> = study
        .data
        .game
        .states
        .iter()
        .enumerate()
        .map(|(s, st)| {
            let shown = Shown {
                title: format!("state {}: reward", st.label),
                note: match &st.next {
                    reference::Next::Terminal => "then the episode ends".into(),
                    reference::Next::Joint(_) => "then moves on".into(),
                },
                values: st.payoff.values().to_vec(),
                utilities: None,
                greedy: Vec::new(),
            };
            (s, shown)
        })
        .collect();
    let mut methods = Vec::new();
    for method in [Method::Vdn, Method::Qmix] {
        let Some(k) = study.run_of(method) else {
            continue;
        };
        let ideal = if method == Method::Vdn { r.vdn } else { r.qmix };
        let ideal_return = Return::of(ideal[0], ideal[1]);
        // Each seed's greedy return and the state its first greedy joint action leads to.
        let mut outcomes: Vec<(SeedOutcome, usize)> = Vec::new();
        for seed in &study.runs[k].tables {
            let (lo, hi) = seed_return(&study.data, seed)?;
            let set = seed.states[init].greedy_joint_set();
            let mut dests: Vec<String> = set
                .iter()
                .filter_map(|&j| {
                    st0.next_of(j)
                        .map(|t| study.data.game.states[t].label.clone())
                })
                .collect();
            dests.sort();
            dests.dedup();
            let outcome = SeedOutcome {
                dests,
                ret: Return::of(lo, hi),
            };
            match outcomes
                .iter_mut()
                .find(|(o, _)| o.dests == outcome.dests && o.ret.key() == outcome.ret.key())
            {
                Some(c) => c.1 += 1,
                None => outcomes.push((outcome, 1)),
            }
        }
        outcomes.sort_by_key(|o| std::cmp::Reverse(o.1));
        let n_optimal = study.verdicts[k].iter().filter(|v| v.optimal).count();
        // What the method's exact ideal makes of each state reachable from the initial one.
        let mut next: Vec<usize> = (0..st0.payoff.len())
            .filter_map(|j| st0.next_of(j))
            .collect();
        next.sort_unstable();
        next.dedup();
        let next_values = next
            .iter()
            .map(|&t| {
                let st = &a.states[t];
                let q_tot = if method == Method::Vdn {
                    &st.vdn.q_tot
                } else {
                    &st.qmix.q_tot
                };
                let best = q_tot.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let truth = st.q.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (st.state.clone(), best, truth)
            })
            .collect();
        let ideal_optimal = reference::tol::tied(ideal[0], r.optimal);
        let agreement = if n_optimal == 0 && !ideal_optimal {
            Agreement::ClassLoss
        } else if n_optimal == k_seeds && ideal_optimal {
            Agreement::AllOptimal
        } else {
            Agreement::Differs
        };
        // Evidence: the learned table in every state, titled with its state.
        let mut tables = Vec::new();
        for s in 0..study.data.n_states() {
            let label = &study.analysis.states[s].state;
            for t in study.learned(k, s) {
                let title = format!("state {label}: {}", t.title);
                tables.push((s, Shown { title, ..t }));
            }
        }
        methods.push(TwoStepMethod {
            name: Study::display(method).to_string(),
            seeds: k_seeds,
            n_optimal,
            ideal_return,
            outcomes,
            next_values,
            agreement,
            tables,
        });
    }
    Ok(TwoStepFacts {
        board: Board::of(study),
        payoffs,
        initial: a.game.initial.clone(),
        leads,
        optimal: r.optimal,
        gamma: a.game.gamma,
        vdn_return: Return::of(r.vdn[0], r.vdn[1]),
        qmix_return: Return::of(r.qmix[0], r.qmix[1]),
        methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_range_of_nothing_is_none_and_ties_close_ends() {
        assert_eq!(FitRange::of(&[]), None);
        let r = FitRange::of(&[2.0, 1.0, 3.0]).unwrap();
        assert_eq!((r.lo, r.hi, r.tied), (1.0, 3.0, false));
        assert!(FitRange::of(&[1.0, 1.001]).unwrap().tied);
    }

    #[test]
    fn returns_are_the_same_when_shown_the_same() {
        assert!(Return::of(8.0, 8.0).tied);
        assert!(!Return::of(7.0, 8.0).tied);
        // A tied range is shown by its lower end alone: the upper one does not tell it apart.
        let a = Return {
            lo: 8.0,
            hi: 8.0,
            tied: true,
        };
        let b = Return {
            hi: 8.0 + 1e-12,
            ..a
        };
        assert_eq!(a.key(), b.key());
        assert_ne!(Return::of(7.0, 8.0).key(), Return::of(7.0, 9.0).key());
    }
}
