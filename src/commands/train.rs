//! `qfactor train`: trains neural learners (many seeds at once) and writes their learned tables
//! next to the exact ones. Argument parsing, files and printing only; the learners, the
//! evaluation into tables and every statistic live in the `neural` crate.

use crate::learn::{bad, configs, jobs_for, methods, positive, train_all, Checkpoints, LearnArgs};
use crate::output::OutputDir;
use anyhow::{Context, Result};
use neural::checkpoint;
use neural::config::{Method, TrainConfig};
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
    /// Independent seeds K, trained together (a positive integer).
    #[arg(long, default_value_t = 32, value_parser = positive, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Environment steps per seed (one gradient step each once learning starts; at least 1).
    #[arg(long, default_value_t = 10_000, value_parser = positive, allow_negative_numbers = true)]
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
    /// Resume from a previous run's output directory (its checkpoints/METHOD/; with
    /// --method all, every method checkpointed there), continuing to --steps in total (not
    /// fewer than the checkpoint's); the checkpoint's configuration is used, and the game must
    /// be the one it was trained on.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["seeds", "config", "set", "seed", "seed_offset", "f64"]
    )]
    pub resume: Option<PathBuf>,
}

/// Runs `qfactor train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let game = reference::io::load_game(&args.game)
        .with_context(|| format!("loading game {:?}", args.game))?;
    let configs = match &args.resume {
        Some(dir) => resume_configs(&game, dir, args)?,
        None => configs(&args.game, args.seeds, args.steps, &args.learn)?,
    };
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

/// The configurations of a run resumed from the output directory `dir`: each checkpoint's
/// own (checked against `game` and `--steps` by [`neural::checkpoint::resume_config`]), with
/// `--steps`, `--device`, `--threads` and the game as given now.
fn resume_configs(
    game: &reference::Game,
    dir: &std::path::Path,
    args: &TrainArgs,
) -> Result<Vec<TrainConfig>> {
    let shown = dir.display();
    if !dir.is_dir() {
        return Err(bad(format!("--resume {shown}: no such run directory")));
    }
    let root = dir.join("checkpoints");
    let saved: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| root.join(m.name()).join("config.json").is_file())
        .collect();
    if saved.is_empty() {
        return Err(bad(format!(
            "--resume {shown}: the run has no checkpoints ({shown}/checkpoints/METHOD/; \
             train with --checkpoint to write them)"
        )));
    }
    let wanted = if args.learn.method == "all" {
        saved.clone()
    } else {
        methods(&args.learn.method)?
    };
    let names = |ms: &[Method]| ms.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ");
    let mut out = Vec::with_capacity(wanted.len());
    for m in wanted {
        if !saved.contains(&m) {
            return Err(bad(format!(
                "--resume {shown}: no checkpoint of {m} (it has {})",
                names(&saved)
            )));
        }
        let mut cfg = checkpoint::resume_config(game, &root.join(m.name()), Some(args.steps))?;
        cfg.game = args.game.clone();
        cfg.device = args.learn.device.clone();
        cfg.threads = args.learn.threads;
        out.push(cfg);
    }
    Ok(out)
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
