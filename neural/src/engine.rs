//! Forward and backward passes of the networks fed by the observation (the agent networks,
//! QMIX's hypernetworks) on the CPU, without libtorch.
//!
//! The agent networks are most of a step's arithmetic (all of it for VDN and IQL), and their
//! matrices are small (32 rows × 64 columns per seed and agent), where libtorch's batched
//! products and autograd spend more time dispatching, packing and allocating than multiplying.
//! This engine runs them with [`crate::kernels::gemm`] seed by seed and agent by agent, over
//! the chunk's own parameter leaves, keeping the activations of one step in a reusable
//! workspace. What comes after the agent networks runs in Rust too for QMIX
//! ([`crate::mixing`]) and QTRAN without a `V_jt` network ([`crate::qtran_engine`]), which
//! hand back the gradients of `q` and `h`; otherwise (VDN's and IQL's sums, QTRAN with `V_jt`)
//! libtorch's autograd handles it: the learner makes the agents' outputs leaves and takes the
//! loss's gradients with respect to them. Either way this engine propagates those back through
//! the agent networks into gradient buffers that the optimiser reads.
//!
//! Same mathematics as [`crate::nets::AgentNets::forward`] with autograd (tested to agree to
//! rounding): `z_l = a_{l−1} W_l + b_l`, `a_l = ReLU(z_l)`, `q = z_L`, `h = a_{L−1}`; backward
//! `dW_l = a_{l−1}ᵀ dz_l`, `db_l = Σ_rows dz_l`, `da_{l−1} = dz_l W_lᵀ` (plus `dh` at the last
//! hidden layer), `dz_{l−1} = da_{l−1} ⊙ [a_{l−1} > 0]`. Each seed's result depends only on its
//! own data, in a fixed order, so it is the same in any chunk and on any thread.

use crate::kernels::{gemm, transpose, Dims, Element, Init};
use crate::nets::{AgentNets, BLinear};
use std::ops::Add;
use tch::{Device, Kind, Tensor};

/// Element types the engine runs on.
pub trait Real: Element + Add<Output = Self> + Into<f64> {
    /// The libtorch kind of this type.
    const KIND: Kind;
    /// Rounds an f64 to this type.
    fn from_f64(x: f64) -> Self;
}

impl Real for f32 {
    const KIND: Kind = Kind::Float;
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
}

impl Real for f64 {
    const KIND: Kind = Kind::Double;
    fn from_f64(x: f64) -> f64 {
        x
    }
}

/// Checks that `t` is a contiguous CPU tensor of `T`s.
fn check<T: Real>(t: &Tensor) {
    assert!(
        t.device() == Device::Cpu && t.kind() == T::KIND && t.is_contiguous(),
        "engine tensors are contiguous CPU tensors of the engine's type"
    );
}

/// The elements of `t`.
///
/// # Safety
/// No mutable access to `t`'s memory may happen while the slice is alive.
pub(crate) unsafe fn slice<T: Real>(t: &Tensor) -> &[T] {
    check::<T>(t);
    if t.numel() == 0 {
        return &[];
    }
    std::slice::from_raw_parts(t.data_ptr() as *const T, t.numel())
}

/// The elements of `t`, mutable.
///
/// # Safety
/// No other access to `t`'s memory may happen while the slice is alive.
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn slice_mut<T: Real>(t: &Tensor) -> &mut [T] {
    check::<T>(t);
    if t.numel() == 0 {
        return &mut [];
    }
    std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, t.numel())
}

/// One linear layer: parameter indices and sizes (per group).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layer {
    pub(crate) w: usize,
    pub(crate) b: usize,
    pub(crate) d_in: usize,
    pub(crate) d_out: usize,
}

impl Layer {
    /// The indices and sizes of `l`.
    pub(crate) fn of(l: &BLinear) -> Layer {
        let (w, b) = l.param_indices();
        let (_, d_in, d_out) = l.dims();
        Layer {
            w,
            b,
            d_in: d_in as usize,
            d_out: d_out as usize,
        }
    }
}

/// One seed-batched MLP fed by the one-hot observation (the agent networks, or one of QMIX's
/// hypernetworks), for the engine.
#[derive(Debug, Clone)]
pub struct MlpEngine {
    layers: Vec<Layer>,
    /// Parameter groups G: N separate networks, or 1 shared.
    groups: usize,
    shared: bool,
    n_agents: usize,
}

