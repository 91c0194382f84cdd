//! QMIX's mixing network and TD loss on the CPU, forward and backward in one pass, without
//! libtorch: the last piece of a QMIX step that [`crate::engine`] left to autograd.
//!
//! Per seed `k` and sample `b`, with the chosen agents' values `q_i = Q_i(τ_i, u_i)` and the
//! hypernetworks' raw outputs `W1` (`N × E`), `w2` (`E`), `b1` (`E`) and `V` (see
//! [`crate::model::QmixMixer::mix`]):
//!
//! - forward: `z_e = Σ_i q_i |W1_ie|`; inside-ELU bias (PyMARL): `p_e = z_e + b1_e`,
//!   `h_e = ELU(p_e)`; after-ELU bias (QTRAN's code): `h_e = ELU(z_e) + b1_e`;
//!   `Q_tot = Σ_e h_e |w2_e| + V`; the seed's loss is `L_k = mean_b (Q_tot − y)²`.
//! - backward: `g = ∂L_k/∂Q_tot = 2 (Q_tot − y) / B`; `∂V = g`;
//!   `∂w2_e = g h_e sign(w2_e)`; `∂h_e = g |w2_e|`; `∂z_e = ∂h_e ELU′(·)` at `p_e` (inside)
//!   or `z_e` (after), `∂b1_e = ∂z_e` (inside) or `∂h_e` (after);
//!   `∂W1_ie = ∂z_e q_i sign(W1_ie)`; `∂q_i = Σ_e ∂z_e |W1_ie|`, written at the chosen
//!   action (zero elsewhere). `sign(0) = 0` and `ELU′(x) = exp(x)` for `x ≤ 0`, as libtorch's
//!   autograd.
//!
//! Arithmetic is in f64 whatever the tensors' type (the work is a few thousand operations per
//! seed-step, against millions in the networks; the ELU's exponential is most of it). Tested against libtorch's autograd of the
//! same formulas (this module's tests, and whole training runs in `tests/batching.rs`).

use crate::config::MixerBias;
use crate::engine::Real;

/// Sizes: seeds in the chunk, agents, samples per seed, actions (padded), mixing width.
#[derive(Debug, Clone, Copy)]
pub struct MixDims {
    /// Seeds.
    pub seeds: usize,
    /// Agents `N`.
    pub agents: usize,
    /// Samples per seed `B`.
    pub batch: usize,
    /// Actions per agent (the padded maximum `A`).
    pub actions: usize,
    /// Mixing width `E`.
    pub embed: usize,
}

/// Inputs, row-major: `q` `[K, N, B, A]`, `u` `[K, N, B]`, `w1` `[K, B, N·E]`, `w2` and `b1`
/// `[K, B, E]`, `v` and `y` `[K, B]`.
pub struct MixInputs<'a, T> {
    /// The agents' values.
    pub q: &'a [T],
    /// The chosen actions.
    pub u: &'a [i64],
    /// Raw `W1` (before `|·|`).
    pub w1: &'a [T],
    /// Raw `w2` (before `|·|`).
    pub w2: &'a [T],
    /// `b1`.
    pub b1: &'a [T],
    /// `V`.
    pub v: &'a [T],
    /// TD targets.
    pub y: &'a [T],
}

/// Gradients of `Σ_k L_k`, laid out as the matching inputs (overwritten entirely).
pub struct MixGrads<'a, T> {
    /// With respect to `q`.
    pub q: &'a mut [T],
    /// With respect to raw `W1`.
    pub w1: &'a mut [T],
    /// With respect to raw `w2`.
    pub w2: &'a mut [T],
    /// With respect to `b1`.
    pub b1: &'a mut [T],
    /// With respect to `V`.
    pub v: &'a mut [T],
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `(ELU(x), ELU′(x))` with one exponential: `(eˣ − 1, eˣ)` for `x ≤ 0`. `eˣ − 1` rather than
/// `expm1` (half the cost): its absolute error stays below 2⁻⁵², which is all a sum of such
/// terms can use.
fn elu(x: f64) -> (f64, f64) {
    if x > 0.0 {
        (x, 1.0)
    } else {
        let ex = x.exp();
        (ex - 1.0, ex)
    }
}

