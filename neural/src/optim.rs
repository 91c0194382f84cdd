//! Adam and RMSprop on seed-batched parameters, with per-seed gradient clipping.
//!
//! Both optimisers are element-wise, so each seed's update depends on its own gradients only.
//! Clipping uses each seed's own global L2 norm over all of its parameters (a norm over the
//! whole batch would couple the seeds), with PyTorch's `clip_grad_norm_` formula:
//! `g ← g · min(1, c / (‖g‖ + 1e-6))`. The update formulas are PyTorch's (`torch.optim.Adam`,
//! single-tensor path: `m ← m + (1−β1)(g − m)`, `v ← β2·v + (1−β2)·g²`,
//! `p ← p − (lr/bc1) · m / (√v/√bc2 + ε)`; `torch.optim.RMSprop`: `v ← αv + (1−α)g²`,
//! `p ← p − lr·g/(√v + ε)`). Parameters whose gradient is undefined (unused by the loss) are
//! skipped, as PyTorch skips parameters whose `.grad` is `None`.
//!
//! The state (`m`, `v`) is laid out like the parameters' flat buffer
//! ([`crate::nets::ParamStore`]), so a chunk of seeds updates a contiguous row range of each
//! parameter block. On the CPU the update is one fused pass per seed over its parameters
//! ([`update_rows`], plain Rust over the tensors' memory: norm, clip, moments and parameter in
//! one read and one write of each value, instead of a dozen whole-buffer tensor operations,
//! compiled for AVX-512 or AVX2 as [`crate::simd::level`] allows, with the same results);
//! on other devices the same formulas run as tensor operations ([`update_rows_tensors`]). The
//! two agree to rounding (tested).

use crate::config::{OptimConfig, OptimiserKind};
use tch::{Device, Kind, Tensor};

/// Optimiser state for one [`crate::nets::ParamStore`]'s flat buffer.
pub struct Optimiser {
    cfg: OptimConfig,
    /// First moments (Adam), laid out like the parameters.
    pub(crate) m: Tensor,
    /// Second moments (Adam) or squared-gradient averages (RMSprop), laid out likewise.
    pub(crate) v: Tensor,
    /// Number of steps taken.
    pub(crate) t: i64,
}

/// The scalar coefficients of one update step, shared by every seed.
#[derive(Debug, Clone, Copy)]
pub struct StepCoefs {
    kind: OptimiserKind,
    clip: Option<f64>,
    beta1: f64,
    beta2: f64,
    rms_alpha: f64,
    eps: f64,
    lr: f64,
    /// Adam: `lr / (1 − β1^t)`.
    step_size: f64,
    /// Adam: `√(1 − β2^t)`.
    bc2_sqrt: f64,
}

impl Optimiser {
    /// Zero state for the flat parameters `flat`.
    pub fn new(cfg: &OptimConfig, flat: &Tensor) -> Self {
        Optimiser {
            cfg: cfg.clone(),
            m: flat.zeros_like().detach(),
            v: flat.zeros_like().detach(),
            t: 0,
        }
    }

    /// Counts one more step and returns its coefficients (call once per gradient step, before
    /// updating the seeds' chunks).
    pub fn begin_step(&mut self) -> StepCoefs {
        self.t += 1;
        let c = &self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        StepCoefs {
            kind: c.kind,
            clip: c.grad_clip,
            beta1: c.beta1,
            beta2: c.beta2,
            rms_alpha: c.rms_alpha,
            eps: c.eps,
            lr: c.lr,
            step_size: c.lr / bc1,
            bc2_sqrt: bc2.sqrt(),
        }
    }

    /// Per-seed gradient norms `[K]` over every parameter (gradients `[K, …]` each; undefined
    /// ones are skipped).
    pub fn grad_norms(grads: &[Tensor]) -> Option<Tensor> {
        let mut total: Option<Tensor> = None;
        for g in grads.iter().filter(|g| g.defined()) {
            let s = g
                .flatten(1, -1)
                .square()
                .sum_dim_intlist([1i64].as_slice(), false, g.kind());
            total = Some(match total {
                None => s,
                Some(t) => t + s,
            });
        }
        total.map(|t| t.sqrt())
    }
}

