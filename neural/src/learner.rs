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

use crate::config::{Method, Precision, TrainConfig};
use crate::engine::{slice, slice_mut, MlpEngine, Real, Workspace};
use crate::mixing::{qmix_td_loss, MixDims, MixGrads, MixInputs};
use crate::model::{Dims, Mixer, Model, QmixMixer};
use crate::nets::ParamStore;
use crate::optim::{self, Optimiser, StepCoefs};
use crate::qtran_engine::{QtranDims, QtranEngine, QtranTensors};
use crate::rng::Rng;
use crate::{Error, Result};
use reference::table::JointTable;
use reference::{Factorization, Game, JointKind, Truth, Utilities};
use std::sync::Mutex;
use tch::{Device, Kind, Tensor};

/// The game in the form the learners use.
#[derive(Debug, Clone)]
pub struct GameData {
    /// The game itself.
    pub game: Game,
    /// Action count of each agent.
    pub actions: Vec<usize>,
    /// Largest action count.
    pub a_max: usize,
    /// Number of joint actions.
    pub joint: usize,
    /// Every joint action in storage order (agent 1 slowest).
    pub joint_actions: Vec<Vec<usize>>,
    /// Discount used for TD targets and returns.
    pub gamma: f64,
    /// The game solved exactly (`Q*`, optimal joint actions, optimal return), under `gamma`.
    pub truth: Truth,
    /// True when no transition leads to another state (no bootstrapping ever).
    pub never_bootstraps: bool,
}

impl GameData {
    /// Prepares `game` (validated) with discount `gamma` (`None`: the game's).
    pub fn new(game: &Game, gamma: Option<f64>) -> Result<Self> {
        game.validate()?;
        let mut game = game.clone();
        if let Some(g) = gamma {
            game.gamma = g;
        }
        let actions = game.shape();
        let a_max = actions.iter().copied().max().unwrap_or(1);
        let proto = &game.states[0].payoff;
        let joint = proto.len();
        let joint_actions = (0..joint).map(|k| proto.joint_action(k)).collect();
        let truth = Truth::new(&game)?;
        let never_bootstraps = game
            .states
            .iter()
            .all(|s| (0..s.payoff.len()).all(|k| s.next_of(k).is_none()));
        Ok(GameData {
            gamma: game.gamma,
            game,
            actions,
            a_max,
            joint,
            joint_actions,
            truth,
            never_bootstraps,
        })
    }

    /// Number of agents.
    pub fn n_agents(&self) -> usize {
        self.actions.len()
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.game.states.len()
    }
}

/// Per-seed replay buffer (a ring of transitions), 24 bytes per transition of two agents:
/// state, actions and next state as `u32`, the reward as `f64` (exact in either precision).
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    pub(crate) cap: usize,
    pub(crate) n: usize,
    pub(crate) len: usize,
    pub(crate) pos: usize,
    pub(crate) state: Vec<u32>,
    pub(crate) actions: Vec<u32>,
    pub(crate) reward: Vec<f64>,
    /// Next state, or [`Replay::TERMINAL`].
    pub(crate) next: Vec<u32>,
}

impl Replay {
    /// `next` of a transition that ends the episode.
    pub(crate) const TERMINAL: u32 = u32::MAX;

    fn new(cap: usize, n: usize) -> Self {
        Replay {
            cap,
            n,
            len: 0,
            pos: 0,
            state: vec![0; cap],
            actions: vec![0; cap * n],
            reward: vec![0.0; cap],
            next: vec![Self::TERMINAL; cap],
        }
    }

    fn push(&mut self, s: usize, u: &[usize], r: f64, next: Option<usize>) {
        let p = self.pos;
        // States and actions fit in u32: games have at most MAX_JOINT_ACTIONS joint actions.
        self.state[p] = s as u32;
        for (i, &a) in u.iter().enumerate() {
            self.actions[p * self.n + i] = a as u32;
        }
        self.reward[p] = r;
        self.next[p] = next.map_or(Self::TERMINAL, |x| x as u32);
        self.pos = (p + 1) % self.cap;
        self.len = (self.len + 1).min(self.cap);
    }
}

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

/// A minibatch for all seeds, on the device.
struct Batch {
    obs: Tensor,
    u: Tensor,
    r: Tensor,
    obs2: Tensor,
    not_done: Tensor,
    bootstrap: bool,
}

/// The learned tables of one seed, per state.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedTables {
    /// The seed index.
    pub seed: usize,
    /// Per state (indexed like the game's states): the utilities, the learned joint table
    /// (`Q_tot` for VDN, QMIX and IQL's sum; `Q_jt` for QTRAN) and QTRAN's `V_jt` (0 when the
    /// `V_jt` network is off).
    pub states: Vec<Factorization>,
}

/// One seed's own state: exploration and replay streams, replay buffer, environment state.
#[derive(Debug, Clone)]
pub(crate) struct SeedState {
    pub(crate) explore: Rng,
    pub(crate) sampler: Rng,
    pub(crate) buffer: Replay,
    pub(crate) env: usize,
}

