//! Minimum cuts: the numbers a cut is computed in ([`Cap`]: `f64` with tolerances, or exact
//! `i64`) and Dinic's maximum flow on reusable buffers ([`Flow`]).

use super::{FLOW_RELATIVE_TOL, SPLIT_RELATIVE_TOL};
use std::ops::{Add, Neg, Sub};

/// Numbers a cut can be computed in: `f64` (with tolerances) or `i64` (exact).
pub(super) trait Cap:
    Copy + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Neg<Output = Self> + Default
{
    const ZERO: Self;
    /// A capacity larger than every finite cut.
    const INF: Self;
    /// The split weight `w (y − mean)` of a point (any positive multiple of it).
    fn centred(y: Self, w: Self, sum_wy: Self, sum_w: Self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// Residual-capacity tolerance for a block whose capacities sum to `total`.
    fn flow_eps(total: Self) -> Self;
    /// Gain a split must exceed, for a block whose capacities sum to `total`.
    fn split_tol(total: Self) -> Self;
    /// `w · y` for sums.
    fn mul(self, other: Self) -> Self;
    /// The weighted mean `sum_wy / sum_w` as a float, before undoing any scaling.
    fn ratio(sum_wy: Self, sum_w: Self) -> f64;
}

impl Cap for f64 {
    const ZERO: f64 = 0.0;
    const INF: f64 = f64::INFINITY;
    fn centred(y: f64, w: f64, sum_wy: f64, sum_w: f64) -> f64 {
        w * (y - sum_wy / sum_w)
    }
    fn abs(self) -> f64 {
        f64::abs(self)
    }
    fn flow_eps(total: f64) -> f64 {
        total * FLOW_RELATIVE_TOL
    }
    fn split_tol(total: f64) -> f64 {
        total * SPLIT_RELATIVE_TOL
    }
    fn mul(self, other: f64) -> f64 {
        self * other
    }
    fn ratio(sum_wy: f64, sum_w: f64) -> f64 {
        sum_wy / sum_w
    }
}

impl Cap for i64 {
    const ZERO: i64 = 0;
    const INF: i64 = 1 << 61;
    fn centred(y: i64, w: i64, sum_wy: i64, sum_w: i64) -> i64 {
        w * (sum_w * y - sum_wy)
    }
    fn abs(self) -> i64 {
        i64::abs(self)
    }
    fn flow_eps(_: i64) -> i64 {
        0
    }
    fn split_tol(_: i64) -> i64 {
        0
    }
    fn mul(self, other: i64) -> i64 {
        self * other
    }
    fn ratio(sum_wy: i64, sum_w: i64) -> f64 {
        sum_wy as f64 / sum_w as f64
    }
}

pub(super) const NONE: u32 = u32::MAX;

/// Dinic's maximum flow on reusable buffers.
#[derive(Debug, Default)]
pub(super) struct Flow<C> {
    head: Vec<u32>,
    next: Vec<u32>,
    to: Vec<u32>,
    cap: Vec<C>,
    pub(super) level: Vec<u32>,
    iter: Vec<u32>,
    queue: Vec<u32>,
    path: Vec<u32>,
}

impl<C: Cap> Flow<C> {
    pub(super) fn reset(&mut self, n: usize) {
        self.head.clear();
        self.head.resize(n, NONE);
        self.next.clear();
        self.to.clear();
        self.cap.clear();
    }

    pub(super) fn add_edge(&mut self, a: usize, b: usize, c: C) {
        let e = self.to.len() as u32;
        self.to.push(b as u32);
        self.cap.push(c);
        self.next.push(self.head[a]);
        self.head[a] = e;
        self.to.push(a as u32);
        self.cap.push(C::ZERO);
        self.next.push(self.head[b]);
        self.head[b] = e + 1;
    }

    /// Levels by breadth-first search over residual arcs, stopping as soon as `t` is labelled;
    /// true when `t` is reached. After the last call of a maximum flow (which does not reach
    /// `t`), the points with a level are the minimal source side.
    fn bfs(&mut self, s: usize, t: usize, eps: C) -> bool {
        self.level.clear();
        self.level.resize(self.head.len(), NONE);
        self.queue.clear();
        self.level[s] = 0;
        self.queue.push(s as u32);
        let mut qi = 0;
        while qi < self.queue.len() {
            let u = self.queue[qi] as usize;
            qi += 1;
            let mut e = self.head[u];
            while e != NONE {
                let v = self.to[e as usize] as usize;
                if self.level[v] == NONE && self.cap[e as usize] > eps {
                    self.level[v] = self.level[u] + 1;
                    if v == t {
                        // Every point nearer than t is labelled already; farther ones are
                        // on no shortest path.
                        return true;
                    }
                    self.queue.push(v as u32);
                }
                e = self.next[e as usize];
            }
        }
        self.level[t] != NONE
    }

    /// Returns its work: arcs and points scanned per phase (breadth-first search and
    /// blocking flow) plus the arcs walked by augmentations.
    pub(super) fn max_flow(&mut self, s: usize, t: usize, eps: C) -> u64 {
        let mut phases = 1;
        // Arcs walked by augmentations (beyond the one scan of every arc per phase).
        let mut walked = 0u64;
        while self.bfs(s, t, eps) {
            phases += 1;
            self.iter.clear();
            self.iter.extend_from_slice(&self.head);
            self.path.clear();
            let mut u = s;
            loop {
                if u == t {
                    walked += 2 * self.path.len() as u64;
                    let mut f = C::INF;
                    for &e in &self.path {
                        let c = self.cap[e as usize];
                        if c < f {
                            f = c;
                        }
                    }
                    for &e in &self.path {
                        let e = e as usize;
                        self.cap[e] = self.cap[e] - f;
                        self.cap[e ^ 1] = self.cap[e ^ 1] + f;
                    }
                    // Retreat to the tail of the first saturated arc.
                    let k = self
                        .path
                        .iter()
                        .position(|&e| self.cap[e as usize] <= eps)
                        .unwrap_or(0);
                    self.path.truncate(k);
                    u = match self.path.last() {
                        Some(&e) => self.to[e as usize] as usize,
                        None => s,
                    };
                    continue;
                }
                let mut advanced = false;
                while self.iter[u] != NONE {
                    let e = self.iter[u] as usize;
                    let v = self.to[e] as usize;
                    if self.cap[e] > eps && self.level[v] == self.level[u].wrapping_add(1) {
                        self.path.push(e as u32);
                        u = v;
                        advanced = true;
                        break;
                    }
                    self.iter[u] = self.next[e];
                }
                if !advanced {
                    if u == s {
                        break;
                    }
                    self.level[u] = NONE - 1; // dead end for this phase
                    let e = self
                        .path
                        .pop()
                        .expect("invariant: a non-source point has a path")
                        as usize;
                    u = self.to[e ^ 1] as usize;
                    self.iter[u] = self.next[e];
                }
            }
        }
        phases * (self.to.len() + self.head.len()) as u64 + walked
    }
}