/// Applies one step to a chunk of seeds: `params`, `m`, `v` are the chunk's views
/// `[Kc, shape…]` of the parameters and optimiser state (contiguous, see
/// [`crate::nets::ParamStore::rows`]) and `grads` the matching gradients. Picks the fused CPU
/// kernel when everything is on the CPU, else the tensor path.
pub fn update(c: &StepCoefs, params: &[Tensor], m: &[Tensor], v: &[Tensor], grads: &[Tensor]) {
    let on_cpu = params.first().is_some_and(|p| p.device() == Device::Cpu);
    if on_cpu {
        update_rows(c, params, m, v, grads);
    } else {
        update_rows_tensors(c, params, m, v, grads);
    }
}

/// One parameter's rows, as raw slices' base pointers and the elements per seed.
struct Block<T> {
    p: *mut T,
    m: *mut T,
    v: *mut T,
    g: *const T,
    n: usize,
    /// Keeps a contiguous copy of the gradient alive when the original was not contiguous.
    _g_owner: Tensor,
}

/// Floating-point element types of the fused kernel.
trait Float: Copy + 'static {
    const KIND: Kind;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn sqrt(self) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
}

macro_rules! impl_float {
    ($t:ty, $k:expr) => {
        impl Float for $t {
            const KIND: Kind = $k;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self + o
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self - o
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self * o
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self / o
            }
        }
    };
}
impl_float!(f32, Kind::Float);
impl_float!(f64, Kind::Double);

/// The fused CPU update of a chunk (see [`update`]). Each seed's gradient norm is accumulated
/// in f64 over 8 interleaved partial sums in a fixed order, so it is reproducible and does not
/// depend on the chunk size or on SIMD width; the element-wise updates use only IEEE-exact
/// operations (no fused multiply-add), so they are the same scalar or vectorised.
pub fn update_rows(c: &StepCoefs, params: &[Tensor], m: &[Tensor], v: &[Tensor], grads: &[Tensor]) {
    match params.first().map(Tensor::kind) {
        Some(Kind::Float) => fused::<f32>(c, params, m, v, grads),
        Some(Kind::Double) => fused::<f64>(c, params, m, v, grads),
        Some(_) => update_rows_tensors(c, params, m, v, grads),
        None => {}
    }
}

fn fused<T: Float>(c: &StepCoefs, params: &[Tensor], m: &[Tensor], v: &[Tensor], grads: &[Tensor]) {
    let Some(rows) = params.first().map(|p| p.size()[0] as usize) else {
        return;
    };
    let mut blocks: Vec<Block<T>> = Vec::with_capacity(params.len());
    for (((p, m), v), g) in params.iter().zip(m).zip(v).zip(grads) {
        if !g.defined() {
            continue;
        }
        let g = g.contiguous();
        let n = p.numel() / rows.max(1);
        debug_assert!(p.is_contiguous() && m.is_contiguous() && v.is_contiguous());
        debug_assert!(p.kind() == T::KIND && g.kind() == T::KIND && g.numel() == p.numel());
        blocks.push(Block {
            p: p.data_ptr() as *mut T,
            m: m.data_ptr() as *mut T,
            v: v.data_ptr() as *mut T,
            g: g.data_ptr() as *const T,
            n,
            _g_owner: g,
        });
    }
    for r in 0..rows {
        let coef = match c.clip {
            Some(clip) => {
                let mut sq = 0.0f64;
                for b in &blocks {
                    // SAFETY: `g` points to a live contiguous tensor of `rows · n` elements of
                    // type T (checked kind and size above); row r lies inside it.
                    let g = unsafe { std::slice::from_raw_parts(b.g.add(r * b.n), b.n) };
                    sq += sum_squares(g);
                }
                (clip / (sq.sqrt() + 1e-6)).min(1.0)
            }
            None => 1.0,
        };
        for b in &blocks {
            // SAFETY: p, m, v are contiguous views of `rows · n` elements of type T owned by
            // the caller's tensors for the duration of this call; the chunk's rows are not
            // accessed by any other thread (chunks are disjoint row ranges), and the four
            // slices do not overlap (distinct tensors).
            let (p, m, v, g) = unsafe {
                (
                    std::slice::from_raw_parts_mut(b.p.add(r * b.n), b.n),
                    std::slice::from_raw_parts_mut(b.m.add(r * b.n), b.n),
                    std::slice::from_raw_parts_mut(b.v.add(r * b.n), b.n),
                    std::slice::from_raw_parts(b.g.add(r * b.n), b.n),
                )
            };
            apply_row(c, T::from_f64(coef), p, m, v, g);
        }
    }
}

