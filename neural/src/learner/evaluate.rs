//! Evaluation of every seed's networks on every state and joint action into the exact
//! reference's tables ([`SeedTables`]), the utilities alone, and QMIX's mixer gradients.

use super::Learner;
use crate::model::Mixer;
use crate::{Error, Result};
use reference::table::JointTable;
use reference::{Factorization, JointKind, Utilities};
use tch::{Device, Kind, Tensor};

/// The learned tables of one seed, per state.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedTables {
    /// The seed index.
    pub seed: usize,
    /// Per state (indexed like the game's states): the utilities, the learned joint table
    /// (`Q_tot` for VDN, QMIX and IQL's sum; `Q_jt` for QTRAN) and QTRAN's `V_jt` (0 when the
    /// `V_jt` network is off).
    pub states: Vec<Factorization>,
    /// Per state, how many transitions of each joint action (flat index, row-major) the
    /// seed's replay buffer holds at the end of training: the empirical distribution the
    /// learner last fitted its tables to (uniform in expectation under full exploration).
    pub replay_counts: Vec<Vec<f64>>,
}

impl Learner {
    /// Per state, the joint-action counts of the transitions in seed `k`'s (position in the
    /// batch) replay buffer.
    fn replay_counts(&self, k: usize) -> Vec<Vec<f64>> {
        let shape = &self.data.actions;
        let size: usize = shape.iter().product();
        let mut counts = vec![vec![0.0; size]; self.data.n_states()];
        let buf = &self.seeds[k].buffer;
        for t in 0..buf.len {
            let u = &buf.actions[t * buf.n..(t + 1) * buf.n];
            let j = u
                .iter()
                .zip(shape)
                .fold(0usize, |j, (&a, &m)| j * m + a as usize);
            counts[buf.state[t] as usize][j] += 1.0;
        }
        counts
    }

    /// Utilities `Q_i(s, ·)` of every seed in every state: `[K][S]`.
    pub fn utilities(&self) -> Result<Vec<Vec<Utilities>>> {
        let k = self.cfg.seeds as i64;
        let s = self.data.n_states() as i64;
        let q = tch::no_grad(|| {
            let obs = Tensor::eye(s, (self.kind, self.device))
                .unsqueeze(0)
                .expand([k, s, s], false);
            self.online.agents.forward(&self.params.views(), &obs).0
        });
        Ok(self.split_utilities(&q))
    }

