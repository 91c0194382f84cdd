//! The recursive partitioning by minimum cuts (module docs of [`crate::isotonic`]): the
//! reusable workspace [`IsotonicSolver`], its regression on an arbitrary [`Dag`], and the
//! splitting loop shared with the prefix-order regressions of `prefixes.rs`.

use super::flow::{Cap, Flow, NONE};
use super::observations::Observations;
use super::order::Dag;
use super::prefixes::GridMap;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy)]
pub(super) struct Block {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) lo: f64,
    pub(super) hi: f64,
}

/// Buffers for one number type.
#[derive(Debug, Default)]
pub(super) struct Work<C> {
    flow: Flow<C>,
    pub(super) caps: Vec<C>,
    pub(super) grid: Vec<C>,
    pub(super) suffix: Vec<C>,
    pub(super) g: Vec<C>,
    pub(super) sm: Vec<C>,
    pub(super) fan_total: Vec<C>,
}

/// How the maximum-gain upper set of a block is found.
#[derive(Clone, Copy)]
pub(super) enum Oracle<'a> {
    /// Minimum cut on the block's edges of a graph.
    Flow(&'a Dag),
    /// Dynamic programming over staircases (see [`IsotonicSolver::solve_prefixes`]).
    Grid(&'a GridMap),
}

/// Reusable workspace for exact isotonic regressions (no allocation once warmed up).
#[derive(Debug, Default)]
pub struct IsotonicSolver {
    work_f: Work<f64>,
    work_i: Work<i64>,
    pub(super) perm: Vec<usize>,
    tmp: Vec<usize>,
    mark: Vec<u32>,
    local: Vec<u32>,
    stamp: u32,
    pub(super) blocks: Vec<Block>,
    pub(super) in_upper: Vec<bool>,
    pub(super) col_mark: Vec<u32>,
    pub(super) col_stamp: u32,
    pub(super) col_local: Vec<u32>,
    pub(super) col_list: Vec<u32>,
    pub(super) thresholds: Vec<u32>,
    pub(super) arg: Vec<u32>,
    pub(super) fan_arg: Vec<u32>,
    pub(super) grid_map: GridMap,
    pub(super) work: u64,
    pub(super) dag: Dag,
    pub(super) factors: Vec<Dag>,
    pub(super) edges: Vec<(usize, usize)>,
    pub(super) seen: Vec<bool>,
    pub(super) combo: Vec<usize>,
    pub(super) counts: Vec<usize>,
    pub(super) coords: Vec<usize>,
}

impl IsotonicSolver {
    /// A fresh workspace.
    pub fn new() -> IsotonicSolver {
        IsotonicSolver::default()
    }

    /// A deterministic count of the elementary steps done so far by this workspace (points
    /// visited, arcs scanned per max-flow phase, dynamic-programme cells), roughly
    /// proportional to the time spent; used for reproducible work budgets.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Writes the isotonic regression of `obs` on `dag` into `x` and returns its weighted sum
    /// of squares. If every weight is 0, `x` is the constant unweighted mean of `y`.
    pub fn solve(&mut self, dag: &Dag, obs: &Observations, x: &mut [f64]) -> Result<f64> {
        let n = obs.len();
        if dag.n() != n || x.len() != n {
            return Err(Error::Invalid(format!(
                "{} observations, {} points in the order, {} outputs",
                n,
                dag.n(),
                x.len()
            )));
        }
        if self.trivial(obs, x) {
            return Ok(obs.sse(x));
        }
        // Already monotone: the observations are their own regression.
        if dag.edges().all(|(a, b)| obs.y[a] <= obs.y[b]) {
            x.copy_from_slice(&obs.y);
            return Ok(0.0);
        }
        self.perm.clear();
        self.perm.extend(0..n);
        self.blocks.clear();
        self.blocks.push(Block {
            start: 0,
            end: n,
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
        });
        self.dispatch(Oracle::Flow(dag), obs, x);
        Ok(obs.sse(x))
    }

    /// Handles empty input and all-zero weights; true when `x` is then final.
    pub(super) fn trivial(&mut self, obs: &Observations, x: &mut [f64]) -> bool {
        let n = obs.len();
        self.work += n as u64;
        if n == 0 {
            return true;
        }
        if obs.w.iter().all(|&w| w <= 0.0) {
            let m = obs.y.iter().sum::<f64>() / n as f64;
            x.iter_mut().for_each(|v| *v = m);
            return true;
        }
        false
    }

    pub(super) fn dispatch(&mut self, oracle: Oracle<'_>, obs: &Observations, x: &mut [f64]) {
        let n = obs.len();
        if self.mark.len() < n {
            self.mark.resize(n, 0);
            self.local.resize(n, 0);
        }
        match &obs.int {
            Some(int) => {
                let mut work = std::mem::take(&mut self.work_i);
                self.partition(oracle, &int.y, &int.w, int.y_scale, &mut work, x);
                self.work_i = work;
            }
            None => {
                let mut work = std::mem::take(&mut self.work_f);
                self.partition(oracle, &obs.y, &obs.w, 1.0, &mut work, x);
                self.work_f = work;
            }
        }
    }

    /// Recursive partitioning of the blocks on `self.blocks` ([module docs](super)).
    fn partition<C: Cap>(
        &mut self,
        oracle: Oracle<'_>,
        y: &[C],
        w: &[C],
        y_scale: f64,
        work: &mut Work<C>,
        x: &mut [f64],
    ) {
        while let Some(b) = self.blocks.pop() {
            let members = &self.perm[b.start..b.end];
            self.work += members.len() as u64;
            let mut sum_w = C::ZERO;
            let mut sum_wy = C::ZERO;
            for &k in members {
                sum_w = sum_w + w[k];
                sum_wy = sum_wy + w[k].mul(y[k]);
            }
            let mu = if sum_w > C::ZERO {
                (C::ratio(sum_wy, sum_w) / y_scale).clamp(b.lo, b.hi)
            } else {
                // An all-zero block: only an initial one (splits never create them).
                free_value(b.lo, b.hi)
            };
            if members.len() == 1 || sum_w <= C::ZERO {
                for &k in members {
                    x[k] = mu;
                }
                continue;
            }
            work.caps.clear();
            let mut total = C::ZERO;
            for &k in members {
                let c = C::centred(y[k], w[k], sum_wy, sum_w);
                total = total + c.abs();
                work.caps.push(c);
            }
            let tol = C::split_tol(total);
            let size = members.len();
            let split = total > tol && {
                let gain = match oracle {
                    Oracle::Flow(dag) => self.flow_upper(dag, b, work, C::flow_eps(total)),
                    Oracle::Grid(map) => self.grid_upper(map, b, work),
                };
                let count = self.in_upper[..size].iter().filter(|&&u| u).count();
                gain > tol && count > 0 && count < size
            };
            if !split {
                for &k in &self.perm[b.start..b.end] {
                    x[k] = mu;
                }
                continue;
            }
            // Stable partition: lower part first, then the upper set.
            self.tmp.clear();
            let mut write = b.start;
            for idx in b.start..b.end {
                let k = self.perm[idx];
                if self.in_upper[idx - b.start] {
                    self.tmp.push(k);
                } else {
                    self.perm[write] = k;
                    write += 1;
                }
            }
            self.perm[write..b.end].copy_from_slice(&self.tmp);
            self.blocks.push(Block {
                start: b.start,
                end: write,
                lo: b.lo,
                hi: mu,
            });
            self.blocks.push(Block {
                start: write,
                end: b.end,
                lo: mu,
                hi: b.hi,
            });
        }
    }

    /// Maximum-gain upper set of block `b` by a minimum cut; fills `in_upper`, returns the gain.
    fn flow_upper<C: Cap>(&mut self, dag: &Dag, b: Block, work: &mut Work<C>, eps: C) -> C {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        let members = &self.perm[b.start..b.end];
        for (i, &k) in members.iter().enumerate() {
            self.mark[k] = self.stamp;
            self.local[k] = i as u32;
        }
        let size = members.len();
        let (s, t) = (size, size + 1);
        let flow = &mut work.flow;
        flow.reset(size + 2);
        for (i, &k) in members.iter().enumerate() {
            let c = work.caps[i];
            if c > C::ZERO {
                flow.add_edge(s, i, c);
            } else if c < C::ZERO {
                flow.add_edge(i, t, -c);
            }
            for &j in dag.successors(k) {
                if self.mark[j] == self.stamp && j != k {
                    flow.add_edge(i, self.local[j] as usize, C::INF);
                }
            }
        }
        self.work += flow.max_flow(s, t, eps);
        // The points still reachable from s form the minimal source side: the upper set.
        self.in_upper.clear();
        let mut gain = C::ZERO;
        for (i, &c) in work.caps.iter().enumerate() {
            let up = flow.level[i] != NONE;
            self.in_upper.push(up);
            if up {
                gain = gain + c;
            }
        }
        gain
    }
}

/// A value inside `[lo, hi]` for points whose value is free.
fn free_value(lo: f64, hi: f64) -> f64 {
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) => 0.5 * (lo + hi),
        (true, false) => lo,
        (false, true) => hi,
        (false, false) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    use super::super::test_support::{random_case, sse};
    use crate::rng::SplitMix64 as Rng;

    /// KKT on larger random inputs: monotone, every level set (component of equal values
    /// along edges) sits at its weighted mean, and no upper subset of a small level set has a
    /// positive gain (checked by enumeration); plus random feasible directions never improve.
    #[test]
    fn kkt_on_random_larger_grids() {
        let mut rng = Rng::new(99);
        let shapes: [&[usize]; 5] = [&[6, 7], &[4, 4, 3], &[10, 10], &[3, 3, 3, 2], &[21, 21]];
        let mut solver = IsotonicSolver::new();
        for shape in shapes {
            for case in 0..4 {
                let (y, w, orders) = random_case(&mut rng, shape, case % 2 == 0);
                let obs = Observations::new(y.clone(), Some(w.clone())).unwrap();
                assert_eq!(obs.is_integral(), case % 2 == 0);
                let dag = Dag::product_of_chains(shape, &orders).unwrap();
                let mut x = vec![0.0; y.len()];
                let s = solver.solve(&dag, &obs, &mut x).unwrap();
                assert_abs_diff_eq!(s, sse(&y, &w, &x), epsilon = 1e-9);
                check_kkt(&dag, &y, &w, &x);
            }
        }
    }

    fn check_kkt(dag: &Dag, y: &[f64], w: &[f64], x: &[f64]) {
        let n = y.len();
        assert!(dag.is_monotone(x, 0.0));
        // Level sets: connected components of equal values along edges.
        let mut comp = vec![usize::MAX; n];
        let mut undirected = vec![Vec::new(); n];
        for (a, b) in dag.edges() {
            if (x[a] - x[b]).abs() <= 1e-12 {
                undirected[a].push(b);
                undirected[b].push(a);
            }
        }
        let mut comps: Vec<Vec<usize>> = Vec::new();
        for s in 0..n {
            if comp[s] != usize::MAX {
                continue;
            }
            let id = comps.len();
            let mut stack = vec![s];
            comp[s] = id;
            let mut members = vec![];
            while let Some(a) = stack.pop() {
                members.push(a);
                for &b in &undirected[a] {
                    if comp[b] == usize::MAX {
                        comp[b] = id;
                        stack.push(b);
                    }
                }
            }
            comps.push(members);
        }
        for members in &comps {
            let sw: f64 = members.iter().map(|&k| w[k]).sum();
            let mean = members.iter().map(|&k| w[k] * y[k]).sum::<f64>() / sw;
            assert_abs_diff_eq!(x[members[0]], mean, epsilon = 1e-9);
            if members.len() <= 14 {
                let inside: Vec<(usize, usize)> = dag
                    .edges()
                    .filter(|&(a, b)| comp[a] == comp[members[0]] && comp[b] == comp[members[0]])
                    .collect();
                let pos = |k: usize| members.iter().position(|&m| m == k).unwrap();
                for s in 1u32..(1 << members.len()) {
                    let up = inside
                        .iter()
                        .all(|&(a, b)| s >> pos(a) & 1 == 0 || s >> pos(b) & 1 == 1);
                    if up {
                        let gain: f64 = (0..members.len())
                            .filter(|&i| s >> i & 1 == 1)
                            .map(|i| w[members[i]] * (y[members[i]] - mean))
                            .sum();
                        assert!(gain <= 1e-9, "improving split with gain {gain}");
                    }
                }
            }
        }
        // Variational inequality along feasible directions z − x, z = x + isotone bump.
        let mut rng = Rng::new(5);
        for _ in 0..20 {
            let t: f64 = rng.unit();
            let lift: Vec<f64> = x
                .iter()
                .map(|&v| if v >= t * 10.0 - 5.0 { 1.0 } else { 0.0 })
                .collect();
            let g: f64 = (0..n).map(|k| w[k] * (y[k] - x[k]) * lift[k]).sum();
            // Moving a top set up or down must not help: the gradient along it is zero when the
            // set is a union of level sets.
            assert!(
                g.abs() <= 1e-7 * (1.0 + sse(y, w, x)),
                "gradient {g} along an upper set"
            );
        }
    }

    #[test]
    fn integer_and_float_paths_agree() {
        let mut rng = Rng::new(8);
        let mut solver = IsotonicSolver::new();
        for _ in 0..30 {
            let shape = [5usize, 6];
            let (y, w, orders) = random_case(&mut rng, &shape, true);
            let dag = Dag::product_of_chains(&shape, &orders).unwrap();
            let exact = Observations::new(y.clone(), Some(w.clone())).unwrap();
            assert!(exact.is_integral());
            // Adding an irrational-ish offset forces the float path; the regression is
            // translation-equivariant.
            let shift = std::f64::consts::PI * 1e-3;
            let yf: Vec<f64> = y.iter().map(|v| v + shift).collect();
            let float = Observations::new(yf, Some(w.clone())).unwrap();
            assert!(!float.is_integral());
            let mut x1 = vec![0.0; y.len()];
            let mut x2 = vec![0.0; y.len()];
            solver.solve(&dag, &exact, &mut x1).unwrap();
            solver.solve(&dag, &float, &mut x2).unwrap();
            for k in 0..y.len() {
                assert_abs_diff_eq!(x1[k] + shift, x2[k], epsilon = 1e-9);
            }
        }
    }
}
