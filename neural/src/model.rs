//! The networks of each method, seed-batched: agent networks plus a mixer.
//!
//! * VDN and IQL: no mixer (`Q_tot = Σ_i Q_i`).
//! * QMIX (Rashid et al. 2018; PyMARL `QMixer`): hypernetworks conditioned on the state give
//!   `W1 = |hyper_w1(s)|` (`N × E`), `b1 = hyper_b1(s)`, `w2 = |hyper_w2(s)|` (`E`) and the
//!   state value `V(s)` (a 2-layer net); `Q_tot = ELU(q·W1 + b1)·w2 + V(s)` (or, with
//!   [`MixerBias::AfterElu`], `(ELU(q·W1) + b1)·w2 + V(s)`). Absolute weights make `Q_tot`
//!   monotone in every `Q_i`.
//! * QTRAN (Son et al. 2019, §3.2–3.4): each agent net's last hidden layer is `h_{V,i}(s)`;
//!   an action encoder shared by the agents gives `h_{Q,i}(s, u_i) = enc([h_{V,i}, onehot u_i])`
//!   (PyMARL's `qtran_paper` architecture). QTRAN-base's joint network is
//!   `Q_jt = f_r(Σ_i h_{Q,i})`; QTRAN-alt's counterfactual network gives, for every agent `i`
//!   in one pass, `Q_jt(s, ·, u_−i) = f_cf(h_{V,i} + Σ_{j≠i} h_{Q,j})` over agent i's actions
//!   (shared by the agents, as in the original code). The optional state-value network is
//!   `V_jt = f_v(Σ_i h_{V,i})`.

use crate::config::{Method, MixerBias, TrainConfig};
use crate::nets::{AgentNets, BLinear, Mlp, ParamStore};
use tch::Tensor;

/// Sizes of the problem a model is built for.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// Number of agents N.
    pub n_agents: i64,
    /// Largest action count over the agents (outputs are padded to it).
    pub a_max: i64,
    /// Number of states S (the input is a one-hot state).
    pub n_states: i64,
}

/// QMIX's mixing network and hypernetworks.
pub struct QmixMixer {
    hyper_w1: Mlp,
    hyper_w2: Mlp,
    hyper_b1: BLinear,
    v: Mlp,
    bias: MixerBias,
    n: i64,
    e: i64,
}

impl QmixMixer {
    fn new(store: &mut ParamStore, cfg: &TrainConfig, d: Dims) -> Self {
        let e = cfg.qmix.mixing_embed as i64;
        let hyper_hidden: Vec<usize> = if cfg.qmix.hypernet_layers == 2 {
            vec![cfg.qmix.hypernet_embed]
        } else {
            vec![]
        };
        QmixMixer {
            hyper_w1: Mlp::new(
                store,
                "qmix.hyper_w1",
                1,
                d.n_states,
                &hyper_hidden,
                d.n_agents * e,
            ),
            hyper_w2: Mlp::new(store, "qmix.hyper_w2", 1, d.n_states, &hyper_hidden, e),
            hyper_b1: BLinear::new(store, "qmix.hyper_b1", 1, d.n_states, e),
            v: Mlp::new(store, "qmix.v", 1, d.n_states, &[e as usize], 1),
            bias: cfg.qmix.bias,
            n: d.n_agents,
            e,
        }
    }

    /// Where the biases go.
    pub fn bias(&self) -> MixerBias {
        self.bias
    }

    /// The mixing width `E`.
    pub fn embed(&self) -> usize {
        self.e as usize
    }

    /// `q: [K, B, N]` (the chosen agents' values), `obs: [K, B, S]` → `Q_tot: [K, B]`.
    pub fn forward(&self, p: &[Tensor], q: &Tensor, obs: &Tensor) -> Tensor {
        self.mix(q, &self.hyper(p, obs))
    }

