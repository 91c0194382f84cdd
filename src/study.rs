//! The comparison model: a game's exact analysis (computed once), the trained runs of every
//! method, each seed's verdict from the reference's verifier, and what each method's learned
//! and exact tables look like in one state ([`Shown`]). `compare`, `demo` and the pictures and
//! report ([`crate::figures`]) all read one [`Study`].
//!
//! The representative seed is the lower median by MSE of the learned joint table to `Q*`
//! (averaged over states): a typical seed, neither the best nor the worst.

use crate::learn::train_all;
use crate::present::render::joint_list;
use crate::story::lower_median_index;
use anyhow::{Context, Result};
use neural::config::{Method, TrainConfig};
use neural::learner::{GameData, SeedTables};
use neural::report::{summary_of, verdicts, SeedVerdict, SummaryRow};
use neural::run::{device_name, MethodRun};
use reference::analysis::Analysis;
use reference::exact::Exact;
use reference::ideal::qmix::{project_qmix_with_orders, QmixOptions};
use reference::multistep::greedy_set;
use reference::Utilities;
use std::time::Instant;
use tch::Device;

/// One table shown for a method in one state: learned or exact.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Title, e.g. `learned Q_tot (seed 3)`.
    pub title: String,
    /// A short line of numbers about it, e.g. `MSE to Q* 35.71`.
    pub note: String,
    /// Row-major values.
    pub values: Vec<f64>,
    /// Utilities on the margins, when the factorization has them.
    pub utilities: Option<Vec<Vec<f64>>>,
    /// Greedy joint actions (flat indices).
    pub greedy: Vec<usize>,
}

/// Everything a comparison computed: the exact analysis, the trained runs and their checks.
pub struct Study {
    /// The game as given on the command line.
    pub spec: String,
    /// The game (with the configured discount) as the learners saw it.
    pub data: GameData,
    /// The exact analysis of the same game, computed once: what is shown and what the
    /// learners are measured against ([`Study::exact`]).
    pub analysis: Analysis,
    /// One run per method.
    pub runs: Vec<MethodRun>,
    /// Summary per run.
    pub rows: Vec<SummaryRow>,
    /// Per-seed checks per run.
    pub verdicts: Vec<Vec<SeedVerdict>>,
    /// Per run, the position (in `run.tables`) of the representative seed.
    pub rep: Vec<usize>,
    /// The device, in words.
    pub device: String,
    /// Methods trained at once.
    pub jobs: usize,
    /// Wall-clock seconds of training (all methods).
    pub train_seconds: f64,
}

impl Study {
    /// Analyses `spec` exactly (QMIX search options `qmix`), trains `configs` and checks every
    /// seed against that one analysis.
    pub fn run(
        spec: &str,
        configs: &[TrainConfig],
        dev: Device,
        jobs: usize,
        qmix: &QmixOptions,
    ) -> Result<Study> {
        let game =
            reference::io::load_game(spec).with_context(|| format!("loading game {spec:?}"))?;
        let data = GameData::new(&game, configs.first().and_then(|c| c.gamma))?;
        let analysis = Analysis::of(Exact::with_truth(data.truth.clone(), None, qmix)?)?;
        let start = Instant::now();
        let runs = train_all(&data.game, configs, dev, jobs, &[])?;
        let train_seconds = start.elapsed().as_secs_f64();
        let mut rows = Vec::new();
        let mut all = Vec::new();
        let mut rep = Vec::new();
        for r in &runs {
            let v = verdicts(&data, r, &analysis.exact)?;
            rows.push(summary_of(r, &v));
            let mse: Vec<f64> = v.iter().map(|s| s.mse_payoff).collect();
            rep.push(lower_median_index(&mse).unwrap_or(0));
            all.push(v);
        }
        Ok(Study {
            spec: spec.to_string(),
            data,
            analysis,
            runs,
            rows,
            verdicts: all,
            rep,
            device: device_name(dev),
            jobs,
            train_seconds,
        })
    }

    /// The exact results everything is measured against.
    pub fn exact(&self) -> &Exact {
        &self.analysis.exact
    }

    /// The run of `method`, if it was trained.
    pub fn run_of(&self, method: Method) -> Option<usize> {
        self.runs.iter().position(|r| r.config.method == method)
    }

    /// True when some agent has more than 8 actions: tables are too wide for a terminal.
    pub fn large(&self) -> bool {
        self.actions().iter().any(|a| a.len() > 8)
    }

