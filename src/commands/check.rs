//! `qfactor check GAME FACTORIZATION.csv`: verify learned tables against a game, and say
//! whether a miss is the class's or the optimiser's.

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;

use reference::diagnose::{diagnose, Class, Diagnosis, Verdict};
use reference::exact::Exact;
use reference::ideal::qmix::{QmixBudget, QmixOptions};
use reference::io::FactorizationFilter;
use reference::tol::{Tolerance, TIE_TOL};
use reference::verify::{check_with, CheckReport, StateCheck};
use reference::LearnedFactorization;

use crate::present::render::{joint_list, plural, return_range, small};

/// Arguments of `qfactor check`.
#[derive(Args)]
#[command(
    after_help = "Input: long CSV with header `state,table,agent,actions,value` (optional \
                        `method` and `seed` columns, as `qfactor train` writes). A file with \
                        several methods/seeds is checked whole: one line per factorization and \
                        a summary per method (--method/--seed narrow it).\n\nExamples:\n  \
                        qfactor check paper-table1 data/golden/paper-table1-qtran.csv\n  \
                        qfactor check paper-table1 my-qmix.csv --method qmix\n  \
                        qfactor check paper-table1 run/tables.csv --method qmix --seed 3 --json\n  \
                        qfactor check two-step run/tables.csv --fail-if not-optimal,unchecked"
)]
pub struct CheckArgs {
    /// A built-in game name or a game file.
    game: String,
    /// The learned tables (long CSV).
    factorization: PathBuf,
    /// The method the tables come from (vdn, qmix, qtran-base, qtran-alt, iql): picks its rows
    /// from a file with a `method` column, and names the class for a file without one. With
    /// a class, check says whether a miss is the class's or the optimiser's.
    #[arg(long)]
    method: Option<String>,
    /// Pick one seed's rows from a file with a `seed` column.
    #[arg(long)]
    seed: Option<String>,
    /// Tolerance for learned values (ties, IGM, (4a), (4b), (7)): `T`, `ABS,REL` or
    /// `abs=A,rel=R`. A value counts as zero when |x| ≤ max(ABS, REL·magnitude).
    #[arg(long, value_name = "TOL", default_value = "1e-5", value_parser = parse_tolerance)]
    tolerance: Tolerance,
    /// Weights over joint actions for the class ideals (long CSV: agent columns, `weight`),
    /// as `analyze --weights`: the ideal a learner reaches under that sampling distribution.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Work budget of the exact QMIX search for the QMIX ideal (as `analyze --qmix-budget`).
    #[arg(long, value_name = "BUDGET", default_value = "full",
          value_parser = super::analyze::parse_budget)]
    qmix_budget: QmixBudget,
    /// Exit with status 3 when a condition holds for any checked factorization (comma-separated
    /// or repeated): not-optimal, not-igm, unchecked (a state without rows), theorem1 ((4a)
    /// or (4b) fails), theorem2 ((7) fails), optimiser (the class could keep the optimum and the
    /// learner did not), class (the class cannot).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "CONDITION")]
    fail_if: Vec<FailIf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// A condition that makes `check` exit with status 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailIf {
    /// The greedy policy is not optimal (or not defined).
    NotOptimal,
    /// IGM fails against the learned joint table in some state.
    NotIgm,
    /// Some state has no rows.
    Unchecked,
    /// (4a) or (4b) fails in some state.
    Theorem1,
    /// (7) fails in some state.
    Theorem2,
    /// The class could keep the optimum and the learner did not.
    Optimiser,
    /// The class cannot keep the optimum (proven, or heuristic for an unfinished QMIX search).
    Class,
}

