//! The demo's words: turns [`super::facts`] into the text, computing nothing beyond formatting
//! and choosing, for every place where the story branches, the branch this run's facts say.

use super::facts::{
    Agreement, Board, FitRange, MatrixFacts, QmixFacts, QmixOutcome, QmixVerdict, QtranFacts,
    Return, Seeds, Share, TwoStepFacts, TwoStepMethod, VdnFacts, VdnOutcome,
};
use crate::commands::compare::side_by_side;
use crate::present::render::{render, TableView};
use crate::present::style::Style;
use crate::study::Shown;
use std::fmt::Write as _;

/// A paragraph wrapped at 92 columns.
pub fn para(out: &mut String, text: &str) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > 92 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
}

fn evidence(out: &mut String, board: &Board, s: usize, tables: &[Shown], style: Style) {
    let pairs: Vec<(usize, Shown)> = tables.iter().map(|t| (s, t.clone())).collect();
    evidence_states(out, board, &pairs, style);
}

/// Tables (each with its state) with titles first, then side by side when they fit.
fn evidence_states(out: &mut String, board: &Board, tables: &[(usize, Shown)], style: Style) {
    let letter = |i: usize| {
        if tables.len() > 1 {
            format!("({}) ", (b'a' + i as u8) as char)
        } else {
            String::new()
        }
    };
    let blocks: Vec<Vec<String>> = tables
        .iter()
        .enumerate()
        .map(|(i, (s, t))| {
            let text = render(&TableView {
                title: format!("{}{} — {}", letter(i), t.title, t.note),
                actions: &board.actions,
                values: &t.values,
                utilities: t.utilities.as_deref(),
                optimal: &board.optimal[*s],
                greedy: &t.greedy,
            });
            text.lines().map(str::to_string).collect()
        })
        .collect();
    for b in &blocks {
        let _ = writeln!(out, "  {}", b[0]);
    }
    let bodies: Vec<Vec<String>> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut v = vec![format!("  {}", letter(i).trim_end())];
            v.extend(b.iter().skip(1).map(|l| format!("  {l}")));
            v
        })
        .collect();
    let lines = if bodies.len() == 1 {
        bodies[0]
            .iter()
            .skip(1)
            .cloned()
            .chain([String::new()])
            .collect()
    } else {
        side_by_side(&bodies, 3, crate::commands::compare::terminal_width())
    };
    for l in lines {
        out.push_str(&style.table_line(&l));
        out.push('\n');
    }
}

/// `0%, 95% CI 0–32%`: a share of seeds with its Wilson interval.
fn ci(share: &Share) -> String {
    format!(
        "{:.0}%, 95% CI {:.0}–{:.0}%",
        100.0 * share.rate,
        100.0 * share.lo,
        100.0 * share.hi
    )
}

fn count_of(n: usize, k: usize) -> String {
    if n == k {
        format!("all {k}")
    } else {
        format!("{n} of {k}")
    }
}

