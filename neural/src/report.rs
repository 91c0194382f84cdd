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
//! `q_i` of each action's rank in its agent's order, see [`reference::Factorization::qmix`]).

use crate::config::Method;
use crate::learner::GameData;
use crate::run::MethodRun;
use crate::{Error, Result};
use reference::diagnose::{diagnose, Class};
use reference::exact::Exact;
use reference::io::csv::{csv_cell, format_value};
use reference::io::factorization::write_factorization_csv;
use reference::table::JointTable;
use reference::tol::Tolerance;
use reference::verify::{check_with, CheckReport};
use reference::LearnedFactorization;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;

/// The exact results the learners are measured against: [`Exact::with_truth`] (the game as
/// the learners see it, solved once in [`GameData`]) with uniform
/// weights and the full QMIX search ([`reference::ideal::qmix::QmixOptions::default`]), unless
/// the caller computed them with other options and hands them over instead.
pub fn exact_results(data: &GameData) -> Result<Exact> {
    Ok(Exact::with_truth(
        data.truth.clone(),
        None,
        &reference::ideal::qmix::QmixOptions::default(),
    )?)
}

/// The class's exact ideal joint table per state, the distance `mse_ideal` is measured to:
/// VDN's exact projection, QMIX's global monotonic projection, `Q*` for QTRAN (its class is
/// unrestricted); none for IQL.
pub fn ideal_tables(method: Method, exact: &Exact) -> Option<Vec<JointTable>> {
    Class::of_method(method.name()).map(|c| c.ideal_tables(exact))
}

/// The long `tables.csv`: every seed's learned tables of every run, then the exact rows,
/// written with the reference's writer (agents as 1..N) so that `qfactor check` reads them
/// back bit-exactly.
pub fn tables_csv(data: &GameData, runs: &[MethodRun], exact: &Exact) -> Result<String> {
    let game = &data.game;
    let mut learned: Vec<(String, String, LearnedFactorization)> = Vec::new();
    for run in runs {
        let m = run.config.method;
        for seed in &run.tables {
            learned.push((
                m.name().into(),
                seed.seed.to_string(),
                LearnedFactorization::complete(seed.states.clone()),
            ));
        }
    }
    learned.push((
        "exact-vdn".into(),
        String::new(),
        LearnedFactorization::complete(exact.vdn_factorizations()),
    ));
    learned.push((
        "exact-qmix".into(),
        String::new(),
        LearnedFactorization {
            states: exact.qmix_factorizations(),
        },
    ));
    let entries: Vec<(&str, &str, &LearnedFactorization)> = learned
        .iter()
        .map(|(m, s, f)| (m.as_str(), s.as_str(), f))
        .collect();
    let mut out: Vec<u8> = Vec::new();
    let io = |e: std::io::Error| Error::Internal(format!("writing tables.csv: {e}"));
    write_factorization_csv(&mut out, game, &entries).map_err(io)?;
    // The true table has no utilities, so it is written as joint rows only.
    for (state, q) in game.states.iter().zip(&exact.truth.q_star) {
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
    String::from_utf8(out).map_err(|e| Error::Internal(format!("tables.csv: {e}")))
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

/// One row of `summary.csv`: a fold over the per-seed reports of [`reference::verify`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// The method.
    pub method: String,
    /// Number of seeds.
    pub seeds: usize,
    /// Share of seeds whose greedy policy is optimal: it obtains the optimal return from the
    /// initial state whichever tied greedy action it takes (`policy_optimal` of the check).
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
    /// Share of seeds whose greedy joint actions are optimal in every state (`all_optimal`
    /// of the check; equal to `optimal_rate` in a matrix game).
    pub states_optimal_rate: f64,
    /// QTRAN: mean over seeds of the largest |(4a)| residual over states; others: none.
    pub cond_4a_violation: Option<f64>,
    /// QTRAN: mean over seeds of the largest (7) residual over states and agents (the
    /// condition QTRAN-alt trains towards); others: none.
    pub cond_7_violation: Option<f64>,
    /// QMIX: mean over seeds of the MSE to the exact best fit under that seed's learned action
    /// orders — what its mixer could reach given the orders it settled on (`mse_ideal` is to
    /// the global projection over all orders); others: none.
    pub mse_orders_fit: Option<f64>,
    /// VDN and QMIX: mean over seeds of the MSE to the class's ideal under the joint-action
    /// weights of that seed's replay buffer at the end of training (the data it last fitted),
    /// beside the uniform-weight `mse_ideal`; empty where undefined.
    pub mse_ideal_sampled: Option<f64>,
    /// VDN and QMIX: share of seeds whose sampled-weight ideal is proven (QMIX's search with
    /// the interactive budget finished); empty where `mse_ideal_sampled` is.
    pub sampled_ideal_exact_rate: Option<f64>,
}

/// One seed's verdict: the check's report and the numbers the summary folds.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedVerdict {
    /// The seed.
    pub seed: usize,
    /// Greedy policy optimal (the check's `policy_optimal`).
    pub optimal: bool,
    /// Every state's greedy joint actions optimal (the check's `all_optimal`).
    pub states_optimal: bool,
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
    /// Largest (7) residual over states and agents (QTRAN).
    pub violation_7: Option<f64>,
    /// QMIX: MSE to the exact best fit under this seed's learned action orders (mean over
    /// states), see [`reference::diagnose`].
    pub mse_orders_fit: Option<f64>,
    /// VDN and QMIX: MSE to the class's ideal under the weights the seed's replay buffer
    /// holds at the end (mean over states); `None` where that ideal is undefined (a state or
    /// an action the buffer never saw) or for other methods.
    pub mse_ideal_sampled: Option<f64>,
    /// Whether that ideal is proven (QMIX's search, with the interactive budget, finished in
    /// every state; always for VDN).
    pub sampled_ideal_exact: Option<bool>,
}