    /// `" to its bootstrapped target"` for multi-step games (a projection's MSE is measured
    /// against the table it projects, which differs from `Q*` before the last states).
    fn to_target(&self) -> &'static str {
        if self.data.n_states() > 1 {
            " to its bootstrapped target"
        } else {
            ""
        }
    }

    /// The representative seed's tables of run `k`.
    pub fn rep_seed(&self, k: usize) -> &SeedTables {
        &self.runs[k].tables[self.rep[k]]
    }

    /// Action labels per agent.
    pub fn actions(&self) -> &[Vec<String>] {
        &self.analysis.game.actions
    }

    /// Flat indices of the true optimum in state `s`.
    pub fn optimal(&self, s: usize) -> Vec<usize> {
        self.exact().truth.optimal[s].clone()
    }

    /// The methods' display names.
    pub fn display(method: Method) -> &'static str {
        match method {
            Method::Vdn => "VDN",
            Method::Qmix => "QMIX",
            Method::QtranBase => "QTRAN-base",
            Method::QtranAlt => "QTRAN-alt",
            Method::Iql => "IQL",
        }
    }

    /// The representative seed's learned tables of run `k` in state `s`.
    pub fn learned(&self, k: usize, s: usize) -> Vec<Shown> {
        let run = &self.runs[k];
        let seed = self.rep_seed(k);
        let st = &seed.states[s];
        let greedy = st.greedy_joint_set();
        let Some(joint) = st.joint_table() else {
            return Vec::new();
        };
        let u = Some(st.utilities.0.clone());
        let q = &self.exact().truth.q_star[s];
        let who = format!("seed {}", seed.seed);
        if run.config.method.is_qtran() {
            let q_prime = st.q_prime();
            let diff: Vec<f64> = q_prime
                .values()
                .iter()
                .zip(joint.values())
                .map(|(p, j)| p - j)
                .collect();
            let v_jt = st.v_jt.unwrap_or(0.0);
            vec![
                Shown {
                    title: format!("learned Q_jt ({who})"),
                    note: format!("MSE to Q* {:.4}", joint.mse(q, None)),
                    values: joint.values().to_vec(),
                    utilities: u.clone(),
                    greedy: greedy.clone(),
                },
                Shown {
                    title: "learned Q'_jt = Σ Q_i".into(),
                    note: format!("V_jt = {v_jt:.4}"),
                    values: q_prime.values().to_vec(),
                    utilities: u,
                    greedy: greedy.clone(),
                },
                Shown {
                    title: "learned Q'_jt − Q_jt".into(),
                    note: "(4): = −V_jt at the greedy action, ≥ −V_jt elsewhere".into(),
                    values: diff,
                    utilities: None,
                    greedy,
                },
            ]
        } else {
            let name = if run.config.method == Method::Iql {
                "Σ Q_i"
            } else {
                "Q_tot"
            };
            vec![Shown {
                title: format!("learned {name} ({who})"),
                note: format!("MSE to Q* {:.4}", joint.mse(q, None)),
                values: joint.values().to_vec(),
                utilities: u,
                greedy,
            }]
        }
    }

    /// The exact ideal of run `k`'s method in state `s` (empty for IQL).
    pub fn ideal(&self, k: usize, s: usize) -> Vec<Shown> {
        let a = &self.analysis.states[s];
        match self.runs[k].config.method {
            Method::Vdn => {
                let e = &self.exact().vdn[s];
                vec![Shown {
                    title: "exact VDN projection".into(),
                    note: format!(
                        "MSE {:.4}{} (least squares, closed form)",
                        a.vdn.mse,
                        self.to_target()
                    ),
                    values: e.q_tot.values().to_vec(),
                    utilities: Some(e.utilities.0.clone()),
                    greedy: greedy_set(&e.q_tot),
                }]
            }
            Method::Qmix => {
                let e = &self.exact().qmix[s];
                let how = if a.qmix.exact {
                    "proven global"
                } else {
                    "best found, not proven"
                };
                let mut out = vec![Shown {
                    title: "exact QMIX projection".into(),
                    note: format!("MSE {:.4}{} ({how})", a.qmix.mse, self.to_target()),
                    values: e.q_tot.values().to_vec(),
                    utilities: None,
                    greedy: greedy_set(&e.q_tot),
                }];
                if let Some(fit) = self.fit_under_learned_orders(k, s) {
                    out.push(fit);
                }
                out
            }
            Method::QtranBase | Method::QtranAlt => {
                let q = &self.exact().truth.q_star[s];
                match (&a.qtran.utilities, &a.qtran.q_prime) {
                    (Some(u), Some(qp)) => {
                        let greedy = Utilities(u.clone()).greedy_joint_set();
                        let diff: Vec<f64> =
                            qp.iter().zip(q.values()).map(|(p, t)| p - t).collect();
                        let yn = |b: bool| if b { "holds" } else { "fails" };
                        vec![
                            Shown {
                                title: "exact QTRAN: Q_jt = Q*".into(),
                                note: "its class is unrestricted".into(),
                                values: q.values().to_vec(),
                                utilities: Some(u.clone()),
                                greedy: greedy.clone(),
                            },
                            Shown {
                                title: "exact Q'_jt = Σ Q_i".into(),
                                note: format!("V_jt = {:.4}", a.qtran.v_jt.unwrap_or(0.0)),
                                values: qp.clone(),
                                utilities: Some(u.clone()),
                                greedy: greedy.clone(),
                            },
                            Shown {
                                title: "exact Q'_jt − Q_jt".into(),
                                note: format!(
                                    "(4a) {}, (4b) {}, (7) {}",
                                    yn(a.qtran.cond_4a),
                                    yn(a.qtran.cond_4b),
                                    yn(a.qtran.cond_7)
                                ),
                                values: diff,
                                utilities: None,
                                greedy,
                            },
                        ]
                    }
                    _ => vec![Shown {
                        title: "exact QTRAN: Q_jt = Q*".into(),
                        note: "no utilities satisfy IGM here".into(),
                        values: q.values().to_vec(),
                        utilities: None,
                        greedy: Vec::new(),
                    }],
                }
            }
            Method::Iql => Vec::new(),
        }
    }

    /// QMIX: the exact best fit to the table QMIX projects (its bootstrapped target) among
    /// tables monotone along the representative seed's learned action orders — what the learned
    /// mixer could reach at best *given the orders it settled on*.
    pub fn fit_under_learned_orders(&self, k: usize, s: usize) -> Option<Shown> {
        let st = &self.rep_seed(k).states[s];
        let orders = st.utilities.ascending_orders();
        let target = &self.exact().qmix_targets[s];
        let fit = project_qmix_with_orders(target, &orders, None).ok()?;
        let words: Vec<String> = orders
            .iter()
            .zip(self.actions())
            .map(|(o, l)| {
                o.iter()
                    .map(|&a| l[a].as_str())
                    .collect::<Vec<_>>()
                    .join("<")
            })
            .collect();
        let orders = if self.large() {
            String::new()
        } else {
            format!("; orders {}", words.join(", "))
        };
        Some(Shown {
            title: "exact best fit under the learned orders".into(),
            note: format!("MSE {:.4}{}{orders}", fit.mse, self.to_target()),
            values: fit.q_tot.values().to_vec(),
            utilities: None,
            greedy: greedy_set(&fit.q_tot),
        })
    }

    /// The per-seed greedy joint actions of run `k` in state `s`, with how many seeds chose
    /// each (most common first).
    pub fn greedy_counts(&self, k: usize, s: usize) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for seed in &self.runs[k].tables {
            let set = seed.states[s].greedy_joint_set();
            let labels: Vec<Vec<String>> = set
                .iter()
                .map(|&j| self.data.game.joint_labels(&self.data.joint_actions[j]))
                .collect();
            let key = joint_list(&labels);
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some(c) => c.1 += 1,
                None => counts.push((key, 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        counts
    }

    /// `k of K seeds (p%, 95% CI lo–hi%)` for run `k`.
    pub fn optimal_share(&self, k: usize) -> String {
        let r = &self.rows[k];
        let n = self.verdicts[k].iter().filter(|v| v.optimal).count();
        format!(
            "{n} of {} seeds ({:.0}%, 95% CI {:.0}–{:.0}%)",
            r.seeds,
            100.0 * r.optimal_rate,
            100.0 * r.optimal_rate_lo,
            100.0 * r.optimal_rate_hi
        )
    }

    /// `config.json`'s content.
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::json!({
            "game": self.spec,
            "device": self.device,
            "jobs": self.jobs,
            "qmix_ideal_exact": self.exact().qmix_exact(),
            "representative_seed": "lower median by MSE of the learned joint table to Q*",
            "runs": self.runs.iter().map(|r| &r.config).collect::<Vec<_>>(),
        })
    }
}