/// A chunk of consecutive seeds, trained as one batch: its parameter leaves, target and
/// optimiser-state views are created once (views of ranges of the flat buffers), so a step
/// neither copies nor re-slices parameters.
struct Chunk {
    /// Index of the chunk's first seed.
    start: usize,
    /// Number of seeds.
    len: usize,
    /// Leaves `[Kc, shape…]` viewing the online parameters (gradients are taken w.r.t. them).
    params: Vec<Tensor>,
    /// Views of the target parameters.
    target: Vec<Tensor>,
    /// Views of the optimiser's first moments.
    m: Vec<Tensor>,
    /// Views of the optimiser's second moments.
    v: Vec<Tensor>,
    /// Padding mask of actions beyond an agent's own count, `[1, N, 1, A]` (this chunk's
    /// copy: tensors are not shared between threads).
    invalid: Option<Tensor>,
    /// Each seed's loss at the last gradient step, `[Kc]`, kept on the device.
    last_loss: Option<Tensor>,
    /// Gradient buffers of the parameters of the networks the CPU engine runs (undefined
    /// tensors at the other parameters' places), written by the engine every step.
    engine_grads: Vec<Tensor>,
    /// The engine's reusable buffers, one per engine network and precision (the unused
    /// precision's stay empty).
    ws32: Vec<Workspace<f32>>,
    ws64: Vec<Workspace<f64>>,
}

/// The networks the CPU engine runs: the agents, and QMIX's hypernetworks (in the order of
/// [`crate::model::QmixMixer::hyper`]).
struct Engines {
    agents: MlpEngine,
    mixer: Vec<MlpEngine>,
    /// QTRAN's encoder and joint (or counterfactual) network, without a `V_jt` network.
    qtran: Option<QtranEngine>,
}

impl Engines {
    fn new(model: &Model) -> Self {
        let mixer = match &model.mixer {
            Mixer::Qmix(m) => m
                .hyper_layers()
                .iter()
                .map(|l| MlpEngine::obs_net(l))
                .collect(),
            _ => Vec::new(),
        };
        let qtran = match &model.mixer {
            Mixer::Qtran(nets) if !nets.has_v() => Some(QtranEngine::new(
                nets.encoder_layers(),
                nets.joint_layers(),
                nets.is_alt(),
            )),
            _ => None,
        };
        Engines {
            agents: MlpEngine::agents(&model.agents),
            mixer,
            qtran,
        }
    }

    fn param_indices(&self) -> Vec<usize> {
        let mut v: Vec<usize> = std::iter::once(&self.agents)
            .chain(&self.mixer)
            .flat_map(MlpEngine::param_indices)
            .collect();
        v.extend(self.qtran.iter().flat_map(QtranEngine::param_indices));
        v
    }

    fn count(&self) -> usize {
        1 + self.mixer.len()
    }
}

/// Each seed's loss as a tensor, and every parameter's gradient from the engine's buffers (a
/// step where the engine ran every network).
fn engine_result(losses: &[f64], kind: Kind, chunk: &Chunk) -> (Tensor, Vec<Tensor>) {
    let per_seed = Tensor::from_slice(losses).to_kind(kind);
    let grads = chunk
        .engine_grads
        .iter()
        .map(Tensor::shallow_clone)
        .collect();
    (per_seed, grads)
}

/// What every chunk's step reads (shared by the worker threads).
struct Ctx<'a> {
    cfg: &'a TrainConfig,
    data: &'a GameData,
    online: &'a Model,
    target: &'a Model,
    engine: Option<&'a Engines>,
    kind: Kind,
    device: Device,
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

/// Resolves `auto`, `cpu`, `cuda`, `cuda:N`. Returns the device and, for `auto` without a
/// GPU, a note saying so.
pub fn resolve_device(spec: &str) -> Result<(Device, Option<String>)> {
    match spec {
        "cpu" => Ok((Device::Cpu, None)),
        "auto" => {
            if tch::Cuda::is_available() {
                Ok((Device::Cuda(0), None))
            } else {
                Ok((
                    Device::Cpu,
                    Some("no CUDA device available; using the CPU".into()),
                ))
            }
        }
        _ => {
            let idx = if spec == "cuda" {
                0
            } else if let Some(i) = spec.strip_prefix("cuda:") {
                i.parse::<usize>()
                    .map_err(|_| Error::Invalid(format!("bad device {spec:?}")))?
            } else {
                return Err(Error::Invalid(format!(
                    "unknown device {spec:?} (expected auto, cpu, cuda or cuda:N)"
                )));
            };
            let count = tch::Cuda::device_count() as usize;
            if idx >= count {
                return Err(Error::Invalid(format!(
                    "device {spec} requested but {count} CUDA device(s) are available"
                )));
            }
            Ok((Device::Cuda(idx), None))
        }
    }
}

fn kind_of(p: Precision) -> Kind {
    match p {
        Precision::F32 => Kind::Float,
        Precision::F64 => Kind::Double,
    }
}

