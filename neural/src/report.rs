//! From learned networks to the reference's checks: exact comparison tables, the long
//! `tables.csv`, per-method summaries (with Wilson intervals) and loss/optimality curves.
//!
//! Conventions of `tables.csv` (`method,seed,state,table,agent,actions,value`), the same as
//! `qfactor check`'s input (`reference::io::factorization`):
//! * `q_i` rows: `agent` is the agent's number 1..N, `actions` its action label;
//! * joint rows (`q_tot`, `q_jt`, `q_prime`): `agent` empty, `actions` the joint action's labels
//!   separated by spaces (agent 1 first);
//! * `v_jt` rows: `agent` and `actions` empty.
//!
//! Learned rows: VDN, QMIX and IQL write `q_i` and `q_tot` (their learned joint table is
//! `Q_tot`; `check` uses `q_tot` as the joint table when no `q_jt` is given); QTRAN writes
//! `q_i`, `q_jt`, `q_prime` and `v_jt`. Exact rows (empty `seed`): `payoff` (`q_jt` = the true
//! `Q*`), `exact-vdn` (`q_i` in the canonical gauge and `q_tot`), `exact-qmix` (`q_tot`, and
//! `q_i` when the projection identifies monotone-consistent utilities, see [`exact_tables`]).

use crate::config::Method;
use crate::learner::GameData;
use crate::run::MethodRun;
use crate::{Error, Result};
use reference::ideal::vdn::project_vdn;
use reference::igm::check_igm;
use reference::io::csv::{csv_cell, format_value};
use reference::io::factorization::{write_factorization_csv, LearnedFactorization, LearnedState};
use reference::multistep::projected_induction;
use reference::qtran::theorem1;
use reference::table::JointTable;
use reference::Utilities;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;

/// An exact ideal table in one state: the joint table and, where defined, utilities.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactState {
    /// The ideal joint table (`Q_tot` of the projection).
    pub q_tot: JointTable,
    /// Utilities realising it, when the projection identifies them.
    pub utilities: Option<Utilities>,
}

/// The true tables and the exact ideal projections of a game, per state.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactTables {
    /// `Q*(s, ·)`.
    pub q_star: Vec<JointTable>,
    /// VDN's ideal (uniform least squares, bootstrapped from its own greedy value).
    pub vdn: Vec<ExactState>,
    /// QMIX's ideal (global monotone least squares, bootstrapped likewise).
    pub qmix: Vec<ExactState>,
    /// True when every state's QMIX projection is proven globally optimal (otherwise it is the
    /// best found within the reference's search budget).
    pub qmix_exact: bool,
}

/// Computes the exact tables: `Q*` by backward induction, and the VDN and QMIX ideals by the
/// reference's projected backward induction (each state's target bootstraps from the
/// projection's greedy value, as TD learning of that class would).
///
/// QMIX's projection does not identify utilities (any utilities increasing along the
/// projection's action orders realise it through some monotone mixer); the utilities written
/// for `exact-qmix` are each action's rank in its agent's order (0 = lowest), which are
/// consistent with the projection's orders.
pub fn exact_tables(data: &GameData) -> Result<ExactTables> {
    let game = &data.game;
    let (_, vdn) = projected_induction(game, |_, t| project_vdn(t, None), |p| p.q_tot.max())?;
    let vdn = vdn
        .into_iter()
        .map(|p| ExactState {
            q_tot: p.q_tot,
            utilities: Some(p.utilities),
        })
        .collect();
    let (qmix, qmix_exact) = qmix_ideal(data)?;
    Ok(ExactTables {
        q_star: data.q_star.clone(),
        vdn,
        qmix,
        qmix_exact,
    })
}

/// QMIX's exact ideal per state (see [`exact_tables`]).
fn qmix_ideal(data: &GameData) -> Result<(Vec<ExactState>, bool)> {
    use reference::ideal::qmix::{project_qmix, QmixOptions};
    let opts = QmixOptions::default();
    let (_, proj) =
        projected_induction(&data.game, |_, t| project_qmix(t, &opts), |p| p.q_tot.max())?;
    let exact = proj.iter().all(|p| p.exact);
    let states = proj
        .into_iter()
        .map(|p| {
            let utilities = rank_utilities(&p.orders);
            ExactState {
                q_tot: p.q_tot,
                utilities,
            }
        })
        .collect();
    Ok((states, exact))
}

