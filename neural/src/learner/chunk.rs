//! One seed's own state ([`SeedState`]), chunks of consecutive seeds trained as one batch
//! with their parameter and optimiser views ([`Chunk`]), and the networks the CPU engine runs
//! ([`Engines`]).

use super::{GameData, Replay};
use crate::engine::{MlpEngine, Workspace};
use crate::model::{Mixer, Model};
use crate::qtran_engine::QtranEngine;
use crate::rng::Rng;
use tch::{Device, Tensor};

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
pub(super) struct Chunk {
    /// Index of the chunk's first seed.
    pub(super) start: usize,
    /// Number of seeds.
    pub(super) len: usize,
    /// Leaves `[Kc, shape…]` viewing the online parameters (gradients are taken w.r.t. them).
    pub(super) params: Vec<Tensor>,
    /// Views of the target parameters.
    pub(super) target: Vec<Tensor>,
    /// Views of the optimiser's first moments.
    pub(super) m: Vec<Tensor>,
    /// Views of the optimiser's second moments.
    pub(super) v: Vec<Tensor>,
    /// Padding mask of actions beyond an agent's own count, `[1, N, 1, A]` (this chunk's
    /// copy: tensors are not shared between threads).
    pub(super) invalid: Option<Tensor>,
    /// Each seed's loss at the last gradient step, `[Kc]`, kept on the device.
    pub(super) last_loss: Option<Tensor>,
    /// Gradient buffers of the parameters of the networks the CPU engine runs (undefined
    /// tensors at the other parameters' places), written by the engine every step.
    pub(super) engine_grads: Vec<Tensor>,
    /// The engine's reusable buffers, one per engine network and precision (the unused
    /// precision's stay empty).
    pub(super) ws32: Vec<Workspace<f32>>,
    pub(super) ws64: Vec<Workspace<f64>>,
}

/// The networks the CPU engine runs: the agents, and QMIX's hypernetworks (in the order of
/// [`crate::model::QmixMixer::hyper`]).
pub(super) struct Engines {
    pub(super) agents: MlpEngine,
    pub(super) mixer: Vec<MlpEngine>,
    /// QTRAN's encoder and joint (or counterfactual) network, without a `V_jt` network.
    pub(super) qtran: Option<QtranEngine>,
}

impl Engines {
    pub(super) fn new(model: &Model) -> Self {
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

    pub(super) fn param_indices(&self) -> Vec<usize> {
        let mut v: Vec<usize> = std::iter::once(&self.agents)
            .chain(&self.mixer)
            .flat_map(MlpEngine::param_indices)
            .collect();
        v.extend(self.qtran.iter().flat_map(QtranEngine::param_indices));
        v
    }

    pub(super) fn count(&self) -> usize {
        1 + self.mixer.len()
    }
}

/// The padding mask `[1, N, 1, A]` (true where an agent has fewer than `A` actions), or
/// `None` when every agent has `A` actions.
pub(super) fn invalid_mask(data: &GameData, device: Device) -> Option<Tensor> {
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
