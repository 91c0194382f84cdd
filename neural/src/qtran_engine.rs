//! QTRAN's networks after the agents (the action encoder and the joint or counterfactual
//! network) and its losses on the CPU, forward and backward, without libtorch: the part of a
//! QTRAN step that [`crate::engine`] left to autograd (with MKL's small-matrix products and the
//! allocations of libtorch's temporaries, most of its time). Without a `V_jt` network (the
//! default); with one the learner keeps libtorch's path.
//!
//! Per seed, with the agents' values `q_i(·)` and last hidden layers `h_i` (from the engine),
//! the taken actions `u` and the greedy ones `ū_i = argmax q_i` (first maximum among the
//! agent's own actions), `hq_i = Enc([h_i, onehot(u_i)])` (and the same for `ū`, without
//! gradients), `Q'(u) = Σ_i q_i(u_i)` and `Q'(ū) = Σ_i max q_i`:
//!
//! - QTRAN-base: `Q_jt = Joint(Σ_i hq_i)`; `L = mean_b (Q_jt − y)² +
//!   λ_opt mean_b (Q'(ū) − Q̂_jt(ū))² + λ_nopt mean_b min(Q'(u) − Q_jt, 0)²`, with `Q_jt`
//!   held fixed in the last term.
//! - QTRAN-alt: the counterfactual network on `c_i = h_i + Σ_j hq_j − hq_i` gives
//!   `Q_jt(·, u_−i)` for each agent; `L = mean_ib (Q_jt,i(u) − y)² +
//!   λ_opt mean_ib (Q'(ū) − Q̂_jt,i(ū))² + λ_nopt mean_ib (min_a d_i(a))²` with
//!   `d_i(a) = q_i(a) + Σ_{j≠i} q_j(u_j) − Q_jt,i(a, u_−i)` (the counterfactual values held
//!   fixed).
//!
//! Gradients follow the formulas by hand (`max` and `min` share theirs evenly among exact ties,
//! as autograd's `amax`/`amin`): the joint network's output gradient goes back to its input,
//! then through the sums to each `hq_i`, through the encoder to `[h_i, ·]`, whose first `H`
//! columns (plus `∂c_i` for QTRAN-alt) are `∂h_i`; the `q` terms land on `∂q_i`. Matrix
//! products through [`crate::kernels::gemm`]; losses in f64. Tested against autograd
//! (this module's tests) and in whole training runs (`cpu_engine_equals_libtorch_autograd`).

use crate::engine::{slice, slice_mut, Layer, Real};
use crate::kernels::{gemm, transpose, Dims, Init};
use crate::nets::BLinear;
use tch::Tensor;

/// A seed-batched MLP of one group (ReLU between layers) whose input is any matrix, run seed
/// by seed, with input gradients.
#[derive(Debug, Clone)]
pub struct DenseMlp {
    layers: Vec<Layer>,
}

/// Activations of one forward pass of one seed (reused between calls).
#[derive(Debug, Default)]
struct Acts<T> {
    /// `a_l` (`z_L` for the last layer), `[R, d_l]` each.
    a: Vec<Vec<T>>,
}

/// Backward scratch (reused between calls).
#[derive(Debug, Default)]
struct Scratch<T> {
    wt: Vec<T>,
    dz: Vec<T>,
    da: Vec<T>,
}

impl DenseMlp {
    /// The engine for `layers` (each of one parameter group).
    ///
    /// # Panics
    /// If a layer has more than one group.
    pub fn new(layers: &[BLinear]) -> Self {
        for l in layers {
            assert_eq!(l.dims().0, 1, "DenseMlp runs single-group networks");
        }
        let layers = layers.iter().map(Layer::of).collect();
        DenseMlp { layers }
    }

    /// Indices of the parameters.
    pub fn param_indices(&self) -> Vec<usize> {
        self.layers.iter().flat_map(|l| [l.w, l.b]).collect()
    }

