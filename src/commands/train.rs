//! `qfactor train`: trains neural learners (many seeds at once) and writes their learned tables
//! next to the exact ones. Argument parsing, files and printing only; the learners, the
//! evaluation into tables and every statistic live in the `neural` crate.

use crate::learn::{configs, jobs_for, train_all, Checkpoints, LearnArgs};
use crate::output::OutputDir;
use anyhow::{Context, Result};
use neural::learner::GameData;
use neural::report::{
    curves_csv, curves_seeds_csv, exact_results, summarize, summary_csv, tables_csv, SummaryRow,
};
use neural::run::{device, device_name, MethodRun};
use std::path::PathBuf;

/// Arguments of `qfactor train`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Writes DIR/config.json, tables.csv (every seed's learned tables and the \
                        exact ones, readable by `qfactor check`), summary.csv, curves.csv and curves_seeds.csv (per seed).\n\n\
                        Examples:\n  qfactor train paper-table1 --out run\n  qfactor train \
                        two-step --method vdn,qmix --seeds 64 --steps 5000 --out run2\n  \
                        qfactor train paper-table1 --method qtran-base --set \
                        qtran.lambda_nopt=0.1 --out run3 --force"
)]
pub struct TrainArgs {
    /// The game: a built-in name (`paper-table1`, `two-step`, …) or a game file.
    pub game: String,
    /// Independent seeds K, trained together.
    #[arg(long, default_value_t = 32)]
    pub seeds: usize,
    /// Environment steps per seed (one gradient step each once learning starts).
    #[arg(long, default_value_t = 10_000)]
    pub steps: usize,
    #[command(flatten)]
    pub learn: LearnArgs,
    /// Output directory (written atomically; never replaced without --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write checkpoints (DIR/checkpoints/METHOD/) of the final state.
    #[arg(long)]
    pub checkpoint: bool,
    /// Resume from a previous run's output directory (its checkpoints/METHOD/), continuing to
    /// --steps in total; the checkpoint's configuration is used.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

/// Runs `qfactor train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let game = reference::io::load_game(&args.game)
        .with_context(|| format!("loading game {:?}", args.game))?;
    let configs = configs(&args.game, args.seeds, args.steps, &args.learn)?;
    let (dev, note) = device(&args.learn.device)?;
    if let Some(note) = note {
        tracing::info!("{note}");
    }
    let out = OutputDir::create(&args.out, args.force)?;
    let data = GameData::new(&game, configs[0].gamma)?;
    let exact = exact_results(&data)?;
    let checkpoints: Vec<Checkpoints> = configs
        .iter()
        .map(|cfg| {
            let m = cfg.method.name();
            Checkpoints {
                resume: args.resume.as_ref().map(|d| d.join("checkpoints").join(m)),
                save: args
                    .checkpoint
                    .then(|| out.path(&format!("checkpoints/{m}"))),
            }
        })
        .collect();
    let jobs = jobs_for(args.learn.jobs, &configs, dev);
    let runs: Vec<MethodRun> = train_all(&game, &configs, dev, jobs, &checkpoints)?;
    let rows: Vec<SummaryRow> = runs
        .iter()
        .map(|r| summarize(&data, r, &exact))
        .collect::<neural::Result<_>>()?;
    let config_json = serde_json::json!({
        "game": args.game,
        "device": device_name(dev),
        "jobs": jobs,
        "qmix_ideal_exact": exact.qmix_exact(),
        "runs": runs.iter().map(|r| &r.config).collect::<Vec<_>>(),
    });
    out.write(
        "config.json",
        serde_json::to_string_pretty(&config_json)?.as_bytes(),
    )?;
    out.write("tables.csv", tables_csv(&data, &runs, &exact)?.as_bytes())?;
    out.write("summary.csv", summary_csv(&rows).as_bytes())?;
    out.write("curves.csv", curves_csv(&runs).as_bytes())?;
    out.write("curves_seeds.csv", curves_seeds_csv(&runs).as_bytes())?;
    let dest = out.commit()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", summary_table(&rows));
    }
    tracing::info!("wrote {}", dest.display());
    Ok(())
}

/// The summary rows as a plain-text table.
pub fn summary_table(rows: &[SummaryRow]) -> String {
    let mut s = format!(
        "{:<11} {:>5} {:>8} {:>17} {:>6} {:>10} {:>10} {:>11} {:>10} {:>8} {:>8} {:>8} {:>8}\n",
        "method",
        "seeds",
        "optimal",
        "95% CI",
        "igm",
        "mse_payoff",
        "mse_ideal",
        "mse_sampled",
        "mse_orders",
        "4a_viol",
        "4b_viol",
        "7_viol",
        "seconds"
    );
    for r in rows {
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        let viol = |v: Option<f64>| {
            v.map(crate::present::render::small)
                .unwrap_or_else(|| "-".into())
        };
        s.push_str(&format!(
            "{:<11} {:>5} {:>8.3} {:>17} {:>6.3} {:>10.4} {:>10} {:>11} {:>10} {:>8} {:>8} {:>8} {:>8.1}\n",
            r.method,
            r.seeds,
            r.optimal_rate,
            format!("[{:.3}, {:.3}]", r.optimal_rate_lo, r.optimal_rate_hi),
            r.igm_rate,
            r.mse_payoff,
            opt(r.mse_ideal),
            opt(r.mse_ideal_sampled),
            opt(r.mse_orders_fit),
            viol(r.cond_4a_violation),
            viol(r.cond_4b_violation),
            viol(r.cond_7_violation),
            r.seconds
        ));
    }
    s.push_str(
        "igm: share of seeds whose utilities' greedy joint actions maximise their own learned \
         joint table in every state (true by construction for VDN and QMIX); mse_ideal: to the \
         class's exact ideal (QMIX: the global projection), uniform weights; mse_sampled: to \
         the ideal under each seed's replay-buffer weights; mse_orders: QMIX's best fit under \
         each seed's learned action orders; *_viol: QTRAN's conditions (4a), (4b), (7).\n",
    );
    s
}
