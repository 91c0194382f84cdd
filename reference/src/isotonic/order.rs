//! Partial orders as graphs: [`Dag`] (compressed sparse rows; an edge `a → b` is the
//! constraint `x_a ≤ x_b`) with its constructors for chains, products of orders and prefix
//! orders, and the permutation check shared with the QMIX search.

#[cfg(doc)]
use super::IsotonicSolver;
use crate::error::{Error, Result};
use crate::table::{increment, joint_size};

/// A directed graph in compressed sparse rows; its edges `a → b` are the constraints `x_a ≤ x_b`.
///
/// Cycles are allowed and force equality around the cycle (the order is then a preorder).
#[derive(Debug, Clone, Default)]
pub struct Dag {
    n: usize,
    offsets: Vec<usize>,
    targets: Vec<usize>,
    scratch: Vec<usize>,
}

impl Dag {
    /// A graph on `n` points with the given edges `(a, b)`, meaning `x_a ≤ x_b`.
    pub fn new(n: usize, edges: &[(usize, usize)]) -> Result<Dag> {
        let mut dag = Dag::default();
        dag.rebuild(n, edges)?;
        Ok(dag)
    }

    /// Replaces the graph by one on `n` points with the given edges, reusing the buffers.
    pub fn rebuild(&mut self, n: usize, edges: &[(usize, usize)]) -> Result<()> {
        if let Some(&(a, b)) = edges.iter().find(|&&(a, b)| a >= n || b >= n) {
            return Err(Error::Invalid(format!(
                "edge ({a}, {b}) is out of range for {n} points"
            )));
        }
        self.n = n;
        self.offsets.clear();
        self.offsets.resize(n + 1, 0);
        for &(a, _) in edges {
            self.offsets[a + 1] += 1;
        }
        for k in 0..n {
            self.offsets[k + 1] += self.offsets[k];
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.offsets[..n]);
        self.targets.clear();
        self.targets.resize(edges.len(), 0);
        for &(a, b) in edges {
            self.targets[self.scratch[a]] = b;
            self.scratch[a] += 1;
        }
        Ok(())
    }

    /// The chain `order[0] → order[1] → …` on `order.len()` points (`order` lists every point
    /// once, in ascending order).
    pub fn chain(order: &[usize]) -> Result<Dag> {
        check_permutation(order, order.len(), "a chain")?;
        let edges: Vec<(usize, usize)> = order.windows(2).map(|p| (p[0], p[1])).collect();
        Dag::new(order.len(), &edges)
    }

    /// The product order of the factors on the grid `shape` (row-major, first factor slowest),
    /// given by its cover edges: `u → v` where `v` differs from `u` in one coordinate `i` only,
    /// by an edge `u_i → v_i` of `factors[i]`.
    pub fn product(shape: &[usize], factors: &[Dag]) -> Result<Dag> {
        let mut dag = Dag::default();
        dag.set_product(shape, factors)?;
        Ok(dag)
    }

    /// [`Dag::product`] in place, reusing this graph's buffers.
    pub fn set_product(&mut self, shape: &[usize], factors: &[Dag]) -> Result<()> {
        if shape.len() != factors.len() {
            return Err(Error::Invalid(format!(
                "{} factors for a grid of {} dimensions",
                factors.len(),
                shape.len()
            )));
        }
        if let Some((i, f)) = factors.iter().enumerate().find(|(i, f)| f.n != shape[*i]) {
            return Err(Error::Invalid(format!(
                "factor {i} has {} points but the grid has {} along it",
                f.n, shape[i]
            )));
        }
        let n = joint_size(shape)
            .ok_or_else(|| Error::Invalid(format!("grid {shape:?} is too large")))?;
        let d = shape.len();
        // scratch = [u (d entries), strides (d entries)]
        self.scratch.clear();
        self.scratch.resize(2 * d, 0);
        let mut stride = 1;
        for i in (0..d).rev() {
            self.scratch[d + i] = stride;
            stride *= shape[i];
        }
        self.n = n;
        self.offsets.clear();
        self.targets.clear();
        self.offsets.push(0);
        for k in 0..n {
            for (i, f) in factors.iter().enumerate() {
                let a = self.scratch[i];
                let s = self.scratch[d + i];
                let base = k - a * s;
                for &b in f.successors(a) {
                    self.targets.push(base + b * s);
                }
            }
            self.offsets.push(self.targets.len());
            increment(&mut self.scratch[..d], shape);
        }
        Ok(())
    }