/// `Σ x²` in f64 with 8 partial sums (combined pairwise at the end), a fixed order (the same
/// whether or not the compiler vectorises it).
fn sum_squares<T: Float>(x: &[T]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::level() >= crate::simd::Level::Avx512 {
            // SAFETY: the CPU supports AVX-512F (`simd::level` never exceeds the CPU's level).
            return unsafe { sum_squares_avx512(x) };
        }
    }
    sum_squares_generic(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_squares_avx512<T: Float>(x: &[T]) -> f64 {
    sum_squares_generic(x)
}

#[inline(always)]
fn sum_squares_generic<T: Float>(x: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for ch in &mut chunks {
        for (a, &e) in acc.iter_mut().zip(ch) {
            let e = e.to_f64();
            *a += e * e;
        }
    }
    for (a, &e) in acc.iter_mut().zip(chunks.remainder()) {
        let e = e.to_f64();
        *a += e * e;
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

#[inline]
fn apply_row<T: Float>(c: &StepCoefs, coef: T, p: &mut [T], m: &mut [T], v: &mut [T], g: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::Level;
        // SAFETY (both): the CPU supports the level's features (`simd::level` never exceeds
        // the CPU's level; Avx2Fma includes AVX2).
        match crate::simd::level() {
            Level::Avx512 => return unsafe { apply_row_avx512(c, coef, p, m, v, g) },
            Level::Avx2Fma => return unsafe { apply_row_avx2(c, coef, p, m, v, g) },
            Level::Portable => {}
        }
    }
    apply_row_generic(c, coef, p, m, v, g);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn apply_row_avx512<T: Float>(
    c: &StepCoefs,
    coef: T,
    p: &mut [T],
    m: &mut [T],
    v: &mut [T],
    g: &[T],
) {
    apply_row_generic(c, coef, p, m, v, g);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn apply_row_avx2<T: Float>(
    c: &StepCoefs,
    coef: T,
    p: &mut [T],
    m: &mut [T],
    v: &mut [T],
    g: &[T],
) {
    apply_row_generic(c, coef, p, m, v, g);
}

/// The element-wise update of one seed's row of one parameter (inlined into the
/// feature-specific wrappers so that the compiler vectorises it for each).
#[inline(always)]
fn apply_row_generic<T: Float>(
    c: &StepCoefs,
    coef: T,
    p: &mut [T],
    m: &mut [T],
    v: &mut [T],
    g: &[T],
) {
    let n = p.len();
    let (m, v, g) = (&mut m[..n], &mut v[..n], &g[..n]);
    match c.kind {
        OptimiserKind::Adam => {
            let w1 = T::from_f64(1.0 - c.beta1);
            let b2 = T::from_f64(c.beta2);
            let w2 = T::from_f64(1.0 - c.beta2);
            let bc2_sqrt = T::from_f64(c.bc2_sqrt);
            let eps = T::from_f64(c.eps);
            let step = T::from_f64(c.step_size);
            for i in 0..n {
                let gi = g[i].mul(coef);
                // torch.lerp(m, g, w) with w < 0.5: m + w·(g − m).
                let mi = m[i].add(w1.mul(gi.sub(m[i])));
                // v·β2 + (1 − β2)·g·g (addcmul).
                let vi = v[i].mul(b2).add(w2.mul(gi).mul(gi));
                let denom = vi.sqrt().div(bc2_sqrt).add(eps);
                p[i] = p[i].sub(step.mul(mi).div(denom));
                m[i] = mi;
                v[i] = vi;
            }
        }
        OptimiserKind::Rmsprop => {
            let a = T::from_f64(c.rms_alpha);
            let wa = T::from_f64(1.0 - c.rms_alpha);
            let eps = T::from_f64(c.eps);
            let lr = T::from_f64(c.lr);
            for i in 0..n {
                let gi = g[i].mul(coef);
                let vi = v[i].mul(a).add(wa.mul(gi).mul(gi));
                let denom = vi.sqrt().add(eps);
                p[i] = p[i].sub(lr.mul(gi).div(denom));
                v[i] = vi;
            }
        }
    }
}

/// The same update as [`update_rows`] with tensor operations (any device), without host
/// synchronisation.
pub fn update_rows_tensors(
    c: &StepCoefs,
    params: &[Tensor],
    m: &[Tensor],
    v: &[Tensor],
    grads: &[Tensor],
) {
    tch::no_grad(|| {
        let coef = match (c.clip, Optimiser::grad_norms(grads)) {
            (Some(clip), Some(norm)) => Some((clip / (norm + 1e-6)).clamp_max(1.0)),
            _ => None,
        };
        for (((p, m), v), g) in params.iter().zip(m).zip(v).zip(grads) {
            if !g.defined() {
                continue;
            }
            let g = match &coef {
                Some(coef) => {
                    let mut shape = vec![-1i64];
                    shape.extend(std::iter::repeat_n(1, g.dim() - 1));
                    g * coef.view(shape.as_slice())
                }
                None => g.shallow_clone(),
            };
            let (mut p, mut m, mut v) = (p.shallow_clone(), m.shallow_clone(), v.shallow_clone());
            match c.kind {
                OptimiserKind::Adam => {
                    let _ = m.lerp_(&g, 1.0 - c.beta1);
                    let _ = v.g_mul_scalar_(c.beta2);
                    let _ = v.addcmul_(&(&g * (1.0 - c.beta2)), &g);
                    let denom = v.sqrt() / c.bc2_sqrt + c.eps;
                    let _ = p.addcdiv_(&(&m * -c.step_size), &denom);
                }
                OptimiserKind::Rmsprop => {
                    let _ = v.g_mul_scalar_(c.rms_alpha);
                    let _ = v.addcmul_(&(&g * (1.0 - c.rms_alpha)), &g);
                    let denom = v.sqrt() + c.eps;
                    let _ = p.addcdiv_(&(&g * -c.lr), &denom);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use tch::{Kind, Tensor};

    fn cfg(kind: OptimiserKind, clip: Option<f64>) -> OptimConfig {
        OptimConfig {
            kind,
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            rms_alpha: 0.99,
            eps: 1e-8,
            grad_clip: clip,
        }
    }

    fn vals(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).flatten(0, -1)).unwrap()
    }

    /// Views of a flat buffer as consecutive `[k, shape…]` parameter blocks.
    fn split(t: &Tensor, k: i64, shapes: &[&[i64]]) -> Vec<Tensor> {
        let mut off = 0;
        shapes
            .iter()
            .map(|s| {
                let n: i64 = s.iter().product();
                let mut shape = vec![k];
                shape.extend_from_slice(s);
                let v = t.narrow(0, off, k * n).view(shape.as_slice());
                off += k * n;
                v
            })
            .collect()
    }

    /// One Adam step from zero state moves every coordinate by `lr · sign(g)` (bias
    /// correction makes `m̂ = g`, `v̂ = g²`), up to ε.
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let flat = Tensor::from_slice(&[1.0f64, -2.0, 3.0, 0.5]);
        let p = flat.view([2, 2]);
        let g = Tensor::from_slice(&[3.0f64, -1.0, 0.5, 2.0]).view([2, 2]);
        let mut opt = Optimiser::new(&cfg(OptimiserKind::Adam, None), &flat);
        let c = opt.begin_step();
        update(
            &c,
            &[p.shallow_clone()],
            &[opt.m.view([2, 2])],
            &[opt.v.view([2, 2])],
            &[g],
        );
        // Exact step is lr·g/(|g| + ε): within 1e-7 of lr·sign(g) for |g| ≥ 0.5.
        let expected = [0.9, -1.9, 2.9, 0.4];
        for (a, e) in vals(&flat).iter().zip(expected) {
            assert!((a - e).abs() < 1e-7, "{:?}", vals(&flat));
        }
    }

    /// Per-seed clipping: seed 0's gradient (norm 5) is scaled to norm 1, seed 1's (norm 0.5)
    /// is untouched, so the seeds do not affect each other.
    #[test]
    fn clipping_is_per_seed() {
        let flat = Tensor::zeros([4], (Kind::Double, tch::Device::Cpu));
        let g = Tensor::from_slice(&[3.0f64, 4.0, 0.3, 0.4]).view([2, 2]);
        let norms = vals(&Optimiser::grad_norms(&[g.shallow_clone()]).unwrap());
        assert!((norms[0] - 5.0).abs() < 1e-12 && (norms[1] - 0.5).abs() < 1e-12);
        let mut c = cfg(OptimiserKind::Rmsprop, Some(1.0));
        c.rms_alpha = 0.0; // v = (clipped g)²
        for fused in [true, false] {
            let mut opt = Optimiser::new(&c, &flat);
            let coefs = opt.begin_step();
            let (p, m, v) = (flat.view([2, 2]), opt.m.view([2, 2]), opt.v.view([2, 2]));
            if fused {
                update_rows(&coefs, &[p], &[m], &[v], &[g.shallow_clone()]);
            } else {
                update_rows_tensors(&coefs, &[p], &[m], &[v], &[g.shallow_clone()]);
            }
            // Seed 0 is clipped to norm 1/(1 + 2e-7) ≈ 1: (0.6, 0.8); seed 1 (norm 0.5) is not.
            let expected = [0.36, 0.64, 0.09, 0.16];
            for (a, e) in vals(&opt.v).iter().zip(expected) {
                assert!((a - e).abs() < 1e-6, "fused {fused}: {:?}", vals(&opt.v));
            }
        }
    }

    /// The fused CPU kernel and the tensor path give the same parameters and moments over
    /// several steps, for both optimisers, with and without clipping, over several parameters
    /// of different sizes (one unused), in f64 (relative tolerance 1e-12: the two differ only
    /// in the summation order of the norms and the association of a few products) and f32
    /// (1e-5).
    #[test]
    fn fused_kernel_matches_tensor_operations() {
        let shapes: [&[i64]; 4] = [&[2, 3, 5], &[2, 1, 5], &[7], &[4, 4]];
        for kind in [Kind::Double, Kind::Float] {
            for opt_kind in [OptimiserKind::Adam, OptimiserKind::Rmsprop] {
                for clip in [Some(0.7), None] {
                    let k = 3i64;
                    let total: i64 = shapes.iter().map(|s| k * s.iter().product::<i64>()).sum();
                    let mut rng = Rng::keyed(1, 2, "test");
                    let init: Vec<f64> = (0..total).map(|_| rng.normal()).collect();
                    let flat_a = Tensor::from_slice(&init).to_kind(kind);
                    let flat_b = flat_a.copy();
                    let c = cfg(opt_kind, clip);
                    let mut oa = Optimiser::new(&c, &flat_a);
                    let mut ob = Optimiser::new(&c, &flat_b);
                    let split = |t: &Tensor| split(t, k, &shapes);
                    for _ in 0..4 {
                        let grads: Vec<Tensor> = split(&flat_a)
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                if i == 2 {
                                    Tensor::new() // unused parameter: skipped
                                } else {
                                    let n = p.numel();
                                    let g: Vec<f64> = (0..n).map(|_| 3.0 * rng.normal()).collect();
                                    Tensor::from_slice(&g)
                                        .to_kind(kind)
                                        .view(p.size().as_slice())
                                }
                            })
                            .collect();
                        let ca = oa.begin_step();
                        update_rows(&ca, &split(&flat_a), &split(&oa.m), &split(&oa.v), &grads);
                        let cb = ob.begin_step();
                        update_rows_tensors(
                            &cb,
                            &split(&flat_b),
                            &split(&ob.m),
                            &split(&ob.v),
                            &grads,
                        );
                    }
                    let tol = if kind == Kind::Double { 1e-12 } else { 1e-5 };
                    for (a, b) in [(&flat_a, &flat_b), (&oa.m, &ob.m), (&oa.v, &ob.v)] {
                        for (x, y) in vals(a).iter().zip(vals(b)) {
                            assert!(
                                (x - y).abs() <= tol * (1.0 + y.abs()),
                                "{kind:?} {opt_kind:?} {clip:?}: {x} vs {y}"
                            );
                        }
                    }
                    // The unused parameter (block 2) kept its initial values.
                    let unused = vals(&split(&flat_a)[2]);
                    let start = (k * 30 + k * 10) as usize;
                    for (x, y) in unused.iter().zip(&init[start..start + unused.len()]) {
                        assert!((x - y).abs() <= tol * (1.0 + y.abs()));
                    }
                }
            }
        }
    }

    /// The fused kernel gives bit-for-bit the same parameters and moments at every SIMD level
    /// this CPU supports (portable and the detected one, forced with `simd::with_level`): both
    /// optimisers, with and without clipping, f32 and f64, rows long enough for the vector
    /// loops and with remainders (1 003, 37, 5 elements per seed).
    #[test]
    fn fused_kernel_is_identical_at_every_simd_level() {
        use crate::simd::{self, Level};
        let shapes: [&[i64]; 3] = [&[1003], &[37], &[5]];
        let k = 3i64;
        for kind in [Kind::Double, Kind::Float] {
            for opt_kind in [OptimiserKind::Adam, OptimiserKind::Rmsprop] {
                for clip in [Some(0.7), None] {
                    let c = cfg(opt_kind, clip);
                    let total: i64 = shapes.iter().map(|s| k * s[0]).sum();
                    let run = |level: Level| {
                        let mut rng = Rng::keyed(4, 2, "simd");
                        let init: Vec<f64> = (0..total).map(|_| rng.normal()).collect();
                        let flat = Tensor::from_slice(&init).to_kind(kind);
                        let mut opt = Optimiser::new(&c, &flat);
                        let split = |t: &Tensor| split(t, k, &shapes);
                        for _ in 0..4 {
                            let grads: Vec<Tensor> = split(&flat)
                                .iter()
                                .map(|p| {
                                    let g: Vec<f64> =
                                        (0..p.numel()).map(|_| 3.0 * rng.normal()).collect();
                                    Tensor::from_slice(&g)
                                        .to_kind(kind)
                                        .view(p.size().as_slice())
                                })
                                .collect();
                            let coefs = opt.begin_step();
                            simd::with_level(level, || {
                                update_rows(
                                    &coefs,
                                    &split(&flat),
                                    &split(&opt.m),
                                    &split(&opt.v),
                                    &grads,
                                );
                            });
                        }
                        [&flat, &opt.m, &opt.v]
                            .iter()
                            .flat_map(|t| vals(t).into_iter().map(f64::to_bits))
                            .collect::<Vec<u64>>()
                    };
                    let portable = run(Level::Portable);
                    for level in Level::ALL.into_iter().filter(|l| l.supported()) {
                        assert!(
                            run(level) == portable,
                            "{level} differs from portable: {kind:?} {opt_kind:?} {clip:?}"
                        );
                    }
                }
            }
        }
    }
}
