//! What `train`, `compare` and `demo` share: the learner settings on the command line, the
//! configurations they produce, a progress display, and training several methods at once
//! (one method per worker thread when each uses one libtorch thread, which is the default for
//! small runs: results are bit-for-bit those of a sequential run, only sooner).

use crate::present::style::Style;
use anyhow::{Context, Result};
use neural::config::{apply_overrides, merge_json, Method, Precision, TrainConfig};
use neural::run::{train_method_with, MethodRun, Progress};
use reference::Game;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tch::Device;

/// Learner settings common to `train` and `compare` (the seed count and step count are each
/// command's own, with their own defaults).
#[derive(clap::Args, Debug, Clone)]
pub struct LearnArgs {
    /// Method: vdn, qmix, qtran-base, qtran-alt, iql, or all (comma-separated lists work too).
    #[arg(long, default_value = "all")]
    pub method: String,
    /// auto (CUDA if available, else CPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Base seed; seed j of the run uses streams keyed by (S, j).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Index of the first seed (to rerun seed j alone: --seeds 1 --seed-offset j).
    #[arg(long, default_value_t = 0)]
    pub seed_offset: usize,
    /// A JSON file with (partial) settings merged over the defaults, e.g.
    /// {"qtran": {"lambda_nopt": 0.1}, "optim": {"kind": "rmsprop"}}.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one setting: --set qtran.v_jt=true --set agent.hidden=[32,32] (repeatable).
    // The brackets are the option's syntax (shown verbatim by --help), not a doc link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// libtorch CPU threads per method (default: 1 for small runs, all cores when
    /// seeds × batch ≥ 8192).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Methods trained at the same time (default: one per CPU core when every method runs on
    /// one libtorch thread on the CPU, else 1). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Train in 64-bit floats.
    #[arg(long)]
    pub f64: bool,
}

/// A user error (exit code 2).
pub fn bad(message: String) -> anyhow::Error {
    anyhow::Error::new(crate::BadInput(message))
}

/// Parses a count that must be at least 1 (`--seeds`, `--steps`), with a message that says
/// so (clap's own would suggest `-- -1` for a negative number).
pub fn positive(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a positive integer (1, 2, 3, …)".into()),
    }
}

/// The settings patch in the `--config` file `path`: a JSON object of settings (partial,
/// nested as in `config.json`).
fn read_patch(path: &std::path::Path) -> Result<serde_json::Value> {
    let shown = path.display();
    if path.is_dir() {
        return Err(bad(format!(
            "--config {shown}: is a directory, not a settings file"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            e.to_string()
        };
        bad(format!("--config {shown}: {why}"))
    })?;
    let patch: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("--config {shown}: not valid JSON: {e}")))?;
    if !patch.is_object() {
        return Err(bad(format!(
            "--config {shown}: the file must hold a JSON object (table) of settings, e.g. \
             {{\"qtran\": {{\"lambda_nopt\": 0.1}}}}, not {}",
            json_kind(&patch)
        )));
    }
    Ok(patch)
}