    /// `q: [K, N, S, A]` → `[K][S]` utilities with each agent's own action count.
    fn split_utilities(&self, q: &Tensor) -> Vec<Vec<Utilities>> {
        let size = q.size();
        let (k, n, s, a) = (
            size[0] as usize,
            size[1] as usize,
            size[2] as usize,
            size[3] as usize,
        );
        let flat = Vec::<f64>::try_from(
            q.to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .flatten(0, -1),
        )
        .expect("invariant: float tensor");
        (0..k)
            .map(|kk| {
                (0..s)
                    .map(|ss| {
                        Utilities(
                            (0..n)
                                .map(|i| {
                                    let base = ((kk * n + i) * s + ss) * a;
                                    flat[base..base + self.data.actions[i]].to_vec()
                                })
                                .collect(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// Evaluates every seed's networks on every state and joint action (no gradients) into
    /// tables: utilities, the learned joint table and (QTRAN) `V_jt`. On the CPU each seed is
    /// evaluated alone, so that its tables are bit-for-bit the same whatever K is (libtorch's
    /// batched products may round differently for different batch counts); on a GPU seeds
    /// are evaluated in blocks of about 2^16 rows, so memory does not grow with K.
    pub fn evaluate(&self) -> Result<Vec<SeedTables>> {
        let k = self.cfg.seeds;
        let rows = self.data.n_states() * self.data.joint;
        let block = if self.device == Device::Cpu {
            1
        } else {
            (65_536 / rows.max(1)).clamp(1, k.max(1))
        };
        let mut out = Vec::with_capacity(k);
        for start in (0..k).step_by(block) {
            out.extend(self.evaluate_block(start, block.min(k - start))?);
        }
        Ok(out)
    }

    /// [`Learner::evaluate`] for seeds `start .. start + len`.
    fn evaluate_block(&self, start: usize, len: usize) -> Result<Vec<SeedTables>> {
        let k = len as i64;
        let s = self.data.n_states() as i64;
        let j = self.data.joint as i64;
        let n = self.data.n_agents() as i64;
        let kind = self.kind;
        let (q_states, joint, v) = tch::no_grad(|| {
            let (obs, u) = self.all_rows(k);
            let p = self.params.rows(self.params.flat(), start, len);
            let p = p.as_slice();
            let (q, h) = self.online.agents.forward(p, &obs);
            let q_taken = q.gather(3, &u.unsqueeze(-1), false).squeeze_dim(3);
            let joint = match &self.online.mixer {
                Mixer::Sum => q_taken.sum_dim_intlist([1i64].as_slice(), false, kind),
                Mixer::Qmix(m) => m.forward(p, &q_taken.permute([0, 2, 1]), &obs),
                Mixer::Qtran(nets) => {
                    let hq = nets.encode(p, &h, &u);
                    if nets.is_alt() {
                        nets.counterfactual(p, &h, &hq)
                            .gather(3, &u.unsqueeze(-1), false)
                            .squeeze_dim(3)
                            .mean_dim([1i64].as_slice(), false, kind)
                    } else {
                        nets.q_jt(p, &hq)
                    }
                }
            };
            let v = match &self.online.mixer {
                Mixer::Qtran(nets) => Some(
                    nets.v_jt(p, &h)
                        .unwrap_or_else(|| joint.zeros_like())
                        .view([k, s, j])
                        .select(2, 0),
                ),
                _ => None,
            };
            let a = q.size()[3];
            let q_states = q.view([k, n, s, j, a]).select(3, 0);
            (q_states, joint, v)
        });
        let utilities = self.split_utilities(&q_states);
        let to_vec = |t: &Tensor| {
            Vec::<f64>::try_from(
                t.to_kind(Kind::Double)
                    .to_device(Device::Cpu)
                    .flatten(0, -1),
            )
            .expect("invariant: float tensor")
        };
        let joint = to_vec(&joint);
        let v = v.as_ref().map(to_vec);
        let shape = self.data.actions.clone();
        let kind_of = if self.cfg.method.is_qtran() {
            JointKind::QJt
        } else {
            JointKind::QTot
        };
        let (ju, su) = (j as usize, s as usize);
        let mut out = Vec::with_capacity(len);
        let seed_list = self.cfg.seed_list();
        for (kk, per_state) in utilities.into_iter().enumerate() {
            let seed = seed_list[start + kk];
            let mut states = Vec::with_capacity(su);
            for (ss, utilities) in per_state.into_iter().enumerate() {
                let base = (kk * su + ss) * ju;
                let table = JointTable::new(shape.clone(), joint[base..base + ju].to_vec())
                    .map_err(|e| Error::Diverged(format!("seed {seed}: {e}")))?;
                let mut f = Factorization::new(utilities).with_joint(kind_of, table)?;
                f.v_jt = v.as_ref().map(|v| v[kk * su + ss]);
                states.push(f);
            }
            let replay_counts = self.replay_counts(start + kk);
            out.push(SeedTables {
                seed,
                states,
                replay_counts,
            });
        }
        Ok(out)
    }

    /// Every (state, joint action) row for `k` seeds, state slowest: the one-hot observations
    /// `[k, S·J, S]` and the joint actions `[k, N, S·J]`.
    fn all_rows(&self, k: i64) -> (Tensor, Tensor) {
        let s = self.data.n_states() as i64;
        let j = self.data.joint as i64;
        let n = self.data.n_agents() as i64;
        let eye = Tensor::eye(s, (self.kind, self.device));
        let obs = eye
            .repeat_interleave_self_int(j, 0, None)
            .unsqueeze(0)
            .expand([k, s * j, s], false);
        let u_flat: Vec<i64> = self
            .data
            .joint_actions
            .iter()
            .flat_map(|u| u.iter().map(|&a| a as i64))
            .collect();
        let u = Tensor::from_slice(&u_flat)
            .view([j, n])
            .transpose(0, 1)
            .repeat([1, s])
            .unsqueeze(0)
            .expand([k, n, s * j], false)
            .contiguous()
            .to_device(self.device);
        (obs, u)
    }

    /// `∂Q_tot/∂Q_i` by autograd at every state and joint action for every seed (QMIX only):
    /// `[K][S·J][N]`, rows state-major. `None` for methods without a mixer.
    pub fn mixer_gradients(&self) -> Option<Vec<Vec<Vec<f64>>>> {
        let Mixer::Qmix(m) = &self.online.mixer else {
            return None;
        };
        let k = self.cfg.seeds as i64;
        let s = self.data.n_states() as i64;
        let j = self.data.joint as i64;
        let n = self.data.n_agents() as i64;
        let (obs, u) = self.all_rows(k);
        let p = self.params.views();
        let q = tch::no_grad(|| self.online.agents.forward(&p, &obs).0);
        let q_taken = q
            .gather(3, &u.unsqueeze(-1), false)
            .squeeze_dim(3)
            .permute([0, 2, 1])
            .contiguous()
            .detach()
            .set_requires_grad(true);
        let q_tot = m.forward(&p, &q_taken, &obs);
        let grads = Tensor::run_backward(&[q_tot.sum(self.kind)], &[&q_taken], false, false);
        let g = grads.into_iter().next()?;
        let flat = Vec::<f64>::try_from(
            g.to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .flatten(0, -1),
        )
        .ok()?;
        let (ku, rows, nu) = (k as usize, (s * j) as usize, n as usize);
        Some(
            (0..ku)
                .map(|kk| {
                    (0..rows)
                        .map(|r| flat[(kk * rows + r) * nu..(kk * rows + r + 1) * nu].to_vec())
                        .collect()
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::Learner;
    use super::SeedTables;
    use crate::config::{Method, Precision, TrainConfig};
    use reference::io::load_builtin;
    use reference::{Game, JointKind};
    use tch::Device;

    /// A small configuration (as the integration tests' `tiny`), trained 0 steps.
    fn tiny(method: Method, seeds: usize) -> TrainConfig {
        let mut c = TrainConfig::new("test", method);
        c.seeds = seeds;
        c.steps = 0;
        c.device = "cpu".into();
        c.threads = Some(1);
        c.precision = Precision::F64;
        c.agent.hidden = vec![16, 16];
        c.qmix.mixing_embed = 8;
        c.qmix.hypernet_embed = 16;
        c.qtran.joint_hidden = vec![16];
        c.learning_starts = 16;
        c.batch_size = 8;
        c.buffer_size = 64;
        c
    }

    fn learner(game: &Game, method: Method, seeds: usize) -> Learner {
        let mut l = Learner::new(game, &tiny(method, seeds), Device::Cpu).unwrap();
        l.run_until(0, &mut |_| {}).unwrap();
        assert_eq!(l.steps_done(), 0);
        l
    }

    /// Every seed, in order, with one factorization per state shaped like the game, whose
    /// joint table is of `kind`.
    fn check_shapes(l: &Learner, tables: &[SeedTables], kind: JointKind) {
        let d = l.data();
        assert_eq!(tables.len(), l.seeds());
        let seeds: Vec<usize> = tables.iter().map(|t| t.seed).collect();
        assert_eq!(seeds, l.config().seed_list());
        for t in tables {
            assert_eq!(t.states.len(), d.n_states());
            for f in &t.states {
                assert_eq!(f.utilities.shape(), d.actions);
                let joint = f.joint.as_ref().expect("a joint table");
                assert_eq!(joint.kind, kind);
                assert_eq!(joint.table.shape(), d.actions.as_slice());
                assert!(joint.table.values().iter().all(|x| x.is_finite()));
            }
        }
    }

    #[test]
    fn every_method_evaluates_into_tables_of_the_games_shape() {
        for name in ["paper-table1", "two-step"] {
            let game = load_builtin(name).unwrap();
            for method in Method::ALL {
                let l = learner(&game, method, 3);
                let kind = if method.is_qtran() {
                    JointKind::QJt
                } else {
                    JointKind::QTot
                };
                check_shapes(&l, &l.evaluate().unwrap(), kind);
            }
        }
    }

    #[test]
    fn qtran_has_q_jt_and_v_jt() {
        let game = load_builtin("two-step").unwrap();
        for method in [Method::QtranBase, Method::QtranAlt] {
            let l = learner(&game, method, 2);
            let tables = l.evaluate().unwrap();
            check_shapes(&l, &tables, JointKind::QJt);
            for f in tables.iter().flat_map(|t| &t.states) {
                assert!(f.v_jt.is_some_and(f64::is_finite), "{method:?}: V_jt");
            }
        }
    }

    #[test]
    fn vdn_q_tot_is_the_sum_of_the_utilities() {
        let game = load_builtin("two-step").unwrap();
        let l = learner(&game, Method::Vdn, 3);
        let tables = l.evaluate().unwrap();
        check_shapes(&l, &tables, JointKind::QTot);
        let d = l.data();
        for f in tables.iter().flat_map(|t| &t.states) {
            assert!(f.v_jt.is_none());
            let table = &f.joint.as_ref().unwrap().table;
            for u in &d.joint_actions {
                let sum: f64 = u
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| f.utilities.0[i][a])
                    .sum();
                assert!((table.get(u) - sum).abs() < 1e-5, "{u:?}");
            }
        }
    }

    #[test]
    fn utilities_agree_with_the_evaluated_tables() {
        let game = load_builtin("two-step").unwrap();
        let l = learner(&game, Method::Qmix, 2);
        let tables = l.evaluate().unwrap();
        let utilities = l.utilities().unwrap();
        assert_eq!(utilities.len(), tables.len());
        for (per_state, t) in utilities.iter().zip(&tables) {
            assert_eq!(per_state.len(), t.states.len());
            for (u, f) in per_state.iter().zip(&t.states) {
                for (a, b) in u.0.iter().flatten().zip(f.utilities.0.iter().flatten()) {
                    assert!((a - b).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn mixer_gradients_only_for_qmix_and_monotone() {
        let game = load_builtin("two-step").unwrap();
        assert!(learner(&game, Method::Vdn, 1).mixer_gradients().is_none());
        let l = learner(&game, Method::Qmix, 2);
        let g = l.mixer_gradients().expect("QMIX has a mixer");
        let d = l.data();
        assert_eq!(g.len(), 2);
        for per_seed in &g {
            assert_eq!(per_seed.len(), d.n_states() * d.joint);
            for row in per_seed {
                assert_eq!(row.len(), d.n_agents());
                assert!(row.iter().all(|&x| x.is_finite() && x >= 0.0), "{row:?}");
            }
        }
    }
}
