//! Training one method from start to finish, with progress reporting.

use crate::config::{Method, TrainConfig};
use crate::learner::{resolve_device, CurvePoint, Learner, SeedTables};
use crate::{checkpoint, Result};
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