/// Utilities `Q_i(a) = rank of a in agent i's order` (orders listed lowest first).
fn rank_utilities(orders: &[Vec<usize>]) -> Option<Utilities> {
    let mut out = Vec::with_capacity(orders.len());
    for order in orders {
        let mut q = vec![0.0; order.len()];
        for (rank, &a) in order.iter().enumerate() {
            *q.get_mut(a)? = rank as f64;
        }
        out.push(q);
    }
    Some(Utilities(out))
}

/// The long `tables.csv`: every seed's learned tables of every run, then the exact rows,
/// written with the reference's writer (agents as 1..N) so that `qfactor check` reads them
/// back bit-exactly.
pub fn tables_csv(data: &GameData, runs: &[MethodRun], exact: &ExactTables) -> Result<String> {
    let game = &data.game;
    let mut learned: Vec<(String, String, LearnedFactorization)> = Vec::new();
    for run in runs {
        let m = run.config.method;
        for seed in &run.tables {
            let states = seed
                .states
                .iter()
                .map(|st| {
                    let (q_jt, q_tot, q_prime, v_jt) = if m.is_qtran() {
                        (
                            Some(st.joint.clone()),
                            None,
                            Some(JointTable::additive(&st.utilities)),
                            Some(st.v_jt.unwrap_or(0.0)),
                        )
                    } else {
                        (None, Some(st.joint.clone()), None, None)
                    };
                    Some(LearnedState {
                        utilities: st.utilities.clone(),
                        q_jt,
                        v_jt,
                        q_tot,
                        q_prime,
                    })
                })
                .collect();
            learned.push((
                m.name().into(),
                seed.seed.to_string(),
                LearnedFactorization { states },
            ));
        }
    }
    for (name, states) in [("exact-vdn", &exact.vdn), ("exact-qmix", &exact.qmix)] {
        let states = states
            .iter()
            .map(|e| {
                e.utilities.as_ref().map(|u| LearnedState {
                    utilities: u.clone(),
                    q_jt: None,
                    v_jt: None,
                    q_tot: Some(e.q_tot.clone()),
                    q_prime: None,
                })
            })
            .collect();
        learned.push((name.into(), String::new(), LearnedFactorization { states }));
    }
    let entries: Vec<(&str, &str, &LearnedFactorization)> = learned
        .iter()
        .map(|(m, s, f)| (m.as_str(), s.as_str(), f))
        .collect();
    let mut out: Vec<u8> = Vec::new();
    let io = |e: std::io::Error| Error::Invalid(format!("writing tables.csv: {e}"));
    write_factorization_csv(&mut out, game, &entries).map_err(io)?;
    // The true table has no utilities, so it is written as joint rows only.
    for (state, q) in game.states.iter().zip(&exact.q_star) {
        for (u, v) in q.iter() {
            let labels = game.joint_labels(&u).join(" ");
            writeln!(
                out,
                "payoff,,{},q_jt,,{},{}",
                csv_cell(&state.label),
                csv_cell(&labels),
                format_value(v)
            )
            .map_err(io)?;
        }
    }
    String::from_utf8(out).map_err(|e| Error::Invalid(format!("tables.csv: {e}")))
}

