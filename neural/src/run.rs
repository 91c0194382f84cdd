//! Training one method from start to finish, with progress reporting.

use crate::config::{Method, Precision, TrainConfig};
use crate::learner::{resolve_device, CurvePoint, GameData, Learner, SeedTables};
use crate::{checkpoint, Error, Result};
use reference::Game;
use std::path::Path;
use std::time::Instant;
use tch::Device;

/// Receives progress while a method trains (a progress bar, or nothing).
pub trait Progress {
    /// A method starts: `steps` environment steps for `seeds` seeds.
    fn start(&mut self, method: Method, steps: usize, seeds: usize);
    /// `done` steps are complete.
    fn advance(&mut self, done: usize);
    /// The method is done.
    fn finish(&mut self);
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: Method, _: usize, _: usize) {}
    fn advance(&mut self, _: usize) {}
    fn finish(&mut self) {}
}

/// The outcome of training one method.
#[derive(Debug, Clone)]
pub struct MethodRun {
    /// The configuration used.
    pub config: TrainConfig,
    /// The device used, in words (`cpu`, `cuda:0`).
    pub device: String,
    /// Learned tables of every seed.
    pub tables: Vec<SeedTables>,
    /// The logged curve.
    pub curve: Vec<CurvePoint>,
    /// Wall-clock seconds for training and evaluation.
    pub seconds: f64,
}

/// Human-readable device name.
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Trains `cfg.method` on `game` for `cfg.steps` steps on `device` and evaluates the tables.
pub fn train_method(
    game: &Game,
    cfg: &TrainConfig,
    device: Device,
    progress: &mut dyn Progress,
) -> Result<MethodRun> {
    train_method_with(game, cfg, device, progress, None, None)
}

/// Like [`train_method`], optionally resuming from the checkpoint directory `resume` (its
/// configuration is used, with `cfg.steps` as the new total) and writing a checkpoint of the
/// final state into `save`.
pub fn train_method_with(
    game: &Game,
    cfg: &TrainConfig,
    device: Device,
    progress: &mut dyn Progress,
    resume: Option<&Path>,
    save: Option<&Path>,
) -> Result<MethodRun> {
    let start = Instant::now();
    let mut learner = match resume {
        Some(dir) => checkpoint::load(game, dir, device, Some(cfg.steps))?,
        None => Learner::new(game, cfg, device)?,
    };
    let run = finish_training(&mut learner, progress, start)?;
    if let Some(dir) = save {
        checkpoint::save(&learner, dir)?;
    }
    Ok(run)
}