/// The kind of a JSON value, in words.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The methods named by `spec` (`all` or a comma-separated list), without repeats.
pub fn methods(spec: &str) -> Result<Vec<Method>> {
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

/// The effective configuration of `method` from the arguments.
pub fn config_for(
    game: &str,
    method: Method,
    seeds: usize,
    steps: usize,
    args: &LearnArgs,
) -> Result<TrainConfig> {
    if seeds == 0 {
        return Err(bad("--seeds must be at least 1".into()));
    }
    if steps == 0 {
        return Err(bad(
            "--steps must be at least 1 (with 0 nothing is trained)".into(),
        ));
    }
    let mut cfg = TrainConfig::new(game, method);
    cfg.seeds = seeds;
    cfg.steps = steps;
    cfg.device = args.device.clone();
    cfg.seed = args.seed;
    cfg.seed_offset = args.seed_offset;
    cfg.threads = args.threads;
    if args.f64 {
        cfg.precision = Precision::F64;
    }
    if let Some(path) = &args.config {
        let patch = read_patch(path)?;
        cfg = merge_json(&cfg, &patch)
            .map_err(|e| bad(format!("--config {}: {e}", path.display())))?;
    }
    cfg = apply_overrides(&cfg, &args.set).map_err(bad)?;
    cfg.validate().map_err(bad)?;
    Ok(cfg)
}

/// The configurations of every method of `args.method`.
pub fn configs(
    game: &str,
    seeds: usize,
    steps: usize,
    args: &LearnArgs,
) -> Result<Vec<TrainConfig>> {
    methods(&args.method)?
        .into_iter()
        .map(|m| config_for(game, m, seeds, steps, args))
        .collect()
}

/// How many methods to train at once: `requested`, or one per core when every configuration
/// runs on one CPU thread (more would only compete for the same cores), else 1.
pub fn jobs_for(requested: Option<usize>, configs: &[TrainConfig], device: Device) -> usize {
    if let Some(j) = requested {
        return j.clamp(1, configs.len().max(1));
    }
    let single = device == Device::Cpu && configs.iter().all(|c| c.cpu_threads() == 1);
    if !single {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.clamp(1, configs.len().max(1))
}

/// Progress of every method being trained, drawn as one line on stderr when it is a terminal
/// (and not under `--quiet`).
pub struct Board {
    on: bool,
    start: Instant,
    state: Mutex<BoardState>,
}

struct BoardState {
    rows: Vec<(String, usize, usize, usize)>,
    last: Instant,
    drawn: bool,
}

impl Board {
    /// A board for `configs` (in order).
    pub fn new(configs: &[TrainConfig]) -> Self {
        let on = std::io::stderr().is_terminal() && !crate::logging::quiet();
        let rows = configs
            .iter()
            .map(|c| (c.method.name().to_string(), 0, c.steps, c.seeds))
            .collect();
        let now = Instant::now();
        Board {
            on,
            start: now,
            state: Mutex::new(BoardState {
                rows,
                last: now,
                drawn: false,
            }),
        }
    }

    fn update(&self, k: usize, done: usize, force: bool) {
        if !self.on {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if let Some(r) = st.rows.get_mut(k) {
            r.1 = done;
        }
        if !force && st.last.elapsed() < Duration::from_millis(120) {
            return;
        }
        st.last = Instant::now();
        st.drawn = true;
        let style = Style::stderr();
        let parts: Vec<String> = st
            .rows
            .iter()
            .map(|(m, d, s, _)| {
                let pct = if *s == 0 {
                    100
                } else {
                    (100.0 * *d as f64 / *s as f64) as usize
                };
                let text = format!("{m} {pct:>3}%");
                if pct >= 100 {
                    style.good(&text)
                } else {
                    text
                }
            })
            .collect();
        let total: f64 = st.rows.iter().map(|r| r.2 as f64 * r.3 as f64).sum();
        let done: f64 = st.rows.iter().map(|r| r.1 as f64 * r.3 as f64).sum();
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = if done > 0.0 && done < total {
            format!(" · ETA {:.0}s", elapsed * (total - done) / done)
        } else {
            String::new()
        };
        eprint!(
            "\r\x1b[2K training: {} · {elapsed:.0}s{eta}",
            parts.join(" · ")
        );
        let _ = std::io::stderr().flush();
    }

    /// Ends the progress line.
    pub fn finish(&self) {
        if let Ok(st) = self.state.lock() {
            if self.on && st.drawn {
                eprintln!();
            }
        }
    }
}

/// The [`Progress`] of one method on a [`Board`].
struct Ticker<'a> {
    board: &'a Board,
    k: usize,
}

impl Progress for Ticker<'_> {
    fn start(&mut self, _: Method, _: usize, _: usize) {
        self.board.update(self.k, 0, true);
    }

    fn advance(&mut self, done: usize) {
        self.board.update(self.k, done, false);
    }

    fn finish(&mut self) {
        if let Ok(st) = self.board.state.lock() {
            let steps = st.rows.get(self.k).map_or(0, |r| r.2);
            drop(st);
            self.board.update(self.k, steps, true);
        }
    }
}

/// Where one method's checkpoint is read from and written to (`train --resume/--checkpoint`).
#[derive(Debug, Clone, Default)]
pub struct Checkpoints {
    /// Resume from this checkpoint directory.
    pub resume: Option<PathBuf>,
    /// Save the final state here.
    pub save: Option<PathBuf>,
}

/// Refuses (bad input) configurations that together need more memory than is available
/// (see [`neural::run::check_memory`]): the `jobs` largest are held at once, and every run's
/// tables are kept to the end (counted within each estimate).
pub fn check_memory(game: &Game, configs: &[TrainConfig], jobs: usize) -> Result<()> {
    let mut estimates = Vec::with_capacity(configs.len());
    for c in configs {
        let data = neural::learner::GameData::new(game, c.gamma)?;
        estimates.push(neural::run::memory_estimate(c, &data));
    }
    // Largest first (`None`, an overflow, counts as the largest).
    estimates.sort_by(|a, b| match (a, b) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Less,
        (_, None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(x),
    });
    estimates.truncate(jobs.clamp(1, configs.len().max(1)));
    let seeds: Vec<String> = configs
        .iter()
        .map(|c| format!("{} {} seeds", c.method, c.seeds))
        .collect();
    let what = if jobs > 1 && configs.len() > 1 {
        format!(
            "{} (up to {} at a time)",
            seeds.join(", "),
            jobs.min(configs.len())
        )
    } else {
        seeds.join(", ")
    };
    neural::run::check_memory(&estimates, &what)?;
    Ok(())
}

/// Trains every configuration on `device`, `jobs` methods at a time, and returns the runs in
/// the order of `configs`.
pub fn train_all(
    game: &Game,
    configs: &[TrainConfig],
    device: Device,
    jobs: usize,
    checkpoints: &[Checkpoints],
) -> Result<Vec<MethodRun>> {
    check_memory(game, configs, jobs)?;
    let board = Board::new(configs);
    // Longest first (by the floating-point work `neural::cost` computes per seed-step), so
    // that parallel workers finish together; results are stored by position, so the order of
    // `configs` is kept.
    let mut costs = Vec::with_capacity(configs.len());
    for c in configs {
        let data = neural::learner::GameData::new(game, c.gamma)?;
        let step = neural::cost::seed_step_cost(c, &data);
        costs.push((step.matmul() + step.optimiser) * c.seeds as f64 * c.steps as f64);
    }
    let mut queue: Vec<usize> = (0..configs.len()).collect();
    queue.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<MethodRun>>>> =
        Mutex::new((0..configs.len()).map(|_| None).collect());
    let worker = || {
        while let Some(&k) = queue.get(next.fetch_add(1, Ordering::SeqCst)) {
            let cfg = &configs[k];
            let cp = checkpoints.get(k).cloned().unwrap_or_default();
            let mut ticker = Ticker { board: &board, k };
            tracing::debug!(
                "training {} ({} seeds × {} steps)",
                cfg.method,
                cfg.seeds,
                cfg.steps
            );
            let run = train_method_with(
                game,
                cfg,
                device,
                &mut ticker,
                cp.resume.as_deref(),
                cp.save.as_deref(),
            )
            .with_context(|| format!("training {}", cfg.method));
            if let Ok(r) = &run {
                tracing::debug!("{} done in {:.1}s", cfg.method, r.seconds);
            }
            if let Ok(mut slot) = results.lock() {
                slot[k] = Some(run);
            }
        }
    };
    let jobs = jobs.clamp(1, configs.len().max(1));
    if jobs == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(worker);
            }
        });
    }
    board.finish();
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a training thread panicked"))?;
    results
        .into_iter()
        .enumerate()
        .map(|(k, r)| {
            r.unwrap_or_else(|| {
                Err(anyhow::anyhow!(
                    "training {} did not finish",
                    configs[k].method
                ))
            })
        })
        .collect()
}
