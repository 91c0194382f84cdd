//! TD targets and each method's loss (see the module docs of [`super`]).

use super::chunk::Chunk;
use super::step::{Batch, Ctx};
use crate::config::Method;
use crate::model::Mixer;
use tch::{Kind, Tensor};

/// Per-seed mean over dimension 1.
fn mean_b(t: Tensor, k: Kind) -> Tensor {
    t.mean_dim([1i64].as_slice(), false, k)
}

/// Per-seed mean over dimensions 1 and 2.
fn mean_nb(t: Tensor, k: Kind) -> Tensor {
    t.mean_dim([1i64, 2].as_slice(), false, k)
}

impl Ctx<'_> {
    /// Targets `[Kc, B]` (`[Kc, N, B]` for IQL), without gradients.
    pub(super) fn targets(&self, chunk: &Chunk, b: &Batch) -> Tensor {
        tch::no_grad(|| {
            if !b.bootstrap {
                return if self.cfg.method == Method::Iql {
                    b.r.unsqueeze(1)
                        .expand([-1, self.data.n_agents() as i64, -1], false)
                } else {
                    b.r.shallow_clone()
                };
            }
            let pt = &chunk.target;
            let (qt, ht) = self.target.agents.forward(pt, &b.obs2);
            let ubar = if self.cfg.double_q {
                let (q, _) = self.online.agents.forward(&chunk.params, &b.obs2);
                self.masked(chunk, &q, -1e30).argmax(3, false)
            } else {
                self.masked(chunk, &qt, -1e30).argmax(3, false)
            };
            let q_at = qt.gather(3, &ubar.unsqueeze(-1), false).squeeze_dim(3); // [K, N, B]
            let k = self.kind;
            let next = match (&self.target.mixer, self.cfg.method) {
                (_, Method::Iql) => q_at,
                (Mixer::Sum, _) => q_at.sum_dim_intlist([1i64].as_slice(), false, k),
                (Mixer::Qmix(m), _) => m.forward(pt, &q_at.permute([0, 2, 1]), &b.obs2),
                (Mixer::Qtran(nets), _) => {
                    let hq = nets.encode(pt, &ht, &ubar);
                    if nets.is_alt() {
                        nets.counterfactual(pt, &ht, &hq)
                            .gather(3, &ubar.unsqueeze(-1), false)
                            .squeeze_dim(3)
                            .mean_dim([1i64].as_slice(), false, k)
                    } else {
                        nets.q_jt(pt, &hq)
                    }
                }
            };
            let (r, nd) = if self.cfg.method == Method::Iql {
                (b.r.unsqueeze(1), b.not_done.unsqueeze(1))
            } else {
                (b.r.shallow_clone(), b.not_done.shallow_clone())
            };
            r + nd * next * self.data.gamma
        })
    }

    /// Each seed's loss `[Kc]` from the agent networks' outputs `q: [Kc, N, B, A]` and
    /// `h: [Kc, N, B, H]` (needed by QTRAN only) and, when the engine computed them, QMIX's
    /// hypernetwork outputs, with gradients w.r.t. the chunk's leaves.
    pub(super) fn loss(
        &self,
        chunk: &Chunk,
        b: &Batch,
        q: &Tensor,
        h: Option<&Tensor>,
        hyper: Option<&[Tensor; 4]>,
    ) -> Tensor {
        let k = self.kind;
        let y = self.targets(chunk, b);
        let p = chunk.params.as_slice();
        let q_taken = q.gather(3, &b.u.unsqueeze(-1), false).squeeze_dim(3); // [K, N, B]
        match (&self.online.mixer, self.cfg.method) {
            (_, Method::Iql) => (q_taken - y)
                .square()
                .mean_dim([2i64].as_slice(), false, k)
                .sum_dim_intlist([1i64].as_slice(), false, k),
            (Mixer::Sum, _) => mean_b(
                (q_taken.sum_dim_intlist([1i64].as_slice(), false, k) - y).square(),
                k,
            ),
            (Mixer::Qmix(m), _) => {
                let qt = q_taken.permute([0, 2, 1]);
                let q_tot = match hyper {
                    Some(hy) => m.mix(&qt, hy),
                    None => m.forward(p, &qt, &b.obs),
                };
                mean_b((q_tot - y).square(), k)
            }
            (Mixer::Qtran(nets), _) => {
                let h = h.expect("invariant: QTRAN's loss is given h");
                let lo = self.cfg.qtran.lambda_opt;
                let ln = self.cfg.qtran.lambda_nopt;
                let qm = self.masked(chunk, q, -1e30);
                let ubar = qm.argmax(3, false).detach(); // [K, N, B]
                let q_prime_bar =
                    qm.amax([3i64].as_slice(), false)
                        .sum_dim_intlist([1i64].as_slice(), false, k); // [K, B]
                let q_prime = q_taken.sum_dim_intlist([1i64].as_slice(), false, k); // [K, B]
                let v = nets.v_jt(p, h).unwrap_or_else(|| q_prime.zeros_like()); // [K, B]
                let hq = nets.encode(p, h, &b.u);
                if nets.is_alt() {
                    let cf = nets.counterfactual(p, h, &hq); // [K, N, B, A]
                    let q_jt_i = cf.gather(3, &b.u.unsqueeze(-1), false).squeeze_dim(3);
                    let l_td = mean_nb((q_jt_i - y.unsqueeze(1)).square(), k);
                    let cf_bar =
                        tch::no_grad(|| nets.counterfactual(p, h, &nets.encode(p, h, &ubar)));
                    let q_hat_bar = cf_bar.gather(3, &ubar.unsqueeze(-1), false).squeeze_dim(3);
                    let l_opt = mean_nb(
                        (q_prime_bar.unsqueeze(1) - q_hat_bar + v.unsqueeze(1)).square(),
                        k,
                    );
                    let others = q_prime.unsqueeze(1) - &q_taken; // Σ_{j≠i} Q_j(u_j): [K, N, B]
                    let d = q + others.unsqueeze(-1) - cf.detach() + v.unsqueeze(1).unsqueeze(-1);
                    let d_min = self.masked(chunk, &d, 1e30).amin([3i64].as_slice(), false);
                    let l_nopt = mean_nb(d_min.square(), k);
                    l_td + l_opt * lo + l_nopt * ln
                } else {
                    let q_jt = nets.q_jt(p, &hq);
                    let l_td = mean_b((&q_jt - y).square(), k);
                    let q_hat_bar = tch::no_grad(|| nets.q_jt(p, &nets.encode(p, h, &ubar)));
                    let l_opt = mean_b((q_prime_bar - q_hat_bar + &v).square(), k);
                    let l_nopt = mean_b((q_prime - q_jt.detach() + v).clamp_max(0.0).square(), k);
                    l_td + l_opt * lo + l_nopt * ln
                }
            }
        }
    }
}
