//! `qfactor compare GAME`: trains every method (many seeds at once) and shows, per method and
//! state, the learned tables of a representative seed next to the exact ideal of the same
//! method, in the QTRAN paper's Table 1 layout, with the share of seeds that found the optimum.
//! With `--out DIR` it writes what `train` writes plus pictures and `report.html`.
//!
//! The representative seed is the lower median by MSE of the learned joint table to `Q*`
//! (averaged over states): a typical seed, neither the best nor the worst.

use crate::figures;
use crate::learn::{configs, jobs_for, train_all, LearnArgs};
use crate::output::OutputDir;
use crate::render::{joint_list, render, TableView};
use crate::story::{lower_median_index, orders_from_utilities};
use crate::style::Style;
use anyhow::{Context, Result};
use neural::config::{Method, TrainConfig};
use neural::learner::{GameData, SeedTables};
use neural::report::{
    curves_csv, summary_csv, summary_of, tables_csv, verdicts, SeedVerdict, SummaryRow,
};
use neural::run::{device, device_name, MethodRun};
use reference::analysis::Analysis;
use reference::exact::Exact;
use reference::ideal::qmix::project_qmix_with_orders;
use reference::ideal::qmix::{QmixBudget, QmixOptions};
use reference::multistep::greedy_set;
use reference::table::JointTable;
use reference::Utilities;
use std::path::PathBuf;
use std::time::Instant;
use tch::Device;