impl FailIf {
    fn name(self) -> &'static str {
        match self {
            FailIf::NotOptimal => "not-optimal",
            FailIf::NotIgm => "not-igm",
            FailIf::Unchecked => "unchecked",
            FailIf::Theorem1 => "theorem1",
            FailIf::Theorem2 => "theorem2",
            FailIf::Optimiser => "optimiser",
            FailIf::Class => "class",
        }
    }

    fn holds(self, c: &Checked) -> bool {
        let r = &c.report;
        match self {
            FailIf::NotOptimal => r.policy_optimal != Some(true),
            FailIf::NotIgm => r.states.iter().any(|s| s.igm == Some(false)),
            FailIf::Unchecked => !r.unchecked.is_empty(),
            FailIf::Theorem1 => r.states.iter().any(|s| !(s.cond_4a && s.cond_4b)),
            FailIf::Theorem2 => r.states.iter().any(|s| !s.cond_7),
            FailIf::Optimiser => c
                .diagnosis
                .as_ref()
                .is_some_and(|d| d.verdict == Verdict::OptimiserDidNot),
            FailIf::Class => c.diagnosis.as_ref().is_some_and(|d| {
                matches!(
                    d.verdict,
                    Verdict::ClassCannot | Verdict::HeuristicClassLoses
                )
            }),
        }
    }
}

fn parse_tolerance(text: &str) -> std::result::Result<Tolerance, String> {
    text.parse().map_err(|e: reference::Error| e.to_string())
}

/// One checked factorization.
#[derive(Serialize)]
struct Checked {
    method: String,
    seed: String,
    #[serde(flatten)]
    report: CheckReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnosis: Option<Diagnosis>,
}

/// A whole file's check, as `--json` prints it when the file holds several factorizations.
#[derive(Serialize)]
struct Many<'a> {
    game: &'a str,
    tolerance: Tolerance,
    factorizations: &'a [Checked],
    methods: Vec<MethodSummary>,
    failed_conditions: Vec<&'static str>,
}

/// Aggregates over one method's factorizations.
#[derive(Serialize)]
struct MethodSummary {
    method: String,
    factorizations: usize,
    policy_optimal: usize,
    all_optimal: usize,
    igm: usize,
    theorem1: usize,
    theorem2: usize,
    with_unchecked_states: usize,
    mean_mse_true: Option<f64>,
    mean_mse_ideal: Option<f64>,
    verdicts: Vec<(Verdict, usize)>,
}

/// Runs the check.
pub fn run(args: &CheckArgs) -> Result<()> {
    let game = reference::io::load_game(&args.game)?;
    let filter = FactorizationFilter {
        method: args.method.clone(),
        seed: args.seed.clone(),
    };
    let found = reference::io::read_factorizations(&args.factorization, &game, &filter)?;
    let weights = match &args.weights {
        Some(p) => Some(reference::io::read_weights(p, &game)?),
        None => None,
    };
    let named = args.method.as_deref().and_then(Class::of_method);
    let needs_exact =
        named.is_some() || found.iter().any(|(m, _, _)| Class::of_method(m).is_some());
    let truth = reference::exact::Truth::new(&game)?;
    let exact = if needs_exact {
        Some(Exact::with_truth(
            truth.clone(),
            weights.as_deref(),
            &QmixOptions::with_budget(args.qmix_budget),
        )?)
    } else {
        None
    };
    let mut checked = Vec::with_capacity(found.len());
    for (method, seed, learned) in found {
        let class = Class::of_method(&method).or(named);
        let ideal = match (class, &exact) {
            (Some(c), Some(e)) => Some(c.ideal_tables(e)),
            _ => None,
        };
        let report = check_with(&truth, &learned, ideal.as_deref(), &args.tolerance)?;
        let diagnosis = match (class, &exact) {
            (Some(c), Some(e)) if is_complete(&learned) => {
                Some(diagnose(e, &learned, c, &args.tolerance)?)
            }
            _ => None,
        };
        let method = if method.is_empty() {
            args.method.clone().unwrap_or_default()
        } else {
            method
        };
        checked.push(Checked {
            method,
            seed,
            report,
            diagnosis,
        });
    }
    let failed: Vec<&'static str> = args
        .fail_if
        .iter()
        .filter(|f| checked.iter().any(|c| f.holds(c)))
        .map(|f| f.name())
        .collect();
    if args.json {
        if let [one] = checked.as_slice() {
            println!("{}", serde_json::to_string_pretty(one)?);
        } else {
            let many = Many {
                game: &game.name,
                tolerance: args.tolerance,
                factorizations: &checked,
                methods: summaries(&checked),
                failed_conditions: failed.clone(),
            };
            println!("{}", serde_json::to_string_pretty(&many)?);
        }
    } else {
        let style = crate::present::style::Style::stdout();
        let text = match checked.as_slice() {
            [one] => human(one, exact.as_ref()),
            many => overview(&game.name, &args.tolerance, many),
        };
        for line in text.lines() {
            println!("{}", style.table_line(line));
        }
    }
    if !failed.is_empty() {
        let n: Vec<String> = args
            .fail_if
            .iter()
            .filter(|f| failed.contains(&f.name()))
            .map(|f| {
                let k = checked.iter().filter(|c| f.holds(c)).count();
                format!("{} ({k} of {})", f.name(), checked.len())
            })
            .collect();
        return Err(crate::ConditionFailed(format!("--fail-if: {} held", n.join(", "))).into());
    }
    Ok(())
}

