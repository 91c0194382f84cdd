//! Floating-point work of one seed-step, counted from the networks' shapes.
//!
//! A seed-step is one environment step and one gradient step of one seed on a minibatch of
//! `batch_size` transitions. Counted: the multiply-adds of every matrix product (2 FLOPs
//! each), in the forward pass, the backward pass (weight gradients for every layer, input
//! gradients for every layer whose input depends on a parameter — not for a network's first
//! layer fed by the observation) and the gradient-free passes (QTRAN's `Q̂_jt(ū)` and, when a
//! game bootstraps, the target networks). Not counted: element-wise work (activations,
//! losses, the optimiser's ~10 FLOPs per parameter, listed separately as `optimiser`), which
//! is memory- rather than compute-bound. This is the usual "forward + backward ≈ 3 × forward"
//! accounting made exact for these networks; it is the same work whether the seeds run one
//! per process (the PyTorch baseline) or K at a time.

use crate::config::{Method, TrainConfig};
use crate::learner::GameData;

/// Floating-point operations per seed-step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    /// Parameters per seed (online networks).
    pub params: f64,
    /// Matrix-product FLOPs of the forward pass with gradients.
    pub forward: f64,
    /// Matrix-product FLOPs of the backward pass.
    pub backward: f64,
    /// Matrix-product FLOPs of gradient-free passes (QTRAN's `Q̂_jt(ū)`, TD targets).
    pub no_grad: f64,
    /// Element-wise optimiser FLOPs (Adam: ≈ 12 per parameter including clipping).
    pub optimiser: f64,
}

impl Cost {
    /// Matrix-product FLOPs per seed-step: forward + backward + gradient-free passes.
    pub fn matmul(&self) -> f64 {
        self.forward + self.backward + self.no_grad
    }
}

/// An MLP `d_in → hidden… → d_out` applied to `rows` rows.
struct Net {
    dims: Vec<usize>,
}

impl Net {
    fn new(d_in: usize, hidden: &[usize], d_out: usize) -> Self {
        let mut dims = vec![d_in];
        dims.extend_from_slice(hidden);
        dims.push(d_out);
        Net { dims }
    }

    fn params(&self) -> f64 {
        self.dims
            .windows(2)
            .map(|w| (w[0] * w[1] + w[1]) as f64)
            .sum()
    }

    /// Forward FLOPs on `rows` rows.
    fn forward(&self, rows: f64) -> f64 {
        self.dims
            .windows(2)
            .map(|w| 2.0 * rows * (w[0] * w[1]) as f64)
            .sum()
    }

    /// Backward FLOPs on `rows` rows: weight gradients everywhere, input gradients for every
    /// layer but the first unless `input_grad`.
    fn backward(&self, rows: f64, input_grad: bool) -> f64 {
        self.dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let mm = 2.0 * rows * (w[0] * w[1]) as f64;
                if i > 0 || input_grad {
                    2.0 * mm
                } else {
                    mm
                }
            })
            .sum()
    }
}