/// The padding mask `[1, N, 1, A]` (true where an agent has fewer than `A` actions), or
/// `None` when every agent has `A` actions.
fn invalid_mask(data: &GameData, device: Device) -> Option<Tensor> {
    if data.actions.iter().all(|&a| a == data.a_max) {
        return None;
    }
    let mask: Vec<bool> = data
        .actions
        .iter()
        .flat_map(|&a| (0..data.a_max).map(move |x| x >= a))
        .collect();
    Some(
        Tensor::from_slice(&mask)
            .view([1, data.n_agents() as i64, 1, data.a_max as i64])
            .to_device(device),
    )
}

/// A host vector of floats as a tensor of `kind` (one copy, no conversion operation).
fn float_tensor(values: &[f64], kind: Kind) -> Tensor {
    if kind == Kind::Float {
        let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        Tensor::from_slice(&v)
    } else {
        Tensor::from_slice(values)
    }
}

/// Per-seed mean over dimension 1.
fn mean_b(t: Tensor, k: Kind) -> Tensor {
    t.mean_dim([1i64].as_slice(), false, k)
}

/// Per-seed mean over dimensions 1 and 2.
fn mean_nb(t: Tensor, k: Kind) -> Tensor {
    t.mean_dim([1i64, 2].as_slice(), false, k)
}