/// Two-sided 95% Wilson score interval for `successes` out of `n` (`(0, 1)` when `n = 0`).
pub fn wilson_interval(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    // z = Φ⁻¹(0.975).
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The `p`-quantile (`0 ≤ p ≤ 1`) of `values` with linear interpolation between order
/// statistics (NumPy's default). `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = p.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// One row of `summary.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// The method.
    pub method: String,
    /// Number of seeds.
    pub seeds: usize,
    /// Share of seeds whose greedy policy is optimal (every tie-break; for multi-step games:
    /// obtains the optimal return from the initial state).
    pub optimal_rate: f64,
    /// Lower end of the 95% Wilson interval of `optimal_rate`.
    pub optimal_rate_lo: f64,
    /// Upper end.
    pub optimal_rate_hi: f64,
    /// Share of seeds whose utilities satisfy IGM for their learned joint table in every state.
    pub igm_rate: f64,
    /// Mean over seeds of the learned joint table's MSE to `Q*` (averaged over states).
    pub mse_payoff: f64,
    /// Mean over seeds of the MSE to the method's exact ideal (VDN: exact VDN projection;
    /// QMIX: exact QMIX projection; QTRAN: `Q*`, its class being unrestricted; IQL: none).
    pub mse_ideal: Option<f64>,
    /// QTRAN: mean over seeds of the largest (4b) violation over states, with the learned
    /// `V_jt`; other methods: none.
    pub cond_4b_violation: Option<f64>,
    /// Wall-clock seconds of training and evaluation.
    pub seconds: f64,
}

/// Per-seed verdicts used by the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedVerdict {
    /// The seed.
    pub seed: usize,
    /// Greedy policy optimal.
    pub optimal: bool,
    /// IGM holds in every state.
    pub igm: bool,
    /// MSE to `Q*` (mean over states).
    pub mse_payoff: f64,
    /// MSE to the ideal (mean over states), if the method has one.
    pub mse_ideal: Option<f64>,
    /// Largest (4b) violation over states (QTRAN).
    pub violation_4b: Option<f64>,
    /// Largest |(4a)| residual over states (QTRAN).
    pub violation_4a: Option<f64>,
}

/// Checks every seed of `run` with the reference.
pub fn verdicts(data: &GameData, run: &MethodRun, exact: &ExactTables) -> Result<Vec<SeedVerdict>> {
    let m = run.config.method;
    let ideal: Option<Vec<&JointTable>> = match m {
        Method::Vdn => Some(exact.vdn.iter().map(|e| &e.q_tot).collect()),
        Method::Qmix => Some(exact.qmix.iter().map(|e| &e.q_tot).collect()),
        Method::QtranBase | Method::QtranAlt => Some(exact.q_star.iter().collect()),
        Method::Iql => None,
    };
    let n_states = data.n_states() as f64;
    run.tables
        .iter()
        .map(|seed| {
            let greedy: Vec<Vec<usize>> = seed
                .states
                .iter()
                .map(|st| data.greedy_joint_set(&st.utilities))
                .collect();
            let optimal = data.greedy_is_optimal(&greedy)?;
            let mut igm = true;
            let mut mse_payoff = 0.0;
            let mut mse_ideal = 0.0;
            let (mut v4a, mut v4b) = (0f64, 0f64);
            for (s, st) in seed.states.iter().enumerate() {
                igm &= check_igm(&st.joint, &st.utilities)?.holds;
                mse_payoff += st.joint.mse(&exact.q_star[s], None) / n_states;
                if let Some(ideal) = &ideal {
                    mse_ideal += st.joint.mse(ideal[s], None) / n_states;
                }
                if m.is_qtran() {
                    let t = theorem1(&st.joint, &st.utilities, Some(st.v_jt.unwrap_or(0.0)))?;
                    v4a = v4a.max(t.violation_4a);
                    v4b = v4b.max(t.violation_4b);
                }
            }
            if !mse_payoff.is_finite() {
                return Err(Error::Diverged(format!(
                    "{m} seed {} has non-finite tables",
                    seed.seed
                )));
            }
            Ok(SeedVerdict {
                seed: seed.seed,
                optimal,
                igm,
                mse_payoff,
                mse_ideal: ideal.as_ref().map(|_| mse_ideal),
                violation_4b: m.is_qtran().then_some(v4b),
                violation_4a: m.is_qtran().then_some(v4a),
            })
        })
        .collect()
}