fn is_complete(l: &LearnedFactorization) -> bool {
    l.states.iter().all(Option::is_some)
}

fn summaries(checked: &[Checked]) -> Vec<MethodSummary> {
    let mut methods: Vec<&str> = Vec::new();
    for c in checked {
        if !methods.contains(&c.method.as_str()) {
            methods.push(&c.method);
        }
    }
    methods
        .into_iter()
        .map(|m| {
            let cs: Vec<&Checked> = checked.iter().filter(|c| c.method == m).collect();
            let count = |f: &dyn Fn(&Checked) -> bool| cs.iter().filter(|c| f(c)).count();
            let mean = |f: &dyn Fn(&StateCheck) -> Option<f64>| -> Option<f64> {
                let per: Option<Vec<f64>> = cs
                    .iter()
                    .map(|c| {
                        let xs: Option<Vec<f64>> = c.report.states.iter().map(f).collect();
                        xs.map(|x| x.iter().sum::<f64>() / x.len().max(1) as f64)
                    })
                    .collect();
                per.filter(|p| !p.is_empty())
                    .map(|p| p.iter().sum::<f64>() / p.len() as f64)
            };
            let mut verdicts: Vec<(Verdict, usize)> = Vec::new();
            for v in cs
                .iter()
                .filter_map(|c| c.diagnosis.as_ref().map(|d| d.verdict))
            {
                match verdicts.iter_mut().find(|(w, _)| *w == v) {
                    Some((_, n)) => *n += 1,
                    None => verdicts.push((v, 1)),
                }
            }
            MethodSummary {
                method: m.to_string(),
                factorizations: cs.len(),
                policy_optimal: count(&|c| c.report.policy_optimal == Some(true)),
                all_optimal: count(&|c| c.report.all_optimal),
                igm: count(&|c| c.report.states.iter().all(|s| s.igm == Some(true))),
                theorem1: count(&|c| c.report.states.iter().all(|s| s.cond_4a && s.cond_4b)),
                theorem2: count(&|c| c.report.states.iter().all(|s| s.cond_7)),
                with_unchecked_states: count(&|c| !c.report.unchecked.is_empty()),
                mean_mse_true: mean(&|s| s.mse_true),
                mean_mse_ideal: mean(&|s| s.mse_ideal),
                verdicts,
            }
        })
        .collect()
}

fn tolerance_line(t: &Tolerance) -> String {
    format!(
        "Tolerance for learned values: {t} (ties, IGM, (4a), (4b), (7); --tolerance); the exact \
         arithmetic uses {TIE_TOL:e}.\n"
    )
}

