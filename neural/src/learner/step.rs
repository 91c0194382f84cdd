//! One environment step of a chunk's seeds (ε-greedy actions, transitions stored) and, once
//! learning has started, its gradient step: minibatch sampling, loss and gradients (by
//! libtorch's autograd or the CPU engine, [`super::engine_pass`]) and the optimiser update.

use super::chunk::{Chunk, Engines, SeedState};
use super::{GameData, Replay};
use crate::config::TrainConfig;
use crate::engine::Workspace;
use crate::model::Model;
use crate::optim::{self, StepCoefs};
use crate::Result;
use tch::{Device, Kind, Tensor};

/// A minibatch for all seeds, on the device.
pub(super) struct Batch {
    pub(super) obs: Tensor,
    pub(super) u: Tensor,
    pub(super) r: Tensor,
    pub(super) obs2: Tensor,
    pub(super) not_done: Tensor,
    pub(super) bootstrap: bool,
}

/// What every chunk's step reads (shared by the worker threads).
pub(super) struct Ctx<'a> {
    pub(super) cfg: &'a TrainConfig,
    pub(super) data: &'a GameData,
    pub(super) online: &'a Model,
    pub(super) target: &'a Model,
    pub(super) engine: Option<&'a Engines>,
    pub(super) kind: Kind,
    pub(super) device: Device,
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

impl Ctx<'_> {
    pub(super) fn masked(&self, chunk: &Chunk, q: &Tensor, fill: f64) -> Tensor {
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
    pub(super) fn step(
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

    /// A minibatch of `batch_size` transitions per seed, drawn uniformly with replacement from
    /// each seed's own buffer with its own stream.
    pub(super) fn sample(&self, seeds: &mut [SeedState]) -> Batch {
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
}