/// Each seed's loss `L_k`, and every gradient of `Σ_k L_k` into `grads`.
///
/// # Panics
/// If a slice's length does not match `d`, or an action index is out of range.
pub fn qmix_td_loss<T: Real>(
    d: MixDims,
    bias: MixerBias,
    x: &MixInputs<'_, T>,
    grads: &mut MixGrads<'_, T>,
) -> Vec<f64> {
    let MixDims {
        seeds: kc,
        agents: n,
        batch: nb,
        actions: na,
        embed: e,
    } = d;
    assert_eq!(x.q.len(), kc * n * nb * na, "q");
    assert_eq!(x.u.len(), kc * n * nb, "u");
    assert_eq!(x.w1.len(), kc * nb * n * e, "w1");
    assert_eq!(x.w2.len(), kc * nb * e, "w2");
    assert_eq!(x.b1.len(), kc * nb * e, "b1");
    assert_eq!((x.v.len(), x.y.len()), (kc * nb, kc * nb), "v, y");
    assert_eq!(grads.q.len(), x.q.len(), "dq");
    assert_eq!(grads.w1.len(), x.w1.len(), "dw1");
    assert_eq!(grads.w2.len(), x.w2.len(), "dw2");
    assert_eq!(grads.b1.len(), x.b1.len(), "db1");
    assert_eq!(grads.v.len(), x.v.len(), "dv");
    grads.q.fill(T::from_f64(0.0));
    let mut losses = vec![0.0; kc];
    // Per sample: the chosen values, ELU′ at its argument, the hidden layer, ∂z.
    let (mut qi, mut slope, mut hid, mut dz) =
        (vec![0.0; n], vec![0.0; e], vec![0.0; e], vec![0.0; e]);
    for (k, loss) in losses.iter_mut().enumerate() {
        for b in 0..nb {
            let kb = k * nb + b;
            let w1 = &x.w1[kb * n * e..(kb + 1) * n * e];
            let w2 = &x.w2[kb * e..(kb + 1) * e];
            let b1 = &x.b1[kb * e..(kb + 1) * e];
            for (i, q) in qi.iter_mut().enumerate() {
                let a = usize::try_from(x.u[(k * n + i) * nb + b]).expect("an action index");
                assert!(a < na, "action {a} out of range");
                *q = x.q[((k * n + i) * nb + b) * na + a].into();
            }
            let mut q_tot: f64 = x.v[kb].into();
            for j in 0..e {
                let z: f64 = (0..n).map(|i| qi[i] * w1[i * e + j].into().abs()).sum();
                let bj: f64 = b1[j].into();
                (hid[j], slope[j]) = match bias {
                    MixerBias::InsideElu => elu(z + bj),
                    MixerBias::AfterElu => {
                        let (h, s) = elu(z);
                        (h + bj, s)
                    }
                };
                q_tot += hid[j] * w2[j].into().abs();
            }
            let err = q_tot - x.y[kb].into();
            *loss += err * err / nb as f64;
            let g = 2.0 * err / nb as f64;
            grads.v[kb] = T::from_f64(g);
            for j in 0..e {
                let w2j: f64 = w2[j].into();
                grads.w2[kb * e + j] = T::from_f64(g * hid[j] * sign(w2j));
                let dh = g * w2j.abs();
                dz[j] = dh * slope[j];
                grads.b1[kb * e + j] = T::from_f64(match bias {
                    MixerBias::InsideElu => dz[j],
                    MixerBias::AfterElu => dh,
                });
            }
            for i in 0..n {
                let mut dq = 0.0;
                for j in 0..e {
                    let w: f64 = w1[i * e + j].into();
                    grads.w1[kb * n * e + i * e + j] = T::from_f64(dz[j] * qi[i] * sign(w));
                    dq += dz[j] * w.abs();
                }
                let a = x.u[(k * n + i) * nb + b] as usize;
                grads.q[((k * n + i) * nb + b) * na + a] = T::from_f64(dq);
            }
        }
    }
    losses
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// The same loss through libtorch's autograd (as `QmixMixer::mix` writes it).
    #[test]
    fn matches_autograd() {
        tch::manual_seed(3);
        let (kc, n, nb, na, e) = (3usize, 2usize, 5usize, 4usize, 6usize);
        let d = MixDims {
            seeds: kc,
            agents: n,
            batch: nb,
            actions: na,
            embed: e,
        };
        let (ki, ni, bi, ai, ei) = (kc as i64, n as i64, nb as i64, na as i64, e as i64);
        let opts = (Kind::Double, tch::Device::Cpu);
        for bias in [MixerBias::InsideElu, MixerBias::AfterElu] {
            let q = Tensor::randn([ki, ni, bi, ai], opts).set_requires_grad(true);
            let u = Tensor::randint(ai, [ki, ni, bi], (Kind::Int64, tch::Device::Cpu));
            let w1 = Tensor::randn([ki, bi, ni * ei], opts).set_requires_grad(true);
            let w2 = Tensor::randn([ki, bi, ei], opts).set_requires_grad(true);
            let b1 = Tensor::randn([ki, bi, ei], opts).set_requires_grad(true);
            let v = Tensor::randn([ki, bi], opts).set_requires_grad(true);
            let y = Tensor::randn([ki, bi], opts);
            let qt = q
                .gather(3, &u.unsqueeze(-1), false)
                .squeeze_dim(3)
                .permute([0, 2, 1])
                .reshape([ki * bi, ni, 1]);
            let z = (qt * w1.abs().view([ki * bi, ni, ei])).sum_dim_intlist(
                [1i64].as_slice(),
                false,
                None,
            );
            let b1v = b1.view([ki * bi, ei]);
            let h = match bias {
                MixerBias::InsideElu => (z + b1v).elu(),
                MixerBias::AfterElu => z.elu() + b1v,
            };
            let q_tot =
                (h * w2.abs().view([ki * bi, ei])).sum_dim_intlist([1i64].as_slice(), false, None)
                    + v.view([ki * bi]);
            let per_seed =
                (q_tot.view([ki, bi]) - &y)
                    .square()
                    .mean_dim([1i64].as_slice(), false, None);
            let inputs = [&q, &w1, &w2, &b1, &v];
            let g = Tensor::run_backward(&[per_seed.sum(None)], &inputs, false, false);
            let vec = |t: &Tensor| Vec::<f64>::try_from(t.flatten(0, -1)).unwrap();
            let uv = Vec::<i64>::try_from(u.flatten(0, -1)).unwrap();
            let (qv, w1v, w2v, b1vv, vv, yv) =
                (vec(&q), vec(&w1), vec(&w2), vec(&b1), vec(&v), vec(&y));
            let mut out: Vec<Vec<f64>> = [&qv, &w1v, &w2v, &b1vv, &vv]
                .iter()
                .map(|s| vec![0.0; s.len()])
                .collect();
            let [dq, dw1, dw2, db1, dv] = &mut out[..] else {
                unreachable!()
            };
            let losses = qmix_td_loss(
                d,
                bias,
                &MixInputs {
                    q: &qv,
                    u: &uv,
                    w1: &w1v,
                    w2: &w2v,
                    b1: &b1vv,
                    v: &vv,
                    y: &yv,
                },
                &mut MixGrads {
                    q: dq,
                    w1: dw1,
                    w2: dw2,
                    b1: db1,
                    v: dv,
                },
            );
            let close = |a: &[f64], b: &[f64], what: &str| {
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                        "{what}: {x} vs {y}"
                    );
                }
            };
            close(&losses, &vec(&per_seed), "loss");
            for (j, what) in ["q", "w1", "w2", "b1", "v"].iter().enumerate() {
                close(&out[j], &vec(&g[j]), what);
            }
        }
    }
}