/// One line per factorization, then a summary per method.
fn overview(game: &str, t: &Tolerance, checked: &[Checked]) -> String {
    let yn = |b: bool| if b { "yes" } else { "NO" };
    let mut out = format!(
        "Check against {game}: {}\n{}",
        plural(checked.len(), "factorization"),
        tolerance_line(t)
    );
    out.push_str(
        "\nmethod      seed  policy optimal  every state  IGM   (4)   (7)   MSE to Q*  verdict\n",
    );
    for c in checked {
        let r = &c.report;
        let all = |f: &dyn Fn(&StateCheck) -> bool| r.states.iter().all(f);
        let mse = r
            .states
            .iter()
            .map(|s| s.mse_true)
            .collect::<Option<Vec<f64>>>()
            .map(|x| small(x.iter().sum::<f64>() / x.len().max(1) as f64))
            .unwrap_or_else(|| "-".into());
        let verdict = c
            .diagnosis
            .as_ref()
            .map(|d| d.verdict.sentence().to_string())
            .unwrap_or_default();
        let unchecked = if r.unchecked.is_empty() {
            String::new()
        } else {
            format!(" (not checked: {})", r.unchecked.join(", "))
        };
        let qtran = is_qtran(c);
        let cond = |b: bool| if qtran { yn(b) } else { "-" };
        out.push_str(&format!(
            "{:<11} {:>4}  {:<14}  {:<11}  {:<4}  {:<4}  {:<4}  {:>9}  {verdict}{unchecked}\n",
            c.method,
            c.seed,
            r.policy_optimal.map(yn).unwrap_or("undefined"),
            yn(r.all_optimal),
            yn(all(&|s| s.igm != Some(false))),
            cond(all(&|s| s.cond_4a && s.cond_4b)),
            cond(all(&|s| s.cond_7)),
            mse
        ));
    }
    out.push_str(
        "\nIGM: every greedy joint action of the utilities maximises the learned joint table \
         (q_jt, else q_tot) to the tolerance — true by construction for VDN and QMIX, so it \
         says nothing about optimality there. (4): QTRAN's Theorem 1 ((4a) and (4b)); (7): its \
         Theorem 2's condition, on the learned q_jt and V_jt (shown for QTRAN tables only; every \
         table's are in --json).\n",
    );
    out.push_str("\nPer method:\n");
    for s in summaries(checked) {
        let verdicts: Vec<String> = s
            .verdicts
            .iter()
            .map(|(v, n)| format!("{n}× {}", v.sentence()))
            .collect();
        out.push_str(&format!(
            "  {}: policy optimal in {} of {}; IGM in {}; mean MSE to Q* {}{}{}\n",
            s.method,
            s.policy_optimal,
            s.factorizations,
            s.igm,
            s.mean_mse_true.map(small).unwrap_or_else(|| "-".into()),
            s.mean_mse_ideal
                .map(|m| format!(", to the class ideal {}", small(m)))
                .unwrap_or_default(),
            if verdicts.is_empty() {
                String::new()
            } else {
                format!("; {}", verdicts.join(", "))
            }
        ));
    }
    out
}

/// QTRAN tables: a QTRAN method, or a learned `q_jt` — where QTRAN's conditions mean
/// something.
fn is_qtran(c: &Checked) -> bool {
    c.method.starts_with("qtran")
        || c.report
            .states
            .iter()
            .any(|s| s.joint_kind == Some(reference::JointKind::QJt))
}

