//! Adam and RMSprop on seed-batched parameters, with per-seed gradient clipping.
//!
//! Both optimisers are element-wise, so each seed's update depends on its own gradients only.
//! Clipping uses each seed's own global L2 norm over all of its parameters (a norm over the
//! whole batch would couple the seeds), with PyTorch's `clip_grad_norm_` formula:
//! `g ← g · min(1, c / (‖g‖ + 1e-6))`. The formulas are PyTorch's `Adam` (bias-corrected,
//! `ε` added after the square root) and `RMSprop` (`v ← αv + (1−α)g²`, `p ← p − lr·g/(√v + ε)`).
//! Their state is plain tensors, saved in checkpoints.

use crate::config::{OptimConfig, OptimiserKind};
use tch::Tensor;

/// The smallest normal float of `t`'s kind, added under square roots: `√0` takes a slow path
/// in MKL (4–5× slower than other values) and zero second moments are common (dead ReLU
/// units); the change to `√v` is below 1.1e-19 (f32), 1e-11 of `ε`.
fn tiny(t: &Tensor) -> f64 {
    match t.kind() {
        tch::Kind::Double => f64::MIN_POSITIVE,
        _ => f64::from(f32::MIN_POSITIVE),
    }
}

/// Optimiser state for one [`crate::nets::ParamStore`]'s flat buffer `[K, P]`.
pub struct Optimiser {
    cfg: OptimConfig,
    /// First moments (Adam), `[K, P]`.
    pub(crate) m: Tensor,
    /// Second moments (Adam) or squared-gradient averages (RMSprop), `[K, P]`.
    pub(crate) v: Tensor,
    /// Number of steps taken.
    pub(crate) t: i64,
}

impl Optimiser {
    /// Zero state for the flat parameters `flat: [K, P]`.
    pub fn new(cfg: &OptimConfig, flat: &Tensor) -> Self {
        Optimiser {
            cfg: cfg.clone(),
            m: flat.zeros_like().detach(),
            v: flat.zeros_like().detach(),
            t: 0,
        }
    }

    /// Per-seed gradient norms `[K]` of `flat: [K, P]`, if it has a gradient.
    pub fn grad_norms(flat: &Tensor) -> Option<Tensor> {
        let g = flat.grad();
        g.defined().then(|| {
            g.square()
                .sum_dim_intlist([1i64].as_slice(), false, g.kind())
                .sqrt()
        })
    }

    /// Clips each seed's gradient, applies one update and zeroes the gradient.
    pub fn step(&mut self, flat: &mut Tensor) {
        let g = flat.grad();
        if !g.defined() {
            return;
        }
        self.t += 1;
        let cfg = &self.cfg;
        tch::no_grad(|| {
            let g = match cfg.grad_clip {
                Some(c) => {
                    let norm = Self::grad_norms(flat).expect("invariant: gradient defined");
                    let coef = (c / (norm + 1e-6)).clamp_max(1.0).unsqueeze(1);
                    &g * coef
                }
                None => g.shallow_clone(),
            };
            match cfg.kind {
                OptimiserKind::Adam => {
                    let _ = self.m.lerp_(&g, 1.0 - cfg.beta1);
                    let _ = self.v.g_mul_scalar_(cfg.beta2);
                    let _ = self.v.addcmul_(&(&g * (1.0 - cfg.beta2)), &g);
                    let bc1 = 1.0 - cfg.beta1.powi(self.t as i32);
                    let bc2 = 1.0 - cfg.beta2.powi(self.t as i32);
                    let denom = (&self.v / bc2 + tiny(&self.v)).sqrt() + cfg.eps;
                    let _ = flat.addcdiv_(&(&self.m * (-cfg.lr / bc1)), &denom);
                }
                OptimiserKind::Rmsprop => {
                    let _ = self.v.g_mul_scalar_(cfg.rms_alpha);
                    let _ = self.v.addcmul_(&(&g * (1.0 - cfg.rms_alpha)), &g);
                    let denom = (&self.v + tiny(&self.v)).sqrt() + cfg.eps;
                    let _ = flat.addcdiv_(&(&g * -cfg.lr), &denom);
                }
            }
        });
        flat.zero_grad();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// One Adam step from zero state moves every coordinate by `lr · sign(g)` (bias
    /// correction makes `m̂ = g`, `v̂ = g²`), up to ε.
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let mut flat = Tensor::from_slice(&[1.0f64, -2.0, 3.0, 0.5])
            .view([2, 2])
            .set_requires_grad(true);
        let loss =
            (&flat * Tensor::from_slice(&[3.0f64, -1.0, 0.5, 2.0]).view([2, 2])).sum(Kind::Double);
        loss.backward();
        let mut opt = Optimiser::new(&cfg(OptimiserKind::Adam, None), &flat);
        opt.step(&mut flat);
        let after = Vec::<f64>::try_from(flat.detach().flatten(0, -1)).unwrap();
        // Exact step is lr·g/(|g| + ε): within 1e-7 of lr·sign(g) for |g| ≥ 0.5.
        let expected = [0.9, -1.9, 2.9, 0.4];
        for (a, e) in after.iter().zip(expected) {
            assert!((a - e).abs() < 1e-7, "{after:?}");
        }
        assert!(flat.grad().abs().sum(Kind::Double).double_value(&[]) < 1e-300);
    }

    /// Per-seed clipping: seed 0's gradient (norm 5) is scaled to norm 1, seed 1's (norm 0.5)
    /// is untouched, so the seeds do not affect each other.
    #[test]
    fn clipping_is_per_seed() {
        let mut flat =
            Tensor::zeros([2, 2], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true);
        let w = Tensor::from_slice(&[3.0f64, 4.0, 0.3, 0.4]).view([2, 2]);
        (&flat * &w).sum(Kind::Double).backward();
        let mut c = cfg(OptimiserKind::Rmsprop, Some(1.0));
        c.rms_alpha = 0.0; // v = (clipped g)²
        let norms = Vec::<f64>::try_from(Optimiser::grad_norms(&flat).unwrap()).unwrap();
        assert!((norms[0] - 5.0).abs() < 1e-12 && (norms[1] - 0.5).abs() < 1e-12);
        let mut opt = Optimiser::new(&c, &flat);
        opt.step(&mut flat);
        // Seed 0 is clipped to norm 1/(1 + 2e-7) ≈ 1: (0.6, 0.8); seed 1 (norm 0.5) is not.
        let v = Vec::<f64>::try_from(opt.v.flatten(0, -1)).unwrap();
        let expected = [0.36, 0.64, 0.09, 0.16];
        for (a, e) in v.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{v:?}");
        }
    }
}
