//! The search's working state: [`Problem`], a table with reusable buffers for evaluating
//! (partial) orderings and the counters its [`Limits`] are checked against, and the
//! comparison [`improves`] that ignores ties.

use super::bounds::Group;
use crate::error::Result;
use crate::isotonic::{IsotonicSolver, Observations};
use crate::tol;
use std::time::Instant;

/// A table with reusable buffers for evaluating (partial) orderings.
pub(super) struct Problem {
    pub(super) shape: Vec<usize>,
    pub(super) obs: Observations,
    pub(super) solver: IsotonicSolver,
    pub(super) x: Vec<f64>,
    /// The local search's best ordering and its fit.
    pub(super) best_fit: Option<(Vec<Vec<usize>>, Vec<f64>)>,
    /// Per agent, its actions in groups with the sub-tables they select (see
    /// [`Problem::next_group_bound`]); empty for the first agent and before
    /// [`Problem::prepare_groups`].
    pub(super) groups: Vec<Vec<Group>>,
    pub(super) sub_prefixes: Vec<Vec<usize>>,
    pub(super) sub_x: Vec<f64>,
    pub(super) done: Vec<bool>,
    pub(super) placed_local: Vec<usize>,
    pub(super) evaluations: u64,
    /// Work done outside `solver` (the block bound's sub-problems).
    pub(super) extra_work: u64,
    pub(super) limits: Limits,
}

/// When a search stops.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) evaluations: u64,
    pub(super) work: u64,
    pub(super) deadline: Option<Instant>,
}

impl Limits {
    pub(super) const NONE: Limits = Limits {
        evaluations: u64::MAX,
        work: u64::MAX,
        deadline: None,
    };
}

impl Problem {
    pub(super) fn new(shape: Vec<usize>, obs: Observations, limits: Limits) -> Self {
        let n = obs.len();
        Problem {
            shape,
            obs,
            solver: IsotonicSolver::new(),
            x: vec![0.0; n],
            best_fit: None,
            groups: Vec::new(),
            sub_prefixes: Vec::new(),
            sub_x: Vec::new(),
            done: Vec::new(),
            placed_local: Vec::new(),
            evaluations: 0,
            extra_work: 0,
            limits,
        }
    }

    /// Work done so far, in units of [`IsotonicSolver::work`].
    pub(super) fn work(&self) -> u64 {
        self.solver.work().saturating_add(self.extra_work)
    }

    pub(super) fn exhausted(&self) -> bool {
        self.evaluations >= self.limits.evaluations
            || self.work() >= self.limits.work
            || self.limits.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// SSE of the isotonic regression under, for each agent, the chain `prefix[0] < … <
    /// prefix[k−1]` with every other action above `prefix[k−1]` (a complete order when the
    /// prefix lists every action; no constraint for that agent when it is empty).
    pub(super) fn eval(&mut self, prefixes: &[Vec<usize>]) -> Result<f64> {
        self.evaluations += 1;
        self.solver
            .solve_prefixes(&self.shape, prefixes, &self.obs, &mut self.x)
    }

    pub(super) fn strides(&self) -> Vec<usize> {
        let mut s = vec![1; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.shape[i + 1];
        }
        s
    }
}

/// `value` is below `best` by more than a tie ([`tol::tied`]); anything finite improves on an
/// infinite `best`.
pub(super) fn improves(value: f64, best: f64) -> bool {
    value < best && (best.is_infinite() || !tol::tied(value, best))
}
