//! Regressions on products of *prefix orders* ([`IsotonicSolver::solve_prefixes`]), the
//! orders of the QMIX search: unconstrained agents split the grid into independent parts, and
//! with at most two constrained agents the maximum-gain upper sets come from the staircase
//! dynamic programme on a chain × broom grid instead of minimum cuts (module docs of
//! [`crate::isotonic`]).

use super::flow::Cap;
use super::observations::Observations;
use super::order::{prefix_edges, Dag};
use super::solver::{Block, IsotonicSolver, Oracle, Work};
use crate::error::{Error, Result};
use crate::table::{increment, joint_size};

/// Cell coordinates for the grid oracle: a chain of rows times a broom of columns (base
/// chain columns `0..n_base` in order, then fan columns, each above base column `n_base − 1`).
#[derive(Debug, Default)]
pub(super) struct GridMap {
    row_of: Vec<u32>,
    col_of: Vec<u32>,
    n_cols: usize,
    n_base: usize,
}

/// What an agent's prefix means in [`IsotonicSolver::solve_prefixes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No constraint along this agent (empty prefix, at least two actions).
    Antichain,
    /// A total order (or a single action).
    Chain,
    /// A chain with at least two incomparable actions above its top.
    Broom,
}

impl IsotonicSolver {
    /// The isotonic regression on a grid `shape` (row-major, agent 1 slowest) under the
    /// product of *prefix orders*: along agent `i`, the actions `prefixes[i][0] < … <
    /// prefixes[i][k−1]` form a chain and every other action lies above `prefixes[i][k−1]`,
    /// incomparable with the other unlisted ones. A prefix of `m − 1` or `m` actions is a total
    /// order; an empty prefix leaves that agent unconstrained.
    ///
    /// Agents without constraints split the grid into independent parts. When at most two
    /// agents are constrained and at most one of them is not a total order, the
    /// maximum-gain upper set of a block is found by dynamic programming over staircases in
    /// `O(rows × columns)`: an upper set of a chain × broom grid is given by one row threshold
    /// per column, non-increasing along the base chain of columns, and each fan column's
    /// threshold is at most the top base column's. Otherwise it is a minimum cut.
    pub fn solve_prefixes<P: AsRef<[usize]>>(
        &mut self,
        shape: &[usize],
        prefixes: &[P],
        obs: &Observations,
        x: &mut [f64],
    ) -> Result<f64> {
        let n = obs.len();
        let nag = shape.len();
        if prefixes.len() != nag {
            return Err(Error::Invalid(format!(
                "{} prefixes for {nag} agents",
                prefixes.len()
            )));
        }
        if joint_size(shape) != Some(n) || x.len() != n {
            return Err(Error::Invalid(format!(
                "grid {shape:?} does not fit {n} observations and {} outputs",
                x.len()
            )));
        }
        for (i, p) in prefixes.iter().enumerate() {
            let p = p.as_ref();
            let m = shape[i];
            self.seen.clear();
            self.seen.resize(m, false);
            for &a in p {
                if a >= m || self.seen[a] {
                    return Err(Error::Invalid(format!(
                        "prefix {p:?} of agent {i} repeats an action or leaves 0..{m}"
                    )));
                }
                self.seen[a] = true;
            }
        }
        if self.trivial(obs, x) {
            return Ok(obs.sse(x));
        }
        let kind = |i: usize| {
            let (m, k) = (shape[i], prefixes[i].as_ref().len());
            if m <= 1 || k + 1 >= m {
                Kind::Chain
            } else if k == 0 {
                Kind::Antichain
            } else {
                Kind::Broom
            }
        };
        let constrained: Vec<usize> = (0..nag)
            .filter(|&i| shape[i] > 1 && kind(i) != Kind::Antichain)
            .collect();
        let brooms = constrained
            .iter()
            .filter(|&&i| kind(i) == Kind::Broom)
            .count();
        if constrained.is_empty() {
            x.copy_from_slice(&obs.y);
            return Ok(0.0);
        }
        // Strides, and the independent parts given by the unconstrained agents.
        self.coords.clear();
        self.coords.resize(2 * nag, 0); // [u, stride]
        let mut s = 1;
        for i in (0..nag).rev() {
            self.coords[nag + i] = s;
            s *= shape[i];
        }
        let core: usize = constrained.iter().map(|&i| shape[i]).product();
        let n_parts = n / core;
        self.combo.clear();
        self.counts.clear();
        self.counts.resize(n_parts + 1, 0);
        if n_parts == 1 {
            self.combo.resize(n, 0);
            self.counts[1] = n;
        } else {
            let free: Vec<usize> = (0..nag).filter(|i| !constrained.contains(i)).collect();
            self.work += (n * free.len()) as u64;
            for _ in 0..n {
                let id = free.iter().fold(0, |id, &i| id * shape[i] + self.coords[i]);
                self.combo.push(id);
                self.counts[id + 1] += 1;
                increment(&mut self.coords[..nag], shape);
            }
        }
        for p in 0..n_parts {
            self.counts[p + 1] += self.counts[p];
        }
        self.perm.clear();
        self.perm.resize(n, 0);
        self.blocks.clear();
        for p in 0..n_parts {
            let (start, end) = (self.counts[p], self.counts[p + 1]);
            self.blocks.push(Block {
                start,
                end,
                lo: f64::NEG_INFINITY,
                hi: f64::INFINITY,
            });
        }
        for k in 0..n {
            let id = self.combo[k];
            self.perm[self.counts[id]] = k;
            self.counts[id] += 1;
        }
        if constrained.len() <= 2 && brooms <= 1 {
            // Rows: a chain agent (if two are constrained); columns: the other one.
            let (ra, ca) = match constrained[..] {
                [a] => (None, a),
                [a, b] if kind(b) == Kind::Broom => (Some(a), b),
                [a, b] => (Some(b), a),
                _ => unreachable!("at most two constrained agents"),
            };
            let mut map = std::mem::take(&mut self.grid_map);
            // Position of each action along the row chain / column broom.
            self.thresholds.clear();
            self.thresholds.resize(shape[ca], u32::MAX);
            let pc = prefixes[ca].as_ref();
            for (pos, &a) in pc.iter().enumerate() {
                self.thresholds[a] = pos as u32;
            }
            map.n_cols = shape[ca];
            map.n_base = if kind(ca) == Kind::Broom {
                pc.len()
            } else {
                shape[ca]
            };
            let mut next = pc.len() as u32;
            for a in 0..shape[ca] {
                if self.thresholds[a] == u32::MAX {
                    self.thresholds[a] = next;
                    next += 1;
                }
            }
            self.arg.clear();
            if let Some(ra) = ra {
                self.arg.resize(shape[ra], u32::MAX);
                let pr = prefixes[ra].as_ref();
                for (pos, &a) in pr.iter().enumerate() {
                    self.arg[a] = pos as u32;
                }
                let mut next = pr.len() as u32;
                for a in 0..shape[ra] {
                    if self.arg[a] == u32::MAX {
                        self.arg[a] = next;
                        next += 1;
                    }
                }
            }
            map.row_of.clear();
            map.col_of.clear();
            let (sc, sr) = (
                self.coords[nag + ca],
                ra.map_or(1, |r| self.coords[nag + r]),
            );
            for k in 0..n {
                map.col_of.push(self.thresholds[(k / sc) % shape[ca]]);
                map.row_of
                    .push(ra.map_or(0, |r| self.arg[(k / sr) % shape[r]]));
            }
            self.dispatch(Oracle::Grid(&map), obs, x);
            self.grid_map = map;
        } else {
            let mut factors = std::mem::take(&mut self.factors);
            factors.resize_with(nag, Dag::default);
            for (i, f) in factors.iter_mut().enumerate() {
                prefix_edges(
                    shape[i],
                    prefixes[i].as_ref(),
                    &mut self.seen,
                    &mut self.edges,
                );
                f.rebuild(shape[i], &self.edges)?;
            }
            let mut dag = std::mem::take(&mut self.dag);
            let built = dag.set_product(shape, &factors);
            self.work += dag.n_edges() as u64;
            if built.is_ok() {
                self.dispatch(Oracle::Flow(&dag), obs, x);
            }
            self.dag = dag;
            self.factors = factors;
            built?;
        }
        Ok(obs.sse(x))
    }

