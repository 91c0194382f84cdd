//! Training K independent seeds of one method together.
//!
//! Each seed has its own networks (a slice of every batched parameter), its own environment,
//! replay buffer, exploration and replay-sampling streams. Per environment step, every seed
//! acts ε-greedily (ε from the schedule, per agent), stores the transition, and, once
//! `learning_starts` transitions are stored, takes one gradient step on a minibatch drawn
//! uniformly (with replacement) from its own buffer. The loss minimised is the sum over seeds
//! of each seed's mean loss, so each seed's gradient is exactly its own.
//!
//! TD targets: `y = r + γ·(1 − done)·Q⁻(s', ū')`, `ū'` the agents' argmaxes under the target
//! networks (or the online ones with `double_q`), `Q⁻` the target networks' joint value
//! (`Σ_i Q_i`, QMIX's `Q_tot`, QTRAN's `Q_jt`; for IQL, each agent's own `max Q_i`). Matrix
//! games never bootstrap.
//!
//! Losses (QTRAN paper §3.3–3.4): VDN/QMIX `(Q_tot − y)²`; IQL `Σ_i (Q_i − y_i)²`;
//! QTRAN-base `L_td + λ_opt L_opt + λ_nopt L_nopt` with `L_opt = (Q'_jt(ū) − Q̂_jt(ū) + V_jt)²`,
//! `L_nopt = min(Q'_jt(u) − Q̂_jt(u) + V_jt, 0)²`, `Q̂_jt` gradient-stopped; QTRAN-alt replaces
//! `L_nopt` by `L_nopt-min = (1/N) Σ_i (min_{u_i} D(u_i, u_−i))²` and computes `L_td`, `L_opt`
//! for every agent's counterfactual head (averaged over agents).

mod chunk;
mod device;
mod engine_pass;
mod evaluate;
mod game_data;
mod loss;
mod replay;
mod step;

pub(crate) use chunk::SeedState;
pub use device::resolve_device;
pub use evaluate::SeedTables;
pub use game_data::GameData;
pub(crate) use replay::Replay;

use crate::config::{Precision, TrainConfig};
use crate::model::{Dims, Model};
use crate::nets::ParamStore;
use crate::optim::Optimiser;
use crate::rng::Rng;
use crate::{Error, Result};
use chunk::{invalid_mask, Chunk, Engines};
use reference::{Game, Utilities};
use std::sync::Mutex;
use step::Ctx;
use tch::{Device, Kind, Tensor};

/// One logged point of a training curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    /// Environment steps done.
    pub step: usize,
    /// Each seed's loss at this step (`None` before learning starts).
    pub loss: Option<Vec<f64>>,
    /// Whether each seed's greedy policy is optimal at this step.
    pub optimal: Vec<bool>,
}

/// K seeds of one method, training together.
pub struct Learner {
    pub(crate) cfg: TrainConfig,
    pub(crate) data: GameData,
    pub(crate) device: Device,
    pub(crate) kind: Kind,
    pub(crate) params: ParamStore,
    online: Model,
    pub(crate) target_params: ParamStore,
    target: Model,
    pub(crate) opt: Optimiser,
    pub(crate) seeds: Vec<SeedState>,
    chunks: Vec<Chunk>,
    threads: usize,
    engine: Option<Engines>,
    pub(crate) step: usize,
    pub(crate) curve: Vec<CurvePoint>,
}

fn kind_of(p: Precision) -> Kind {
    match p {
        Precision::F32 => Kind::Float,
        Precision::F64 => Kind::Double,
    }
}

