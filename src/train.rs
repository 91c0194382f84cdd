//! `qfactor train`: trains neural learners (many seeds at once) and writes their learned tables
//! next to the exact ones. Argument parsing, files and printing only; the learners, the
//! evaluation into tables and every statistic live in the `neural` crate.

use crate::output::OutputDir;
use anyhow::{Context, Result};
use neural::config::{apply_overrides, merge_json, Method, Precision, TrainConfig};
use neural::learner::GameData;
use neural::report::{curves_csv, exact_tables, summarize, summary_csv, tables_csv, SummaryRow};
use neural::run::{device, device_name, train_method_with, MethodRun, Progress};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `qfactor train`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// The game: a built-in name (`paper-table1`, `two-step`, …) or a game file.
    pub game: String,
    /// Method: vdn, qmix, qtran-base, qtran-alt, iql, or all (comma-separated lists work too).
    #[arg(long, default_value = "all")]
    pub method: String,
    /// Independent seeds K, trained together.
    #[arg(long, default_value_t = 32)]
    pub seeds: usize,
    /// Environment steps per seed (one gradient step each once learning starts).
    #[arg(long, default_value_t = 10_000)]
    pub steps: usize,
    /// auto (CUDA if available, else CPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Base seed; seed j of the run uses streams keyed by (S, j).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Index of the first seed (to rerun seed j alone: --seeds 1 --seed-offset j).
    #[arg(long, default_value_t = 0)]
    pub seed_offset: usize,
    /// Output directory (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// A JSON file with (partial) settings merged over the defaults, e.g.
    /// {"qtran": {"lambda_nopt": 0.1}, "optim": {"kind": "rmsprop"}}.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one setting: --set qtran.v_jt=true --set agent.hidden=[32,32] (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// libtorch CPU threads (default: 1 for small runs, all cores when seeds × batch ≥ 8192).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Train in 64-bit floats.
    #[arg(long)]
    pub f64: bool,
    /// Also write checkpoints (DIR/checkpoints/METHOD/) of the final state.
    #[arg(long)]
    pub checkpoint: bool,
    /// Resume from a previous run's output directory (its checkpoints/METHOD/), continuing to
    /// --steps in total; the checkpoint's configuration is used.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// A user error (exit code 2).
fn bad(message: String) -> anyhow::Error {
    anyhow::Error::new(crate::BadInput(message))
}

fn methods(spec: &str) -> Result<Vec<Method>> {
    if spec == "all" {
        return Ok(Method::ALL.to_vec());
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        let m: Method = part.trim().parse().map_err(bad)?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

/// The effective configuration of one method from the arguments.
fn config_for(args: &TrainArgs, method: Method) -> Result<TrainConfig> {
    let mut cfg = TrainConfig::new(&args.game, method);
    cfg.seeds = args.seeds;
    cfg.steps = args.steps;
    cfg.device = args.device.clone();
    cfg.seed = args.seed;
    cfg.seed_offset = args.seed_offset;
    cfg.threads = args.threads;
    if args.f64 {
        cfg.precision = Precision::F64;
    }
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let patch: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("parsing {}: {e}", path.display())))?;
        cfg = merge_json(&cfg, &patch).map_err(bad)?;
    }
    cfg = apply_overrides(&cfg, &args.set).map_err(bad)?;
    cfg.validate().map_err(bad)?;
    Ok(cfg)
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
struct Bar {
    on: bool,
    method: String,
    steps: usize,
    seeds: usize,
    start: Instant,
    last: Instant,
}

impl Bar {
    fn new() -> Self {
        let now = Instant::now();
        Bar {
            on: std::io::stderr().is_terminal(),
            method: String::new(),
            steps: 0,
            seeds: 0,
            start: now,
            last: now,
        }
    }