    /// The hypernetworks' raw outputs on `obs: [K, B, S]`, each `[K, 1, B, ·]`, in the order
    /// of [`QmixMixer::hyper_layers`]: `W1` (before `|·|`), `w2` (before `|·|`), `b1`, `V`.
    pub fn hyper(&self, p: &[Tensor], obs: &Tensor) -> [Tensor; 4] {
        let x = obs.unsqueeze(1);
        [
            self.hyper_w1.forward(p, &x),
            self.hyper_w2.forward(p, &x),
            self.hyper_b1.forward(p, &x),
            self.v.forward(p, &x),
        ]
    }

    /// The layers of each hypernetwork, in the order of [`QmixMixer::hyper`] (all fed by the
    /// observation; for the CPU engine).
    pub fn hyper_layers(&self) -> [Vec<BLinear>; 4] {
        [
            self.hyper_w1.layers().to_vec(),
            self.hyper_w2.layers().to_vec(),
            vec![self.hyper_b1.clone()],
            self.v.layers().to_vec(),
        ]
    }

    /// The mixing network: `q: [K, B, N]` and the hypernetworks' outputs
    /// ([`QmixMixer::hyper`]) → `Q_tot: [K, B]`.
    pub fn mix(&self, q: &Tensor, hyper: &[Tensor; 4]) -> Tensor {
        let size = q.size();
        let (k, b) = (size[0], size[1]);
        // The products are 1 × N by N × E and 1 × E by E × 1 per sample: written as
        // broadcast products and sums (libtorch's batched product runs a scalar loop per
        // matrix this small, the costliest part of a QMIX step before).
        let w1 = hyper[0].abs().view([k * b, self.n, self.e]);
        let w2 = hyper[1].abs().view([k * b, self.e]);
        let b1 = hyper[2].view([k * b, self.e]);
        let v = hyper[3].view([k * b]);
        let qw =
            (q.reshape([k * b, self.n, 1]) * w1).sum_dim_intlist([1i64].as_slice(), false, None);
        let hidden = match self.bias {
            MixerBias::InsideElu => (qw + b1).elu(),
            MixerBias::AfterElu => qw.elu() + b1,
        };
        ((hidden * w2).sum_dim_intlist([1i64].as_slice(), false, None) + v).view([k, b])
    }
}

/// QTRAN's action encoder, joint (or counterfactual) network and optional `V_jt` network.
pub struct QtranNets {
    encoder: Mlp,
    joint: Mlp,
    v: Option<Mlp>,
    alt: bool,
    a_max: i64,
}

impl QtranNets {
    fn new(store: &mut ParamStore, cfg: &TrainConfig, d: Dims, alt: bool) -> Self {
        let h = *cfg
            .agent
            .hidden
            .last()
            .expect("invariant: validated non-empty") as i64;
        let encoder = Mlp::new(
            store,
            "qtran.encoder",
            1,
            h + d.a_max,
            &[(h + d.a_max) as usize],
            h,
        );
        let out = if alt { d.a_max } else { 1 };
        let joint = Mlp::new(store, "qtran.joint", 1, h, &cfg.qtran.joint_hidden, out);
        let v = cfg
            .qtran
            .v_jt
            .then(|| Mlp::new(store, "qtran.v", 1, h, &cfg.qtran.joint_hidden, 1));
        QtranNets {
            encoder,
            joint,
            v,
            alt,
            a_max: d.a_max,
        }
    }

    /// True for QTRAN-alt's counterfactual network.
    pub fn is_alt(&self) -> bool {
        self.alt
    }

    /// True when a `V_jt` network is present.
    pub fn has_v(&self) -> bool {
        self.v.is_some()
    }

    /// The action encoder's layers (for the CPU engine).
    pub fn encoder_layers(&self) -> &[BLinear] {
        self.encoder.layers()
    }

    /// The joint (or counterfactual) network's layers (for the CPU engine).
    pub fn joint_layers(&self) -> &[BLinear] {
        self.joint.layers()
    }