    /// The product of chains: agent `i`'s actions ascend as listed in `orders[i]`.
    pub fn product_of_chains(shape: &[usize], orders: &[Vec<usize>]) -> Result<Dag> {
        if shape.len() != orders.len() {
            return Err(Error::Invalid(format!(
                "{} orders for {} agents",
                orders.len(),
                shape.len()
            )));
        }
        let factors = orders
            .iter()
            .zip(shape)
            .map(|(o, &m)| {
                check_permutation(o, m, "an agent's order")?;
                Dag::chain(o)
            })
            .collect::<Result<Vec<_>>>()?;
        Dag::product(shape, &factors)
    }

    /// Number of points.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of edges.
    pub fn n_edges(&self) -> usize {
        self.targets.len()
    }

    /// The points `b` with an edge `a → b`.
    pub fn successors(&self, a: usize) -> &[usize] {
        &self.targets[self.offsets[a]..self.offsets[a + 1]]
    }

    /// Every edge `(a, b)`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.n).flat_map(move |a| self.successors(a).iter().map(move |&b| (a, b)))
    }

    /// True when `x` satisfies every edge up to `tol` (`x_a ≤ x_b + tol`).
    pub fn is_monotone(&self, x: &[f64], tol: f64) -> bool {
        x.len() == self.n && self.edges().all(|(a, b)| x[a] <= x[b] + tol)
    }
}

/// Checks that `order` lists each of `0..m` exactly once.
pub(crate) fn check_permutation(order: &[usize], m: usize, what: &str) -> Result<()> {
    if order.len() != m {
        return Err(Error::Invalid(format!(
            "{what} lists {} actions but there are {m}",
            order.len()
        )));
    }
    let mut seen = vec![false; m];
    for &a in order {
        if a >= m || seen[a] {
            return Err(Error::Invalid(format!(
                "{what} {order:?} is not a permutation of 0..{m}"
            )));
        }
        seen[a] = true;
    }
    Ok(())
}

/// The cover edges of a prefix order on `m` actions (see [`IsotonicSolver::solve_prefixes`]).
pub(super) fn prefix_edges(
    m: usize,
    prefix: &[usize],
    seen: &mut Vec<bool>,
    edges: &mut Vec<(usize, usize)>,
) {
    edges.clear();
    edges.extend(prefix.windows(2).map(|w| (w[0], w[1])));
    if let Some(&last) = prefix.last() {
        if prefix.len() < m {
            seen.clear();
            seen.resize(m, false);
            for &a in prefix {
                seen[a] = true;
            }
            edges.extend((0..m).filter(|&r| !seen[r]).map(|r| (last, r)));
        }
    }
}

impl Dag {
    /// The prefix order on `m` actions: `prefix[0] < … < prefix[k−1]`, every other action
    /// above `prefix[k−1]` and incomparable with the other unlisted ones (no constraint at
    /// all when `prefix` is empty).
    pub fn prefix_order(m: usize, prefix: &[usize]) -> Result<Dag> {
        let mut seen = vec![false; m];
        for &a in prefix {
            if a >= m || seen[a] {
                return Err(Error::Invalid(format!(
                    "prefix {prefix:?} repeats an action or leaves 0..{m}"
                )));
            }
            seen[a] = true;
        }
        let mut edges = Vec::new();
        prefix_edges(m, prefix, &mut seen, &mut edges);
        Dag::new(m, &edges)
    }
}