impl SeedVerdict {
    /// Folds one seed's check report (`qtran`: whether the method is a QTRAN variant, whose
    /// reports' conditions are on its learned `Q_jt`).
    pub fn of(seed: usize, report: &CheckReport, qtran: bool) -> Result<SeedVerdict> {
        let n = report.states.len().max(1) as f64;
        let mean = |f: &dyn Fn(&reference::verify::StateCheck) -> Option<f64>| -> Option<f64> {
            let xs: Option<Vec<f64>> = report.states.iter().map(f).collect();
            xs.map(|xs| xs.iter().sum::<f64>() / n)
        };
        let mse_payoff = mean(&|s| s.mse_true).ok_or_else(|| {
            Error::Internal(format!("seed {seed}: a state has no learned joint table"))
        })?;
        if !mse_payoff.is_finite() {
            return Err(Error::Diverged(format!(
                "seed {seed} has non-finite tables"
            )));
        }
        let max = |f: &dyn Fn(&reference::verify::StateCheck) -> f64| {
            report.states.iter().map(f).fold(0f64, f64::max)
        };
        Ok(SeedVerdict {
            seed,
            optimal: report.policy_optimal.unwrap_or(false),
            states_optimal: report.all_optimal,
            igm: report.states.iter().all(|s| s.igm == Some(true)),
            mse_payoff,
            mse_ideal: mean(&|s| s.mse_ideal),
            violation_4b: qtran.then(|| max(&|s| s.violation_4b)),
            violation_4a: qtran.then(|| max(&|s| s.violation_4a)),
            violation_7: qtran.then(|| {
                max(&|s| {
                    s.cond_7_agents
                        .iter()
                        .map(|a| a.max_residual)
                        .fold(0f64, f64::max)
                })
            }),
            mse_orders_fit: None,
            mse_ideal_sampled: None,
            sampled_ideal_exact: None,
        })
    }
}

/// Checks every seed of `run` with the reference's verifier ([`check_with`], with the
/// method's ideal tables) and folds each report.
pub fn verdicts(data: &GameData, run: &MethodRun, exact: &Exact) -> Result<Vec<SeedVerdict>> {
    let m = run.config.method;
    let ideal = ideal_tables(m, exact);
    run.tables
        .iter()
        .map(|seed| {
            let learned = LearnedFactorization::complete(seed.states.clone());
            let report = check_with(&data.truth, &learned, ideal.as_deref(), &Tolerance::LEARNED)?;
            let mut v = SeedVerdict::of(seed.seed, &report, m.is_qtran())
                .map_err(|e| prefix_method(e, m))?;
            if m == Method::Qmix {
                let d = diagnose(exact, &learned, Class::Qmix, &Tolerance::LEARNED)?;
                let fits: Option<Vec<f64>> = d.states.iter().map(|s| s.mse_orders_fit).collect();
                v.mse_orders_fit = fits.map(|f| f.iter().sum::<f64>() / f.len().max(1) as f64);
            }
            if let Some((mse, exact)) = sampled_ideal(data, m, &learned, &seed.replay_counts) {
                v.mse_ideal_sampled = Some(mse);
                v.sampled_ideal_exact = Some(exact);
            }
            Ok(v)
        })
        .collect()
}