/// Arguments of `qfactor compare`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "The learned tables shown are one representative seed's: the lower median \
                        by MSE to the true table Q* among the K seeds.\n\nWith --out DIR: \
                        config.json, tables.csv, summary.csv, curves.csv (as `train`), \
                        pictures/*.png (heatmaps and learning curves) and report.html (one \
                        self-contained page).\n\nExamples:\n  qfactor compare paper-table1\n  \
                        qfactor compare paper-table1 --seeds 32 --steps 10000 --out run\n  \
                        qfactor compare twentyone --method vdn,qmix,qtran-base --out fig2\n  \
                        qfactor compare two-step --device cuda --out run --force"
)]
pub struct CompareArgs {
    /// The game: a built-in name (`paper-table1`, `two-step`, …) or a game file.
    pub game: String,
    /// Independent seeds K per method, trained together.
    #[arg(long, default_value_t = 16)]
    pub seeds: usize,
    /// Environment steps per seed.
    #[arg(long, default_value_t = 5_000)]
    pub steps: usize,
    #[command(flatten)]
    pub learn: LearnArgs,
    /// Write tables, pictures and report.html into this directory (atomically; never
    /// replaced without --force).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Print the per-method summary as JSON on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Work budget of the exact QMIX search per state, for the ideal shown and measured
    /// against: `full` (the default: seconds per state at most), `interactive`
    /// (milliseconds), or a number of work units. A search cut short is labelled heuristic.
    #[arg(long, value_name = "BUDGET", default_value = "full", value_parser = crate::analyze::parse_budget)]
    pub qmix_budget: QmixBudget,
}

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
        let analysis = Analysis::of(Exact::compute(&data.game, None, qmix)?)?;
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
            let q_prime = JointTable::additive(&st.utilities);
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
        let orders = orders_from_utilities(&st.utilities);
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

/// Width available for side-by-side tables: `COLUMNS`, else the terminal's width, else 120
/// columns (output to a file or pipe).
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| w.0 as usize))
        .filter(|&w| w >= 40)
        .unwrap_or(120)
}

/// Text lines of one shown table.
fn table_lines(study: &Study, s: usize, shown: &Shown) -> Vec<String> {
    let optimal = study.optimal(s);
    let text = render(&TableView {
        title: format!("{} — {}", shown.title, shown.note),
        actions: study.actions(),
        values: &shown.values,
        utilities: shown.utilities.as_deref(),
        optimal: &optimal,
        greedy: &shown.greedy,
    });
    text.lines().map(str::to_string).collect()
}

/// Lays blocks of lines side by side (separated by `gap` spaces) when they fit in `width`,
/// else one below the other. Titles wider than their table are cut to the table's width when
/// side by side.
pub fn side_by_side(blocks: &[Vec<String>], gap: usize, width: usize) -> Vec<String> {
    let w = |l: &String| l.chars().count();
    let body_w: Vec<usize> = blocks
        .iter()
        .map(|b| b.iter().skip(1).map(w).max().unwrap_or(0).max(24))
        .collect();
    let total: usize = body_w.iter().sum::<usize>() + gap * blocks.len().saturating_sub(1);
    if blocks.len() <= 1 || total > width {
        return blocks
            .iter()
            .flat_map(|b| b.iter().cloned().chain([String::new()]))
            .collect();
    }
    let height = blocks.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(height + 1);
    for row in 0..height {
        let mut line = String::new();
        for (b, block) in blocks.iter().enumerate() {
            let cell = block.get(row).cloned().unwrap_or_default();
            let cell: String = if w(&cell) > body_w[b] {
                let mut c: String = cell.chars().take(body_w[b].saturating_sub(1)).collect();
                c.push('…');
                c
            } else {
                cell
            };
            if b + 1 < blocks.len() {
                line.push_str(&format!(
                    "{cell:<width$}{}",
                    " ".repeat(gap),
                    width = body_w[b]
                ));
            } else {
                line.push_str(&cell);
            }
        }
        out.push(line.trim_end().to_string());
    }
    out.push(String::new());
    out
}

/// Prints blocks (a title line, then a table) in groups that fit `width` side by side: each
/// group of several tables lists its titles first, lettered, so that no title is ever cut.
fn titled_blocks(blocks: Vec<Vec<String>>, width: usize) -> Vec<String> {
    let gap = 3;
    let body_w = |b: &Vec<String>| {
        b.iter()
            .skip(1)
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .max(24)
    };
    // Greedy packing of consecutive blocks into groups that fit.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for (i, b) in blocks.iter().enumerate() {
        let w = body_w(b);
        match groups.last_mut() {
            Some(g) if used + gap + w <= width => {
                g.push(i);
                used += gap + w;
            }
            _ => {
                groups.push(vec![i]);
                used = w;
            }
        }
    }
    let letter = |i: usize| format!("({})", (b'a' + (i % 26) as u8) as char);
    let mut out = Vec::new();
    for g in groups {
        if g.len() == 1 {
            out.extend(blocks[g[0]].iter().cloned());
            out.push(String::new());
            continue;
        }
        for &i in &g {
            out.push(format!(
                "{} {}",
                letter(i),
                blocks[i].first().cloned().unwrap_or_default()
            ));
        }
        let bodies: Vec<Vec<String>> = g
            .iter()
            .map(|&i| {
                let mut v = vec![letter(i)];
                v.extend(blocks[i].iter().skip(1).cloned());
                v
            })
            .collect();
        out.extend(side_by_side(&bodies, gap, usize::MAX));
    }
    out
}

/// One method's heading in state `s`: its share of optimal seeds and the greedy joint
/// actions its seeds chose.
fn method_header(
    out: &mut String,
    study: &Study,
    style: Style,
    k: usize,
    method: Method,
    s: usize,
) {
    out.push_str(&format!(
        "\n{} optimal in {}\n",
        style.bold(&format!("-- {}:", Study::display(method))),
        study.optimal_share(k)
    ));
    let counts = study.greedy_counts(k, s);
    let list: Vec<String> = counts.iter().map(|(a, n)| format!("{a} ×{n}")).collect();
    out.push_str(&format!(
        "   greedy joint actions over seeds: {}\n",
        list.join(", ")
    ));
}

/// The terminal comparison of every method.
pub fn comparison_text(study: &Study, style: Style) -> String {
    let width = terminal_width();
    let mut out = String::new();
    let g = &study.analysis.game;
    let cfg = &study.runs[0].config;
    out.push_str(&style.bold(&format!("Compare on {}", g.name)));
    out.push_str(&format!(
        "\n{} seeds × {} steps per method on {} ({} at a time), trained in {:.1} s.\n",
        cfg.seeds,
        cfg.steps,
        study.device,
        if study.jobs == 1 {
            "one method".to_string()
        } else {
            format!("{} methods", study.jobs)
        },
        study.train_seconds
    ));
    out.push_str(
        "Learned tables are one representative seed: the lower median by MSE to the true table \
         Q*.\n`*` = optimal for the true table; [x] = greedy joint action of the shown \
         utilities (or table); numbers in brackets on the margins are the utilities Q_i.\n",
    );
    let multi = study.data.n_states() > 1;
    let large = study.large();
    if large {
        out.push_str(
            "The tables are too wide for a terminal (more than 8 actions per agent): below are \
             their summaries; --out DIR writes them (tables.csv), as heatmaps and in report.html.\n",
        );
    }
    for (s, st) in study.analysis.states.iter().enumerate() {
        if multi {
            out.push_str(&format!(
                "\n{}\n",
                style.bold(&format!("== state {}", st.state))
            ));
        }
        if large {
            out.push_str(&format!(
                "\noptimal joint action(s): {} = {:.4}\n",
                joint_list(&st.optimal),
                study.exact().truth.q_star[s].max()
            ));
            for (k, run) in study.runs.iter().enumerate() {
                method_header(&mut out, study, style, k, run.config.method, s);
                for t in study.learned(k, s).iter().chain(&study.ideal(k, s)) {
                    let greedy: Vec<Vec<String>> = t
                        .greedy
                        .iter()
                        .map(|&j| study.data.game.joint_labels(&study.data.joint_actions[j]))
                        .collect();
                    let g = if greedy.is_empty() {
                        String::new()
                    } else {
                        format!("; greedy {}", joint_list(&greedy))
                    };
                    out.push_str(&format!("   {} — {}{g}\n", t.title, t.note));
                }
            }
            continue;
        }
        let q_view = Shown {
            title: if multi {
                "Q*(s, u)".into()
            } else {
                "payoff Q".into()
            },
            note: format!("optimal {}", joint_list(&st.optimal)),
            values: st.q.clone(),
            utilities: None,
            greedy: Vec::new(),
        };
        out.push('\n');
        for l in table_lines(study, s, &q_view) {
            out.push_str(&style.table_line(&l));
            out.push('\n');
        }
        for (k, run) in study.runs.iter().enumerate() {
            let m = run.config.method;
            method_header(&mut out, study, style, k, m, s);
            let learned: Vec<Vec<String>> = study
                .learned(k, s)
                .iter()
                .map(|t| table_lines(study, s, t))
                .collect();
            let ideal: Vec<Vec<String>> = study
                .ideal(k, s)
                .iter()
                .map(|t| table_lines(study, s, t))
                .collect();
            if ideal.is_empty() {
                out.push_str(
                    "   (no exact ideal: independent learners are not a factorization class)\n",
                );
            }
            // Learned beside exact when three tables fit a row; else learned, then exact.
            let rows: Vec<Vec<Vec<String>>> = if learned.len() + ideal.len() <= 3 {
                vec![learned.into_iter().chain(ideal).collect()]
            } else {
                vec![learned, ideal]
            };
            for row in rows.into_iter().filter(|r| !r.is_empty()) {
                for l in titled_blocks(row, width) {
                    out.push_str(&style.table_line(&l));
                    out.push('\n');
                }
            }
        }
    }
    out.push('\n');
    out.push_str(&crate::train::summary_table(&study.rows));
    out
}

/// Writes what `train` writes plus the pictures (`extra` ones first) and `report.html` into
/// `out` under `prefix` (`""` or `"name/"`). Returns the pictures' names.
pub fn write_outputs(
    study: &Study,
    out: &OutputDir,
    prefix: &str,
    command: &str,
    extra: Vec<figures::Picture>,
) -> Result<Vec<String>> {
    let name = |f: &str| format!("{prefix}{f}");
    out.write(
        &name("config.json"),
        serde_json::to_string_pretty(&study.config_json())?.as_bytes(),
    )?;
    out.write(
        &name("tables.csv"),
        tables_csv(&study.data, &study.runs, study.exact())?.as_bytes(),
    )?;
    out.write(&name("summary.csv"), summary_csv(&study.rows).as_bytes())?;
    out.write(&name("curves.csv"), curves_csv(&study.runs).as_bytes())?;
    let mut pictures = extra;
    pictures.extend(figures::all(study)?);
    let mut names = Vec::new();
    for p in &pictures {
        out.write(&name(&format!("pictures/{}", p.file)), &p.png)?;
        names.push(format!("pictures/{}", p.file));
    }
    let html = figures::report_html(study, &pictures, command)?;
    out.write(&name("report.html"), html.as_bytes())?;
    Ok(names)
}

/// Runs `qfactor compare`.
pub fn run(args: &CompareArgs) -> Result<()> {
    let configs = configs(&args.game, args.seeds, args.steps, &args.learn)?;
    // Check the game and the output directory before training.
    reference::io::load_game(&args.game)
        .with_context(|| format!("loading game {:?}", args.game))?;
    let out = match &args.out {
        Some(dir) => Some(OutputDir::create(dir, args.force)?),
        None => None,
    };
    let (dev, note) = device(&args.learn.device)?;
    if let Some(note) = note {
        tracing::info!("{note}");
    }
    let jobs = jobs_for(args.learn.jobs, &configs, dev);
    tracing::debug!("{} methods, {jobs} at a time", configs.len());
    let study = Study::run(
        &args.game,
        &configs,
        dev,
        jobs,
        &QmixOptions::with_budget(args.qmix_budget),
    )?;
    if let Some(out) = out {
        let command: Vec<String> = std::env::args().collect();
        let names = write_outputs(&study, &out, "", &command.join(" "), Vec::new())?;
        let dest = out.commit()?;
        tracing::info!(
            "wrote {} (tables, summary, curves, {} pictures, report.html)",
            dest.display(),
            names.len()
        );
    } else {
        tracing::info!("add --out DIR to write the tables, pictures and report.html");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&study.rows)?);
    } else {
        print!("{}", comparison_text(&study, Style::stdout()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_fits_or_stacks() {
        let a = vec!["title a".to_string(), "  1  2".into(), "  3  4".into()];
        let b = vec!["title b".to_string(), "  5".into()];
        let wide = side_by_side(&[a.clone(), b.clone()], 2, 200);
        assert_eq!(wide.len(), 4);
        assert!(
            wide[1].starts_with("  1  2") && wide[1].ends_with("  5"),
            "{wide:?}"
        );
        let narrow = side_by_side(&[a, b], 2, 30);
        assert_eq!(narrow.len(), 3 + 1 + 2 + 1);
    }
}