    /// Maximum-gain upper set of block `b` on a chain × broom grid by dynamic programming
    /// over column thresholds; fills `in_upper`, returns the gain.
    pub(super) fn grid_upper<C: Cap>(&mut self, map: &GridMap, b: Block, work: &mut Work<C>) -> C {
        let members = &self.perm[b.start..b.end];
        self.col_stamp = self.col_stamp.wrapping_add(1);
        if self.col_stamp == 0 {
            self.col_mark.iter_mut().for_each(|m| *m = 0);
            self.col_stamp = 1;
        }
        if self.col_mark.len() < map.n_cols {
            self.col_mark.resize(map.n_cols, 0);
            self.col_local.resize(map.n_cols, 0);
        }
        let (mut r0, mut r1) = (u32::MAX, 0);
        for &k in members {
            let r = map.row_of[k];
            r0 = r0.min(r);
            r1 = r1.max(r);
            self.col_mark[map.col_of[k] as usize] = self.col_stamp;
        }
        self.col_list.clear();
        let mut nb = 0;
        for c in 0..map.n_cols {
            if self.col_mark[c] == self.col_stamp {
                self.col_local[c] = self.col_list.len() as u32;
                self.col_list.push(c as u32);
                if c < map.n_base {
                    nb += 1;
                }
            }
        }
        let nr = (r1 - r0 + 1) as usize;
        let nc = self.col_list.len();
        let h = nr + 1;
        self.work += (nc * h + map.n_cols) as u64;
        work.grid.clear();
        work.grid.resize(nc * nr, C::ZERO);
        for (i, &k) in members.iter().enumerate() {
            let c = self.col_local[map.col_of[k] as usize] as usize;
            work.grid[c * nr + (map.row_of[k] - r0) as usize] = work.caps[i];
        }
        // suffix[c][t] = Σ_{r ≥ t} grid[c][r]: the gain of rows ≥ t in column c.
        work.suffix.clear();
        work.suffix.resize(nc * h, C::ZERO);
        for c in 0..nc {
            for t in (0..nr).rev() {
                work.suffix[c * h + t] = work.suffix[c * h + t + 1] + work.grid[c * nr + t];
            }
        }
        // Base columns: G_j(t) = S_j(t) + max_{t' ≥ t} G_{j−1}(t'); sm[j] holds that suffix
        // maximum of G_j and arg its position (ties: the largest t, i.e. the smaller set).
        work.sm.clear();
        work.sm.resize(nb * h, C::ZERO);
        self.arg.clear();
        self.arg.resize(nb * h, 0);
        work.g.clear();
        work.g.resize(h, C::ZERO);
        for j in 0..nb {
            for t in 0..h {
                let prev = if j > 0 {
                    work.sm[(j - 1) * h + t]
                } else {
                    C::ZERO
                };
                work.g[t] = work.suffix[j * h + t] + prev;
            }
            work.sm[j * h + nr] = work.g[nr];
            self.arg[j * h + nr] = nr as u32;
            for t in (0..nr).rev() {
                if work.g[t] > work.sm[j * h + t + 1] {
                    work.sm[j * h + t] = work.g[t];
                    self.arg[j * h + t] = t as u32;
                } else {
                    work.sm[j * h + t] = work.sm[j * h + t + 1];
                    self.arg[j * h + t] = self.arg[j * h + t + 1];
                }
            }
        }
        // Fan columns: F_f(t) = max_{t_f ≤ t} S_f(t_f) (ties: the largest t_f).
        let nf = nc - nb;
        work.fan_total.clear();
        work.fan_total.resize(h, C::ZERO);
        self.fan_arg.clear();
        self.fan_arg.resize(nf * h, 0);
        for f in 0..nf {
            let c = nb + f;
            let mut best = work.suffix[c * h];
            let mut arg = 0;
            for t in 0..h {
                if work.suffix[c * h + t] >= best {
                    best = work.suffix[c * h + t];
                    arg = t;
                }
                self.fan_arg[f * h + t] = arg as u32;
                work.fan_total[t] = work.fan_total[t] + best;
            }
        }
        // Top base threshold, then backtrack.
        self.thresholds.clear();
        self.thresholds.resize(nc, nr as u32);
        let (gain, top) = if nb > 0 {
            let mut best = work.g[nr] + work.fan_total[nr];
            let mut top = nr;
            for t in (0..nr).rev() {
                let v = work.g[t] + work.fan_total[t];
                if v > best {
                    best = v;
                    top = t;
                }
            }
            self.thresholds[nb - 1] = top as u32;
            for j in (1..nb).rev() {
                let tj = self.thresholds[j] as usize;
                self.thresholds[j - 1] = self.arg[(j - 1) * h + tj];
            }
            (best, top)
        } else {
            (work.fan_total[nr], nr)
        };
        for f in 0..nf {
            self.thresholds[nb + f] = self.fan_arg[f * h + top];
        }
        self.in_upper.clear();
        for &k in members {
            let c = self.col_local[map.col_of[k] as usize] as usize;
            self.in_upper.push(map.row_of[k] - r0 >= self.thresholds[c]);
        }
        gain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    use super::super::test_support::{brute_minmax, random_case};
    use crate::rng::SplitMix64 as Rng;

    /// The grid dynamic programme and the minimum cut agree on prefix orders (chains, brooms
    /// and unconstrained agents), and both match the min–max formula on small grids.
    #[test]
    fn prefix_orders_grid_and_flow_agree() {
        let mut rng = Rng::new(1234);
        let mut solver = IsotonicSolver::new();
        let shapes: [&[usize]; 6] = [&[4, 4], &[3, 5], &[2, 3, 2], &[5], &[6, 7], &[3, 3, 3]];
        for shape in shapes {
            for case in 0..40 {
                let (y, w, orders) = random_case(&mut rng, shape, case % 2 == 0);
                let prefixes: Vec<Vec<usize>> = orders
                    .iter()
                    .map(|o| o[..rng.below(o.len() as u64 + 1) as usize].to_vec())
                    .collect();
                let factors: Vec<Dag> = shape
                    .iter()
                    .zip(&prefixes)
                    .map(|(&m, p)| Dag::prefix_order(m, p).unwrap())
                    .collect();
                let dag = Dag::product(shape, &factors).unwrap();
                let obs = Observations::new(y.clone(), Some(w.clone())).unwrap();
                let mut x1 = vec![0.0; y.len()];
                let mut x2 = vec![0.0; y.len()];
                let s1 = solver
                    .solve_prefixes(shape, &prefixes, &obs, &mut x1)
                    .unwrap();
                let s2 = solver.solve(&dag, &obs, &mut x2).unwrap();
                assert!(dag.is_monotone(&x1, 0.0), "{shape:?} {prefixes:?}");
                assert_abs_diff_eq!(s1, s2, epsilon = 1e-9 * (1.0 + s2));
                for k in 0..y.len() {
                    assert_abs_diff_eq!(x1[k], x2[k], epsilon = 1e-9);
                }
                if y.len() <= 12 {
                    let edges: Vec<_> = dag.edges().collect();
                    let mm = brute_minmax(&y, &w, &edges);
                    for k in 0..y.len() {
                        assert_abs_diff_eq!(x1[k], mm[k], epsilon = 1e-9);
                    }
                }
            }
        }
    }
}