/// The distance of a seed's tables to its class's ideal under the seed's own replay weights
/// (the weighted projection of the Weighted QMIX paper, made exact), and whether that ideal
/// is proven. VDN: exact weighted least squares; QMIX: the global weighted projection with the
/// interactive search budget. `None` for other methods, and where the weighted ideal is not
/// defined (a state or an action the buffer never holds leaves VDN's normal equations
/// singular).
fn sampled_ideal(
    data: &GameData,
    m: Method,
    learned: &LearnedFactorization,
    counts: &[Vec<f64>],
) -> Option<(f64, bool)> {
    use reference::ideal::qmix::{QmixBudget, QmixOptions};
    let qmix = match m {
        Method::Vdn => QmixOptions::with_budget(QmixBudget::Work(1)),
        Method::Qmix => QmixOptions::interactive(),
        _ => return None,
    };
    if counts.iter().any(|c| c.iter().sum::<f64>() <= 0.0) {
        return None;
    }
    let exact = Exact::with_truth(data.truth.clone(), Some(counts), &qmix).ok()?;
    let (ideal, proven) = match m {
        Method::Vdn => (exact.vdn.iter().map(|p| &p.q_tot).collect::<Vec<_>>(), true),
        _ => (
            exact.qmix.iter().map(|p| &p.q_tot).collect(),
            exact.qmix_exact(),
        ),
    };
    let mut total = 0.0;
    for (f, i) in learned.states.iter().zip(&ideal) {
        total += f.as_ref()?.joint_table()?.mse(i, None);
    }
    Some((total / ideal.len().max(1) as f64, proven))
}

fn prefix_method(e: Error, m: Method) -> Error {
    match e {
        Error::Diverged(msg) => Error::Diverged(format!("{m} {msg}")),
        other => other,
    }
}

/// The summary row of one run, folded from its verdicts.
pub fn summarize(data: &GameData, run: &MethodRun, exact: &Exact) -> Result<SummaryRow> {
    Ok(summary_of(run, &verdicts(data, run, exact)?))
}

/// The summary row of `run` from its verdicts.
pub fn summary_of(run: &MethodRun, v: &[SeedVerdict]) -> SummaryRow {
    let n = v.len();
    let nf = n.max(1) as f64;
    let optimal = v.iter().filter(|s| s.optimal).count();
    let (lo, hi) = wilson_interval(optimal, n);
    let mean = |f: &dyn Fn(&SeedVerdict) -> Option<f64>| -> Option<f64> {
        let xs: Vec<f64> = v.iter().filter_map(f).collect();
        (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
    };
    SummaryRow {
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
        states_optimal_rate: v.iter().filter(|s| s.states_optimal).count() as f64 / nf,
        cond_4a_violation: mean(&|s| s.violation_4a),
        cond_7_violation: mean(&|s| s.violation_7),
        mse_orders_fit: mean(&|s| s.mse_orders_fit),
        mse_ideal_sampled: mean(&|s| s.mse_ideal_sampled),
        sampled_ideal_exact_rate: mean(&|s| s.sampled_ideal_exact.map(|b| f64::from(u8::from(b)))),
    }
}

fn opt_cell(v: Option<f64>) -> String {
    v.map(format_value).unwrap_or_default()
}

/// `summary.csv`.
pub fn summary_csv(rows: &[SummaryRow]) -> String {
    let mut s = String::from(
        "method,seeds,optimal_rate,optimal_rate_lo,optimal_rate_hi,igm_rate,mse_payoff,mse_ideal,cond_4b_violation,seconds,states_optimal_rate,cond_4a_violation,cond_7_violation,mse_orders_fit,mse_ideal_sampled,sampled_ideal_exact_rate\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.method,
            r.seeds,
            format_value(r.optimal_rate),
            format_value(r.optimal_rate_lo),
            format_value(r.optimal_rate_hi),
            format_value(r.igm_rate),
            format_value(r.mse_payoff),
            opt_cell(r.mse_ideal),
            opt_cell(r.cond_4b_violation),
            format_value(r.seconds),
            format_value(r.states_optimal_rate),
            opt_cell(r.cond_4a_violation),
            opt_cell(r.cond_7_violation),
            opt_cell(r.mse_orders_fit),
            opt_cell(r.mse_ideal_sampled),
            opt_cell(r.sampled_ideal_exact_rate)
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

/// `curves_seeds.csv`: the per-seed rows behind `curves.csv` (tidy: one row per method, seed
/// and logged step; `loss` empty before learning starts; `optimal` 1 or 0), so that plotting
/// tools compute their own intervals.
pub fn curves_seeds_csv(runs: &[MethodRun]) -> String {
    let mut s = String::from("method,seed,step,loss,optimal\n");
    for run in runs {
        let seeds = run.config.seed_list();
        for p in &run.curve {
            for (k, &opt) in p.optimal.iter().enumerate() {
                let loss = p.loss.as_ref().and_then(|l| l.get(k).copied());
                let _ = writeln!(
                    s,
                    "{},{},{},{},{}",
                    run.config.method.name(),
                    seeds.get(k).copied().unwrap_or(k),
                    p.step,
                    opt_cell(loss),
                    u8::from(opt)
                );
            }
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
}