    /// Seed `k`'s weight and bias of layer `l`.
    fn wb<'a, T: Real>(&self, p: &[&'a [T]], k: usize, l: usize) -> (&'a [T], &'a [T]) {
        let Layer { w, b, d_in, d_out } = self.layers[l];
        let (ws, bs) = (d_in * d_out, d_out);
        (&p[w][k * ws..(k + 1) * ws], &p[b][k * bs..(k + 1) * bs])
    }

    /// Forward pass of seed `k` on `x: [rows, d_0]`; the output is `acts.a.last()`.
    fn forward<T: Real>(&self, p: &[&[T]], k: usize, x: &[T], rows: usize, acts: &mut Acts<T>) {
        acts.a.resize_with(self.layers.len(), Vec::new);
        let last = self.layers.len() - 1;
        for l in 0..self.layers.len() {
            let (w, b) = self.wb(p, k, l);
            let Layer { d_in, d_out, .. } = self.layers[l];
            let (before, rest) = acts.a.split_at_mut(l);
            let input: &[T] = if l == 0 { x } else { &before[l - 1] };
            let z = &mut rest[0];
            z.resize(rows * d_out, T::ZERO);
            gemm(Dims::dense(rows, d_out, d_in), input, w, z, Init::Bias(b));
            if l < last {
                for v in z.iter_mut() {
                    // A select, not a conditional store, so that it vectorises.
                    *v = if *v > T::ZERO { *v } else { T::ZERO };
                }
            }
        }
    }

    /// Backward pass of seed `k` after [`DenseMlp::forward`] on the same `x`: from the output
    /// gradient `dy: [rows, d_L]`, writes seed `k`'s parameter gradients into `g` and, if
    /// asked, `∂x` into `dx: [rows, d_0]` (both overwritten, not accumulated).
    #[allow(clippy::too_many_arguments)]
    fn backward<T: Real>(
        &self,
        p: &[&[T]],
        g: &mut [&mut [T]],
        k: usize,
        x: &[T],
        rows: usize,
        acts: &Acts<T>,
        dy: &[T],
        dx: Option<&mut [T]>,
        s: &mut Scratch<T>,
    ) {
        s.dz.clear();
        s.dz.extend_from_slice(dy);
        let mut dx = dx;
        for l in (0..self.layers.len()).rev() {
            let Layer { w, b, d_in, d_out } = self.layers[l];
            let input: &[T] = if l == 0 { x } else { &acts.a[l - 1] };
            {
                let dw = &mut g[w][k * d_in * d_out..(k + 1) * d_in * d_out];
                gemm(
                    Dims::transposed_a(d_in, d_out, rows),
                    input,
                    &s.dz,
                    dw,
                    Init::Zero,
                );
            }
            {
                let db = &mut g[b][k * d_out..(k + 1) * d_out];
                db.fill(T::ZERO);
                for r in 0..rows {
                    for (o, d) in db.iter_mut().enumerate() {
                        *d = *d + s.dz[r * d_out + o];
                    }
                }
            }
            if l == 0 && dx.is_none() {
                break;
            }
            let (wk, _) = self.wb(p, k, l);
            s.wt.resize(d_in * d_out, T::ZERO);
            transpose(wk, d_in, d_out, &mut s.wt);
            s.da.resize(rows * d_in, T::ZERO);
            gemm(
                Dims::dense(rows, d_in, d_out),
                &s.dz,
                &s.wt,
                &mut s.da,
                Init::Zero,
            );
            if l == 0 {
                if let Some(dx) = dx.take() {
                    dx.copy_from_slice(&s.da);
                }
            } else {
                let a = &acts.a[l - 1];
                s.dz.resize(rows * d_in, T::ZERO);
                for ((dz, &da), &av) in s.dz.iter_mut().zip(&s.da).zip(a) {
                    *dz = if av > T::ZERO { da } else { T::ZERO };
                }
            }
        }
    }
}

/// QTRAN-base's encoder and joint network, for the engine.
#[derive(Debug, Clone)]
pub struct QtranEngine {
    encoder: DenseMlp,
    joint: DenseMlp,
    /// QTRAN-alt (the joint network is the counterfactual one).
    alt: bool,
}