impl Learner {
    /// Builds K freshly initialised seeds of `cfg.method` for `game` on `device`.
    pub fn new(game: &Game, cfg: &TrainConfig, device: Device) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        // Refuse, before allocating anything, a run that cannot fit in memory.
        let data = GameData::new(game, cfg.gamma)?;
        crate::run::check_memory(
            &[crate::run::memory_estimate(cfg, &data)],
            &format!("{}: {} seeds", cfg.method, cfg.seeds),
        )?;
        if cfg.flush_denormals {
            crate::nets::flush_denormals();
        }
        let mut cfg = cfg.clone();
        let threads = if device == Device::Cpu {
            // Record the effective settings: results depend on the chunk size.
            cfg.seed_chunk = Some(cfg.seed_chunk_size());
            cfg.threads = Some(cfg.cpu_threads());
            // Parallelism comes from the worker threads, one chunk each at a time.
            tch::set_num_threads(1);
            cfg.cpu_threads()
        } else {
            1
        };
        let cfg = &cfg;
        let kind = kind_of(cfg.precision);
        let dims = Dims {
            n_agents: data.n_agents() as i64,
            a_max: data.a_max as i64,
            n_states: data.n_states() as i64,
        };
        let k = cfg.seeds;
        let seed_list = cfg.seed_list();
        let mut params = ParamStore::new(seed_list.clone(), cfg.seed, kind, device);
        let online = Model::new(&mut params, cfg, dims);
        let mut target_params = ParamStore::new(seed_list.clone(), cfg.seed, kind, device);
        let target = Model::new(&mut target_params, cfg, dims);
        params.finish();
        target_params.finish();
        target_params.copy_from(&params);
        let opt = Optimiser::new(&cfg.optim, params.flat());
        let seeds = seed_list
            .iter()
            .map(|&j| SeedState {
                explore: Rng::keyed(cfg.seed, j as u64, "explore"),
                sampler: Rng::keyed(cfg.seed, j as u64, "replay"),
                buffer: Replay::new(cfg.buffer_size, data.n_agents()),
                env: data.game.initial,
            })
            .collect();
        let chunk = if device == Device::Cpu {
            cfg.seed_chunk_size()
        } else {
            k
        };
        let engine = (device == Device::Cpu && cfg.cpu_kernels).then(|| Engines::new(&online));
        let engine_params = engine
            .as_ref()
            .map(Engines::param_indices)
            .unwrap_or_default();
        let invalid = invalid_mask(&data, device);
        let chunks = (0..k)
            .step_by(chunk)
            .map(|start| {
                let len = chunk.min(k - start);
                Chunk {
                    start,
                    len,
                    params: params.leaves(start, len),
                    target: target_params.rows(target_params.flat(), start, len),
                    m: params.rows(&opt.m, start, len),
                    v: params.rows(&opt.v, start, len),
                    invalid: invalid.as_ref().map(Tensor::copy),
                    last_loss: None,
                    engine_grads: params
                        .rows(params.flat(), start, len)
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            if engine_params.contains(&i) {
                                p.zeros_like()
                            } else {
                                Tensor::new()
                            }
                        })
                        .collect(),
                    ws32: Vec::new(),
                    ws64: Vec::new(),
                }
            })
            .collect();
        Ok(Learner {
            cfg: cfg.clone(),
            data,
            device,
            kind,
            params,
            online,
            target_params,
            target,
            opt,
            seeds,
            chunks,
            threads,
            engine,
            step: 0,
            curve: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The game data.
    pub fn data(&self) -> &GameData {
        &self.data
    }

    /// Environment steps done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The curve logged so far.
    pub fn curve(&self) -> &[CurvePoint] {
        &self.curve
    }

    /// The device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Number of seeds K.
    pub fn seeds(&self) -> usize {
        self.cfg.seeds
    }

    /// Each seed's loss at the last gradient step, `[K]` (`None` before learning starts).
    pub fn last_loss(&self) -> Option<Tensor> {
        let parts: Option<Vec<&Tensor>> =
            self.chunks.iter().map(|c| c.last_loss.as_ref()).collect();
        parts.map(|p| Tensor::cat(&p, 0))
    }

    /// Restores the per-seed last losses `l: [K]` (checkpoints).
    pub(crate) fn set_last_loss(&mut self, l: Tensor) {
        for c in &mut self.chunks {
            c.last_loss = Some(l.narrow(0, c.start as i64, c.len as i64).copy());
        }
    }

    /// Runs environment steps until `total` steps are done (calling `on_step` after each).
    pub fn run_until(&mut self, total: usize, on_step: &mut dyn FnMut(usize)) -> Result<()> {
        while self.step < total {
            self.env_step()?;
            on_step(self.step);
        }
        Ok(())
    }

    /// One environment step for every seed, then (once learning has started) one gradient
    /// step, target update and logging as scheduled.
    pub fn env_step(&mut self) -> Result<()> {
        let eps = self.cfg.epsilon.at(self.step);
        let stored = self
            .seeds
            .first()
            .map_or(0, |s| (s.buffer.len + 1).min(s.buffer.cap));
        let coefs = (stored >= self.cfg.learning_starts.max(1)).then(|| self.opt.begin_step());
        self.for_each_chunk(|ctx, seeds, chunk| ctx.step(seeds, chunk, eps, coefs.as_ref()))?;
        self.step += 1;
        if self.step.is_multiple_of(self.cfg.target_update_interval) {
            self.target_params.copy_from(&self.params);
        }
        if self.step.is_multiple_of(self.cfg.effective_log_every()) || self.step == self.cfg.steps {
            self.log()?;
        }
        Ok(())
    }

    /// Runs `f` on every chunk (with its seeds), on up to `threads` worker threads that take
    /// chunks from a queue. Each chunk touches only its own seeds' rows of the shared buffers.
    fn for_each_chunk<F>(&mut self, f: F) -> Result<()>
    where
        F: Fn(&Ctx, &mut [SeedState], &mut Chunk) -> Result<()> + Sync,
    {
        let Learner {
            cfg,
            data,
            online,
            target,
            seeds,
            chunks,
            kind,
            device,
            threads,
            engine,
            ..
        } = self;
        let ctx = Ctx {
            cfg,
            data,
            online,
            target,
            engine: engine.as_ref(),
            kind: *kind,
            device: *device,
        };
        let mut work = Vec::with_capacity(chunks.len());
        let mut rest: &mut [SeedState] = seeds;
        for c in chunks.iter_mut() {
            let (mine, others) = rest.split_at_mut(c.len);
            work.push((mine, c));
            rest = others;
        }
        let threads = (*threads).min(work.len());
        if threads <= 1 {
            return work.into_iter().try_for_each(|(s, c)| f(&ctx, s, c));
        }
        let queue = Mutex::new(work.into_iter());
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let job = || loop {
            let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
            let Some((s, c)) = next else { break };
            if let Err(e) = f(&ctx, s, c) {
                if let Ok(mut slot) = failure.lock() {
                    slot.get_or_insert(e);
                }
                break;
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(|| {
                    // Per-thread settings: OpenMP's thread count and the MXCSR flags.
                    tch::set_num_threads(1);
                    if ctx.cfg.flush_denormals {
                        crate::nets::flush_denormals();
                    }
                    job();
                });
            }
            job();
        });
        match failure.into_inner() {
            Ok(Some(e)) => Err(e),
            Ok(None) => Ok(()),
            Err(_) => Err(Error::Internal("a worker thread panicked".into())),
        }
    }

    fn log(&mut self) -> Result<()> {
        let loss = self.last_loss().map(|l| {
            Vec::<f64>::try_from(l.to_kind(Kind::Double).to_device(Device::Cpu))
                .expect("invariant: float tensor")
        });
        let utilities = self.utilities()?;
        let optimal = utilities
            .iter()
            .map(|per_state| {
                let greedy: Vec<Vec<usize>> =
                    per_state.iter().map(Utilities::greedy_joint_set).collect();
                Ok(self.data.truth.policy_optimal(&greedy)?)
            })
            .collect::<Result<Vec<bool>>>()?;
        self.curve.push(CurvePoint {
            step: self.step,
            loss,
            optimal,
        });
        Ok(())
    }
}