impl Ctx<'_> {
    fn masked(&self, chunk: &Chunk, q: &Tensor, fill: f64) -> Tensor {
        match &chunk.invalid {
            Some(m) => q.masked_fill(m, fill),
            None => q.shallow_clone(),
        }
    }

    /// One-hot observations `[k, B, S]` of the state indices `states` (`k · B` of them).
    fn obs(&self, states: &[usize], k: i64) -> Tensor {
        let s = self.data.n_states();
        let mut v = vec![0.0f64; states.len() * s];
        for (row, &st) in states.iter().enumerate() {
            v[row * s + st] = 1.0;
        }
        float_tensor(&v, self.kind)
            .view([k, -1, s as i64])
            .to_device(self.device)
    }

    /// Greedy actions of the chunk's agents in its seeds' current states, `[Kc][N]`.
    fn greedy(&self, seeds: &[SeedState], chunk: &Chunk) -> Vec<Vec<usize>> {
        let states: Vec<usize> = seeds.iter().map(|s| s.env).collect();
        let idx = tch::no_grad(|| {
            let (q, _) = self
                .online
                .agents
                .forward(&chunk.params, &self.obs(&states, chunk.len as i64));
            self.masked(chunk, &q, -1e30)
                .argmax(3, false)
                .to_device(Device::Cpu)
        });
        let flat = Vec::<i64>::try_from(idx.flatten(0, -1)).expect("invariant: int64 tensor");
        let n = self.data.n_agents();
        flat.chunks(n)
            .map(|c| c.iter().map(|&a| a as usize).collect())
            .collect()
    }

    /// One environment step of the chunk's seeds and, with `coefs`, one gradient step.
    fn step(
        &self,
        seeds: &mut [SeedState],
        chunk: &mut Chunk,
        eps: f64,
        coefs: Option<&StepCoefs>,
    ) -> Result<()> {
        let greedy = (eps < 1.0).then(|| self.greedy(seeds, chunk));
        let n = self.data.n_agents();
        let mut u = vec![0usize; n];
        for (k, seed) in seeds.iter_mut().enumerate() {
            let s = seed.env;
            for (i, a) in u.iter_mut().enumerate() {
                let x = seed.explore.uniform();
                *a = if x < eps {
                    seed.explore.below(self.data.actions[i])
                } else {
                    greedy.as_ref().expect("invariant: computed when ε < 1")[k][i]
                };
            }
            let state = &self.data.game.states[s];
            let j = state.payoff.index_of(&u);
            let r = state.payoff.values()[j];
            let next = state.next_of(j);
            seed.buffer.push(s, &u, r, next);
            seed.env = next.unwrap_or(self.data.game.initial);
        }
        if let Some(coefs) = coefs {
            let batch = self.sample(seeds);
            let (per_seed, grads) = match self.engine {
                Some(engines) if self.kind == Kind::Float => {
                    let mut ws = std::mem::take(&mut chunk.ws32);
                    ws.resize_with(engines.count(), Workspace::default);
                    let out = self.engine_pass(engines, chunk, &batch, &mut ws);
                    chunk.ws32 = ws;
                    out?
                }
                Some(engines) => {
                    let mut ws = std::mem::take(&mut chunk.ws64);
                    ws.resize_with(engines.count(), Workspace::default);
                    let out = self.engine_pass(engines, chunk, &batch, &mut ws);
                    chunk.ws64 = ws;
                    out?
                }
                None => {
                    let (q, h) = self.online.agents.forward(&chunk.params, &batch.obs);
                    let per_seed = self.loss(chunk, &batch, &q, Some(&h), None);
                    let grads = Tensor::f_run_backward(
                        &[per_seed.sum(self.kind)],
                        &chunk.params,
                        false,
                        false,
                    )?;
                    (per_seed, grads)
                }
            };
            optim::update(coefs, &chunk.params, &chunk.m, &chunk.v, &grads);
            chunk.last_loss = Some(per_seed.detach());
        }
        Ok(())
    }

    /// The loss and the gradients of every parameter of the chunk, with the networks fed by
    /// the observation (agents, QMIX's hypernetworks) run by the CPU engine: their outputs
    /// become leaves of the autograd graph of the rest (mixing, QTRAN's networks, losses),
    /// whose gradients the engine propagates back into `engine_grads`.
    fn engine_pass<T: Real>(
        &self,
        engines: &Engines,
        chunk: &Chunk,
        b: &Batch,
        ws: &mut [Workspace<T>],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let size = b.obs.size();
        let (kc, batch) = (size[0], size[1]);
        let n = self.data.n_agents() as i64;
        let opts = (self.kind, Device::Cpu);
        let (ws_agents, ws_mixer) = ws.split_at_mut(1);
        let q = Tensor::empty([kc, n, batch, self.data.a_max as i64], opts);
        let h = matches!(self.online.mixer, Mixer::Qtran(_))
            .then(|| Tensor::empty([kc, n, batch, engines.agents.hidden() as i64], opts));
        engines
            .agents
            .forward(&mut ws_agents[0], &chunk.params, &b.obs, &q, h.as_ref());
        let hyper: Vec<Tensor> = engines
            .mixer
            .iter()
            .zip(ws_mixer.iter_mut())
            .map(|(e, w)| {
                let out = Tensor::empty([kc, 1, batch, e.out_dim() as i64], opts);
                e.forward(w, &chunk.params, &b.obs, &out, None);
                out.set_requires_grad(true)
            })
            .collect();
        if let (Some(qe), Some(h)) = (&engines.qtran, &h) {
            return self.qtran_engine_pass(engines, qe, chunk, b, ws, &q, h);
        }
        if let Mixer::Qmix(m) = &self.online.mixer {
            let all_by_engine = (0..chunk.params.len()).all(|i| chunk.engine_grads[i].defined());
            if self.cfg.method == Method::Qmix && hyper.len() == 4 && all_by_engine {
                return self.qmix_engine_pass(engines, chunk, b, ws, m, &q, &hyper);
            }
        }
        let q = q.set_requires_grad(true);
        let h = h.map(|h| h.set_requires_grad(true));
        let hyper4: Option<[Tensor; 4]> = (hyper.len() == 4).then(|| {
            [
                hyper[0].shallow_clone(),
                hyper[1].shallow_clone(),
                hyper[2].shallow_clone(),
                hyper[3].shallow_clone(),
            ]
        });
        let per_seed = self.loss(chunk, b, &q, h.as_ref(), hyper4.as_ref());
        let by_engine = |i: usize| chunk.engine_grads[i].defined();
        let mut inputs: Vec<&Tensor> = chunk
            .params
            .iter()
            .enumerate()
            .filter(|&(i, _)| !by_engine(i))
            .map(|(_, p)| p)
            .collect();
        let n_torch = inputs.len();
        inputs.push(&q);
        inputs.extend(h.iter());
        inputs.extend(hyper.iter());
        let g = Tensor::f_run_backward(&[per_seed.sum(self.kind)], &inputs, false, false)?;
        // The gradient of an output, or zeros when the loss does not depend on it.
        let grad = |j: usize, like: &Tensor| {
            if g[j].defined() {
                g[j].contiguous()
            } else {
                like.detach().zeros_like()
            }
        };
        let dq = grad(n_torch, &q);
        let dh = h.as_ref().map(|h| grad(n_torch + 1, h));
        engines.agents.backward(
            &mut ws_agents[0],
            &chunk.params,
            &b.obs,
            &dq,
            dh.as_ref(),
            &chunk.engine_grads,
        );
        let first_hyper = n_torch + 1 + usize::from(h.is_some());
        for (j, (e, w)) in engines.mixer.iter().zip(ws_mixer.iter_mut()).enumerate() {
            let d = grad(first_hyper + j, &hyper[j]);
            e.backward(w, &chunk.params, &b.obs, &d, None, &chunk.engine_grads);
        }
        let mut torch_grads = g.into_iter().take(n_torch);
        let grads = (0..chunk.params.len())
            .map(|i| {
                if by_engine(i) {
                    chunk.engine_grads[i].shallow_clone()
                } else {
                    torch_grads.next().unwrap_or_default()
                }
            })
            .collect();
        Ok((per_seed, grads))
    }

    /// The rest of a QMIX step when the engine runs every network: the mixing network and the
    /// TD loss forward and backward in Rust ([`crate::mixing`]), then the engine's backward
    /// passes. Only the targets (no gradients) go through libtorch.
    #[allow(clippy::too_many_arguments)]
    fn qmix_engine_pass<T: Real>(
        &self,
        engines: &Engines,
        chunk: &Chunk,
        b: &Batch,
        ws: &mut [Workspace<T>],
        mixer: &QmixMixer,
        q: &Tensor,
        hyper: &[Tensor],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let size = q.size();
        let d = MixDims {
            seeds: size[0] as usize,
            agents: size[1] as usize,
            batch: size[2] as usize,
            actions: size[3] as usize,
            embed: mixer.embed(),
        };
        let y = self.targets(chunk, b).contiguous();
        let u = b.u.contiguous();
        let dq = q.empty_like();
        let dhyper: Vec<Tensor> = hyper.iter().map(Tensor::empty_like).collect();
        // SAFETY: every tensor here is a distinct contiguous CPU tensor of `T` (checked), and
        // no other reference to their memory exists while the slices live.
        let losses = unsafe {
            let u_slice = std::slice::from_raw_parts(u.data_ptr() as *const i64, u.numel());
            assert_eq!(u.kind(), Kind::Int64, "actions are i64");
            qmix_td_loss(
                d,
                mixer.bias(),
                &MixInputs {
                    q: slice::<T>(q),
                    u: u_slice,
                    w1: slice::<T>(&hyper[0]),
                    w2: slice::<T>(&hyper[1]),
                    b1: slice::<T>(&hyper[2]),
                    v: slice::<T>(&hyper[3]),
                    y: slice::<T>(&y),
                },
                &mut MixGrads {
                    q: slice_mut::<T>(&dq),
                    w1: slice_mut::<T>(&dhyper[0]),
                    w2: slice_mut::<T>(&dhyper[1]),
                    b1: slice_mut::<T>(&dhyper[2]),
                    v: slice_mut::<T>(&dhyper[3]),
                },
            )
        };
        let (ws_agents, ws_mixer) = ws.split_at_mut(1);
        engines.agents.backward(
            &mut ws_agents[0],
            &chunk.params,
            &b.obs,
            &dq,
            None,
            &chunk.engine_grads,
        );
        for ((e, w), dh) in engines.mixer.iter().zip(ws_mixer.iter_mut()).zip(&dhyper) {
            e.backward(w, &chunk.params, &b.obs, dh, None, &chunk.engine_grads);
        }
        Ok(engine_result(&losses, self.kind, chunk))
    }

    /// The rest of a QTRAN step when the engine runs every network
    /// ([`crate::qtran_engine`]): only the targets go through libtorch.
    #[allow(clippy::too_many_arguments)]
    fn qtran_engine_pass<T: Real>(
        &self,
        engines: &Engines,
        qe: &QtranEngine,
        chunk: &Chunk,
        b: &Batch,
        ws: &mut [Workspace<T>],
        q: &Tensor,
        h: &Tensor,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let size = h.size();
        let d = QtranDims {
            seeds: size[0] as usize,
            agents: size[1] as usize,
            batch: size[2] as usize,
            actions: self.data.a_max,
            hidden: size[3] as usize,
            lambda_opt: self.cfg.qtran.lambda_opt,
            lambda_nopt: self.cfg.qtran.lambda_nopt,
        };
        let y = self.targets(chunk, b).contiguous();
        let u = b.u.contiguous();
        let (dq, dh) = (q.empty_like(), h.empty_like());
        let losses = qe.loss_and_grads::<T>(
            d,
            &self.data.actions,
            &chunk.params,
            &QtranTensors {
                q,
                h,
                u: &u,
                y: &y,
                dq: &dq,
                dh: &dh,
            },
            &chunk.engine_grads,
        );
        engines.agents.backward(
            &mut ws[0],
            &chunk.params,
            &b.obs,
            &dq,
            Some(&dh),
            &chunk.engine_grads,
        );
        Ok(engine_result(&losses, self.kind, chunk))
    }

    /// A minibatch of `batch_size` transitions per seed, drawn uniformly with replacement from
    /// each seed's own buffer with its own stream.
    fn sample(&self, seeds: &mut [SeedState]) -> Batch {
        let k = seeds.len();
        let b = self.cfg.batch_size;
        let n = self.data.n_agents();
        let mut s = Vec::with_capacity(k * b);
        let mut u = vec![0i64; k * b * n];
        let mut r = Vec::with_capacity(k * b);
        let mut s2 = Vec::with_capacity(k * b);
        let mut nd = Vec::with_capacity(k * b);
        let mut bootstrap = false;
        for (kk, seed) in seeds.iter_mut().enumerate() {
            let buf = &seed.buffer;
            for bb in 0..b {
                let i = seed.sampler.below(buf.len);
                s.push(buf.state[i] as usize);
                // Laid out [K, N, B].
                for a in 0..n {
                    u[(kk * n + a) * b + bb] = i64::from(buf.actions[i * n + a]);
                }
                r.push(buf.reward[i]);
                let done = buf.next[i] == Replay::TERMINAL;
                s2.push(if done { 0 } else { buf.next[i] as usize });
                nd.push(if done { 0.0 } else { 1.0 });
                bootstrap |= !done;
            }
        }
        let bootstrap = bootstrap && self.data.gamma > 0.0;
        let (ki, bi, ni) = (k as i64, b as i64, n as i64);
        let to = |v: &[f64]| {
            float_tensor(v, self.kind)
                .view([ki, bi])
                .to_device(self.device)
        };
        Batch {
            obs: self.obs(&s, ki),
            u: Tensor::from_slice(&u)
                .view([ki, ni, bi])
                .to_device(self.device),
            r: to(&r),
            obs2: if bootstrap {
                self.obs(&s2, ki)
            } else {
                Tensor::new()
            },
            not_done: to(&nd),
            bootstrap,
        }
    }

    /// Targets `[Kc, B]` (`[Kc, N, B]` for IQL), without gradients.
    fn targets(&self, chunk: &Chunk, b: &Batch) -> Tensor {
        tch::no_grad(|| {
            if !b.bootstrap {
                return if self.cfg.method == Method::Iql {
                    b.r.unsqueeze(1)
                        .expand([-1, self.data.n_agents() as i64, -1], false)
                } else {
                    b.r.shallow_clone()
                };
            }
            let pt = &chunk.target;
            let (qt, ht) = self.target.agents.forward(pt, &b.obs2);
            let ubar = if self.cfg.double_q {
                let (q, _) = self.online.agents.forward(&chunk.params, &b.obs2);
                self.masked(chunk, &q, -1e30).argmax(3, false)
            } else {
                self.masked(chunk, &qt, -1e30).argmax(3, false)
            };
            let q_at = qt.gather(3, &ubar.unsqueeze(-1), false).squeeze_dim(3); // [K, N, B]
            let k = self.kind;
            let next = match (&self.target.mixer, self.cfg.method) {
                (_, Method::Iql) => q_at,
                (Mixer::Sum, _) => q_at.sum_dim_intlist([1i64].as_slice(), false, k),
                (Mixer::Qmix(m), _) => m.forward(pt, &q_at.permute([0, 2, 1]), &b.obs2),
                (Mixer::Qtran(nets), _) => {
                    let hq = nets.encode(pt, &ht, &ubar);
                    if nets.is_alt() {
                        nets.counterfactual(pt, &ht, &hq)
                            .gather(3, &ubar.unsqueeze(-1), false)
                            .squeeze_dim(3)
                            .mean_dim([1i64].as_slice(), false, k)
                    } else {
                        nets.q_jt(pt, &hq)
                    }
                }
            };
            let (r, nd) = if self.cfg.method == Method::Iql {
                (b.r.unsqueeze(1), b.not_done.unsqueeze(1))
            } else {
                (b.r.shallow_clone(), b.not_done.shallow_clone())
            };
            r + nd * next * self.data.gamma
        })
    }

    /// Each seed's loss `[Kc]` from the agent networks' outputs `q: [Kc, N, B, A]` and
    /// `h: [Kc, N, B, H]` (needed by QTRAN only) and, when the engine computed them, QMIX's
    /// hypernetwork outputs, with gradients w.r.t. the chunk's leaves.
    fn loss(
        &self,
        chunk: &Chunk,
        b: &Batch,
        q: &Tensor,
        h: Option<&Tensor>,
        hyper: Option<&[Tensor; 4]>,
    ) -> Tensor {
        let k = self.kind;
        let y = self.targets(chunk, b);
        let p = chunk.params.as_slice();
        let q_taken = q.gather(3, &b.u.unsqueeze(-1), false).squeeze_dim(3); // [K, N, B]
        match (&self.online.mixer, self.cfg.method) {
            (_, Method::Iql) => (q_taken - y)
                .square()
                .mean_dim([2i64].as_slice(), false, k)
                .sum_dim_intlist([1i64].as_slice(), false, k),
            (Mixer::Sum, _) => mean_b(
                (q_taken.sum_dim_intlist([1i64].as_slice(), false, k) - y).square(),
                k,
            ),
            (Mixer::Qmix(m), _) => {
                let qt = q_taken.permute([0, 2, 1]);
                let q_tot = match hyper {
                    Some(hy) => m.mix(&qt, hy),
                    None => m.forward(p, &qt, &b.obs),
                };
                mean_b((q_tot - y).square(), k)
            }
            (Mixer::Qtran(nets), _) => {
                let h = h.expect("invariant: QTRAN's loss is given h");
                let lo = self.cfg.qtran.lambda_opt;
                let ln = self.cfg.qtran.lambda_nopt;
                let qm = self.masked(chunk, q, -1e30);
                let ubar = qm.argmax(3, false).detach(); // [K, N, B]
                let q_prime_bar =
                    qm.amax([3i64].as_slice(), false)
                        .sum_dim_intlist([1i64].as_slice(), false, k); // [K, B]
                let q_prime = q_taken.sum_dim_intlist([1i64].as_slice(), false, k); // [K, B]
                let v = nets.v_jt(p, h).unwrap_or_else(|| q_prime.zeros_like()); // [K, B]
                let hq = nets.encode(p, h, &b.u);
                if nets.is_alt() {
                    let cf = nets.counterfactual(p, h, &hq); // [K, N, B, A]
                    let q_jt_i = cf.gather(3, &b.u.unsqueeze(-1), false).squeeze_dim(3);
                    let l_td = mean_nb((q_jt_i - y.unsqueeze(1)).square(), k);
                    let cf_bar =
                        tch::no_grad(|| nets.counterfactual(p, h, &nets.encode(p, h, &ubar)));
                    let q_hat_bar = cf_bar.gather(3, &ubar.unsqueeze(-1), false).squeeze_dim(3);
                    let l_opt = mean_nb(
                        (q_prime_bar.unsqueeze(1) - q_hat_bar + v.unsqueeze(1)).square(),
                        k,
                    );
                    let others = q_prime.unsqueeze(1) - &q_taken; // Σ_{j≠i} Q_j(u_j): [K, N, B]
                    let d = q + others.unsqueeze(-1) - cf.detach() + v.unsqueeze(1).unsqueeze(-1);
                    let d_min = self.masked(chunk, &d, 1e30).amin([3i64].as_slice(), false);
                    let l_nopt = mean_nb(d_min.square(), k);
                    l_td + l_opt * lo + l_nopt * ln
                } else {
                    let q_jt = nets.q_jt(p, &hq);
                    let l_td = mean_b((&q_jt - y).square(), k);
                    let q_hat_bar = tch::no_grad(|| nets.q_jt(p, &nets.encode(p, h, &ubar)));
                    let l_opt = mean_b((q_prime_bar - q_hat_bar + &v).square(), k);
                    let l_nopt = mean_b((q_prime - q_jt.detach() + v).clamp_max(0.0).square(), k);
                    l_td + l_opt * lo + l_nopt * ln
                }
            }
        }
    }
}