fn human(c: &Checked, exact: Option<&Exact>) -> String {
    let r = &c.report;
    let yn = |b: bool| if b { "yes" } else { "NO" };
    let holds = |b: bool| if b { "holds" } else { "FAILS" };
    let mut out = format!("Check against {}\n{}", r.game, tolerance_line(&r.tolerance));
    let qtran_tables = is_qtran(c);
    for s in &r.states {
        out.push_str(&format!("\nstate {}:\n", s.state));
        out.push_str(&format!(
            "  greedy joint action: {} — optimal: {}\n",
            joint_list(&s.greedy),
            yn(s.optimal)
        ));
        match s.igm {
            Some(b) => out.push_str(&format!(
                "  IGM against the learned joint table (its greedy joint actions maximise it): {}\n",
                yn(b)
            )),
            None => out
                .push_str("  IGM against the learned joint table: (no learned q_jt/q_tot given)\n"),
        }
        out.push_str(&format!(
            "  IGM against the true table (its optimal set is the utilities' greedy product): {}\n",
            yn(s.igm_true)
        ));
        if let Some(m) = s.mse_true {
            out.push_str(&format!(
                "  MSE of the learned joint table to the true table: {}\n",
                small(m)
            ));
        }
        if let Some(m) = s.mse_ideal {
            out.push_str(&format!(
                "  MSE of the learned joint table to the class's exact ideal: {}\n",
                small(m)
            ));
        }
        if qtran_tables {
            out.push_str(&format!(
                "  QTRAN conditions on {} with V_jt = {} ({}):\n",
                s.q_jt_source.as_str(),
                small(s.v_jt),
                s.v_jt_source.as_str()
            ));
            out.push_str(&format!(
                "    (4a) {} (largest |residual| {})\n",
                holds(s.cond_4a),
                small(s.violation_4a)
            ));
            out.push_str(&format!(
                "    (4b) {} (largest violation {})\n",
                holds(s.cond_4b),
                small(s.violation_4b)
            ));
            let per: Vec<String> = s
                .cond_7_agents
                .iter()
                .map(|a| {
                    format!(
                        "agent {}: {} (residual {})",
                        a.agent,
                        holds(a.holds),
                        small(a.max_residual)
                    )
                })
                .collect();
            out.push_str(&format!(
                "    (7)  {} — {}\n",
                holds(s.cond_7),
                per.join("; ")
            ));
            if let Some(a) = s.affine_scale {
                out.push_str(&format!(
                    "  Theorem 1 survives rescaling the utilities by any common factor a ≤ {} \
                     (with V_jt rescaled alike): a learner may shrink them that far and stay \
                     a factorization.\n",
                    small(a)
                ));
            }
        }
    }
    if !qtran_tables && !r.states.is_empty() {
        out.push_str(
            "\nQTRAN's conditions (4a), (4b), (7) are for QTRAN tables (a learned q_jt); they are \
             in --json for these tables too.\n",
        );
    }
    if !r.unchecked.is_empty() {
        out.push_str(&format!(
            "\nnot checked (no rows in the file): {} {}\n",
            if r.unchecked.len() == 1 {
                "state"
            } else {
                "states"
            },
            r.unchecked.join(", ")
        ));
    }
    if r.states.len() + r.unchecked.len() > 1 {
        out.push_str(&format!(
            "\nevery state's greedy joint actions optimal: {}\n",
            yn(r.all_optimal)
        ));
        match (r.policy_optimal, r.greedy_return) {
            (Some(p), Some(ret)) => out.push_str(&format!(
                "greedy policy from the initial state: return {} (optimal {}) — optimal: {}\n",
                return_range(ret, " over tied greedy actions"),
                r.optimal_return,
                yn(p)
            )),
            _ => out.push_str(
                "greedy policy from the initial state: not defined (some states have no rows)\n",
            ),
        }
    }
    if let (Some(d), Some(e)) = (&c.diagnosis, exact) {
        out.push_str(&class_lines(d, e));
    }
    out
}

/// "Class or optimiser", in words, with the numbers.
fn class_lines(d: &Diagnosis, e: &Exact) -> String {
    let mut out = format!("\nClass or optimiser ({}):\n", d.class.name());
    let ideal_word = if d.ideal_exact {
        "exact ideal"
    } else {
        "best known fit (heuristic: the QMIX search was cut short)"
    };
    out.push_str(&format!(
        "  the class's {ideal_word} {} the optimum\n",
        if d.ideal_keeps_optimal {
            "keeps"
        } else {
            "loses"
        }
    ));
    for s in &d.states {
        let mut line = format!(
            "  state {}: learned table at MSE {} from the ideal (the ideal is at {} from its target)",
            s.state,
            s.mse_ideal.map(small).unwrap_or_else(|| "-".into()),
            small(s.ideal_mse)
        );
        if let (Some(fit), Some(to)) = (s.orders_fit_mse, s.mse_orders_fit) {
            line.push_str(&format!(
                "; best fit under the learned action orders: MSE {} to the target, {} from the \
                 learned table",
                small(fit),
                small(to)
            ));
        }
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(k) = d.orders_fit_keeps_optimal {
        out.push_str(&format!(
            "  under the action orders the utilities learned, the best QMIX table {} the optimum\n",
            if k { "keeps" } else { "loses" }
        ));
    }
    if !e.qmix_exact() && d.class == Class::Qmix && d.verdict != Verdict::Optimal {
        out.push_str("  (raise --qmix-budget for a proven QMIX ideal)\n");
    }
    out.push_str(&format!("  verdict: {}\n", d.verdict.sentence()));
    out
}