/// The work of one seed-step of `cfg` on `data` (steady state: every step learns). `bootstrap`
/// says whether the sampled batches contain non-terminal transitions (then the target
/// networks run); for matrix games it is `false`.
pub fn seed_step_cost(cfg: &TrainConfig, data: &GameData) -> Cost {
    let b = cfg.batch_size as f64;
    let n = data.n_agents();
    let s = data.n_states();
    let a = data.a_max;
    let nf = n as f64;
    let bootstrap = !data.never_bootstraps && data.gamma > 0.0;
    let mut c = Cost::default();
    // Agent networks: N separate nets on B rows each, or one shared net on N·B rows.
    let (agent, agent_rows, copies) = if cfg.agent.shared {
        (Net::new(s + n, &cfg.agent.hidden, a), nf * b, 1.0)
    } else {
        (Net::new(s, &cfg.agent.hidden, a), b, nf)
    };
    c.params += copies * agent.params();
    c.forward += copies * agent.forward(agent_rows);
    c.backward += copies * agent.backward(agent_rows, false);
    let mut target_forward = copies * agent.forward(agent_rows);
    if cfg.double_q {
        target_forward += copies * agent.forward(agent_rows);
    }
    let h = *cfg.agent.hidden.last().unwrap_or(&0);
    match cfg.method {
        Method::Vdn | Method::Iql => {}
        Method::Qmix => {
            let e = cfg.qmix.mixing_embed;
            let hh: Vec<usize> = if cfg.qmix.hypernet_layers == 2 {
                vec![cfg.qmix.hypernet_embed]
            } else {
                vec![]
            };
            let nets = [
                Net::new(s, &hh, n * e),
                Net::new(s, &hh, e),
                Net::new(s, &[], e),
                Net::new(s, &[e], 1),
            ];
            for net in &nets {
                c.params += net.params();
                c.forward += net.forward(b);
                c.backward += net.backward(b, false);
                target_forward += net.forward(b);
            }
            // Mixing: q·W1 ([1×N]·[N×E]) and hidden·w2 ([1×E]·[E×1]) per row; the backward
            // needs both operands' gradients.
            let mix = 2.0 * b * (n * e + e) as f64;
            c.forward += mix;
            c.backward += 2.0 * mix;
            target_forward += mix;
        }
        Method::QtranBase | Method::QtranAlt => {
            let alt = cfg.method == Method::QtranAlt;
            let encoder = Net::new(h + a, &[h + a], h);
            let joint = Net::new(h, &cfg.qtran.joint_hidden, if alt { a } else { 1 });
            // The encoder runs on N·B rows (each agent's (h_i, u_i)); the joint network on B
            // rows (base) or N·B rows (alt: one counterfactual per agent).
            let joint_rows = if alt { nf * b } else { b };
            c.params += encoder.params() + joint.params();
            // With gradients (taken actions u) and without (greedy actions ū).
            c.forward += encoder.forward(nf * b) + joint.forward(joint_rows);
            c.backward += encoder.backward(nf * b, true) + joint.backward(joint_rows, true);
            c.no_grad += encoder.forward(nf * b) + joint.forward(joint_rows);
            target_forward += encoder.forward(nf * b) + joint.forward(joint_rows);
            if cfg.qtran.v_jt {
                let v = Net::new(h, &cfg.qtran.joint_hidden, 1);
                c.params += v.params();
                c.forward += v.forward(b);
                c.backward += v.backward(b, true);
            }
        }
    }
    if bootstrap {
        c.no_grad += target_forward;
    }
    c.optimiser = 12.0 * c.params;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use reference::game::{Agent, Game};
    use reference::JointTable;

    fn game(actions: usize) -> GameData {
        let agents = (0..2)
            .map(|i| Agent {
                name: format!("{i}"),
                actions: (0..actions).map(|a| format!("{a}")).collect(),
            })
            .collect();
        let payoff = JointTable::new(vec![actions, actions], vec![0.0; actions * actions]).unwrap();
        GameData::new(&Game::matrix("g", agents, payoff).unwrap(), None).unwrap()
    }

    /// VDN on a 3×3 matrix game with the default 3×64 nets, by hand: per agent the layers
    /// are 1→64→64→64→3, i.e. 64 + 4096 + 4096 + 192 = 8 448 multiply-adds per row; forward
    /// 2·32·8 448 per agent; backward twice that except the first layer's input gradient
    /// (2·32·64 fewer multiply-adds).
    #[test]
    fn vdn_cost_by_hand() {
        let cfg = TrainConfig::new("g", Method::Vdn);
        let c = seed_step_cost(&cfg, &game(3));
        let fwd = 2.0 * 2.0 * 32.0 * 8448.0;
        assert!((c.forward - fwd).abs() < 1e-6);
        assert!((c.backward - (2.0 * fwd - 2.0 * 2.0 * 32.0 * 64.0)).abs() < 1e-6);
        assert!(c.no_grad.abs() < 1e-12);
        let params = 2.0 * (128.0 + 4160.0 + 4160.0 + 195.0);
        assert!((c.params - params).abs() < 1e-9);
    }

    /// The parameter count agrees with the parameters the learner actually creates.
    #[test]
    fn parameter_counts_match_the_models() {
        for m in Method::ALL {
            for actions in [3, 5] {
                let mut cfg = TrainConfig::new("g", m);
                cfg.device = "cpu".into();
                let data = game(actions);
                let learner = crate::Learner::new(&data.game, &cfg, tch::Device::Cpu).unwrap();
                let c = seed_step_cost(&cfg, &data);
                assert!(
                    (c.params - learner.params.width() as f64).abs() < 0.5,
                    "{m}: {} vs {}",
                    c.params,
                    learner.params.width()
                );
            }
        }
    }
}