impl Learner {
    /// Builds K freshly initialised seeds of `cfg.method` for `game` on `device`.
    pub fn new(game: &Game, cfg: &TrainConfig, device: Device) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
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
        let data = GameData::new(game, cfg.gamma)?;
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

    /// Utilities `Q_i(s, ·)` of every seed in every state: `[K][S]`.
    pub fn utilities(&self) -> Result<Vec<Vec<Utilities>>> {
        let k = self.cfg.seeds as i64;
        let s = self.data.n_states() as i64;
        let q = tch::no_grad(|| {
            let obs = Tensor::eye(s, (self.kind, self.device))
                .unsqueeze(0)
                .expand([k, s, s], false);
            self.online.agents.forward(&self.params.views(), &obs).0
        });
        Ok(self.split_utilities(&q))
    }

    /// `q: [K, N, S, A]` → `[K][S]` utilities with each agent's own action count.
    fn split_utilities(&self, q: &Tensor) -> Vec<Vec<Utilities>> {
        let size = q.size();
        let (k, n, s, a) = (
            size[0] as usize,
            size[1] as usize,
            size[2] as usize,
            size[3] as usize,
        );
        let flat = Vec::<f64>::try_from(
            q.to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .flatten(0, -1),
        )
        .expect("invariant: float tensor");
        (0..k)
            .map(|kk| {
                (0..s)
                    .map(|ss| {
                        Utilities(
                            (0..n)
                                .map(|i| {
                                    let base = ((kk * n + i) * s + ss) * a;
                                    flat[base..base + self.data.actions[i]].to_vec()
                                })
                                .collect(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// Evaluates every seed's networks on every state and joint action (no gradients) into
    /// tables: utilities, the learned joint table and (QTRAN) `V_jt`. Seeds are evaluated in
    /// blocks of about 2^16 rows, so memory does not grow with K.
    pub fn evaluate(&self) -> Result<Vec<SeedTables>> {
        let k = self.cfg.seeds;
        let rows = self.data.n_states() * self.data.joint;
        let block = (65_536 / rows.max(1)).clamp(1, k.max(1));
        let mut out = Vec::with_capacity(k);
        for start in (0..k).step_by(block) {
            out.extend(self.evaluate_block(start, block.min(k - start))?);
        }
        Ok(out)
    }

    /// [`Learner::evaluate`] for seeds `start .. start + len`.
    fn evaluate_block(&self, start: usize, len: usize) -> Result<Vec<SeedTables>> {
        let k = len as i64;
        let s = self.data.n_states() as i64;
        let j = self.data.joint as i64;
        let n = self.data.n_agents() as i64;
        let kind = self.kind;
        let (q_states, joint, v) = tch::no_grad(|| {
            // Rows (state, joint action), state slowest.
            let eye = Tensor::eye(s, (kind, self.device));
            let obs = eye
                .repeat_interleave_self_int(j, 0, None)
                .unsqueeze(0)
                .expand([k, s * j, s], false);
            let u_flat: Vec<i64> = self
                .data
                .joint_actions
                .iter()
                .flat_map(|u| u.iter().map(|&a| a as i64))
                .collect();
            let u = Tensor::from_slice(&u_flat)
                .view([j, n])
                .transpose(0, 1)
                .repeat([1, s])
                .unsqueeze(0)
                .expand([k, n, s * j], false)
                .contiguous()
                .to_device(self.device);
            let p = self.params.rows(self.params.flat(), start, len);
            let p = p.as_slice();
            let (q, h) = self.online.agents.forward(p, &obs);
            let q_taken = q.gather(3, &u.unsqueeze(-1), false).squeeze_dim(3);
            let joint = match &self.online.mixer {
                Mixer::Sum => q_taken.sum_dim_intlist([1i64].as_slice(), false, kind),
                Mixer::Qmix(m) => m.forward(p, &q_taken.permute([0, 2, 1]), &obs),
                Mixer::Qtran(nets) => {
                    let hq = nets.encode(p, &h, &u);
                    if nets.is_alt() {
                        nets.counterfactual(p, &h, &hq)
                            .gather(3, &u.unsqueeze(-1), false)
                            .squeeze_dim(3)
                            .mean_dim([1i64].as_slice(), false, kind)
                    } else {
                        nets.q_jt(p, &hq)
                    }
                }
            };
            let v = match &self.online.mixer {
                Mixer::Qtran(nets) => Some(
                    nets.v_jt(p, &h)
                        .unwrap_or_else(|| joint.zeros_like())
                        .view([k, s, j])
                        .select(2, 0),
                ),
                _ => None,
            };
            let a = q.size()[3];
            let q_states = q.view([k, n, s, j, a]).select(3, 0);
            (q_states, joint, v)
        });
        let utilities = self.split_utilities(&q_states);
        let to_vec = |t: &Tensor| {
            Vec::<f64>::try_from(
                t.to_kind(Kind::Double)
                    .to_device(Device::Cpu)
                    .flatten(0, -1),
            )
            .expect("invariant: float tensor")
        };
        let joint = to_vec(&joint);
        let v = v.as_ref().map(to_vec);
        let shape = self.data.actions.clone();
        let kind_of = if self.cfg.method.is_qtran() {
            JointKind::QJt
        } else {
            JointKind::QTot
        };
        let (ju, su) = (j as usize, s as usize);
        let mut out = Vec::with_capacity(len);
        let seed_list = self.cfg.seed_list();
        for (kk, per_state) in utilities.into_iter().enumerate() {
            let seed = seed_list[start + kk];
            let mut states = Vec::with_capacity(su);
            for (ss, utilities) in per_state.into_iter().enumerate() {
                let base = (kk * su + ss) * ju;
                let table = JointTable::new(shape.clone(), joint[base..base + ju].to_vec())
                    .map_err(|e| Error::Diverged(format!("seed {seed}: {e}")))?;
                let mut f = Factorization::new(utilities).with_joint(kind_of, table)?;
                f.v_jt = v.as_ref().map(|v| v[kk * su + ss]);
                states.push(f);
            }
            out.push(SeedTables { seed, states });
        }
        Ok(out)
    }

    /// `∂Q_tot/∂Q_i` by autograd at every state and joint action for every seed (QMIX only):
    /// `[K][S·J][N]`, rows state-major. `None` for methods without a mixer.
    pub fn mixer_gradients(&self) -> Option<Vec<Vec<Vec<f64>>>> {
        let Mixer::Qmix(m) = &self.online.mixer else {
            return None;
        };
        let k = self.cfg.seeds as i64;
        let s = self.data.n_states() as i64;
        let j = self.data.joint as i64;
        let n = self.data.n_agents() as i64;
        let eye = Tensor::eye(s, (self.kind, self.device));
        let obs = eye
            .repeat_interleave_self_int(j, 0, None)
            .unsqueeze(0)
            .expand([k, s * j, s], false);
        let u_flat: Vec<i64> = self
            .data
            .joint_actions
            .iter()
            .flat_map(|u| u.iter().map(|&a| a as i64))
            .collect();
        let u = Tensor::from_slice(&u_flat)
            .view([j, n])
            .transpose(0, 1)
            .repeat([1, s])
            .unsqueeze(0)
            .expand([k, n, s * j], false)
            .contiguous()
            .to_device(self.device);
        let p = self.params.views();
        let q = tch::no_grad(|| self.online.agents.forward(&p, &obs).0);
        let q_taken = q
            .gather(3, &u.unsqueeze(-1), false)
            .squeeze_dim(3)
            .permute([0, 2, 1])
            .contiguous()
            .detach()
            .set_requires_grad(true);
        let q_tot = m.forward(&p, &q_taken, &obs);
        let grads = Tensor::run_backward(&[q_tot.sum(self.kind)], &[&q_taken], false, false);
        let g = grads.into_iter().next()?;
        let flat = Vec::<f64>::try_from(
            g.to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .flatten(0, -1),
        )
        .ok()?;
        let (ku, rows, nu) = (k as usize, (s * j) as usize, n as usize);
        Some(
            (0..ku)
                .map(|kk| {
                    (0..rows)
                        .map(|r| flat[(kk * rows + r) * nu..(kk * rows + r + 1) * nu].to_vec())
                        .collect()
                })
                .collect(),
        )
    }
}