/// Buffers reused from step to step (one per chunk).
#[derive(Debug, Default)]
pub struct Workspace<T> {
    /// Activations `a_l` of the hidden layers, `[Kc, G, R, d_l]` each.
    acts: Vec<Vec<T>>,
    /// Input rows of a shared network (state one-hot and agent id), `[Kc, N·B, S + N]`.
    x0: Vec<T>,
    /// `W_lᵀ` of one seed and group.
    wt: Vec<T>,
    /// Backward buffers of one seed and group, `R × max width`.
    dz: Vec<T>,
    da: Vec<T>,
}

impl MlpEngine {
    /// The engine for `agents` (outputs `[K, N, B, ·]`).
    pub fn agents(agents: &AgentNets) -> Self {
        let mut e = Self::obs_net(agents.mlp().layers());
        e.n_agents = agents.n_agents() as usize;
        e.shared = agents.is_shared();
        e.groups = if e.shared { 1 } else { e.n_agents };
        e
    }

    /// The engine for a network of `layers` (ReLU between them) applied to the observation
    /// `[K, B, S]` (outputs `[K, G, B, ·]`, G the layers' group count).
    pub fn obs_net(layers: &[BLinear]) -> Self {
        let groups = layers.first().map_or(1, |l| l.dims().0 as usize);
        let layers = layers.iter().map(Layer::of).collect();
        MlpEngine {
            layers,
            groups,
            shared: false,
            n_agents: 1,
        }
    }