/// Sizes and settings of one QTRAN-base pass.
#[derive(Debug, Clone, Copy)]
pub struct QtranDims {
    /// Seeds in the chunk.
    pub seeds: usize,
    /// Agents `N`.
    pub agents: usize,
    /// Samples per seed `B`.
    pub batch: usize,
    /// Padded action count `A`.
    pub actions: usize,
    /// Hidden width `H` of the agents' last layer.
    pub hidden: usize,
    /// `λ_opt`.
    pub lambda_opt: f64,
    /// `λ_nopt`.
    pub lambda_nopt: f64,
}

/// The tensors of one pass (contiguous CPU tensors; `q`, `h`, `y`, `dq`, `dh` of the engine's
/// type, `u` int64).
pub struct QtranTensors<'a> {
    /// `[Kc, N, B, A]`.
    pub q: &'a Tensor,
    /// `[Kc, N, B, H]`.
    pub h: &'a Tensor,
    /// `[Kc, N, B]`.
    pub u: &'a Tensor,
    /// `[Kc, B]`.
    pub y: &'a Tensor,
    /// Output `[Kc, N, B, A]`.
    pub dq: &'a Tensor,
    /// Output `[Kc, N, B, H]`.
    pub dh: &'a Tensor,
}

impl QtranEngine {
    /// The engine for QTRAN's encoder and joint network (QTRAN-alt's counterfactual network
    /// when `alt`).
    pub fn new(encoder: &[BLinear], joint: &[BLinear], alt: bool) -> Self {
        QtranEngine {
            encoder: DenseMlp::new(encoder),
            joint: DenseMlp::new(joint),
            alt,
        }
    }

    /// Indices of the parameters the engine runs.
    pub fn param_indices(&self) -> Vec<usize> {
        let mut v = self.encoder.param_indices();
        v.extend(self.joint.param_indices());
        v
    }