/// Continues `learner` to its configured number of steps and evaluates it.
pub fn finish_training(
    learner: &mut Learner,
    progress: &mut dyn Progress,
    start: Instant,
) -> Result<MethodRun> {
    let cfg = learner.config().clone();
    progress.start(cfg.method, cfg.steps, cfg.seeds);
    learner.run_until(cfg.steps, &mut |s| progress.advance(s))?;
    let tables = learner.evaluate()?;
    progress.finish();
    Ok(MethodRun {
        device: device_name(learner.device()),
        config: cfg,
        tables,
        curve: learner.curve().to_vec(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Resolves a device request (see [`resolve_device`]) — re-exported for the command line.
pub fn device(spec: &str) -> Result<(Device, Option<String>)> {
    resolve_device(spec)
}

/// Environment variable that caps the memory a run may plan to use, in bytes (it replaces
/// `MemAvailable` of `/proc/meminfo`; `0` or an unreadable value is ignored).
pub const MEMORY_LIMIT_VAR: &str = "QFACTOR_MEMORY_LIMIT";

/// Widths above this (2^24) are refused by [`memory_estimate`] outright: one such layer
/// alone would hold more than 2^48 parameters, and refusing first keeps every later product
/// of widths far from overflowing.
const MAX_WIDTH: usize = 1 << 24;

/// Host memory that training `cfg` on `data` needs, in bytes, estimated before anything is
/// allocated: per seed the online and target parameters, their gradients and two optimiser
/// moments (6 copies of the parameters), the replay buffer (`u32` states, actions and next
/// states, `f64` rewards), the activations of one gradient step, the logged curve and the
/// evaluated tables; times the K seeds. `None` when the estimate does not fit in 64 bits
/// (or a width exceeds 2^24), i.e. when the run cannot fit in any memory.
pub fn memory_estimate(cfg: &TrainConfig, data: &GameData) -> Option<u64> {
    let mut widths: Vec<usize> = cfg.agent.hidden.clone();
    match cfg.method {
        Method::Qmix => widths.extend([cfg.qmix.mixing_embed, cfg.qmix.hypernet_embed]),
        Method::QtranBase | Method::QtranAlt => widths.extend(&cfg.qtran.joint_hidden),
        Method::Vdn | Method::Iql => {}
    }
    if widths.iter().any(|&w| w > MAX_WIDTH) || cfg.batch_size > MAX_WIDTH {
        return None;
    }
    let elem = match cfg.precision {
        Precision::F32 => 4.0,
        Precision::F64 => 8.0,
    };
    let n = data.n_agents() as f64;
    let params = crate::cost::seed_step_cost(cfg, data).params;
    let width_sum: f64 = widths.iter().map(|&w| w as f64).sum::<f64>() + data.a_max as f64;
    let activations = cfg.batch_size as f64 * (n + 1.0) * width_sum * elem * 4.0;
    let replay = cfg.buffer_size as f64 * (4.0 + 4.0 + 4.0 * n + 8.0);
    let points = (cfg.steps / cfg.effective_log_every()) as f64 + 2.0;
    let curve = points * 16.0;
    let joint = data.joint as f64;
    let tables =
        data.n_states() as f64 * (joint + data.actions.iter().sum::<usize>() as f64) * 128.0;
    let per_seed = 6.0 * params * elem + replay + activations + curve + tables + 512.0;
    let total = per_seed * cfg.seeds as f64;
    // u64::MAX as f64 rounds up to 2^64, so `<` keeps the conversion exact and in range.
    (total.is_finite() && total < u64::MAX as f64).then(|| total.ceil() as u64)
}

/// The memory a run may use, in bytes, and where that figure comes from: the
/// [`MEMORY_LIMIT_VAR`] environment variable when set, else `MemAvailable` from
/// `/proc/meminfo`; `None` where neither is readable (then only estimates that overflow are
/// refused).
pub fn memory_limit() -> Option<(u64, String)> {
    if let Some(v) = std::env::var(MEMORY_LIMIT_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&v| v > 0)
    {
        return Some((v, format!("{MEMORY_LIMIT_VAR}={v}")));
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((
        kb.checked_mul(1024)?,
        "MemAvailable in /proc/meminfo".into(),
    ))
}

/// Bytes in words (`1.5 GB`, decimal units).
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Refuses ([`Error::Invalid`], bad input) a plan that needs more memory than
/// [`memory_limit`] allows, or whose size overflows. `estimates` holds one
/// [`memory_estimate`] per method held in memory at the same time, `what` names the plan in
/// the message (`"vdn: 1000000 seeds"`).
pub fn check_memory(estimates: &[Option<u64>], what: &str) -> Result<()> {
    let total = estimates
        .iter()
        .try_fold(0u64, |acc, e| e.and_then(|e| acc.checked_add(e)));
    let hint = "use fewer seeds (--seeds), a smaller buffer_size or smaller networks";
    let Some(total) = total else {
        return Err(Error::Invalid(format!(
            "{what}: the run needs more memory than any machine has (its size overflows 64 \
             bits); {hint}"
        )));
    };
    if let Some((limit, source)) = memory_limit() {
        if total > limit {
            return Err(Error::Invalid(format!(
                "{what}: the run needs about {} of memory (parameters, optimiser state, replay \
                 buffers, tables), more than the {} available ({source}); {hint}",
                human_bytes(total),
                human_bytes(limit)
            )));
        }
    }
    Ok(())
}