    fn draw(&self, done: usize) {
        let frac = if self.steps == 0 {
            1.0
        } else {
            done as f64 / self.steps as f64
        };
        let width = 30;
        let filled = ((frac * width as f64) as usize).min(width);
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = if done > 0 {
            elapsed * (self.steps - done) as f64 / done as f64
        } else {
            0.0
        };
        eprint!(
            "\r{:<10} [{}{}] {done}/{} steps · {} seeds · ETA {:.0}s   ",
            self.method,
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.steps,
            self.seeds,
            eta
        );
        let _ = std::io::stderr().flush();
    }
}

impl Progress for Bar {
    fn start(&mut self, method: Method, steps: usize, seeds: usize) {
        self.method = method.name().into();
        self.steps = steps;
        self.seeds = seeds;
        self.start = Instant::now();
        self.last = self.start;
        if self.on {
            self.draw(0);
        }
    }

    fn advance(&mut self, done: usize) {
        if self.on && (self.last.elapsed() >= Duration::from_millis(100) || done == self.steps) {
            self.last = Instant::now();
            self.draw(done);
        }
    }

    fn finish(&mut self) {
        if self.on {
            self.draw(self.steps);
            eprintln!();
        }
    }
}

/// Runs `qfactor train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    if args.seeds == 0 {
        return Err(bad("--seeds must be at least 1".into()));
    }
    let game = reference::io::load_game(&args.game)
        .with_context(|| format!("loading game {:?}", args.game))?;
    let methods = methods(&args.method)?;
    let configs = methods
        .iter()
        .map(|&m| config_for(args, m))
        .collect::<Result<Vec<_>>>()?;
    let (dev, note) = device(&args.device)?;
    if let Some(note) = note {
        eprintln!("qfactor train: {note}");
    }
    let out = OutputDir::create(&args.out, args.force)?;
    let data = GameData::new(&game, configs[0].gamma)?;
    let exact = exact_tables(&data)?;
    let mut bar = Bar::new();
    let mut runs: Vec<MethodRun> = Vec::new();
    for cfg in &configs {
        let m = cfg.method.name();
        let resume = args.resume.as_ref().map(|d| d.join("checkpoints").join(m));
        let save = args
            .checkpoint
            .then(|| out.path(&format!("checkpoints/{m}")));
        let run = train_method_with(
            &game,
            cfg,
            dev,
            &mut bar,
            resume.as_deref(),
            save.as_deref(),
        )
        .with_context(|| format!("training {m}"))?;
        runs.push(run);
    }
    let rows: Vec<SummaryRow> = runs
        .iter()
        .map(|r| summarize(&data, r, &exact))
        .collect::<neural::Result<_>>()?;
    let config_json = serde_json::json!({
        "game": args.game,
        "device": device_name(dev),
        "qmix_ideal_exact": exact.qmix_exact,
        "runs": runs.iter().map(|r| &r.config).collect::<Vec<_>>(),
    });
    out.write(
        "config.json",
        serde_json::to_string_pretty(&config_json)?.as_bytes(),
    )?;
    out.write("tables.csv", tables_csv(&data, &runs, &exact)?.as_bytes())?;
    out.write("summary.csv", summary_csv(&rows).as_bytes())?;
    out.write("curves.csv", curves_csv(&runs).as_bytes())?;
    let dest = out.commit()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<11} {:>5} {:>8} {:>17} {:>6} {:>10} {:>10} {:>8} {:>8}",
            "method",
            "seeds",
            "optimal",
            "95% CI",
            "igm",
            "mse_payoff",
            "mse_ideal",
            "4b_viol",
            "seconds"
        );
        for r in &rows {
            let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
            println!(
                "{:<11} {:>5} {:>8.3} {:>17} {:>6.3} {:>10.4} {:>10} {:>8} {:>8.1}",
                r.method,
                r.seeds,
                r.optimal_rate,
                format!("[{:.3}, {:.3}]", r.optimal_rate_lo, r.optimal_rate_hi),
                r.igm_rate,
                r.mse_payoff,
                opt(r.mse_ideal),
                opt(r.cond_4b_violation),
                r.seconds
            );
        }
        eprintln!("wrote {}", dest.display());
    }
    Ok(())
}