    /// Each seed's loss; writes `dq`, `dh` and the encoder's and joint network's parameter
    /// gradients into `grads` (at their indices; the others untouched). `actions[i]` is agent
    /// `i`'s own action count (`≤ A`).
    pub fn loss_and_grads<T: Real>(
        &self,
        d: QtranDims,
        actions: &[usize],
        params: &[Tensor],
        t: &QtranTensors<'_>,
        grads: &[Tensor],
    ) -> Vec<f64> {
        let QtranDims {
            seeds: kc,
            agents: n,
            batch: nb,
            actions: na,
            hidden: hd,
            ..
        } = d;
        let idx: Vec<usize> = self.param_indices();
        // SAFETY: parameter tensors are only read here; gradient buffers and outputs are
        // distinct tensors written only here; all are contiguous CPU tensors of `T`
        // (checked by `slice`).
        let p: Vec<&[T]> = (0..params.len())
            .map(|i| {
                if idx.contains(&i) {
                    unsafe { slice::<T>(&params[i]) }
                } else {
                    &[][..]
                }
            })
            .collect();
        let mut g: Vec<&mut [T]> = (0..grads.len())
            .map(|i| {
                if idx.contains(&i) {
                    unsafe { slice_mut::<T>(&grads[i]) }
                } else {
                    &mut [][..]
                }
            })
            .collect();
        let (q, h, y, dq, dh) = unsafe {
            (
                slice::<T>(t.q),
                slice::<T>(t.h),
                slice::<T>(t.y),
                slice_mut::<T>(t.dq),
                slice_mut::<T>(t.dh),
            )
        };
        assert_eq!(t.u.kind(), tch::Kind::Int64, "actions are int64");
        assert!(
            t.u.is_contiguous() && t.u.numel() == kc * n * nb,
            "u: [Kc, N, B]"
        );
        // SAFETY: a contiguous int64 CPU tensor of that length (checked just above), read only.
        let u = unsafe { std::slice::from_raw_parts(t.u.data_ptr() as *const i64, t.u.numel()) };
        assert_eq!(q.len(), kc * n * nb * na, "q");
        assert_eq!(h.len(), kc * n * nb * hd, "h");
        assert_eq!(y.len(), kc * nb, "y");
        dq.fill(T::ZERO);
        let rows = n * nb;
        let width = hd + na;
        let (mut x_u, mut x_bar) = (vec![T::ZERO; rows * width], vec![T::ZERO; rows * width]);
        let (mut s_u, mut s_bar) = (vec![T::ZERO; nb * hd], vec![T::ZERO; nb * hd]);
        let (mut enc_u, mut enc_bar, mut joint_u, mut joint_bar) = (
            Acts::default(),
            Acts::default(),
            Acts::default(),
            Acts::default(),
        );
        let mut scratch = Scratch::default();
        let mut d_qjt = vec![T::ZERO; nb];
        let mut d_s = vec![T::ZERO; nb * hd];
        let mut d_hq = vec![T::ZERO; rows * hd];
        let mut d_x = vec![T::ZERO; rows * width];
        let mut ubar = vec![0usize; rows];
        // QTRAN-alt: the counterfactual network's inputs for u and ū, and gradients.
        let (mut c_u, mut c_bar) = if self.alt {
            (vec![T::ZERO; rows * hd], vec![T::ZERO; rows * hd])
        } else {
            (Vec::new(), Vec::new())
        };
        let mut d_cf: Vec<T> = Vec::new();
        let mut d_c = vec![T::ZERO; if self.alt { rows * hd } else { 0 }];
        let mut losses = vec![0.0; kc];
        for (k, loss) in losses.iter_mut().enumerate() {
            // Inputs of the encoder for u and ū: [h_i, onehot(·)], row i·B + b.
            let mut q_prime = vec![0.0f64; nb];
            let mut q_prime_bar = vec![0.0f64; nb];
            for i in 0..n {
                for b in 0..nb {
                    let r = i * nb + b;
                    let qrow = &q[((k * n + i) * nb + b) * na..][..na];
                    let ua = usize::try_from(u[(k * n + i) * nb + b]).expect("an action index");
                    assert!(ua < actions[i], "action {ua} out of range");
                    let mut best = 0;
                    for a in 1..actions[i] {
                        if qrow[a] > qrow[best] {
                            best = a;
                        }
                    }
                    ubar[r] = best;
                    q_prime[b] += qrow[ua].into();
                    q_prime_bar[b] += qrow[best].into();
                    let hrow = &h[((k * n + i) * nb + b) * hd..][..hd];
                    for (xr, a) in [(&mut x_u, ua), (&mut x_bar, best)] {
                        let dst = &mut xr[r * width..(r + 1) * width];
                        dst[..hd].copy_from_slice(hrow);
                        dst[hd..].fill(T::ZERO);
                        dst[hd + a] = T::ONE;
                    }
                }
            }
            self.encoder.forward(&p, k, &x_u, rows, &mut enc_u);
            self.encoder.forward(&p, k, &x_bar, rows, &mut enc_bar);
            for (s, acts) in [(&mut s_u, &enc_u), (&mut s_bar, &enc_bar)] {
                let hq = acts.a.last().expect("layers");
                s.copy_from_slice(&hq[..nb * hd]);
                for i in 1..n {
                    for (sv, &v) in s.iter_mut().zip(&hq[i * nb * hd..(i + 1) * nb * hd]) {
                        *sv = *sv + v;
                    }
                }
            }
            if !self.alt {
                self.joint.forward(&p, k, &s_u, nb, &mut joint_u);
                self.joint.forward(&p, k, &s_bar, nb, &mut joint_bar);
                let (q_jt, q_hat_bar) = (
                    joint_u.a.last().expect("layers"),
                    joint_bar.a.last().expect("layers"),
                );
                let inv_b = 1.0 / nb as f64;
                for b in 0..nb {
                    let qj: f64 = q_jt[b].into();
                    let e_td = qj - y[k * nb + b].into();
                    let e_opt = q_prime_bar[b] - q_hat_bar[b].into();
                    let e_nopt = (q_prime[b] - qj).min(0.0);
                    *loss += (e_td * e_td
                        + d.lambda_opt * e_opt * e_opt
                        + d.lambda_nopt * e_nopt * e_nopt)
                        * inv_b;
                    d_qjt[b] = T::from_f64(2.0 * e_td * inv_b);
                    let g_opt = 2.0 * d.lambda_opt * e_opt * inv_b;
                    let g_nopt = 2.0 * d.lambda_nopt * e_nopt * inv_b;
                    for i in 0..n {
                        let base = ((k * n + i) * nb + b) * na;
                        let qrow = &q[base..base + na];
                        add_at_max(&mut dq[base..base + na], qrow, actions[i], g_opt);
                        let ua = u[(k * n + i) * nb + b] as usize;
                        dq[base + ua] = T::from_f64(dq[base + ua].into() + g_nopt);
                    }
                }
                // Back through the joint network to Σ_i hq_i, then the encoder to [h_i, ·].
                self.joint.backward(
                    &p,
                    &mut g,
                    k,
                    &s_u,
                    nb,
                    &joint_u,
                    &d_qjt,
                    Some(&mut d_s),
                    &mut scratch,
                );
                for i in 0..n {
                    d_hq[i * nb * hd..(i + 1) * nb * hd].copy_from_slice(&d_s);
                }
            } else {
                // QTRAN-alt: the counterfactual network on h_i + Σ_j hq_j − hq_i, row i·B + b.
                let (hq_u, hq_bar) = (
                    enc_u.a.last().expect("layers"),
                    enc_bar.a.last().expect("layers"),
                );
                for (c, hq, sum) in [(&mut c_u, hq_u, &s_u), (&mut c_bar, hq_bar, &s_bar)] {
                    for r in 0..rows {
                        let (i, b) = (r / nb, r % nb);
                        let hrow = &h[((k * n + i) * nb + b) * hd..][..hd];
                        for j in 0..hd {
                            let (hv, sv, qv): (f64, f64, f64) = (
                                hrow[j].into(),
                                sum[b * hd + j].into(),
                                hq[r * hd + j].into(),
                            );
                            c[r * hd + j] = T::from_f64(hv + sv - qv);
                        }
                    }
                }
                self.joint.forward(&p, k, &c_u, rows, &mut joint_u);
                self.joint.forward(&p, k, &c_bar, rows, &mut joint_bar);
                let (cf, cf_bar) = (
                    joint_u.a.last().expect("layers"),
                    joint_bar.a.last().expect("layers"),
                );
                let inv_nb = 1.0 / rows as f64;
                d_cf.clear();
                d_cf.resize(rows * na, T::ZERO);
                for b in 0..nb {
                    // ∂L/∂Q'(ū) summed over the agents' (6) terms; ∂ of Σ_{j≠i} q_j(u_j) in
                    // the agents' (4b) terms.
                    let mut g_bar = 0.0;
                    let mut g_others = vec![0.0f64; n];
                    for i in 0..n {
                        let r = i * nb + b;
                        let base = ((k * n + i) * nb + b) * na;
                        let ua = u[(k * n + i) * nb + b] as usize;
                        let qj: f64 = cf[r * na + ua].into();
                        let e_td = qj - y[k * nb + b].into();
                        let e_opt = q_prime_bar[b] - cf_bar[r * na + ubar[r]].into();
                        let others = q_prime[b] - q[base + ua].into();
                        let d_of = |a: usize| q[base + a].into() + others - cf[r * na + a].into();
                        let d_min = (0..actions[i]).map(d_of).fold(f64::INFINITY, f64::min);
                        *loss += (e_td * e_td
                            + d.lambda_opt * e_opt * e_opt
                            + d.lambda_nopt * d_min * d_min)
                            * inv_nb;
                        d_cf[r * na + ua] = T::from_f64(2.0 * e_td * inv_nb);
                        g_bar += 2.0 * d.lambda_opt * e_opt * inv_nb;
                        let g_nopt = 2.0 * d.lambda_nopt * d_min * inv_nb;
                        // Exact ties, as autograd's `amin` shares its gradient.
                        #[allow(clippy::float_cmp)]
                        let tied: Vec<usize> =
                            (0..actions[i]).filter(|&a| d_of(a) == d_min).collect();
                        let share = g_nopt / tied.len() as f64;
                        for a in tied {
                            dq[base + a] = T::from_f64(dq[base + a].into() + share);
                        }
                        for (j, go) in g_others.iter_mut().enumerate() {
                            if j != i {
                                *go += g_nopt;
                            }
                        }
                    }
                    for (i, &go) in g_others.iter().enumerate() {
                        let base = ((k * n + i) * nb + b) * na;
                        let ua = u[(k * n + i) * nb + b] as usize;
                        dq[base + ua] = T::from_f64(dq[base + ua].into() + go);
                        let qrow = &q[base..base + na];
                        add_at_max(&mut dq[base..base + na], qrow, actions[i], g_bar);
                    }
                }
                self.joint.backward(
                    &p,
                    &mut g,
                    k,
                    &c_u,
                    rows,
                    &joint_u,
                    &d_cf,
                    Some(&mut d_c),
                    &mut scratch,
                );
                // c_i = h_i + Σ_j hq_j − hq_i: ∂hq_j = Σ_i ∂c_i − ∂c_j (∂h_i = ∂c_i, below).
                for b in 0..nb {
                    for j in 0..hd {
                        let total: f64 = (0..n).map(|i| d_c[(i * nb + b) * hd + j].into()).sum();
                        for i in 0..n {
                            let r = (i * nb + b) * hd + j;
                            d_hq[r] = T::from_f64(total - d_c[r].into());
                        }
                    }
                }
            }
            self.encoder.backward(
                &p,
                &mut g,
                k,
                &x_u,
                rows,
                &enc_u,
                &d_hq,
                Some(&mut d_x),
                &mut scratch,
            );
            for r in 0..rows {
                let (i, b) = (r / nb, r % nb);
                let out = &mut dh[((k * n + i) * nb + b) * hd..][..hd];
                out.copy_from_slice(&d_x[r * width..r * width + hd]);
                if self.alt {
                    for (o, &dc) in out.iter_mut().zip(&d_c[r * hd..(r + 1) * hd]) {
                        *o = *o + dc;
                    }
                }
            }
        }
        losses
    }
}