fn orders_words(orders: &[Vec<String>]) -> String {
    orders
        .iter()
        .enumerate()
        .map(|(i, o)| format!("agent {}: {}", i + 1, o.join(" < ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `(C, B) in 5 seeds, (B, C) in 3`.
/// "All 8 seeds find" / "Both seeds find" / "The one seed finds", capitalised or not.
fn every_seed(n: usize, capital: bool) -> String {
    let s = match n {
        1 => "the one seed".to_string(),
        2 => "both seeds".to_string(),
        _ => format!("all {n} seeds"),
    };
    let s = if capital {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    } else {
        s
    };
    if n == 1 && capital {
        format!("{s} finds")
    } else if capital {
        format!("{s} find")
    } else {
        s
    }
}

fn greedy_summary(seeds: &Seeds) -> String {
    seeds
        .greedy
        .iter()
        .enumerate()
        .map(|(i, (a, n))| {
            if i == 0 {
                format!("{a} in {}", crate::present::render::plural(*n, "seed"))
            } else {
                format!("{a} in {n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The demo's opening: its title and what everything below is.
pub fn intro(
    seeds: usize,
    matrix_steps: usize,
    two_steps: usize,
    device: &str,
    style: Style,
) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}",
        style.bold("qfactor demo: why VDN and QMIX fail where QTRAN succeeds")
    );
    para(
        &mut text,
        &format!(
            "Everything below is computed in this run: the exact analysis by qfactor's reference, \
             then {seeds} seeds of each learner ({matrix_steps} steps each on the first game, \
             {two_steps} on the second) on {device}. `*` marks the true optimum; [x] the greedy \
             joint action of the shown utilities; numbers in brackets on the margins are the \
             utilities Q_i."
        ),
    );
    text
}

/// A part's heading, e.g. `Part 1 — <game>`.
pub fn part_heading(n: usize, game: &str, style: Style) -> String {
    format!("{}\n\n", style.bold(&format!("Part {n} — {game}")))
}

/// Part 1: the QTRAN paper's matrix game.
pub fn matrix_story(f: &MatrixFacts, style: Style) -> String {
    let mut out = String::new();
    let opt = &f.opt;
    let _ = writeln!(
        out,
        "The payoff (agent 1 picks the row, agent 2 the column):\n"
    );
    evidence(
        &mut out,
        &f.board,
        0,
        std::slice::from_ref(&f.payoff),
        style,
    );
    para(
        &mut out,
        &format!(
            "The best joint action is {opt} = {}; the payoff is {}. Each method learns one utility \
             Q_i per agent and acts greedily on it; the question is whether the table it can \
             represent keeps {opt} on top.",
            f.q_max,
            if f.igm_factorizable {
                "IGM-factorizable: its argmax set is a product set, so utilities whose greedy \
                 actions pick it exist"
            } else {
                "NOT IGM-factorizable: its argmax set is not a product set, so no utilities pick \
                 exactly the optimal joint actions"
            }
        ),
    );
    if let Some(v) = &f.vdn {
        let _ = writeln!(out, "{}", style.bold("VDN (Q_tot = Q_1 + Q_2)"));
        para(&mut out, &vdn_paragraph(v, opt));
        evidence(&mut out, &f.board, 0, &v.tables, style);
        out.push('\n');
    }
    if let Some(m) = &f.qmix {
        let _ = writeln!(out, "{}", style.bold("QMIX (Q_tot monotone in each Q_i)"));
        para(&mut out, &qmix_paragraph(m, opt));
        evidence(&mut out, &f.board, 0, &m.tables, style);
        out.push('\n');
    }
    for t in &f.qtran {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&format!(
                "{} (learned Q_jt, utilities trained to meet Theorem 1)",
                t.name
            ))
        );
        para(&mut out, &qtran_paragraph(t, opt));
        evidence(&mut out, &f.board, 0, &t.tables, style);
        out.push('\n');
    }
    out
}

/// VDN's paragraph on the matrix game (`opt`: the optimum, as `(A, A)`).
pub fn vdn_paragraph(v: &VdnFacts, opt: &str) -> String {
    let s = &v.seeds;
    let k_seeds = s.total;
    let mse_ideal = v.mse_ideal;
    let class = if v.keeps_optimal {
        format!(
            "VDN's class can keep {opt} here: its exact least-squares projection (MSE {:.2}) is \
             greedy at {}.",
            v.mse, v.greedy
        )
    } else {
        format!(
            "VDN's failure is one of its class. The best additive table there is — the exact \
             least-squares projection, MSE {:.2} — already picks the wrong action: it is greedy \
             at {} and values {opt} at only {:.2}. No optimiser can do better than this \
             table.",
            v.mse, v.greedy, v.value_at_optimum
        )
    };
    let learned = match v.outcome {
        VdnOutcome::NoneOptimal => format!(
            "The learners agree: none of the {k_seeds} seeds picks {opt} (share optimal {}); \
             they choose {}. Their tables lie at a mean MSE of {mse_ideal:.2} from that \
             projection: they reached what the class allows.",
            ci(&s.share),
            greedy_summary(s)
        ),
        VdnOutcome::AsClassAllows => format!(
            "{} seeds pick {opt} (share optimal {}), as the class allows; mean MSE to the \
             projection {mse_ideal:.2}.",
            count_of(s.optimal, k_seeds),
            ci(&s.share)
        ),
        VdnOutcome::NotYetAtProjection => format!(
            "Yet {} seeds picked {opt} in this run (share optimal {}): they had not reached the \
             projection (mean MSE to it {mse_ideal:.2}); with more steps they would be expected \
             to leave it. The other seeds choose {}.",
            count_of(s.optimal, k_seeds),
            ci(&s.share),
            greedy_summary(s)
        ),
    };
    format!("{class} {learned}")
}

fn fit_range_words(r: &FitRange) -> String {
    if r.tied {
        format!("{:.2}", r.lo)
    } else {
        format!("{:.2} to {:.2}", r.lo, r.hi)
    }
}

/// QMIX's paragraph on the matrix game (`opt`: the optimum, as `(A, A)`).
pub fn qmix_paragraph(m: &QmixFacts, opt: &str) -> String {
    let s = &m.seeds;
    let k_seeds = s.total;
    let n_opt = s.optimal;
    let rep_mse = m.rep_mse;
    let exactness = if m.exact {
        "proven global"
    } else {
        "best found; not proven global"
    };
    let class = if m.keeps_optimal {
        format!(
            "QMIX's class can keep {opt}: its global monotonic projection ({exactness}) has \
             MSE {:.2} and is greedy at {} (action orders {}).",
            m.mse,
            m.greedy,
            orders_words(&m.orders)
        )
    } else {
        format!(
            "QMIX's class cannot keep {opt} here: even its global monotonic projection \
             ({exactness}, MSE {:.2}) is greedy at {} — a failure of the class.",
            m.mse, m.greedy
        )
    };
    let learned = match m.outcome {
        QmixOutcome::SomeLost(verdict) => {
            let lost = s.lost();
            let fit_words = match &m.lost_fit_range {
                None => String::new(),
                Some(range) => format!(
                    " The best table monotone along the orders those seeds learned has MSE \
                     {}{}.",
                    fit_range_words(range),
                    if m.lost_fit_keeps == 0 {
                        format!(", and it loses {opt} too")
                    } else {
                        format!(
                            " (for {} of them it would still keep {opt})",
                            m.lost_fit_keeps
                        )
                    }
                ),
            };
            let along_words = match &m.along_action {
                Some(a) => format!("along {a}"),
                None => format!("in the rows and columns of {opt}"),
            };
            let typical = format!(
                " The representative seed's learned Q_tot is {:.2} on average {along_words} \
                 and {} elsewhere, MSE {rep_mse:.2} to the payoff.",
                m.along,
                m.elsewhere
                    .map(|e| format!("{e:.2}"))
                    .unwrap_or_else(|| "–".into())
            );
            let verdict = match verdict {
                QmixVerdict::Optimisation => format!(
                    " So QMIX's failure here is one of optimisation, not of its class: the mixer \
                     could represent a table that keeps {opt} (MSE {:.2}), but gradient descent \
                     settled on another ordering.",
                    m.mse
                ),
                QmixVerdict::SomeKept => format!(
                    " {n_opt} of {k_seeds} seeds kept {opt}: this run did not show the \
                     optimisation failure on every seed; the {lost} that lost it settled on \
                     another ordering than the class's best."
                ),
                QmixVerdict::Class => String::new(),
            };
            format!(
                "The learned mixers lose {opt} in {} seeds (share optimal {}); they choose \
                 {}.{fit_words}{typical}{verdict}",
                count_of(lost, k_seeds),
                ci(&s.share),
                greedy_summary(s)
            )
        }
        QmixOutcome::AllKept => format!(
            "In this run all {k_seeds} learned mixers kept {opt} (share optimal {}): the \
             optimisation failure did not show (the representative seed's table has MSE \
             {rep_mse:.2}).",
            ci(&s.share)
        ),
    };
    format!("{class} {learned}")
}

/// QTRAN-base's or QTRAN-alt's paragraph on the matrix game (`opt`: the optimum).
pub fn qtran_paragraph(t: &QtranFacts, opt: &str) -> String {
    let s = &t.seeds;
    let k_seeds = s.total;
    let n_opt = s.optimal;
    let n_t1 = t.n_theorem1;
    let (tol, median, a4, b4) = (t.tol, t.median_4a, t.max_4a, t.max_4b);
    let found = if n_opt == k_seeds {
        format!(
            "{} {opt} (share optimal {}).",
            every_seed(k_seeds, true),
            ci(&s.share)
        )
    } else if n_opt == 0 {
        format!(
            "No seed found {opt} in this run (share optimal {}); they choose {}.",
            ci(&s.share),
            greedy_summary(s)
        )
    } else {
        format!(
            "{n_opt} of {k_seeds} seeds find {opt} (share optimal {}); the others choose {}.",
            ci(&s.share),
            greedy_summary(s)
        )
    };
    let conditions = if t.v_jt_learned {
        "(4a) Q'_jt − Q_jt + V_jt = 0 at the greedy joint action and (4b) ≥ 0 elsewhere, with \
         their learned V_jt"
    } else {
        "(4a) Q'_jt − Q_jt + V_jt = 0 at the greedy joint action and (4b) ≥ 0 elsewhere, with \
         V_jt = 0 (the V_jt network is off, as by default)"
    };
    let theorem = if n_t1 == k_seeds {
        format!(
            "Their learned tables meet Theorem 1 — {conditions} — within {tol:.2} ({:.0}% of \
             the payoff's range) in every seed: |(4a) residual| median {median:.3}, largest \
             {a4:.3}; largest (4b) violation {b4:.3}.",
            100.0 * t.tol_share
        )
    } else {
        format!(
            "Theorem 1 — {conditions} — holds within {tol:.2} ({:.0}% of the payoff's range) \
             in {n_t1} of {k_seeds} seeds: the median |(4a) residual| is {median:.3}, but the \
             worst seed's is {a4:.3} (largest (4b) violation {b4:.3}), so this run's tables \
             do not all meet it yet. The utilities' greedy action is also the learned Q_jt's \
             (IGM) in {} seeds.",
            100.0 * t.tol_share,
            count_of(t.n_igm, k_seeds)
        )
    };
    format!("{found} {theorem}")
}

fn return_words(r: &Return) -> String {
    if r.tied {
        format!("{}", r.lo)
    } else {
        format!("{} to {}", r.lo, r.hi)
    }
}

/// Part 2: the two-step game.
pub fn two_step_story(f: &TwoStepFacts, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Rewards per state (`*` marks the optimal joint actions of Q*):\n"
    );
    evidence_states(&mut out, &f.board, &f.payoffs, style);
    let leads: Vec<String> = f
        .leads
        .iter()
        .map(|(label, to)| format!("action {label} leads to {to}"))
        .collect();
    para(
        &mut out,
        &format!(
            "From state {}, agent 1's {}. The best plan returns {} (γ = {}). The exact \
             ideals, propagated backwards through the states as TD learning would: VDN's greedy \
             policy returns {}, QMIX's {}.",
            f.initial,
            leads.join(", "),
            f.optimal,
            f.gamma,
            return_words(&f.vdn_return),
            return_words(&f.qmix_return)
        ),
    );
    for m in &f.methods {
        let _ = writeln!(out, "{}", style.bold(&m.name));
        para(&mut out, &two_step_paragraph(m));
        evidence_states(&mut out, &f.board, &m.tables, style);
        out.push('\n');
    }
    out
}

/// One method's paragraph on the two-step game.
pub fn two_step_paragraph(m: &TwoStepMethod) -> String {
    let k_seeds = m.seeds;
    let n_opt = m.n_optimal;
    let what: Vec<String> = m
        .outcomes
        .iter()
        .map(|(o, n)| {
            let ret = return_words(&o.ret);
            let o = if o.dests.is_empty() {
                format!("collect {ret}")
            } else {
                format!("go to {} and collect {ret}", o.dests.join(" or "))
            };
            format!(
                "{} {o}",
                if *n == k_seeds {
                    every_seed(*n, false)
                } else {
                    format!("{n} of {k_seeds} seeds")
                }
            )
        })
        .collect();
    let values: Vec<String> = m
        .next_values
        .iter()
        .map(|(state, best, truth)| format!("{state} at {best:.2} (truly {truth:.2})"))
        .collect();
    let why = format!(
        "its exact ideal values {} when it bootstraps from the best table its class can fit",
        values.join(" and ")
    );
    let ideal = return_words(&m.ideal_return);
    let agrees = match m.agreement {
        Agreement::ClassLoss => format!(
            "as its exact ideal predicts (return {ideal}): {why}, so the loss is its class's."
        ),
        Agreement::AllOptimal => format!("as its exact ideal predicts (return {ideal}): {why}."),
        Agreement::Differs => format!(
            "while its exact ideal returns {ideal} ({why}): {n_opt} of {k_seeds} seeds reach the \
             optimum in this run."
        ),
    };
    format!("{}: {}, {agrees}", m.name, what.join("; "))
}

/// Where `--out` put the pictures and reports.
pub fn outputs_written(dest: &str) -> String {
    format!(
        "Pictures and a one-page report per game: {dest}/paper-table1/report.html (the evidence \
         above in one picture: {dest}/paper-table1/pictures/story.png) and \
         {dest}/two-step/report.html.\n"
    )
}

/// Where to look for more, when `--out` was not given.
pub fn out_hint() -> &'static str {
    "Add --out DIR for the pictures and a one-page report of each game.\n"
}

/// The demo's closing line: its wall time and what it trained.
pub fn finished(
    total: f64,
    train: f64,
    method_runs: usize,
    seed_steps: usize,
    jobs: usize,
    device: &str,
    style: Style,
) -> String {
    format!(
        "{}\n",
        style.bold(&format!(
            "Demo finished in {total:.1} s (training {train:.1} s: {method_runs} method runs, \
             {seed_steps} seed-steps, up to {jobs} at a time on {device})."
        ))
    )
}

#[cfg(test)]
mod tests {
    use super::super::facts::SeedOutcome;
    use super::*;

    fn seeds(optimal: usize, total: usize, greedy: &[(&str, usize)]) -> Seeds {
        Seeds {
            optimal,
            total,
            share: Share {
                rate: optimal as f64 / total as f64,
                lo: 0.0,
                hi: 1.0,
            },
            greedy: greedy.iter().map(|(a, n)| (a.to_string(), *n)).collect(),
        }
    }

    fn vdn(keeps_optimal: bool, outcome: VdnOutcome, optimal: usize) -> VdnFacts {
        VdnFacts {
            keeps_optimal,
            mse: 35.714,
            greedy: "(C, C)".into(),
            value_at_optimum: -1.5,
            seeds: seeds(optimal, 8, &[("(C, C)", 8 - optimal), ("(A, A)", optimal)]),
            mse_ideal: 0.25,
            outcome,
            tables: Vec::new(),
        }
    }

    #[test]
    fn vdn_branches() {
        let none = vdn_paragraph(&vdn(false, VdnOutcome::NoneOptimal, 0), "(A, A)");
        assert!(
            none.starts_with("VDN's failure is one of its class."),
            "{none}"
        );
        assert!(none.contains("MSE 35.71"), "{none}");
        assert!(none.contains("values (A, A) at only -1.50"), "{none}");
        assert!(none.contains("none of the 8 seeds picks (A, A)"), "{none}");
        assert!(none.contains("share optimal 0%, 95% CI 0–100%"), "{none}");
        assert!(none.contains("(C, C) in 8 seeds, (A, A) in 0"), "{none}");
        let allows = vdn_paragraph(&vdn(true, VdnOutcome::AsClassAllows, 8), "(A, A)");
        assert!(
            allows.starts_with("VDN's class can keep (A, A) here"),
            "{allows}"
        );
        assert!(allows.contains("all 8 seeds pick (A, A)"), "{allows}");
        let yet = vdn_paragraph(&vdn(false, VdnOutcome::NotYetAtProjection, 3), "(A, A)");
        assert!(yet.contains("Yet 3 of 8 seeds picked (A, A)"), "{yet}");
        assert!(yet.contains("not reached the projection"), "{yet}");
    }

    fn qmix(keeps_optimal: bool, optimal: usize, outcome: QmixOutcome) -> QmixFacts {
        QmixFacts {
            keeps_optimal,
            exact: true,
            mse: 27.5,
            greedy: "(A, A)".into(),
            orders: vec![vec!["C".into(), "B".into(), "A".into()]; 2],
            seeds: seeds(optimal, 8, &[("(C, B)", 8 - optimal)]),
            lost_fit_range: FitRange::of(&[28.0, 30.0]),
            lost_fit_keeps: 0,
            along: -4.0,
            elsewhere: None,
            along_action: Some("A".into()),
            rep_mse: 31.25,
            outcome,
            tables: Vec::new(),
        }
    }

    #[test]
    fn qmix_branches() {
        let opt = "(A, A)";
        let o = qmix_paragraph(
            &qmix(true, 0, QmixOutcome::SomeLost(QmixVerdict::Optimisation)),
            opt,
        );
        assert!(o.contains("(proven global) has MSE 27.50"), "{o}");
        assert!(o.contains("agent 1: C < B < A; agent 2: C < B < A"), "{o}");
        assert!(o.contains("lose (A, A) in all 8 seeds"), "{o}");
        assert!(
            o.contains("has MSE 28.00 to 30.00, and it loses (A, A) too"),
            "{o}"
        );
        assert!(
            o.contains("-4.00 on average along A and – elsewhere"),
            "{o}"
        );
        assert!(o.contains("one of optimisation, not of its class"), "{o}");
        let mut f = qmix(true, 5, QmixOutcome::SomeLost(QmixVerdict::SomeKept));
        f.lost_fit_keeps = 2;
        f.lost_fit_range = FitRange::of(&[28.0, 28.001]);
        f.along_action = None;
        f.elsewhere = Some(2.0);
        let some = qmix_paragraph(&f, opt);
        assert!(some.contains("lose (A, A) in 3 of 8 seeds"), "{some}");
        assert!(some.contains("has MSE 28.00 (for 2 of them"), "{some}");
        assert!(
            some.contains("in the rows and columns of (A, A) and 2.00"),
            "{some}"
        );
        assert!(some.contains("5 of 8 seeds kept (A, A)"), "{some}");
        assert!(some.contains("the 3 that lost it"), "{some}");
        let mut f = qmix(false, 0, QmixOutcome::SomeLost(QmixVerdict::Class));
        f.exact = false;
        f.lost_fit_range = None;
        let class = qmix_paragraph(&f, opt);
        assert!(class.contains("cannot keep (A, A) here"), "{class}");
        assert!(class.contains("best found; not proven global"), "{class}");
        assert!(!class.contains("monotone along the orders"), "{class}");
        assert!(!class.contains("optimisation"), "{class}");
        let kept = qmix_paragraph(&qmix(true, 8, QmixOutcome::AllKept), opt);
        assert!(kept.contains("all 8 learned mixers kept (A, A)"), "{kept}");
        assert!(kept.contains("has MSE 31.25)."), "{kept}");
    }

    fn qtran(optimal: usize, n_theorem1: usize) -> QtranFacts {
        QtranFacts {
            name: "QTRAN-alt".into(),
            seeds: seeds(optimal, 8, &[("(B, B)", 8 - optimal)]),
            tol: 1.9,
            tol_share: 0.05,
            median_4a: 0.0126,
            max_4a: 0.5,
            max_4b: 0.25,
            n_theorem1,
            n_igm: 6,
            tables: Vec::new(),
            v_jt_learned: false,
        }
    }

    #[test]
    fn qtran_branches() {
        let all = qtran_paragraph(&qtran(8, 8), "(A, A)");
        assert!(all.starts_with("All 8 seeds find (A, A)"), "{all}");
        assert!(
            all.contains("within 1.90 (5% of the payoff's range) in every seed"),
            "{all}"
        );
        assert!(all.contains("median 0.013, largest 0.500"), "{all}");
        assert!(
            all.contains("with V_jt = 0 (the V_jt network is off"),
            "{all}"
        );
        let learned = qtran_paragraph(
            &QtranFacts {
                v_jt_learned: true,
                ..qtran(8, 8)
            },
            "(A, A)",
        );
        assert!(learned.contains("with their learned V_jt"), "{learned}");
        let none = qtran_paragraph(&qtran(0, 3), "(A, A)");
        assert!(none.starts_with("No seed found (A, A)"), "{none}");
        assert!(none.contains("in 3 of 8 seeds"), "{none}");
        assert!(none.contains("(IGM) in 6 of 8 seeds"), "{none}");
        let some = qtran_paragraph(&qtran(5, 8), "(A, A)");
        assert!(some.starts_with("5 of 8 seeds find (A, A)"), "{some}");
        assert!(
            some.contains("the others choose (B, B) in 3 seeds"),
            "{some}"
        );
    }

    fn two_step_method(n_optimal: usize, agreement: Agreement) -> TwoStepMethod {
        TwoStepMethod {
            name: "VDN".into(),
            seeds: 8,
            n_optimal,
            ideal_return: Return::of(7.0, 7.0),
            outcomes: vec![
                (
                    SeedOutcome {
                        dests: vec!["2A".into()],
                        ret: Return::of(7.0, 7.0),
                    },
                    6,
                ),
                (
                    SeedOutcome {
                        dests: Vec::new(),
                        ret: Return::of(1.0, 8.0),
                    },
                    2,
                ),
            ],
            next_values: vec![("2A".into(), 7.0, 7.0), ("2B".into(), 6.5, 8.0)],
            agreement,
            tables: Vec::new(),
        }
    }

    #[test]
    fn two_step_branches() {
        let loss = two_step_paragraph(&two_step_method(0, Agreement::ClassLoss));
        assert!(
            loss.starts_with(
                "VDN: 6 of 8 seeds go to 2A and collect 7; 2 of 8 seeds collect 1 to 8,"
            ),
            "{loss}"
        );
        assert!(
            loss.contains("2A at 7.00 (truly 7.00) and 2B at 6.50 (truly 8.00)"),
            "{loss}"
        );
        assert!(loss.ends_with("so the loss is its class's."), "{loss}");
        let mut all = two_step_method(8, Agreement::AllOptimal);
        all.outcomes.truncate(1);
        all.outcomes[0].1 = 8;
        let all = two_step_paragraph(&all);
        assert!(all.starts_with("VDN: all 8 seeds go to 2A"), "{all}");
        assert!(
            all.contains("as its exact ideal predicts (return 7)"),
            "{all}"
        );
        assert!(!all.contains("class's"), "{all}");
        let differs = two_step_paragraph(&two_step_method(2, Agreement::Differs));
        assert!(
            differs.contains("while its exact ideal returns 7"),
            "{differs}"
        );
        assert!(
            differs.contains("2 of 8 seeds reach the optimum"),
            "{differs}"
        );
    }

    #[test]
    fn paragraphs_wrap_at_92_columns() {
        let mut out = String::new();
        para(&mut out, &"word ".repeat(100));
        assert!(out.ends_with("\n\n"));
        assert!(out.lines().all(|l| l.chars().count() <= 92), "{out}");
        assert!(out.lines().next().unwrap().chars().count() > 85, "{out}");
    }
}