/// The summary row of one run.
pub fn summarize(data: &GameData, run: &MethodRun, exact: &ExactTables) -> Result<SummaryRow> {
    let v = verdicts(data, run, exact)?;
    let n = v.len();
    let nf = n.max(1) as f64;
    let optimal = v.iter().filter(|s| s.optimal).count();
    let (lo, hi) = wilson_interval(optimal, n);
    let mean = |f: &dyn Fn(&SeedVerdict) -> Option<f64>| -> Option<f64> {
        let xs: Vec<f64> = v.iter().filter_map(f).collect();
        (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
    };
    Ok(SummaryRow {
        method: run.config.method.name().into(),
        seeds: n,
        optimal_rate: optimal as f64 / nf,
        optimal_rate_lo: lo,
        optimal_rate_hi: hi,
        igm_rate: v.iter().filter(|s| s.igm).count() as f64 / nf,
        mse_payoff: mean(&|s| Some(s.mse_payoff)).unwrap_or(f64::NAN),
        mse_ideal: mean(&|s| s.mse_ideal),
        cond_4b_violation: mean(&|s| s.violation_4b),
        seconds: run.seconds,
    })
}

fn opt_cell(v: Option<f64>) -> String {
    v.map(format_value).unwrap_or_default()
}

/// `summary.csv`.
pub fn summary_csv(rows: &[SummaryRow]) -> String {
    let mut s = String::from(
        "method,seeds,optimal_rate,optimal_rate_lo,optimal_rate_hi,igm_rate,mse_payoff,mse_ideal,cond_4b_violation,seconds\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{}",
            r.method,
            r.seeds,
            format_value(r.optimal_rate),
            format_value(r.optimal_rate_lo),
            format_value(r.optimal_rate_hi),
            format_value(r.igm_rate),
            format_value(r.mse_payoff),
            opt_cell(r.mse_ideal),
            opt_cell(r.cond_4b_violation),
            format_value(r.seconds)
        );
    }
    s
}

/// `curves.csv`: per method and logged step, the loss across seeds (mean, 10th and 90th
/// percentiles; empty before learning starts) and the share of seeds whose greedy policy is
/// optimal.
pub fn curves_csv(runs: &[MethodRun]) -> String {
    let mut s = String::from("method,step,loss_mean,loss_p10,loss_p90,optimal_rate\n");
    for run in runs {
        for p in &run.curve {
            let (mean, p10, p90) = match &p.loss {
                Some(l) if !l.is_empty() => (
                    Some(l.iter().sum::<f64>() / l.len() as f64),
                    percentile(l, 0.1),
                    percentile(l, 0.9),
                ),
                _ => (None, None, None),
            };
            let rate =
                p.optimal.iter().filter(|&&o| o).count() as f64 / p.optimal.len().max(1) as f64;
            let _ = writeln!(
                s,
                "{},{},{},{},{},{}",
                run.config.method.name(),
                p.step,
                opt_cell(mean),
                opt_cell(p10),
                opt_cell(p90),
                format_value(rate)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wilson interval against values computed by hand from the formula (and matching
    /// statsmodels' `proportion_confint(method="wilson")`): 8/10 → (0.4902, 0.9433).
    #[test]
    fn wilson_known_values() {
        let (lo, hi) = wilson_interval(8, 10);
        assert!(
            (lo - 0.490_162).abs() < 1e-5 && (hi - 0.943_318).abs() < 1e-5,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson_interval(0, 32);
        assert!(lo.abs() < 1e-15 && (hi - 0.107_172).abs() < 1e-5, "{hi}");
        let (lo, hi) = wilson_interval(32, 32);
        assert!((lo - 0.892_828).abs() < 1e-5 && (hi - 1.0).abs() < 1e-15);
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert!((percentile(&v, 0.1).unwrap() - 1.4).abs() < 1e-12);
        assert!((percentile(&v, 0.9).unwrap() - 4.6).abs() < 1e-12);
        assert!((percentile(&v, 0.5).unwrap() - 3.0).abs() < 1e-12);
        assert!(percentile(&[], 0.5).is_none());
    }

    #[test]
    fn rank_utilities_follow_orders() {
        let u = rank_utilities(&[vec![2, 0, 1], vec![1, 0]]).unwrap();
        assert_eq!(u.0, vec![vec![1.0, 2.0, 0.0], vec![1.0, 0.0]]);
        assert!(rank_utilities(&[vec![5]]).is_none());
    }
}
