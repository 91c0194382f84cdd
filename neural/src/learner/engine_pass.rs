//! A chunk's loss and gradients with the networks fed by the observation run by the CPU
//! engine: the general pass (the rest by libtorch's autograd) and the passes where the engine
//! runs every network (QMIX's mixing and TD loss in Rust, QTRAN's networks).

use super::chunk::{Chunk, Engines};
use super::step::{Batch, Ctx};
use crate::config::Method;
use crate::engine::{slice, slice_mut, Real, Workspace};
use crate::mixing::{qmix_td_loss, MixDims, MixGrads, MixInputs};
use crate::model::{Mixer, QmixMixer};
use crate::qtran_engine::{QtranDims, QtranEngine, QtranTensors};
use crate::Result;
use tch::{Device, Kind, Tensor};

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

impl Ctx<'_> {
    /// The loss and the gradients of every parameter of the chunk, with the networks fed by
    /// the observation (agents, QMIX's hypernetworks) run by the CPU engine: their outputs
    /// become leaves of the autograd graph of the rest (mixing, QTRAN's networks, losses),
    /// whose gradients the engine propagates back into `engine_grads`.
    pub(super) fn engine_pass<T: Real>(
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
}
