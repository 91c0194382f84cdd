//! `qfactor check GAME FACTORIZATION.csv`: verify learned tables against a game.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use reference::io::FactorizationFilter;
use reference::verify::{check, CheckReport};

use crate::present::render::{joint_list, return_range};

/// Arguments of `qfactor check`.
#[derive(Args)]
#[command(
    after_help = "Input: long CSV with header `state,table,agent,actions,value` (optional \
                        `method` and `seed` columns, as `qfactor train` writes).\n\nExamples:\n  \
                        qfactor check paper-table1 data/golden/paper-table1-qtran.csv\n  \
                        qfactor check paper-table1 run/tables.csv --method qmix --seed 3 --json"
)]
pub struct CheckArgs {
    /// A built-in game name or a game file.
    game: String,
    /// The learned tables (long CSV).
    factorization: PathBuf,
    /// Pick one method's rows from a file with a `method` column.
    #[arg(long)]
    method: Option<String>,
    /// Pick one seed's rows from a file with a `seed` column.
    #[arg(long)]
    seed: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the check.
pub fn run(args: &CheckArgs) -> Result<()> {
    let game = reference::io::load_game(&args.game)?;
    let filter = FactorizationFilter {
        method: args.method.clone(),
        seed: args.seed.clone(),
    };
    let learned = reference::io::read_factorization(&args.factorization, &game, &filter)?;
    let report = check(&game, &learned)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let style = crate::present::style::Style::stdout();
        for line in human(&report).lines() {
            println!("{}", style.table_line(line));
        }
    }
    Ok(())
}

fn human(r: &CheckReport) -> String {
    let yn = |b: bool| if b { "yes" } else { "NO" };
    let holds = |b: bool| if b { "holds" } else { "FAILS" };
    let mut out = format!("Check against {}\n", r.game);
    for s in &r.states {
        out.push_str(&format!("\nstate {}:\n", s.state));
        out.push_str(&format!(
            "  greedy joint action: {} — optimal: {}\n",
            joint_list(&s.greedy),
            yn(s.optimal)
        ));
        match s.igm {
            Some(b) => out.push_str(&format!(
                "  IGM against the learned joint table: {}\n",
                yn(b)
            )),
            None => out
                .push_str("  IGM against the learned joint table: (no learned q_jt/q_tot given)\n"),
        }
        out.push_str(&format!(
            "  IGM against the true table: {}\n",
            yn(s.igm_true)
        ));
        if let Some(m) = s.mse_true {
            out.push_str(&format!(
                "  MSE of the learned joint table to the true table: {m:.6}\n"
            ));
        }
        out.push_str(&format!(
            "  QTRAN conditions on {} with V_jt = {:.6} ({}):\n",
            s.q_jt_source.as_str(),
            s.v_jt,
            s.v_jt_source.as_str()
        ));
        out.push_str(&format!(
            "    (4a) {} (largest |residual| {:.6})\n",
            holds(s.cond_4a),
            s.violation_4a
        ));
        out.push_str(&format!(
            "    (4b) {} (largest violation {:.6})\n",
            holds(s.cond_4b),
            s.violation_4b
        ));
        let per: Vec<String> = s
            .cond_7_agents
            .iter()
            .map(|a| {
                format!(
                    "agent {}: {} (residual {:.6})",
                    a.agent,
                    holds(a.holds),
                    a.max_residual
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
                "  (4) would hold for the utilities scaled by any common a ≤ {a:.6}\n"
            ));
        }
    }
    if r.states.len() > 1 {
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
    out
}