    /// `h_{Q,i}(s, u_i)` for `h: [K, N, B, H]`, `u: [K, N, B]` (int64) → `[K, N, B, H]`.
    pub fn encode(&self, p: &[Tensor], h: &Tensor, u: &Tensor) -> Tensor {
        let size = h.size();
        let (k, n, b, hd) = (size[0], size[1], size[2], size[3]);
        let onehot = u.one_hot(self.a_max).to_kind(h.kind());
        let x =
            Tensor::cat(&[h.shallow_clone(), onehot], 3).reshape([k, 1, n * b, hd + self.a_max]);
        self.encoder.forward(p, &x).view([k, n, b, hd])
    }

    /// QTRAN-base: `Q_jt(s, u)` from the encodings `hq: [K, N, B, H]` → `[K, B]`.
    pub fn q_jt(&self, p: &[Tensor], hq: &Tensor) -> Tensor {
        let x = hq.sum_dim_intlist([1i64].as_slice(), true, hq.kind());
        let size = x.size();
        self.joint.forward(p, &x).view([size[0], size[2]])
    }

    /// QTRAN-alt: `Q_jt(s, ·, u_−i)` for every agent, from `h: [K, N, B, H]` (the `h_{V,i}`)
    /// and `hq: [K, N, B, H]` → `[K, N, B, A]`.
    pub fn counterfactual(&self, p: &[Tensor], h: &Tensor, hq: &Tensor) -> Tensor {
        let size = h.size();
        let (k, n, b, hd) = (size[0], size[1], size[2], size[3]);
        let total = hq.sum_dim_intlist([1i64].as_slice(), true, hq.kind());
        let x = (h + total - hq).reshape([k, 1, n * b, hd]);
        self.joint.forward(p, &x).view([k, n, b, self.a_max])
    }

    /// `V_jt(s)` from `h: [K, N, B, H]` → `[K, B]`, or `None` without a `V_jt` network.
    pub fn v_jt(&self, p: &[Tensor], h: &Tensor) -> Option<Tensor> {
        self.v.as_ref().map(|v| {
            let x = h.sum_dim_intlist([1i64].as_slice(), true, h.kind());
            let size = x.size();
            v.forward(p, &x).view([size[0], size[2]])
        })
    }
}

/// What sits on top of the agent networks.
pub enum Mixer {
    /// VDN and IQL: a plain sum.
    Sum,
    /// QMIX.
    Qmix(QmixMixer),
    /// QTRAN-base or QTRAN-alt.
    Qtran(QtranNets),
}

/// A method's full set of networks.
pub struct Model {
    /// The agents' utility networks.
    pub agents: AgentNets,
    /// The mixer.
    pub mixer: Mixer,
}

impl Model {
    /// Builds (and initialises) the networks of `cfg.method` in `store`.
    pub fn new(store: &mut ParamStore, cfg: &TrainConfig, d: Dims) -> Self {
        let agents = AgentNets::new(
            store,
            cfg.agent.shared,
            d.n_agents,
            d.n_states,
            &cfg.agent.hidden,
            d.a_max,
        );
        let mixer = match cfg.method {
            Method::Vdn | Method::Iql => Mixer::Sum,
            Method::Qmix => Mixer::Qmix(QmixMixer::new(store, cfg, d)),
            Method::QtranBase => Mixer::Qtran(QtranNets::new(store, cfg, d, false)),
            Method::QtranAlt => Mixer::Qtran(QtranNets::new(store, cfg, d, true)),
        };
        Model { agents, mixer }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;
    use tch::{Device, Kind};

    /// Seed `k`'s values of parameter `name`.
    fn param(store: &ParamStore, name: &str, k: usize) -> Vec<f64> {
        let i = store.specs().iter().position(|s| s.name == name).unwrap();
        let t = &store.views()[i];
        Vec::<f64>::try_from(t.get(k as i64).detach().flatten(0, -1)).unwrap()
    }

    /// `x·W + b` for a `[din, dout]` row-major weight.
    fn lin(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
        let dout = b.len();
        (0..dout)
            .map(|o| {
                b[o] + x
                    .iter()
                    .enumerate()
                    .map(|(i, xi)| xi * w[i * dout + o])
                    .sum::<f64>()
            })
            .collect()
    }

    fn relu(v: Vec<f64>) -> Vec<f64> {
        v.into_iter().map(|x| x.max(0.0)).collect()
    }

    fn elu(x: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            x.exp_m1()
        }
    }

