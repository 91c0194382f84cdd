//! The pictures and the report of a [`Study`]: which tables go into which heatmap, the
//! learning curves, and the sections of `report.html`. Numbers come from the study (the exact
//! reference and the learners); this module only arranges them.

use crate::present::exact_figure::PanelSpec;
use crate::present::html::{
    render_html, Block, Cell, JointGrid, Report, Section, Tone, JOINT_TABLE_KEY,
};
use crate::present::plot::curves::{curves_png, CurvesFigure, Series};
use crate::present::plot::heatmap::{heatmap_png, Figure, Panel};
use crate::present::render::{joint_list, TableView};
use crate::story::curve_bands;
use crate::study::{Shown, Study};
use anyhow::Result;
use neural::config::Method;

/// One picture: its file name under `pictures/`, a title and caption for the report, and the
/// PNG bytes.
#[derive(Debug, Clone)]
pub struct Picture {
    /// File name, e.g. `comparison.png`.
    pub file: String,
    /// Title.
    pub title: String,
    /// Caption (what is shown and how to read it).
    pub caption: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

use crate::present::exact_figure::{GREEDY_LABEL, OPTIMAL_LABEL};

fn panel(study: &Study, s: usize, prefix: &str, shown: &Shown) -> Panel {
    let state = (study.data.n_states() > 1).then(|| study.analysis.states[s].state.as_str());
    let optimal = study.optimal(s);
    crate::present::exact_figure::panel(
        &study.analysis,
        state,
        PanelSpec {
            title: format!("{prefix}{}", shown.title),
            note: shown.note.clone(),
            values: &shown.values,
            utilities: shown.utilities.as_deref(),
            optimal: &optimal,
            greedy: &shown.greedy,
        },
    )
}

fn payoff_shown(study: &Study, s: usize) -> Shown {
    let st = &study.analysis.states[s];
    Shown {
        title: if study.data.n_states() > 1 {
            "Q*(s, u)".into()
        } else {
            "payoff Q*".into()
        },
        note: format!(
            "optimum {} = {:.4}",
            joint_list(&st.optimal),
            study.exact().truth.q_star[s].max()
        ),
        values: st.q.clone(),
        utilities: None,
        greedy: Vec::new(),
    }
}

fn setting_note(study: &Study) -> String {
    let c = &study.runs[0].config;
    format!(
        "{} seeds × {} steps per method on {}; learned tables are the representative seed \
         (the lower median by MSE to Q*); exact ideals from qfactor's reference.",
        c.seeds, c.steps, study.device
    )
}

fn figure(title: String, notes: Vec<String>, rows: Vec<Vec<Panel>>) -> Figure {
    Figure {
        title,
        notes,
        rows,
        value_label: "value".into(),
        optimal_label: OPTIMAL_LABEL.into(),
        greedy_label: GREEDY_LABEL.into(),
    }
}

fn file_safe(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every picture of a study.
pub fn all(study: &Study) -> Result<Vec<Picture>> {
    let mut out = Vec::new();
    let name = &study.analysis.game.name;
    let multi = study.data.n_states() > 1;
    for s in 0..study.data.n_states() {
        let rows = overview_rows(study, s);
        let (file, title) = if multi {
            let l = &study.analysis.states[s].state;
            (
                format!("comparison-state-{}.png", file_safe(l)),
                format!("{name}, state {l}: learned versus exact"),
            )
        } else {
            (
                "comparison.png".to_string(),
                format!("{name}: learned versus exact"),
            )
        };
        let png = heatmap_png(&figure(title.clone(), vec![setting_note(study)], rows))?;
        out.push(Picture {
            file,
            title,
            caption: "The payoff, then per method the learned tables of the representative seed \
                      beside the exact ideal of the same class (QTRAN's exact factorization once, \
                      after both QTRAN rows). Shared diverging colour scale (red below zero, blue \
                      above)."
                .into(),
            png,
        });
    }
    // Curves.
    let series: Vec<Series> = study
        .runs
        .iter()
        .map(|r| {
            let (loss, optimal) = curve_bands(&r.curve);
            Series {
                method: r.config.method.name().into(),
                label: Study::display(r.config.method).into(),
                loss,
                optimal,
            }
        })
        .collect();
    let c = &study.runs[0].config;
    let curves = CurvesFigure {
        title: format!("{name}: learning curves"),
        notes: vec![format!(
            "{} seeds per method, logged every {} steps.",
            c.seeds,
            c.effective_log_every()
        )],
        series,
        loss_caption: "Training loss: mean over seeds; band from the 10th to the 90th percentile"
            .into(),
        optimal_caption:
            "Seeds whose greedy joint action is optimal: share; band = 95% Wilson interval".into(),
    };
    out.push(Picture {
        file: "curves.png".into(),
        title: format!("{name}: learning curves"),
        caption: "Loss (log scale) and the share of seeds whose greedy policy is optimal, against \
                  environment steps, per method."
            .into(),
        png: curves_png(&curves)?,
    });
    // The exact ideals alone.
    out.push(Picture {
        file: "exact.png".into(),
        title: format!("{name}: exact ideals"),
        caption: "The payoff and the best each class can do (exact VDN least-squares projection, \
                  global QMIX monotonic projection, an exact QTRAN factorization)."
            .into(),
        png: crate::present::exact_figure::exact_png(&study.analysis)?,
    });
    // One figure per method.
    for (k, run) in study.runs.iter().enumerate() {
        let m = run.config.method;
        let rows: Vec<Vec<Panel>> = (0..study.data.n_states())
            .flat_map(|s| {
                let learned: Vec<Panel> = study
                    .learned(k, s)
                    .iter()
                    .map(|t| panel(study, s, "", t))
                    .collect();
                let ideal: Vec<Panel> = study
                    .ideal(k, s)
                    .iter()
                    .map(|t| panel(study, s, "", t))
                    .collect();
                if learned.len() + ideal.len() <= 3 {
                    vec![learned.into_iter().chain(ideal).collect::<Vec<_>>()]
                } else {
                    vec![learned, ideal]
                }
            })
            .filter(|r| !r.is_empty())
            .collect();
        let title = format!("{name}: {}", Study::display(m));
        out.push(Picture {
            file: format!("{}.png", m.name()),
            title: title.clone(),
            caption: format!(
                "{}: optimal in {}.",
                Study::display(m),
                study.optimal_share(k)
            ),
            png: heatmap_png(&figure(title, vec![setting_note(study)], rows))?,
        });
    }
    Ok(out)
}

/// The overview of state `s`, at most three panels a row: the payoff; per method its learned
/// tables beside its exact ideal (QTRAN's exact factorization once, after the QTRAN rows).
fn overview_rows(study: &Study, s: usize) -> Vec<Vec<Panel>> {
    let mut rows = vec![vec![panel(study, s, "", &payoff_shown(study, s))]];
    let mut qtran_exact: Option<Vec<Panel>> = None;
    for (k, run) in study.runs.iter().enumerate() {
        let m = run.config.method;
        let who = format!("{} · ", Study::display(m));
        let learned: Vec<Panel> = study
            .learned(k, s)
            .iter()
            .map(|t| panel(study, s, &who, t))
            .collect();
        if m.is_qtran() {
            rows.push(learned);
            // The exact QTRAN factorization minus Q_jt = Q* (the payoff, shown first).
            let exact: Vec<Panel> = study
                .ideal(k, s)
                .iter()
                .skip(1)
                .map(|t| panel(study, s, "QTRAN · ", t))
                .collect();
            qtran_exact.get_or_insert(exact);
            continue;
        }
        if let Some(exact) = qtran_exact.take().filter(|e| !e.is_empty()) {
            rows.push(exact);
        }
        let mut row = learned;
        row.extend(study.ideal(k, s).iter().map(|t| panel(study, s, &who, t)));
        rows.push(row);
    }
    if let Some(exact) = qtran_exact.filter(|e| !e.is_empty()) {
        rows.push(exact);
    }
    rows
}

/// The demo's evidence on a one-state game in one picture, three panels a row: the payoff
/// beside VDN's exact projection and its learned table; QMIX's global projection, its best fit
/// under the learned orders and its learned table; QTRAN's learned `Q_jt` and `Q'_jt − Q_jt`.
/// Rows of methods that were not trained are left out.
pub fn story(study: &Study) -> Result<Picture> {
    let name = &study.analysis.game.name;
    let s = 0;
    let mut rows: Vec<Vec<Panel>> = Vec::new();
    let mut first = vec![panel(study, s, "", &payoff_shown(study, s))];
    let mut shares = Vec::new();
    let mut push_share = |k: usize, m: Method| {
        shares.push(format!("{} {}", Study::display(m), study.optimal_share(k)))
    };
    if let Some(k) = study.run_of(Method::Vdn) {
        push_share(k, Method::Vdn);
        first.extend(
            study
                .ideal(k, s)
                .iter()
                .map(|t| panel(study, s, "VDN · ", t)),
        );
        first.extend(
            study
                .learned(k, s)
                .iter()
                .map(|t| panel(study, s, "VDN · ", t)),
        );
    }
    rows.push(first);
    if let Some(k) = study.run_of(Method::Qmix) {
        push_share(k, Method::Qmix);
        let mut row: Vec<Panel> = study
            .ideal(k, s)
            .iter()
            .map(|t| panel(study, s, "QMIX · ", t))
            .collect();
        row.extend(
            study
                .learned(k, s)
                .iter()
                .map(|t| panel(study, s, "QMIX · ", t)),
        );
        rows.push(row);
    }
    let mut qtran = Vec::new();
    for m in [Method::QtranBase, Method::QtranAlt] {
        if let Some(k) = study.run_of(m) {
            push_share(k, m);
            let who = format!("{} · ", Study::display(m));
            let learned = study.learned(k, s);
            if qtran.is_empty() {
                if let Some(t) = learned.first() {
                    qtran.push(panel(study, s, &who, t));
                }
            }
            if let Some(t) = learned.last() {
                qtran.push(panel(study, s, &who, t));
            }
        }
    }
    if !qtran.is_empty() {
        rows.push(qtran);
    }
    let c = &study.runs[0].config;
    let title = format!("{name}: what each class can reach, and what the learners reached");
    let notes = vec![
        format!(
            "{} seeds × {} steps per method; learned tables are the representative seed (lower median by MSE to Q*).",
            c.seeds, c.steps
        ),
        format!("Seeds whose greedy joint action is optimal: {}.", shares.join("; ")),
    ];
    let png = heatmap_png(&figure(title.clone(), notes, rows))?;
    Ok(Picture {
        file: "story.png".into(),
        title,
        caption: "The demo's evidence: each class's exact ideal beside what its learners reached."
            .into(),
        png,
    })
}

fn grid(study: &Study, s: usize, prefix: &str, t: &Shown) -> JointGrid {
    let optimal = study.optimal(s);
    let state = if study.data.n_states() > 1 {
        format!("state {}: ", study.analysis.states[s].state)
    } else {
        String::new()
    };
    JointGrid::from_view(&TableView {
        title: format!("{state}{prefix}{} — {}", t.title, t.note),
        actions: study.actions(),
        values: &t.values,
        utilities: t.utilities.as_deref(),
        optimal: &optimal,
        greedy: &t.greedy,
    })
}

fn yes_no(b: bool, yes: &str, no: &str) -> Cell {
    if b {
        Cell::toned(yes, Tone::Good)
    } else {
        Cell::toned(no, Tone::Bad)
    }
}

fn f4(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "–".into())
}

/// The report's sections for a study.
pub fn report_sections(study: &Study, pictures: &[Picture], command: &str) -> Result<Vec<Section>> {
    let a = &study.analysis;
    let g = &a.game;
    let multi = study.data.n_states() > 1;
    let small = study.data.joint <= 64;
    let mut sections = Vec::new();

    // The game.
    let mut facts: Vec<(String, Cell)> = g
        .agents
        .iter()
        .zip(&g.actions)
        .map(|(n, acts)| (n.clone(), Cell::plain(acts.join(", "))))
        .collect();
    if multi {
        facts.push((
            "states".into(),
            Cell::plain(format!("{} (initial {})", g.states.join(", "), g.initial)),
        ));
        facts.push(("discount γ".into(), Cell::plain(format!("{}", g.gamma))));
    }
    let mut blocks = vec![Block::Facts(facts)];
    if small {
        blocks.push(Block::Paragraph(JOINT_TABLE_KEY.into()));
        blocks.push(Block::JointTables(
            (0..study.data.n_states())
                .map(|s| grid(study, s, "", &payoff_shown(study, s)))
                .collect(),
        ));
    }
    sections.push(Section {
        heading: "The game".into(),
        blocks,
    });

    // Exact analysis.
    let mut blocks = Vec::new();
    for (s, st) in a.states.iter().enumerate() {
        if multi {
            blocks.push(Block::Subheading(format!("State {}", st.state)));
        }
        blocks.push(Block::Facts(vec![
            (
                "optimal joint action(s)".into(),
                Cell::plain(format!(
                    "{} = {:.4}",
                    joint_list(&st.optimal),
                    study.exact().truth.q_star[s].max()
                )),
            ),
            (
                "IGM-factorizable".into(),
                yes_no(
                    st.igm_factorizable,
                    "yes: the argmax set is a product set",
                    "no: the argmax set is not a product set",
                ),
            ),
        ]));
        let verdict = |keeps: bool| yes_no(keeps, "keeps the optimum", "LOSES the optimum");
        let q = &st.qtran;
        let qtran_detail = format!(
            "(4a) {}, (4b) {}, (7) {} [{}]{}",
            if q.cond_4a { "holds" } else { "fails" },
            if q.cond_4b { "holds" } else { "fails" },
            if q.cond_7 { "holds" } else { "fails" },
            q.cond_7_status,
            q.affine_scale
                .map(|x| {
                    format!(
                        "; Theorem 1 still holds with the utilities (and V_jt) multiplied by any \
                         common factor a ≤ {x:.4}"
                    )
                })
                .unwrap_or_default()
        );
        let orders: Vec<String> = st
            .qmix
            .orders
            .iter()
            .enumerate()
            .map(|(i, o)| format!("agent {}: {}", i + 1, o.join(" < ")))
            .collect();
        blocks.push(Block::Table {
            caption: Some(if multi {
                "Each class's ideal: the best it can represent (uniform weights; in each state \
                 it projects its own bootstrapped target, and its MSE is to that target)"
                    .into()
            } else {
                "Each class's ideal: the best it can represent (uniform weights)".into()
            }),
            header: vec![
                "class".into(),
                "ideal".into(),
                "MSE".into(),
                "greedy".into(),
                "verdict".into(),
                "details".into(),
            ],
            rows: vec![
                vec![
                    Cell::plain("VDN"),
                    Cell::plain("least-squares additive projection (closed form)"),
                    Cell::plain(format!("{:.4}", st.vdn.mse)),
                    Cell::plain(joint_list(&st.vdn.greedy)),
                    verdict(st.vdn.keeps_optimal),
                    Cell::plain("exact"),
                ],
                vec![
                    Cell::plain("QMIX"),
                    Cell::plain("global monotonic projection"),
                    Cell::plain(format!("{:.4}", st.qmix.mse)),
                    Cell::plain(joint_list(&st.qmix.greedy)),
                    if st.qmix.exact {
                        verdict(st.qmix.keeps_optimal)
                    } else {
                        // Unproven: a heuristic result, never shown as a fact (nor in red).
                        Cell::plain(if st.qmix.keeps_optimal {
                            "heuristic: its best known fit keeps the optimum"
                        } else {
                            "heuristic: its best known fit loses the optimum (not proven)"
                        })
                    },
                    Cell::plain(format!(
                        "{}; orders {}",
                        if st.qmix.exact {
                            format!("exact ({})", st.qmix.method)
                        } else {
                            format!("NOT proven global ({})", st.qmix.method)
                        },
                        orders.join("; ")
                    )),
                ],
                vec![
                    Cell::plain("QTRAN"),
                    Cell::plain("Q_jt = Q*, utilities meeting Theorem 1"),
                    Cell::plain("0"),
                    Cell::plain(if q.utilities.is_some() {
                        joint_list(&st.optimal)
                    } else {
                        "–".into()
                    }),
                    verdict(q.keeps_optimal),
                    Cell::plain(qtran_detail),
                ],
            ],
        });
    }
    if multi {
        let r = &a.returns;
        let range = |x: [f64; 2]| crate::present::render::return_range(x, "");
        blocks.push(Block::Facts(vec![
            (
                "optimal return".into(),
                Cell::plain(format!("{}", r.optimal)),
            ),
            (
                "VDN ideal's greedy return".into(),
                Cell::plain(range(r.vdn)),
            ),
            (
                "QMIX ideal's greedy return".into(),
                Cell::plain(range(r.qmix)),
            ),
            (
                "QTRAN ideal's greedy return".into(),
                Cell::plain(range(r.qtran)),
            ),
        ]));
    }
    sections.push(Section {
        heading: "Exact analysis".into(),
        blocks,
    });

    // Learned results.
    let mut blocks = vec![Block::Paragraph(format!(
        "{} Optimal: the seed's greedy policy (every tie-break) obtains the optimal return. \
         Intervals are 95% Wilson score intervals.",
        setting_note(study)
    ))];
    let header = [
        "method",
        "seeds optimal",
        "share",
        "95% CI",
        "IGM holds",
        "MSE to Q*",
        "MSE to ideal",
        "MSE to ideal (replay weights)",
        "QMIX: MSE to best fit under learned orders",
        "(4a) residual",
        "(4b) violation",
        "(7) residual",
        "representative seed",
        "seconds",
    ];
    let rows = study
        .rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let n = study.verdicts[k].iter().filter(|v| v.optimal).count();
            let tone = if n == r.seeds {
                Tone::Good
            } else if n == 0 {
                Tone::Bad
            } else {
                Tone::Plain
            };
            vec![
                Cell::plain(Study::display(study.runs[k].config.method)),
                Cell::toned(format!("{n} of {}", r.seeds), tone),
                Cell::plain(format!("{:.0}%", 100.0 * r.optimal_rate)),
                Cell::plain(format!(
                    "{:.0}–{:.0}%",
                    100.0 * r.optimal_rate_lo,
                    100.0 * r.optimal_rate_hi
                )),
                Cell::plain(format!("{:.0}%", 100.0 * r.igm_rate)),
                Cell::plain(format!("{:.4}", r.mse_payoff)),
                Cell::plain(f4(r.mse_ideal)),
                Cell::plain(f4(r.mse_ideal_sampled)),
                Cell::plain(f4(r.mse_orders_fit)),
                Cell::plain(f4(r.cond_4a_violation)),
                Cell::plain(f4(r.cond_4b_violation)),
                Cell::plain(f4(r.cond_7_violation)),
                Cell::plain(format!("{}", study.rep_seed(k).seed)),
                Cell::plain(format!("{:.1}", r.seconds)),
            ]
        })
        .collect();
    blocks.push(Block::Table {
        caption: Some(
            "IGM holds: share of seeds whose utilities' greedy joint actions maximise their own \
             learned joint table in every state, to the learned-value tolerance (abs 1e-5, rel \
             1e-5) — true by construction for VDN and QMIX, so it says nothing about \
             optimality there. MSE to ideal: to the class's exact ideal under uniform weights; \
             under replay weights: to the ideal for the joint actions each seed's replay buffer \
             holds. (4a), (4b), (7): QTRAN's conditions on the learned Q_jt, mean over seeds of \
             the largest residual."
                .into(),
        ),
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
    });
    if small {
        blocks.push(Block::Paragraph(JOINT_TABLE_KEY.into()));
    }
    for (k, run) in study.runs.iter().enumerate() {
        let m = run.config.method;
        blocks.push(Block::Subheading(format!(
            "{}: optimal in {}",
            Study::display(m),
            study.optimal_share(k)
        )));
        for s in 0..study.data.n_states() {
            let counts: Vec<String> = study
                .greedy_counts(k, s)
                .iter()
                .map(|(a, n)| format!("{a} ×{n}"))
                .collect();
            let state = if multi {
                format!("State {}: ", a.states[s].state)
            } else {
                String::new()
            };
            blocks.push(Block::Paragraph(format!(
                "{state}greedy joint actions over seeds: {}.",
                counts.join(", ")
            )));
            if small {
                let mut grids: Vec<JointGrid> = study
                    .learned(k, s)
                    .iter()
                    .map(|t| grid(study, s, "", t))
                    .collect();
                grids.extend(study.ideal(k, s).iter().map(|t| grid(study, s, "", t)));
                blocks.push(Block::JointTables(grids));
            }
        }
        if m == Method::Iql {
            blocks.push(Block::Paragraph(
                "IQL has no exact ideal: independent learners are not a factorization class."
                    .into(),
            ));
        }
    }
    sections.push(Section {
        heading: "Learned results".into(),
        blocks,
    });

    // Pictures.
    let blocks = pictures
        .iter()
        .map(|p| Block::Image {
            png: p.png.clone(),
            alt: p.title.clone(),
            caption: format!("{} ({}). {}", p.title, p.file, p.caption),
        })
        .collect();
    sections.push(Section {
        heading: "Pictures".into(),
        blocks,
    });

    // Configuration.
    sections.push(Section {
        heading: "Configuration".into(),
        blocks: vec![
            Block::Paragraph("The command, then every setting of every run (config.json).".into()),
            Block::Pre(command.to_string()),
            Block::Pre(serde_json::to_string_pretty(&study.config_json())?),
        ],
    });
    Ok(sections)
}

/// The whole `report.html` of a study.
pub fn report_html(study: &Study, pictures: &[Picture], command: &str) -> Result<String> {
    let g = &study.analysis.game;
    let mut lead = Vec::new();
    if let Some(s) = &g.source {
        lead.push(format!("Source: {s}"));
    }
    if let Some(n) = &g.note {
        lead.push(n.clone());
    }
    lead.push(format!(
        "Generated by qfactor {} ({}).",
        env!("CARGO_PKG_VERSION"),
        study.spec
    ));
    Ok(render_html(&Report {
        title: format!("qfactor compare: {}", g.name),
        lead,
        sections: report_sections(study, pictures, command)?,
    }))
}