/// Adds `g` to `dq` at the maxima of `q[..count]`, shared evenly among exact ties (the
/// gradient of `max` as libtorch's `amax` gives it).
fn add_at_max<T: Real>(dq: &mut [T], q: &[T], count: usize, g: f64) {
    let top = (1..count).fold(q[0], |m, a| if q[a] > m { q[a] } else { m });
    let ties = (0..count).filter(|&a| q[a] == top).count();
    let share = g / ties as f64;
    for a in 0..count {
        if q[a] == top {
            dq[a] = T::from_f64(dq[a].into() + share);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Method, TrainConfig};
    use crate::model::{Dims as ModelDims, Mixer, Model};
    use crate::nets::ParamStore;
    use tch::{Device, Kind};

    /// `DenseMlp` (QTRAN's encoder, 2 layers; joint network, 3) against libtorch's autograd
    /// through `BLinear::forward` with ReLU between layers: outputs, parameter gradients and
    /// input gradients, seed by seed, in f64 to 1e-12 and f32 to 1e-4.
    #[test]
    fn dense_mlp_matches_autograd() {
        tch::manual_seed(7);
        for (kind, tol) in [(Kind::Double, 1e-12), (Kind::Float, 1e-4)] {
            let mut cfg = TrainConfig::new("t", Method::QtranBase);
            cfg.agent.hidden = vec![8, 20];
            cfg.qtran.joint_hidden = vec![17, 6];
            let dims = ModelDims {
                n_agents: 2,
                a_max: 3,
                n_states: 2,
            };
            let kc = 3usize;
            let mut store = ParamStore::new(vec![0, 5, 9], 4, kind, Device::Cpu);
            let model = Model::new(&mut store, &cfg, dims);
            store.finish();
            let leaves = store.leaves(0, kc);
            let Mixer::Qtran(nets) = &model.mixer else {
                unreachable!()
            };
            for layers in [nets.encoder_layers(), nets.joint_layers()] {
                let mlp = DenseMlp::new(layers);
                let rows = 7usize;
                let d0 = mlp.layers[0].d_in;
                let d_out = mlp.layers.last().unwrap().d_out;
                let x =
                    (Tensor::randn([kc as i64, 1, rows as i64, d0 as i64], (kind, Device::Cpu))
                        * 0.7)
                        .set_requires_grad(true);
                let c = Tensor::randn(
                    [kc as i64, 1, rows as i64, d_out as i64],
                    (kind, Device::Cpu),
                );
                let mut a = x.shallow_clone();
                for (l, layer) in layers.iter().enumerate() {
                    a = layer.forward(&leaves, &a);
                    if l + 1 < layers.len() {
                        a = a.relu();
                    }
                }
                let loss = (&a * &c).square().sum(kind);
                let idx = mlp.param_indices();
                let mut inputs: Vec<&Tensor> = idx.iter().map(|&i| &leaves[i]).collect();
                inputs.push(&x);
                let g_ref = Tensor::run_backward(&[loss], &inputs, false, false);
                let dy_ref = (&a * &c * &c * 2.0).detach().contiguous();
                let grads: Vec<Tensor> = leaves.iter().map(|t| t.detach().zeros_like()).collect();
                let to_vec = |t: &Tensor| -> Vec<f64> {
                    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
                };
                let close = |got: &[f64], want: &[f64], what: &str| {
                    assert_eq!(got.len(), want.len(), "{what}");
                    for (g, w) in got.iter().zip(want) {
                        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}: {g} vs {w}");
                    }
                };
                macro_rules! run {
                    ($t:ty) => {{
                        let xs = x.detach().contiguous();
                        let dys = dy_ref.shallow_clone();
                        // SAFETY: distinct contiguous CPU tensors of the type, used only here.
                        let (xv, dyv) = unsafe { (slice::<$t>(&xs), slice::<$t>(&dys)) };
                        let p: Vec<&[$t]> =
                            leaves.iter().map(|t| unsafe { slice::<$t>(t) }).collect();
                        let mut g: Vec<&mut [$t]> = grads
                            .iter()
                            .map(|t| unsafe { slice_mut::<$t>(t) })
                            .collect();
                        let mut dx_all = vec![0.0 as $t; kc * rows * d0];
                        let mut out = vec![0.0 as $t; kc * rows * d_out];
                        let (mut acts, mut s) = (Acts::default(), Scratch::default());
                        for k in 0..kc {
                            let xk = &xv[k * rows * d0..(k + 1) * rows * d0];
                            mlp.forward(&p, k, xk, rows, &mut acts);
                            out[k * rows * d_out..(k + 1) * rows * d_out]
                                .copy_from_slice(acts.a.last().unwrap());
                            let dyk = &dyv[k * rows * d_out..(k + 1) * rows * d_out];
                            let dxk = &mut dx_all[k * rows * d0..(k + 1) * rows * d0];
                            mlp.backward(&p, &mut g, k, xk, rows, &acts, dyk, Some(dxk), &mut s);
                        }
                        (
                            out.iter().map(|&v| v as f64).collect::<Vec<f64>>(),
                            dx_all.iter().map(|&v| v as f64).collect::<Vec<f64>>(),
                        )
                    }};
                }
                let (out, dx) = if kind == Kind::Double {
                    run!(f64)
                } else {
                    run!(f32)
                };
                close(&out, &to_vec(&a), "output");
                close(&dx, &to_vec(&g_ref[idx.len()]), "input gradient");
                for (j, &i) in idx.iter().enumerate() {
                    close(&to_vec(&grads[i]), &to_vec(&g_ref[j]), "parameter gradient");
                }
            }
        }
    }
}