    /// Width of the output layer.
    pub fn out_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.d_out)
    }

    /// Indices (in the parameter list) of the network's parameters.
    pub fn param_indices(&self) -> Vec<usize> {
        self.layers.iter().flat_map(|l| [l.w, l.b]).collect()
    }

    /// Width of the last hidden layer (H; the input width for a single layer).
    pub fn hidden(&self) -> usize {
        let n = self.layers.len();
        if n >= 2 {
            self.layers[n - 2].d_out
        } else {
            self.layers[0].d_in
        }
    }

    /// Rows per seed and group: B (separate networks) or N·B (shared).
    fn rows(&self, batch: usize) -> usize {
        if self.shared {
            self.n_agents * batch
        } else {
            batch
        }
    }

    /// The input rows `[Kc, R, d0]` (one block per seed, shared by the groups).
    fn input<'a, T: Real>(&self, ws: &'a Workspace<T>, obs: &'a [T]) -> &'a [T] {
        if self.shared {
            &ws.x0
        } else {
            obs
        }
    }

    /// Forward pass of seeds `0..kc` on the one-hot observations `obs: [Kc, B, S]`: writes
    /// `q: [Kc, N, B, A]` and, if given, `h: [Kc, N, B, H]`, and keeps the activations for
    /// [`MlpEngine::backward`]. `params` are the chunk's parameters (`[Kc, shape…]` each,
    /// contiguous CPU tensors of `T`).
    pub fn forward<T: Real>(
        &self,
        ws: &mut Workspace<T>,
        params: &[Tensor],
        obs: &Tensor,
        q: &Tensor,
        h: Option<&Tensor>,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::level() >= crate::simd::Level::Avx512 {
                // SAFETY: AVX-512F is available (`simd::level` never exceeds the CPU's level).
                unsafe { self.forward_avx512(ws, params, obs, q, h) };
                return;
            }
        }
        self.forward_impl(ws, params, obs, q, h);
    }

    /// [`MlpEngine::forward`] compiled for AVX-512 (its element-wise loops vectorise), run at
    /// [`crate::simd::Level::Avx512`].
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512<T: Real>(
        &self,
        ws: &mut Workspace<T>,
        params: &[Tensor],
        obs: &Tensor,
        q: &Tensor,
        h: Option<&Tensor>,
    ) {
        self.forward_impl(ws, params, obs, q, h);
    }

    #[inline(always)]
    fn forward_impl<T: Real>(
        &self,
        ws: &mut Workspace<T>,
        params: &[Tensor],
        obs: &Tensor,
        q: &Tensor,
        h: Option<&Tensor>,
    ) {
        let size = obs.size();
        let (kc, batch, s) = (size[0] as usize, size[1] as usize, size[2] as usize);
        let (g_n, rows) = (self.groups, self.rows(batch));
        // SAFETY: obs is only read while these slices live; q and h are fresh tensors of the
        // caller that nothing else accesses during this call.
        let (obs, q, mut h) = unsafe {
            (
                slice::<T>(obs),
                slice_mut::<T>(q),
                h.map(|h| slice_mut::<T>(h)),
            )
        };
        if self.shared {
            let n = self.n_agents;
            let d0 = s + n;
            ws.x0.clear();
            ws.x0.resize(kc * rows * d0, T::ZERO);
            for k in 0..kc {
                for i in 0..n {
                    for b in 0..batch {
                        let row = (k * rows + i * batch + b) * d0;
                        ws.x0[row..row + s].copy_from_slice(&obs[(k * batch + b) * s..][..s]);
                        ws.x0[row + s + i] = T::ONE;
                    }
                }
            }
        }
        let n_layers = self.layers.len();
        ws.acts.resize_with(n_layers - 1, Vec::new);
        for (l, layer) in self.layers[..n_layers - 1].iter().enumerate() {
            ws.acts[l].resize(kc * g_n * rows * layer.d_out, T::ZERO);
        }
        let mut acts = std::mem::take(&mut ws.acts);
        let x0 = self.input(ws, obs);
        let d0 = self.layers[0].d_in;
        // SAFETY: parameters are only read during the forward pass.
        let weights: Vec<(&[T], &[T])> = self
            .layers
            .iter()
            .map(|l| unsafe { (slice::<T>(&params[l.w]), slice::<T>(&params[l.b])) })
            .collect();
        for k in 0..kc {
            for g in 0..g_n {
                let kg = k * g_n + g;
                for (l, layer) in self.layers.iter().enumerate() {
                    let (w, b) = weights[l];
                    let w = &w[kg * layer.d_in * layer.d_out..][..layer.d_in * layer.d_out];
                    let b = &b[kg * layer.d_out..][..layer.d_out];
                    let block = rows * layer.d_out;
                    let split = l.min(acts.len());
                    let (before, rest) = acts.split_at_mut(split);
                    let input: &[T] = if l == 0 {
                        &x0[k * rows * d0..][..rows * d0]
                    } else {
                        &before[l - 1][kg * rows * layer.d_in..][..rows * layer.d_in]
                    };
                    let out: &mut [T] = if l + 1 < n_layers {
                        &mut rest[0][kg * block..][..block]
                    } else {
                        &mut q[kg * block..][..block]
                    };
                    gemm(
                        Dims::dense(rows, layer.d_out, layer.d_in),
                        input,
                        w,
                        out,
                        Init::Bias(b),
                    );
                    if l + 1 < n_layers {
                        for x in out.iter_mut() {
                            // As PyTorch's threshold: x ≤ 0 ↦ 0 (NaN propagates).
                            if *x <= T::ZERO {
                                *x = T::ZERO;
                            }
                        }
                    }
                }
                if let Some(h) = h.as_deref_mut() {
                    let hd = self.hidden();
                    let src = &acts[n_layers - 2][kg * rows * hd..][..rows * hd];
                    h[kg * rows * hd..][..rows * hd].copy_from_slice(src);
                }
            }
        }
        ws.acts = acts;
    }

    /// Backward pass after [`MlpEngine::forward`] (same `params`, `obs`): given the loss's
    /// gradients `dq: [Kc, N, B, A]` and, if defined, `dh: [Kc, N, B, H]`, writes every agent
    /// parameter's gradient into `grads[index]` (tensors shaped like the parameters).
    pub fn backward<T: Real>(
        &self,
        ws: &mut Workspace<T>,
        params: &[Tensor],
        obs: &Tensor,
        dq: &Tensor,
        dh: Option<&Tensor>,
        grads: &[Tensor],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::level() >= crate::simd::Level::Avx512 {
                // SAFETY: AVX-512F is available (`simd::level` never exceeds the CPU's level).
                unsafe { self.backward_avx512(ws, params, obs, dq, dh, grads) };
                return;
            }
        }
        self.backward_impl(ws, params, obs, dq, dh, grads);
    }

    /// [`MlpEngine::backward`] compiled for AVX-512, run at [`crate::simd::Level::Avx512`].
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn backward_avx512<T: Real>(
        &self,
        ws: &mut Workspace<T>,
        params: &[Tensor],
        obs: &Tensor,
        dq: &Tensor,
        dh: Option<&Tensor>,
        grads: &[Tensor],
    ) {
        self.backward_impl(ws, params, obs, dq, dh, grads);
    }

    #[inline(always)]
    fn backward_impl<T: Real>(
        &self,
        ws: &mut Workspace<T>,
        params: &[Tensor],
        obs: &Tensor,
        dq: &Tensor,
        dh: Option<&Tensor>,
        grads: &[Tensor],
    ) {
        let size = obs.size();
        let (kc, batch) = (size[0] as usize, size[1] as usize);
        let (g_n, rows) = (self.groups, self.rows(batch));
        let width = self
            .layers
            .iter()
            .map(|l| l.d_in.max(l.d_out))
            .max()
            .unwrap_or(0);
        ws.dz.resize(rows * width, T::ZERO);
        ws.da.resize(rows * width, T::ZERO);
        let (mut dz, mut da, mut wt) = (
            std::mem::take(&mut ws.dz),
            std::mem::take(&mut ws.da),
            std::mem::take(&mut ws.wt),
        );
        // SAFETY: obs, dq and dh are only read.
        let (obs, dq, dh) = unsafe { (slice::<T>(obs), slice::<T>(dq), dh.map(|t| slice::<T>(t))) };
        let x0 = self.input(ws, obs);
        let n_layers = self.layers.len();
        let d0 = self.layers[0].d_in;
        let a_out = self.layers[n_layers - 1].d_out;
        // SAFETY: the parameters are only read; the gradient tensors are written only through
        // these slices, one disjoint block per seed and group.
        let slices: Vec<(&[T], &mut [T], &mut [T])> = self
            .layers
            .iter()
            .map(|l| unsafe {
                (
                    slice::<T>(&params[l.w]),
                    slice_mut::<T>(&grads[l.w]),
                    slice_mut::<T>(&grads[l.b]),
                )
            })
            .collect();
        let mut slices = slices;
        for k in 0..kc {
            for g in 0..g_n {
                let kg = k * g_n + g;
                dz[..rows * a_out].copy_from_slice(&dq[kg * rows * a_out..][..rows * a_out]);
                for (l, layer) in self.layers.iter().enumerate().rev() {
                    let (din, dout) = (layer.d_in, layer.d_out);
                    let input: &[T] = if l == 0 {
                        &x0[k * rows * d0..][..rows * d0]
                    } else {
                        &ws.acts[l - 1][kg * rows * din..][..rows * din]
                    };
                    let (w, gw, gb) = &mut slices[l];
                    let gw = &mut gw[kg * din * dout..][..din * dout];
                    let gb = &mut gb[kg * dout..][..dout];
                    let dzl = &dz[..rows * dout];
                    // dW = aᵀ dz.
                    gemm(
                        Dims::transposed_a(din, dout, rows),
                        input,
                        dzl,
                        gw,
                        Init::Zero,
                    );
                    // db = Σ_rows dz.
                    gb.copy_from_slice(&dzl[..dout]);
                    for r in 1..rows {
                        for (acc, &x) in gb.iter_mut().zip(&dzl[r * dout..][..dout]) {
                            *acc = *acc + x;
                        }
                    }
                    if l == 0 {
                        break;
                    }
                    // da = dz Wᵀ (W is din × dout row-major).
                    let w = &w[kg * din * dout..][..din * dout];
                    wt.resize(din * dout, T::ZERO);
                    transpose(w, din, dout, &mut wt);
                    let dal = &mut da[..rows * din];
                    gemm(Dims::dense(rows, din, dout), dzl, &wt, dal, Init::Zero);
                    if l == n_layers - 1 {
                        if let Some(dh) = dh {
                            for (x, &y) in dal.iter_mut().zip(&dh[kg * rows * din..][..rows * din])
                            {
                                *x = *x + y;
                            }
                        }
                    }
                    // Through the ReLU: a > 0 ⇔ z > 0.
                    for (x, &a) in dal.iter_mut().zip(input) {
                        // As PyTorch's threshold_backward: a ≤ 0 ↦ 0.
                        if a <= T::ZERO {
                            *x = T::ZERO;
                        }
                    }
                    std::mem::swap(&mut dz, &mut da);
                }
            }
        }
        ws.dz = dz;
        ws.da = da;
        ws.wt = wt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Method, TrainConfig};
    use crate::model::{Dims as ModelDims, Model};
    use crate::nets::ParamStore;
    use crate::rng::Rng;

    /// The engine's q, h and parameter gradients equal libtorch's autograd through
    /// `AgentNets::forward`, for separate and shared networks, with a loss that uses both q
    /// and h: f64 to relative 1e-12, f32 to 1e-4 (the two sum in different orders), with
    /// widths that exercise the 16 × 16 transposes and their edges (f32: 16, 20).
    #[test]
    fn engine_matches_autograd() {
        for (kind, tol, hidden) in [
            (Kind::Double, 1e-12, vec![8, 5]),
            (Kind::Float, 1e-4, vec![16, 20]),
        ] {
            for shared in [false, true] {
                check_engine(kind, tol, &hidden, shared);
            }
        }
    }

    fn check_engine(kind: Kind, tol: f64, hidden: &[usize], shared: bool) {
        {
            let mut cfg = TrainConfig::new("t", Method::QtranBase);
            cfg.agent.shared = shared;
            cfg.agent.hidden = hidden.to_vec();
            let hd = *hidden.last().unwrap() as i64;
            let dims = ModelDims {
                n_agents: 3,
                a_max: 4,
                n_states: 3,
            };
            let kc = 2;
            let mut store = ParamStore::new(vec![0, 5], 9, kind, Device::Cpu);
            let model = Model::new(&mut store, &cfg, dims);
            store.finish();
            let leaves = store.leaves(0, kc);
            let engine = MlpEngine::agents(&model.agents);
            let batch = 6i64;
            let mut rng = Rng::keyed(1, 1, "t");
            let states: Vec<i64> = (0..kc as i64 * batch)
                .map(|_| rng.below(3) as i64)
                .collect();
            let obs = Tensor::from_slice(&states)
                .view([kc as i64, batch])
                .one_hot(3)
                .to_kind(kind)
                .contiguous();
            // A loss using q and h non-linearly.
            let cq = Tensor::from_slice(
                &(0..kc * 3 * 6 * 4)
                    .map(|_| rng.normal())
                    .collect::<Vec<_>>(),
            )
            .view([kc as i64, 3, batch, 4])
            .to_kind(kind);
            let ch = Tensor::from_slice(
                &(0..kc * 3 * 6 * hd as usize)
                    .map(|_| rng.normal())
                    .collect::<Vec<_>>(),
            )
            .view([kc as i64, 3, batch, hd])
            .to_kind(kind);
            let loss =
                |q: &Tensor, h: &Tensor| (q * &cq).square().sum(kind) + (h * &ch).sin().sum(kind);
            // Autograd.
            let (q_ref, h_ref) = model.agents.forward(&leaves, &obs);
            let agent_idx = engine.param_indices();
            let inputs: Vec<&Tensor> = agent_idx.iter().map(|&i| &leaves[i]).collect();
            let g_ref = Tensor::run_backward(&[loss(&q_ref, &h_ref)], &inputs, false, false);
            // Engine.
            let q = Tensor::empty([kc as i64, 3, batch, 4], (kind, Device::Cpu));
            let h = Tensor::empty([kc as i64, 3, batch, hd], (kind, Device::Cpu));
            let mut ws64 = Workspace::<f64>::default();
            let mut ws32 = Workspace::<f32>::default();
            if kind == Kind::Double {
                engine.forward(&mut ws64, &leaves, &obs, &q, Some(&h));
            } else {
                engine.forward(&mut ws32, &leaves, &obs, &q, Some(&h));
            }
            let q = q.set_requires_grad(true);
            let h = h.set_requires_grad(true);
            let d = Tensor::run_backward(&[loss(&q, &h)], &[&q, &h], false, false);
            let grads: Vec<Tensor> = leaves.iter().map(|p| p.detach().zeros_like()).collect();
            let (dq, dh) = (d[0].contiguous(), d[1].contiguous());
            if kind == Kind::Double {
                engine.backward(&mut ws64, &leaves, &obs, &dq, Some(&dh), &grads);
            } else {
                engine.backward(&mut ws32, &leaves, &obs, &dq, Some(&dh), &grads);
            }
            let close = |a: &Tensor, b: &Tensor, what: &str| {
                let a =
                    Vec::<f64>::try_from(a.detach().to_kind(Kind::Double).flatten(0, -1)).unwrap();
                let b =
                    Vec::<f64>::try_from(b.detach().to_kind(Kind::Double).flatten(0, -1)).unwrap();
                assert_eq!(a.len(), b.len());
                let scale = b.iter().fold(1.0f64, |m, y| m.max(y.abs()));
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() <= tol * scale,
                        "{kind:?} shared {shared} {what}: {x} vs {y}"
                    );
                }
            };
            close(&q, &q_ref, "q");
            close(&h, &h_ref, "h");
            for (j, &i) in agent_idx.iter().enumerate() {
                close(
                    &grads[i],
                    &g_ref[j],
                    &format!("grad {}", store.specs()[i].name),
                );
            }
        }
    }
}
