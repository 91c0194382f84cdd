//! `qfactor analyze GAME`: the exact analysis, for people or as JSON.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use reference::analysis::{analyze, Analysis, AnalysisOptions};
use reference::ideal::qmix::{QmixBudget, QmixOptions};

use crate::present::render::{joint_list, render, TableView};

/// Arguments of `qfactor analyze`.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  qfactor analyze paper-table1\n  qfactor analyze \
                        two-step --json\n  qfactor analyze penalty:k=-25\n  qfactor analyze \
                        my-game.csv --weights my-weights.csv\n  qfactor analyze twentyone --png \
                        twentyone.png    # heatmaps of the payoff and every exact ideal"
)]
pub struct AnalyzeArgs {
    /// A built-in game name (see `qfactor games`) or a game file (.csv or .toml).
    game: String,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Weights over joint actions for the projections (long CSV: agent columns, `weight`).
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Work budget of the exact QMIX search per state: `interactive` (milliseconds; games up
    /// to about 2 agents × 7 actions stay exact), `full` (seconds), or a number of work units.
    /// A search cut short reports its best ordering with `"exact": false` and a certified
    /// lower bound.
    #[arg(long, value_name = "BUDGET", default_value = "interactive", value_parser = parse_budget)]
    qmix_budget: QmixBudget,
    /// Time limit in seconds for the exact QMIX search per state, on top of the budget
    /// (a limit too large for a duration, such as 1e300 or inf, means no time limit).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    qmix_time_limit: f64,
    /// Also draw the payoff and every exact ideal as heatmaps into this PNG file.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// Replace an existing --png file.
    #[arg(long)]
    force: bool,
}

pub(crate) fn parse_budget(text: &str) -> std::result::Result<QmixBudget, String> {
    text.parse().map_err(|e: reference::Error| e.to_string())
}

/// Runs the analysis.
pub fn run(args: &AnalyzeArgs) -> Result<()> {
    let game = reference::io::load_game(&args.game)?;
    let weights = match &args.weights {
        Some(p) => Some(reference::io::read_weights(p, &game)?),
        None => None,
    };
    if args.qmix_time_limit.is_nan() || args.qmix_time_limit < 0.0 {
        return Err(
            crate::BadInput("--qmix-time-limit must be a non-negative number".into()).into(),
        );
    }
    let opts = AnalysisOptions {
        weights,
        qmix: QmixOptions {
            // Too large for a `Duration` (1e300, inf): no time limit, as the help says.
            time_limit: Duration::try_from_secs_f64(args.qmix_time_limit).ok(),
            ..QmixOptions::with_budget(args.qmix_budget)
        },
    };
    if let Some(path) = &args.png {
        crate::output::check_target(path, args.force)?;
    }
    let analysis = analyze(&game, &opts)?;
    if let Some(path) = &args.png {
        let png = crate::present::exact_figure::exact_png(&analysis)?;
        crate::output::write_atomic(path, &png, args.force)?;
        tracing::info!("wrote {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&analysis)?);
    } else {
        let style = crate::present::style::Style::stdout();
        for line in human(&analysis).lines() {
            println!("{}", style.table_line(line));
        }
    }
    Ok(())
}

fn verdict(keeps: bool, greedy: &[Vec<String>]) -> String {
    if keeps {
        format!(
            "keeps the optimal joint action (greedy {})",
            joint_list(greedy)
        )
    } else {
        format!(
            "LOSES the optimal joint action (greedy {})",
            joint_list(greedy)
        )
    }
}

fn human(a: &Analysis) -> String {
    let mut out = String::new();
    out.push_str(&format!("Game: {}\n", a.game.name));
    if let Some(s) = &a.game.source {
        out.push_str(&format!("Source: {s}\n"));
    }
    if let Some(n) = &a.game.note {
        out.push_str(&format!("Note: {n}\n"));
    }
    let agents: Vec<String> = a
        .game
        .agents
        .iter()
        .zip(&a.game.actions)
        .map(|(n, acts)| format!("{n} {{{}}}", acts.join(", ")))
        .collect();
    out.push_str(&format!("Agents: {}\n", agents.join(", ")));
    let multi = a.game.states.len() > 1;
    if multi {
        out.push_str(&format!(
            "States: {} (initial {}), gamma = {}\n",
            a.game.states.join(", "),
            a.game.initial,
            a.game.gamma
        ));
    }
    out.push_str(&format!(
        "Ties and equalities use a relative tolerance of {:e}. `*` = optimal for the true \
         table, [x] = greedy entry of the shown table.\n",
        a.tolerance
    ));
    for s in 0..a.states.len() {
        out.push('\n');
        out.push_str(&state_section(a, s, multi));
    }
    if multi {
        let r = &a.returns;
        let range = |x: [f64; 2]| crate::present::render::return_range(x, " (tied greedy choices)");
        out.push_str(&format!(
            "\nReturn from {} under each ideal's greedy policy: optimal {}, VDN {}, QMIX {}, \
             QTRAN {}\n",
            a.game.initial,
            r.optimal,
            range(r.vdn),
            range(r.qmix),
            range(r.qtran)
        ));
    }
    out
}

fn state_section(a: &Analysis, s: usize, multi: bool) -> String {
    let st = &a.states[s];
    let mut out = String::new();
    let acts = &a.game.actions;
    let idx = a.indices(s);
    let optimal = idx.optimal;
    let name = if multi {
        format!("state {}: ", st.state)
    } else {
        String::new()
    };
    let title = if multi { "Q*(s, u)" } else { "Payoff Q(u)" };
    out.push_str(&render(&TableView {
        title: format!("== {name}{title}"),
        actions: acts,
        values: &st.q,
        utilities: None,
        optimal: &optimal,
        greedy: &[],
    }));
    out.push_str(&format!(
        "Optimal joint action(s): {}. IGM-factorizable: {}\n",
        joint_list(&st.optimal),
        if st.igm_factorizable {
            "yes (argmax set is a product set)"
        } else {
            "NO (argmax set is not a product set)"
        }
    ));

    let v = &st.vdn;
    let differs = |t: &[f64]| {
        t.iter()
            .zip(&st.q)
            .any(|(x, y)| !reference::tol::tied(*x, *y))
    };
    out.push('\n');
    if differs(&v.target) {
        out.push_str(&render(&TableView {
            title: "VDN's bootstrapped target (r + γ·V_VDN(s'))".into(),
            actions: acts,
            values: &v.target,
            utilities: None,
            optimal: &optimal,
            greedy: &[],
        }));
    }
    out.push_str(&render(&TableView {
        title: format!(
            "VDN ideal (exact least-squares additive projection), MSE {:.4}",
            v.mse
        ),
        actions: acts,
        values: &v.q_tot,
        utilities: Some(&v.utilities),
        optimal: &optimal,
        greedy: &idx.vdn,
    }));
    out.push_str(&format!(
        "VDN: its ideal {}\n",
        verdict(v.keeps_optimal, &v.greedy)
    ));

    let m = &st.qmix;
    out.push('\n');
    if differs(&m.target) {
        out.push_str(&render(&TableView {
            title: "QMIX's bootstrapped target (r + γ·V_QMIX(s'))".into(),
            actions: acts,
            values: &m.target,
            utilities: None,
            optimal: &optimal,
            greedy: &[],
        }));
    }
    let exactness = if m.exact {
        format!("exact, {}", m.method)
    } else {
        match m.lower_bound {
            Some(lb) => format!("NOT exact: {}; optimal SSE ≥ {lb:.4}", m.method),
            None => format!("NOT exact: {}", m.method),
        }
    };
    out.push_str(&render(&TableView {
        title: format!(
            "QMIX ideal (global monotonic projection; {exactness}), MSE {:.4} (SSE {:.4})",
            m.mse, m.sse
        ),
        actions: acts,
        values: &m.q_tot,
        utilities: None,
        optimal: &optimal,
        greedy: &idx.qmix,
    }));
    let orders: Vec<String> = m
        .orders
        .iter()
        .enumerate()
        .map(|(i, o)| format!("agent {}: {}", i + 1, o.join(" < ")))
        .collect();
    out.push_str(&format!("QMIX orders (ascending): {}\n", orders.join("; ")));
    if m.exact {
        out.push_str(&format!(
            "QMIX: its ideal {}\n",
            verdict(m.keeps_optimal, &m.greedy)
        ));
    } else {
        // An unproven projection is a heuristic result: never shown as a fact.
        out.push_str(&format!(
            "QMIX (heuristic: the best ordering found, not proven global): its best known fit {} \
             the optimal joint action (greedy {})\n",
            if m.keeps_optimal { "keeps" } else { "loses" },
            joint_list(&m.greedy),
        ));
    }

    let q = &st.qtran;
    out.push('\n');
    match (&q.utilities, &q.q_prime, q.v_jt) {
        (Some(u), Some(qp), Some(v_jt)) => {
            out.push_str(&render(&TableView {
                title: format!(
                    "QTRAN ideal: Q_jt = Q*, utilities and Q'_jt = Σ Q_i (V_jt = {v_jt:.4})"
                ),
                actions: acts,
                values: qp,
                utilities: Some(u),
                optimal: &optimal,
                greedy: &optimal,
            }));
            let diff: Vec<f64> = qp.iter().zip(&st.q).map(|(p, q)| p - q).collect();
            out.push_str(&render(&TableView {
                title: "Q'_jt − Q_jt".into(),
                actions: acts,
                values: &diff,
                utilities: None,
                optimal: &optimal,
                greedy: &[],
            }));
            let yn = |b: bool| if b { "holds" } else { "FAILS" };
            out.push_str(&format!(
                "QTRAN: (4a) {}, (4b) {}, (7) {} [{}]",
                yn(q.cond_4a),
                yn(q.cond_4b),
                yn(q.cond_7),
                q.cond_7_status
            ));
            if let Some(s) = q.affine_scale {
                out.push_str(&format!(
                    "; (4) holds for these utilities scaled by any a ≤ {s:.4}"
                ));
            }
            out.push('\n');
            if let Some(r) = &q.cond_7_reason {
                out.push_str(&format!("  (7): {r}\n"));
            }
        }
        _ => {
            out.push_str(&format!(
                "QTRAN: Q_jt = Q* is representable, but no utilities satisfy IGM ({}).\n",
                q.cond_7_reason
                    .as_deref()
                    .unwrap_or("argmax set is not a product set")
            ));
        }
    }
    out
}