    /// The batched QMIX mixer equals PyMARL's formula computed independently, scalar by
    /// scalar, for each seed (both bias placements). Tolerance 1e-12: f64, sums of ≤ 8 terms.
    #[test]
    fn qmix_mixer_matches_the_formula() {
        for bias in [MixerBias::InsideElu, MixerBias::AfterElu] {
            let mut cfg = TrainConfig::new("t", Method::Qmix);
            cfg.qmix.mixing_embed = 3;
            cfg.qmix.hypernet_embed = 4;
            cfg.qmix.bias = bias;
            let d = Dims {
                n_agents: 2,
                a_max: 2,
                n_states: 2,
            };
            let mut store = ParamStore::new(vec![4, 7], 1, Kind::Double, Device::Cpu);
            let mixer = QmixMixer::new(&mut store, &cfg, d);
            store.finish();
            let q =
                Tensor::from_slice(&[1.5f64, -2.0, 0.3, 0.7, -1.0, 4.0, 2.0, 2.5]).view([2, 2, 2]);
            let states = [0i64, 1, 1, 0];
            let obs = Tensor::from_slice(&states)
                .view([2, 2])
                .one_hot(2)
                .to_kind(Kind::Double);
            let out = Vec::<f64>::try_from(
                mixer
                    .forward(&store.views(), &q, &obs)
                    .detach()
                    .flatten(0, -1),
            )
            .unwrap();
            let qv = Vec::<f64>::try_from(q.flatten(0, -1)).unwrap();
            for k in 0..2 {
                let p = |n: &str| param(&store, n, k);
                for b in 0..2 {
                    let mut s = vec![0.0; 2];
                    s[states[k * 2 + b] as usize] = 1.0;
                    let w1h = relu(lin(
                        &s,
                        &p("qmix.hyper_w1.0.weight"),
                        &p("qmix.hyper_w1.0.bias"),
                    ));
                    let w1: Vec<f64> = lin(
                        &w1h,
                        &p("qmix.hyper_w1.1.weight"),
                        &p("qmix.hyper_w1.1.bias"),
                    )
                    .into_iter()
                    .map(f64::abs)
                    .collect();
                    let w2h = relu(lin(
                        &s,
                        &p("qmix.hyper_w2.0.weight"),
                        &p("qmix.hyper_w2.0.bias"),
                    ));
                    let w2: Vec<f64> = lin(
                        &w2h,
                        &p("qmix.hyper_w2.1.weight"),
                        &p("qmix.hyper_w2.1.bias"),
                    )
                    .into_iter()
                    .map(f64::abs)
                    .collect();
                    let b1 = lin(&s, &p("qmix.hyper_b1.weight"), &p("qmix.hyper_b1.bias"));
                    let vh = relu(lin(&s, &p("qmix.v.0.weight"), &p("qmix.v.0.bias")));
                    let v = lin(&vh, &p("qmix.v.1.weight"), &p("qmix.v.1.bias"))[0];
                    let qs = &qv[(k * 2 + b) * 2..(k * 2 + b) * 2 + 2];
                    let mut y = v;
                    for e in 0..3 {
                        let pre = qs[0] * w1[e] + qs[1] * w1[3 + e];
                        let h = match bias {
                            MixerBias::InsideElu => elu(pre + b1[e]),
                            MixerBias::AfterElu => elu(pre) + b1[e],
                        };
                        y += h * w2[e];
                    }
                    let got = out[k * 2 + b];
                    assert!(
                        (got - y).abs() < 1e-12,
                        "{bias:?} seed {k} sample {b}: {got} vs {y}"
                    );
                }
            }
        }
    }
}
