//! Global least-squares projection onto QMIX's monotonic class.
//!
//! With free utilities, QMIX's class is every table that is monotone non-decreasing in each
//! agent's action under some total order `π_i` of that agent's actions (`DOMAIN.md`). The
//! projection of `Q` (weights `w ≥ 0`, uniform by default) is therefore
//!
//! $$ \min_{\pi_1,\dots,\pi_N} \; \min_{x \text{ isotone on } \pi_1\times\dots\times\pi_N} \sum_u w(u)\,(Q(u) - x(u))^2 , $$
//!
//! an isotonic regression ([`super::isotonic`]) for each of the `∏ |U_i|!` orderings. The
//! problem is not convex; this module searches the orderings exactly where it can and says so
//! in [`QmixProjection::exact`].
//!
//! # Exact search
//!
//! Orders are built as *prefixes* (lowest actions first), one action at a time, agent by
//! agent (agent 1's order is completed before agent 2's begins; measured to prune at least
//! as well as taking agents in turn, and it keeps every two-agent relaxation a chain × broom
//! product, which [`IsotonicSolver::solve_prefixes`] solves without flows). A node fixes, for each agent, a chain `p_1 < … < p_k` with every remaining action
//! above `p_k`: a partial order contained in every completion's total order. The isotonic
//! regression under the product of these partial orders has fewer constraints than any
//! completion, so its SSE is a **lower bound** on the subtree; a subtree whose bound is not
//! below the incumbent (up to [`tol::tied`]) is pruned. The incumbent comes from a multi-start
//! local search. Tiny problems (at most [`ENUMERATION_MAX_ORDERINGS`] orderings) are
//! enumerated leaf by leaf without bounds.
//!
//! Two reductions shrink the tree; both map any ordering to a canonical one that is no worse:
//!
//! - **Dominated actions.** If agent `i`'s actions `a`, `b` have equal weights in every column
//!   `u_{−i}` and `Q(b, u_{−i}) ≤ Q(a, u_{−i})` wherever that weight is positive, some optimal
//!   ordering puts `b` below `a`: if `a` is below `b` in `π`, swap their positions and swap the
//!   two slices of the optimal `x`; the result is isotone under the new ordering and changes
//!   the cost by `−2 Σ w (x_b − x_a)(Q_a − Q_b) ≤ 0`. Identical slices are ordered by index.
//!   The relation is a strict partial order and each such swap removes an inversion with
//!   respect to a linear extension of it, so repeated swaps reach an ordering respecting all
//!   of them.
//! - **Symmetric agents.** If swapping agents `i < j` (same action count) leaves `Q` and the
//!   weights unchanged, the orderings `(…π_i…π_j…)` and `(…π_j…π_i…)` have the same cost; the
//!   swaps generate permutations within classes of such agents, so only orderings with
//!   `π_i ≤ π_j` lexicographically within each class are searched. Dominance relations are
//!   the same for symmetric agents, so both reductions hold together.
//!
//! Comparisons in these reductions are exact (no tolerance), so they never merge actions that
//! merely look alike.
//!
//! # Limits
//!
//! The search counts isotonic regressions (complete or partial orderings) in
//! [`QmixProjection::orderings_evaluated`]. By default it stops after
//! [`DEFAULT_WORK_BUDGET`] units of [`IsotonicSolver::work`] (a deterministic count of
//! elementary steps, about 5–8 s of one core), which keeps the result reproducible;
//! [`QmixOptions::max_orderings`] replaces that budget by a number of regressions, and an
//! explicit [`QmixOptions::time_limit`] adds a wall-clock limit (and with it, run-to-run
//! variation on problems that hit it). Problems with more than
//! [`BRANCH_AND_BOUND_MAX_ORDERINGS`] orderings skip the tree and run the local search only. A result that is not proven optimal is
//! labelled [`METHOD_LOCAL_SEARCH`], with `exact = false` and, when one is available, a valid
//! [`QmixProjection::lower_bound`]: the smallest bound of the subtrees left open, and the
//! *block bound*: partition each agent's actions into small groups; the sub-grids formed by
//! one group per agent partition the table, and any table monotone under some orders is
//! monotone on each sub-grid under the induced orders, so the sum of the sub-grids' exact
//! projections is at most the optimal SSE.

use super::isotonic::{check_permutation, Dag, IsotonicSolver, Observations};
use crate::error::{Error, Result};
use crate::table::JointTable;
use crate::tol;
use std::time::{Duration, Instant};

/// Method label: every canonical ordering's isotonic regression was computed.
pub const METHOD_ENUMERATION: &str = "enumeration";
/// Method label: branch-and-bound over orderings completed (exact).
pub const METHOD_BRANCH_AND_BOUND: &str = "branch-and-bound";
/// Method label: best ordering found by local search and any search cut short by the budget
/// (enumeration or branch-and-bound); not proven optimal.
pub const METHOD_LOCAL_SEARCH: &str = "local search (heuristic)";
/// Method label: one agent; sorting its actions by value fits the table exactly.
pub const METHOD_SORT: &str = "sort (1 agent)";
/// Method label of [`project_qmix_with_orders`]: the isotonic regression under given orders.
pub const METHOD_GIVEN_ORDERS: &str = "given ordering";

/// Problems with at most this many orderings are enumerated without bounds.
pub const ENUMERATION_MAX_ORDERINGS: u128 = 720;

/// Problems with more orderings than this skip the branch-and-bound (it could not finish
/// within any sensible budget; 2 agents × 11 actions is below it, 2 × 12 above).
pub const BRANCH_AND_BOUND_MAX_ORDERINGS: u128 = 10_000_000_000_000_000;

/// Default budget of a projection in units of [`IsotonicSolver::work`] (measured at
/// 1.2–2·10⁸ units per second on one core, so about 5–8 s).
pub const DEFAULT_WORK_BUDGET: u64 = 1_000_000_000;

/// Most regressions for one block of the block bound (blocks not solved exactly within it
/// make their grouping count for nothing).
const BLOCK_MAX_EVALUATIONS: u64 = 20_000;

/// Local-search starts drawn at random (after the deterministic ones).
const RANDOM_STARTS: usize = 4;

/// Options of [`project_qmix`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QmixOptions {
    /// Non-negative weight per joint action (row-major); `None` is uniform. Cells of weight 0
    /// are free.
    pub weights: Option<Vec<f64>>,
    /// Wall-clock limit of the search; `None` is none (the work budget still applies).
    pub time_limit: Option<Duration>,
    /// Most isotonic regressions to compute (instead of the default work budget
    /// [`DEFAULT_WORK_BUDGET`], which applies when `None`).
    pub max_orderings: Option<u64>,
}

/// The QMIX projection of a joint table and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct QmixProjection {
    /// The projected table: monotone under `orders`.
    pub q_tot: JointTable,
    /// Each agent's actions in ascending order.
    pub orders: Vec<Vec<usize>>,
    /// Weighted sum of squares `Σ w (Q − q_tot)²`.
    pub sse: f64,
    /// `sse / Σ w`.
    pub mse: f64,
    /// True when `q_tot` is proven to be the global projection onto the monotonic class
    /// (optimal over every ordering, up to [`tol::TIE_TOL`] relative).
    pub exact: bool,
    /// `∏ |U_i|!`, saturating at `u128::MAX`.
    pub orderings_total: u128,
    /// Isotonic regressions computed (complete orderings and partial ones alike).
    pub orderings_evaluated: u64,
    /// A valid lower bound on the optimal SSE, when known (`Some(sse)` when exact).
    pub lower_bound: Option<f64>,
    /// How the result was obtained (one of the `METHOD_*` labels).
    pub method: String,
}

/// `∏ |U_i|!`, saturating at `u128::MAX`.
pub fn orderings_total(shape: &[usize]) -> u128 {
    let mut t: u128 = 1;
    for &m in shape {
        for k in 2..=m as u128 {
            t = t.saturating_mul(k);
        }
    }
    t
}

/// True when `table` is non-decreasing along every agent's `orders[i]` (differences checked
/// with [`tol::non_negative`]). False when the orders do not fit the table.
pub fn is_monotone(table: &JointTable, orders: &[Vec<usize>]) -> bool {
    let shape = table.shape();
    if orders.len() != shape.len()
        || orders
            .iter()
            .zip(shape)
            .any(|(o, &m)| check_permutation(o, m, "order").is_err())
    {
        return false;
    }
    let Ok(dag) = Dag::product_of_chains(shape, orders) else {
        return false;
    };
    let v = table.values();
    let monotone = dag
        .edges()
        .all(|(a, b)| tol::non_negative(v[b] - v[a], tol::scale(v[a], v[b])));
    monotone
}

/// The isotonic regression of `q` under the given orders (`orders[i]` lists agent `i`'s
/// actions ascending): the exact projection onto the tables monotone under *these* orders.
/// Its `exact` is false and its `method` is [`METHOD_GIVEN_ORDERS`], because other orderings
/// may fit better.
pub fn project_qmix_with_orders(
    q: &JointTable,
    orders: &[Vec<usize>],
    weights: Option<&[f64]>,
) -> Result<QmixProjection> {
    let obs = observations(q, weights)?;
    let shape = q.shape();
    if orders.len() != shape.len() {
        return Err(Error::Invalid(format!(
            "{} orders for {} agents",
            orders.len(),
            shape.len()
        )));
    }
    for (i, (o, &m)) in orders.iter().zip(shape).enumerate() {
        check_permutation(o, m, &format!("agent {}'s order", i + 1))?;
    }
    let mut p = Problem::new(shape.to_vec(), obs, Limits::NONE);
    p.eval(orders)?;
    finish(&p, q, orders.to_vec(), false, None, METHOD_GIVEN_ORDERS)
}

/// The global least-squares projection of `q` onto QMIX's monotonic class (see the module
/// docs for the search, its guarantees and its limits).
pub fn project_qmix(q: &JointTable, opts: &QmixOptions) -> Result<QmixProjection> {
    let obs = observations(q, opts.weights.as_deref())?;
    let shape = q.shape().to_vec();
    let limits = Limits {
        evaluations: opts.max_orderings.unwrap_or(u64::MAX),
        work: if opts.max_orderings.is_some() {
            u64::MAX
        } else {
            DEFAULT_WORK_BUDGET
        },
        deadline: opts.time_limit.and_then(|d| Instant::now().checked_add(d)),
    };
    let total = orderings_total(&shape);

    if shape.len() == 1 {
        // x = Q is monotone once the actions are sorted by value.
        let v = q.values();
        let mut order: Vec<usize> = (0..shape[0]).collect();
        order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
        let mut p = Problem::new(shape, obs, Limits::NONE);
        let orders = vec![order];
        p.eval(&orders)?;
        return finish(&p, q, orders, true, Some(0.0), METHOD_SORT);
    }

    let mut p = Problem::new(shape.clone(), obs, limits);
    let structure = Structure::analyze(&p);

    // A truncated enumeration leaves a candidate for the heuristic path below.
    let mut candidate: Option<(Vec<Vec<usize>>, f64)> = None;
    if total <= ENUMERATION_MAX_ORDERINGS {
        if let Some(st) = &structure {
            let mut tree = Tree::new(&mut p, st, false, f64::INFINITY, vec![]);
            tree.run()?;
            let (exact, best, orders) = (!tree.aborted, tree.best_sse, tree.best_orders.clone());
            if exact {
                return finish(&p, q, orders, true, Some(best), METHOD_ENUMERATION);
            }
            if !orders.is_empty() {
                candidate = Some((orders, best));
            }
        }
    }

    let (mut best_orders, mut best_sse) = multi_start_local_search(&mut p)?;
    if let Some((orders, sse)) = candidate {
        if improves(sse, best_sse) {
            (best_orders, best_sse) = (orders, sse);
        }
    }
    let mut frontier_bound = None;
    if total > ENUMERATION_MAX_ORDERINGS && total <= BRANCH_AND_BOUND_MAX_ORDERINGS {
        if let Some(st) = &structure {
            p.prepare_pairs(&best_orders)?;
            let mut tree = Tree::new(&mut p, st, true, best_sse, best_orders.clone());
            tree.run()?;
            let aborted = tree.aborted;
            let frontier = tree.frontier;
            if tree.best_sse < best_sse {
                best_sse = tree.best_sse;
                best_orders = tree.best_orders.clone();
            }
            if !aborted {
                return finish(
                    &p,
                    q,
                    best_orders,
                    true,
                    Some(best_sse),
                    METHOD_BRANCH_AND_BOUND,
                );
            }
            frontier_bound = Some(frontier.min(best_sse));
        }
    }
    let block = block_bound(&p, &best_orders)?;
    let lower_bound = match (frontier_bound, block) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
    .map(|lb| lb.min(best_sse));
    finish(&p, q, best_orders, false, lower_bound, METHOD_LOCAL_SEARCH)
}

fn observations(q: &JointTable, weights: Option<&[f64]>) -> Result<Observations> {
    if let Some(w) = weights {
        if w.len() != q.len() {
            return Err(Error::Invalid(format!(
                "{} weights for a table of {} joint actions",
                w.len(),
                q.len()
            )));
        }
    }
    let obs = Observations::new(q.values().to_vec(), weights.map(<[f64]>::to_vec))?;
    if obs.total_weight() <= 0.0 {
        return Err(Error::Invalid("the weights sum to zero".into()));
    }
    Ok(obs)
}

/// Recomputes the regression under `orders` and packages the result.
fn finish(
    p: &Problem,
    q: &JointTable,
    orders: Vec<Vec<usize>>,
    exact: bool,
    lower_bound: Option<f64>,
    method: &str,
) -> Result<QmixProjection> {
    let mut x = vec![0.0; q.len()];
    let sse = IsotonicSolver::new().solve_prefixes(q.shape(), &orders, &p.obs, &mut x)?;
    let mse = sse / p.obs.total_weight();
    Ok(QmixProjection {
        q_tot: JointTable::new(q.shape().to_vec(), x)?,
        orders,
        sse,
        mse,
        exact,
        orderings_total: orderings_total(q.shape()),
        orderings_evaluated: p.evaluations,
        lower_bound: if exact { Some(sse) } else { lower_bound },
        method: method.to_string(),
    })
}

/// A table with reusable buffers for evaluating (partial) orderings.
struct Problem {
    shape: Vec<usize>,
    obs: Observations,
    solver: IsotonicSolver,
    x: Vec<f64>,
    /// Per agent, its actions in pairs with the sub-tables they select (see `bound`).
    pairs: Vec<Option<Vec<Pair>>>,
    sub_prefixes: Vec<Vec<usize>>,
    sub_x: Vec<f64>,
    evaluations: u64,
    limits: Limits,
}

/// When a search stops.
#[derive(Debug, Clone, Copy)]
struct Limits {
    evaluations: u64,
    work: u64,
    deadline: Option<Instant>,
}

impl Limits {
    const NONE: Limits = Limits {
        evaluations: u64::MAX,
        work: u64::MAX,
        deadline: None,
    };
}

impl Problem {
    fn new(shape: Vec<usize>, obs: Observations, limits: Limits) -> Self {
        let n = obs.len();
        Problem {
            shape,
            obs,
            solver: IsotonicSolver::new(),
            x: vec![0.0; n],
            pairs: Vec::new(),
            sub_prefixes: Vec::new(),
            sub_x: Vec::new(),
            evaluations: 0,
            limits,
        }
    }

    fn exhausted(&self) -> bool {
        self.evaluations >= self.limits.evaluations
            || self.solver.work() >= self.limits.work
            || self.limits.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// SSE of the isotonic regression under, for each agent, the chain `prefix[0] < … <
    /// prefix[k−1]` with every other action above `prefix[k−1]` (a complete order when the
    /// prefix lists every action; no constraint for that agent when it is empty).
    fn eval(&mut self, prefixes: &[Vec<usize>]) -> Result<f64> {
        self.evaluations += 1;
        self.solver
            .solve_prefixes(&self.shape, prefixes, &self.obs, &mut self.x)
    }

    /// A lower bound for every completion of `prefixes` while agent `i`'s order is being
    /// built and every later agent is still free: the *pair bound* when pairs are prepared for
    /// agent `i + 1`, else the plain relaxation [`Problem::eval`].
    ///
    /// Pair bound: agent `i + 1`'s actions are split into pairs `{b, b'}` (and at most one
    /// single). Any completion orders each pair one way or the other, and its SSE restricted
    /// to the cells with `u_{i+1} ∈ {b, b'}` is at least that sub-table's regression under the
    /// node's prefix orders and that orientation. So the sum over the pairs of the smaller of
    /// the two orientations' SSEs is a lower bound, never below the plain relaxation's.
    fn bound(&mut self, prefixes: &[Vec<usize>], i: usize) -> Result<f64> {
        let next = i + 1;
        let usable = next < self.shape.len()
            && prefixes[next..].iter().all(Vec::is_empty)
            && self.pairs.get(next).is_some_and(Option::is_some);
        if !usable {
            return self.eval(prefixes);
        }
        let pairs = self.pairs[next].take().expect("invariant: checked above");
        self.sub_prefixes.clone_from(&prefixes.to_vec());
        let mut total = 0.0;
        let mut result = Ok(());
        for pair in &pairs {
            self.sub_x.resize(pair.obs.len(), 0.0);
            let mut best = f64::INFINITY;
            let orientations: &[&[usize]] = if pair.shape[next] == 2 {
                &[&[0], &[1]]
            } else {
                &[&[]]
            };
            for &o in orientations {
                self.sub_prefixes[next].clear();
                self.sub_prefixes[next].extend_from_slice(o);
                self.evaluations += 1;
                match self.solver.solve_prefixes(
                    &pair.shape,
                    &self.sub_prefixes,
                    &pair.obs,
                    &mut self.sub_x,
                ) {
                    Ok(v) => best = best.min(v),
                    Err(e) => result = Err(e),
                }
            }
            total += best;
        }
        self.pairs[next] = Some(pairs);
        result.map(|()| total)
    }

    /// Prepares the pair bound for every agent after the first: pairs chosen greedily by
    /// their conflict under the incumbent `orders` (the smaller SSE of the two orientations
    /// of the pair's sub-table with every other agent ordered as in `orders`), largest first.
    fn prepare_pairs(&mut self, orders: &[Vec<usize>]) -> Result<()> {
        let nag = self.shape.len();
        self.pairs = vec![None; nag];
        for agent in 1..nag {
            let m = self.shape[agent];
            if m < 3 {
                continue; // one pair is the whole agent: no gain over the plain bound
            }
            let mut scored = Vec::new();
            for b in 0..m {
                for b2 in b + 1..m {
                    let pair = Pair::new(self, agent, &[b, b2])?;
                    let mut sub = orders.to_vec();
                    let mut best = f64::INFINITY;
                    for o in [vec![0, 1], vec![1, 0]] {
                        sub[agent] = o;
                        self.sub_x.resize(pair.obs.len(), 0.0);
                        let v = self.solver.solve_prefixes(
                            &pair.shape,
                            &sub,
                            &pair.obs,
                            &mut self.sub_x,
                        )?;
                        self.evaluations += 1;
                        best = best.min(v);
                    }
                    scored.push((best, b, b2));
                }
            }
            scored.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
            let mut used = vec![false; m];
            let mut pairs = Vec::new();
            for &(_, b, b2) in &scored {
                if !used[b] && !used[b2] {
                    used[b] = true;
                    used[b2] = true;
                    pairs.push(Pair::new(self, agent, &[b, b2])?);
                }
            }
            if let Some(single) = (0..m).find(|&a| !used[a]) {
                pairs.push(Pair::new(self, agent, &[single])?);
            }
            self.pairs[agent] = Some(pairs);
        }
        Ok(())
    }

    fn strides(&self) -> Vec<usize> {
        let mut s = vec![1; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.shape[i + 1];
        }
        s
    }
}

/// The sub-table of the cells whose action of one agent is in a small set.
#[derive(Debug, Clone)]
struct Pair {
    shape: Vec<usize>,
    obs: Observations,
}

impl Pair {
    fn new(p: &Problem, agent: usize, actions: &[usize]) -> Result<Pair> {
        let mut shape = p.shape.clone();
        shape[agent] = actions.len();
        let strides = p.strides();
        let n: usize = shape.iter().product();
        let (mut y, mut w) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut u = vec![0usize; shape.len()];
        for _ in 0..n {
            let k: usize = (0..u.len())
                .map(|i| if i == agent { actions[u[i]] } else { u[i] } * strides[i])
                .sum();
            y.push(p.obs.y()[k]);
            w.push(p.obs.w()[k]);
            crate::table::increment(&mut u, &shape);
        }
        Ok(Pair {
            shape,
            obs: Observations::new(y, Some(w))?,
        })
    }
}

/// Exact equality of floats without tripping `float_cmp` (`-0.0` equals `0.0`).
fn same(a: f64, b: f64) -> bool {
    a <= b && b <= a
}

/// `value` is below `best` by more than a tie ([`tol::tied`]); anything finite improves on an
/// infinite `best`.
fn improves(value: f64, best: f64) -> bool {
    value < best && (best.is_infinite() || !tol::tied(value, best))
}

/// Symmetry and dominance reductions (see the module docs).
struct Structure {
    /// `before[i][a]`: bit mask of agent `i`'s actions that must precede `a`.
    before: Vec<Vec<u64>>,
    /// The previous agent in the same class of swap-symmetric agents.
    sym_prev: Vec<Option<usize>>,
    /// The next agent in the same class.
    sym_next: Vec<Option<usize>>,
}

impl Structure {
    /// `None` when some agent has more than 64 actions (no exact search then).
    fn analyze(p: &Problem) -> Option<Structure> {
        let shape = &p.shape;
        if shape.iter().any(|&m| m > 64) {
            return None;
        }
        let (y, w) = (p.obs.y(), p.obs.w());
        let n = y.len();
        let strides = p.strides();
        let nag = shape.len();
        // slice_le(i, b, a): slice b ≤ slice a (equal weights per column).
        let slice_le = |i: usize, b: usize, a: usize| -> bool {
            let s = strides[i];
            (0..n).filter(|&k| (k / s) % shape[i] == b).all(|k| {
                let k2 = k - b * s + a * s;
                same(w[k], w[k2]) && (w[k] <= 0.0 || y[k] <= y[k2])
            })
        };
        let before = (0..nag)
            .map(|i| {
                let m = shape[i];
                (0..m)
                    .map(|a| {
                        let mut mask = 0u64;
                        for b in (0..m).filter(|&b| b != a) {
                            if slice_le(i, b, a) && (!slice_le(i, a, b) || b < a) {
                                mask |= 1 << b;
                            }
                        }
                        mask
                    })
                    .collect()
            })
            .collect();
        let swap_symmetric = |i: usize, j: usize| -> bool {
            let mut u = vec![0usize; nag];
            (0..n).all(|k| {
                let k2 = k + u[j] * strides[i] + u[i] * strides[j]
                    - u[i] * strides[i]
                    - u[j] * strides[j];
                let ok = same(y[k], y[k2]) && same(w[k], w[k2]);
                crate::table::increment(&mut u, shape);
                ok
            })
        };
        let mut sym_prev = vec![None; nag];
        let mut sym_next = vec![None; nag];
        for j in 1..nag {
            if let Some(i) = (0..j)
                .rev()
                .find(|&i| shape[i] == shape[j] && swap_symmetric(i, j))
            {
                sym_prev[j] = Some(i);
                sym_next[i] = Some(j);
            }
        }
        Some(Structure {
            before,
            sym_prev,
            sym_next,
        })
    }
}

/// Depth-first search over prefix orderings.
struct Tree<'a> {
    p: &'a mut Problem,
    st: &'a Structure,
    use_bounds: bool,
    prefix: Vec<Vec<usize>>,
    placed: Vec<u64>,
    best_sse: f64,
    best_orders: Vec<Vec<usize>>,
    children: Vec<Vec<(f64, usize)>>,
    aborted: bool,
    /// Smallest lower bound over subtrees left unexplored when aborted.
    frontier: f64,
}

impl<'a> Tree<'a> {
    fn new(
        p: &'a mut Problem,
        st: &'a Structure,
        use_bounds: bool,
        best_sse: f64,
        best_orders: Vec<Vec<usize>>,
    ) -> Self {
        let nag = p.shape.len();
        let mut prefix = vec![Vec::new(); nag];
        let mut placed = vec![0u64; nag];
        for i in 0..nag {
            if p.shape[i] == 1 {
                prefix[i].push(0);
                placed[i] = 1;
            }
        }
        let depth: usize = p.shape.iter().sum::<usize>() + 1;
        Tree {
            p,
            st,
            use_bounds,
            prefix,
            placed,
            best_sse,
            best_orders,
            children: vec![Vec::new(); depth],
            aborted: false,
            frontier: f64::INFINITY,
        }
    }

    fn run(&mut self) -> Result<()> {
        if self.use_bounds && self.prunes(0.0) {
            return Ok(()); // the incumbent fits exactly
        }
        self.explore(0, 0.0)
    }

    fn prunes(&self, bound: f64) -> bool {
        !improves(bound, self.best_sse)
    }

    fn next_agent(&self) -> Option<usize> {
        (0..self.prefix.len()).find(|&i| self.prefix[i].len() < self.p.shape[i])
    }

    fn is_leaf(&self) -> bool {
        (0..self.prefix.len()).all(|i| self.prefix[i].len() == self.p.shape[i])
    }

    fn push(&mut self, i: usize, a: usize) {
        let m = self.p.shape[i];
        self.prefix[i].push(a);
        self.placed[i] |= 1 << a;
        if self.prefix[i].len() + 1 == m {
            let last = (0..m)
                .find(|&r| self.placed[i] >> r & 1 == 0)
                .expect("invariant: one action is left");
            self.prefix[i].push(last);
            self.placed[i] |= 1 << last;
        }
    }

    fn pop(&mut self, i: usize) {
        let m = self.p.shape[i];
        let times = if self.prefix[i].len() == m { 2 } else { 1 };
        for _ in 0..times {
            let a = self.prefix[i]
                .pop()
                .expect("invariant: popping a pushed action");
            self.placed[i] &= !(1 << a);
        }
    }

    /// `π_a ≤ π_b` lexicographically can still hold for symmetric neighbours of agent `i`.
    fn lex_ok(&self, i: usize) -> bool {
        let ok = |a: usize, b: usize| {
            let l = self.prefix[a].len().min(self.prefix[b].len());
            self.prefix[b][..l] >= self.prefix[a][..l]
        };
        self.st.sym_prev[i].is_none_or(|h| ok(h, i)) && self.st.sym_next[i].is_none_or(|j| ok(i, j))
    }

    fn explore(&mut self, depth: usize, node_bound: f64) -> Result<()> {
        let Some(i) = self.next_agent() else {
            return Ok(());
        };
        let m = self.p.shape[i];
        let mut kids = std::mem::take(&mut self.children[depth]);
        kids.clear();
        for a in 0..m {
            if self.placed[i] >> a & 1 == 1 || self.st.before[i][a] & !self.placed[i] != 0 {
                continue;
            }
            self.push(i, a);
            if !self.lex_ok(i) {
                self.pop(i);
                continue;
            }
            let leaf = self.is_leaf();
            if leaf || self.use_bounds {
                if self.p.exhausted() {
                    self.pop(i);
                    self.aborted = true;
                    self.frontier = self.frontier.min(node_bound);
                    break;
                }
                let s = if leaf {
                    self.p.eval(&self.prefix)?
                } else {
                    self.p.bound(&self.prefix, i)?
                };
                if leaf && improves(s, self.best_sse) {
                    self.best_sse = s;
                    self.best_orders = self.prefix.clone();
                }
                self.pop(i);
                if !leaf && !self.prunes(s) {
                    kids.push((s, a));
                }
            } else {
                self.pop(i);
                kids.push((node_bound, a));
            }
        }
        if !self.aborted {
            if self.use_bounds {
                kids.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            }
            for &(b, a) in &kids {
                if self.use_bounds && self.prunes(b) {
                    continue;
                }
                if self.aborted {
                    self.frontier = self.frontier.min(b);
                    continue;
                }
                self.push(i, a);
                let r = self.explore(depth + 1, b);
                self.pop(i);
                r?;
            }
        }
        self.children[depth] = kids;
        Ok(())
    }
}

/// Moves the element at position `from` to position `to`.
fn move_element(order: &mut [usize], from: usize, to: usize) {
    if from < to {
        order[from..=to].rotate_left(1);
    } else {
        order[to..=from].rotate_right(1);
    }
}

/// SplitMix64, for deterministic random starts.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Agent `i`'s actions sorted by `key` ascending (ties by index).
fn order_by(m: usize, key: impl Fn(usize) -> f64) -> Vec<usize> {
    let mut o: Vec<usize> = (0..m).collect();
    o.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    o
}

/// Deterministic starts (orders by weighted marginal mean and by slice maximum) and seeded
/// random ones, each improved by first-improvement insertion moves until no move helps or the
/// budget ends. Returns the best ordering and its SSE.
fn multi_start_local_search(p: &mut Problem) -> Result<(Vec<Vec<usize>>, f64)> {
    let shape = p.shape.clone();
    let strides = p.strides();
    let (y, w) = (p.obs.y().to_vec(), p.obs.w().to_vec());
    let n = y.len();
    let (shape_ref, strides_ref) = (&shape, &strides);
    let slice = move |i: usize, a: usize| {
        let (s, m) = (strides_ref[i], shape_ref[i]);
        (0..n).filter(move |&k| (k / s) % m == a)
    };
    let mut starts: Vec<Vec<Vec<usize>>> = Vec::new();
    starts.push(
        (0..shape.len())
            .map(|i| {
                order_by(shape[i], |a| {
                    let (sw, swy) =
                        slice(i, a).fold((0.0, 0.0), |(sw, swy), k| (sw + w[k], swy + w[k] * y[k]));
                    if sw > 0.0 {
                        swy / sw
                    } else {
                        0.0
                    }
                })
            })
            .collect(),
    );
    starts.push(
        (0..shape.len())
            .map(|i| {
                order_by(shape[i], |a| {
                    slice(i, a)
                        .filter(|&k| w[k] > 0.0)
                        .map(|k| y[k])
                        .fold(f64::MIN, f64::max)
                })
            })
            .collect(),
    );
    let mut rng = SplitMix(0x51AB_1E5E_ED00_0001);
    for _ in 0..RANDOM_STARTS {
        starts.push(
            shape
                .iter()
                .map(|&m| {
                    let mut o: Vec<usize> = (0..m).collect();
                    for k in (1..m).rev() {
                        o.swap(k, (rng.next() % (k as u64 + 1)) as usize);
                    }
                    o
                })
                .collect(),
        );
    }
    let mut unique: Vec<Vec<Vec<usize>>> = Vec::with_capacity(starts.len());
    for start in starts {
        if !unique.contains(&start) {
            unique.push(start);
        }
    }
    let mut best: Option<(Vec<Vec<usize>>, f64)> = None;
    for (idx, start) in unique.into_iter().enumerate() {
        if idx > 0 && p.exhausted() {
            break;
        }
        let (o, s) = local_search(p, start)?;
        if best.as_ref().is_none_or(|(_, b)| improves(s, *b)) {
            best = Some((o, s));
        }
    }
    Ok(best.expect("invariant: the first start always runs"))
}

fn local_search(p: &mut Problem, start: Vec<Vec<usize>>) -> Result<(Vec<Vec<usize>>, f64)> {
    let mut cur = start;
    let mut cur_sse = p.eval(&cur)?;
    'sweeps: loop {
        let mut improved = false;
        for i in 0..cur.len() {
            let m = cur[i].len();
            for from in 0..m {
                for to in 0..m {
                    if to == from || to + 1 == from {
                        continue; // (from, from−1) is the same swap as (from−1, from)
                    }
                    if p.exhausted() {
                        break 'sweeps;
                    }
                    move_element(&mut cur[i], from, to);
                    let s = p.eval(&cur)?;
                    if improves(s, cur_sse) {
                        cur_sse = s;
                        improved = true;
                    } else {
                        move_element(&mut cur[i], to, from);
                    }
                }
            }
        }
        if !improved {
            break;
        }
    }
    Ok((cur, cur_sse))
}

/// The block lower bound (module docs) for the best of a few groupings of the actions:
/// consecutive in index order, consecutive in `orders`, and strided in `orders`.
fn block_bound(p: &Problem, orders: &[Vec<usize>]) -> Result<Option<f64>> {
    let shape = &p.shape;
    let n = p.obs.len() as f64;
    let nag = shape.len() as i32;
    // Group size: 3 where the work stays modest, else 2.
    let g = if n * 6f64.powi(nag) <= 5e6 {
        3
    } else if n * 2f64.powi(nag) <= 5e6 {
        2
    } else {
        return Ok(None);
    };
    if shape.iter().all(|&m| m <= g) {
        return Ok(None); // one block would be the whole problem
    }
    let group = |seq: &[usize], strided: bool| -> Vec<Vec<usize>> {
        let m = seq.len();
        let count = m.div_ceil(g);
        if strided {
            (0..count)
                .map(|j| (j..m).step_by(count).map(|pos| seq[pos]).collect())
                .collect()
        } else {
            seq.chunks(g).map(<[usize]>::to_vec).collect()
        }
    };
    let index_orders: Vec<Vec<usize>> = shape.iter().map(|&m| (0..m).collect()).collect();
    let groupings: Vec<Vec<Vec<Vec<usize>>>> = vec![
        index_orders.iter().map(|o| group(o, false)).collect(),
        orders.iter().map(|o| group(o, false)).collect(),
        orders.iter().map(|o| group(o, true)).collect(),
    ];
    let strides = p.strides();
    let mut best: Option<f64> = None;
    'groupings: for groups in groupings {
        let counts: Vec<usize> = groups.iter().map(Vec::len).collect();
        let mut pick = vec![0usize; shape.len()];
        let mut total = 0.0;
        loop {
            let sub_shape: Vec<usize> =
                (0..shape.len()).map(|i| groups[i][pick[i]].len()).collect();
            let sub = JointTable::from_fn(sub_shape.clone(), |v| {
                let k: usize = (0..v.len())
                    .map(|i| groups[i][pick[i]][v[i]] * strides[i])
                    .sum();
                p.obs.y()[k]
            })?;
            let mut sub_w = Vec::with_capacity(sub.len());
            let mut v = vec![0usize; sub_shape.len()];
            for _ in 0..sub.len() {
                let k: usize = (0..v.len())
                    .map(|i| groups[i][pick[i]][v[i]] * strides[i])
                    .sum();
                sub_w.push(p.obs.w()[k]);
                crate::table::increment(&mut v, &sub_shape);
            }
            if sub_w.iter().sum::<f64>() > 0.0 {
                let opts = QmixOptions {
                    weights: Some(sub_w),
                    time_limit: None,
                    max_orderings: Some(BLOCK_MAX_EVALUATIONS),
                };
                let r = project_qmix(&sub, &opts)?;
                if !r.exact {
                    continue 'groupings;
                }
                total += r.sse;
            }
            crate::table::increment(&mut pick, &counts);
            if pick.iter().all(|&c| c == 0) {
                break;
            }
        }
        best = Some(best.map_or(total, |b: f64| b.max(total)));
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    fn table(shape: Vec<usize>, v: &[f64]) -> JointTable {
        JointTable::new(shape, v.to_vec()).unwrap()
    }

    const TABLE1: [f64; 9] = [8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0];
    const CLIMBING: [f64; 9] = [11.0, -30.0, 0.0, -30.0, 7.0, 6.0, 0.0, 0.0, 5.0];

    #[test]
    fn qtran_table1_projection() {
        let q = table(vec![3, 3], &TABLE1);
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(r.exact);
        assert_abs_diff_eq!(r.sse, 288.0, epsilon = 1e-9);
        assert_abs_diff_eq!(r.mse, 32.0, epsilon = 1e-9);
        assert_abs_diff_eq!(r.q_tot.get(&[0, 0]), 8.0, epsilon = 1e-9);
        for k in 1..9 {
            assert_abs_diff_eq!(r.q_tot.values()[k], -6.0, epsilon = 1e-9);
        }
        assert_eq!(r.q_tot.argmax_set(), vec![0]);
        assert!(is_monotone(&r.q_tot, &r.orders));
        assert_eq!(r.orderings_total, 36);
        assert_eq!(r.method, METHOD_ENUMERATION);
        assert_eq!(r.lower_bound, Some(r.sse));
    }

    #[test]
    fn qtran_table1_paper_ordering() {
        let q = table(vec![3, 3], &TABLE1);
        let r = project_qmix_with_orders(&q, &[vec![0, 1, 2], vec![0, 1, 2]], None).unwrap();
        assert_abs_diff_eq!(r.sse, 320.0, epsilon = 1e-9);
        assert_abs_diff_eq!(r.mse, 320.0 / 9.0, epsilon = 1e-9);
        assert!(!r.exact);
        assert_eq!(r.method, METHOD_GIVEN_ORDERS);
        assert!(is_monotone(&r.q_tot, &r.orders));
    }

    #[test]
    fn climbing_projection() {
        let q = table(vec![3, 3], &CLIMBING);
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(r.exact);
        assert!((r.mse - 110.8241).abs() < 5e-5, "mse {}", r.mse);
        assert_eq!(r.q_tot.argmax_set(), vec![8]);
        // Branch-and-bound reaches the same optimum as enumeration.
        let mut p = Problem::new(vec![3, 3], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        let (o, s) = multi_start_local_search(&mut p).unwrap();
        let mut tree = Tree::new(&mut p, &st, true, s, o);
        tree.run().unwrap();
        assert!(!tree.aborted);
        assert_abs_diff_eq!(tree.best_sse, r.sse, epsilon = 1e-9);
    }

    /// Branch-and-bound started without an incumbent (so every pruning decision rests on the
    /// bounds) agrees with plain enumeration of every ordering, on games with ties, identical
    /// and dominated actions and symmetric agents.
    #[test]
    fn branch_and_bound_without_incumbent_matches_full_enumeration() {
        let mut seed = 0x1234_5678_u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        let shapes: [&[usize]; 6] = [&[2, 4], &[3, 3], &[4, 4], &[2, 2, 3], &[3, 4], &[4, 2, 2]];
        for shape in shapes {
            for case in 0..12 {
                let mut q =
                    JointTable::from_fn(shape.to_vec(), |_| (next() % 7 - 3) as f64).unwrap();
                if case % 3 == 1 && shape[0] == shape[1] {
                    let q0 = q.clone();
                    q = JointTable::from_fn(shape.to_vec(), |u| {
                        let mut v = u.to_vec();
                        v.swap(0, 1);
                        q0.get(&v) + q0.get(u)
                    })
                    .unwrap();
                }
                let weights: Option<Vec<f64>> = (case % 2 == 1)
                    .then(|| (0..q.len()).map(|_| (next() % 3) as f64 * 0.5).collect());
                if weights
                    .as_ref()
                    .is_some_and(|w| w.iter().sum::<f64>() <= 0.0)
                {
                    continue;
                }
                let obs = observations(&q, weights.as_deref()).unwrap();
                let mut p = Problem::new(shape.to_vec(), obs, Limits::NONE);
                let st = Structure::analyze(&p).unwrap();
                let mut all = Tree::new(&mut p, &st, false, f64::INFINITY, vec![]);
                all.run().unwrap();
                let want = all.best_sse;
                // No reductions at all: every ordering.
                let plain = Structure {
                    before: shape.iter().map(|&m| vec![0; m]).collect(),
                    sym_prev: vec![None; shape.len()],
                    sym_next: vec![None; shape.len()],
                };
                let mut every = Tree::new(&mut p, &plain, false, f64::INFINITY, vec![]);
                every.run().unwrap();
                assert_abs_diff_eq!(every.best_sse, want, epsilon = 1e-9);
                let identity: Vec<Vec<usize>> = shape.iter().map(|&m| (0..m).collect()).collect();
                p.prepare_pairs(&identity).unwrap();
                let mut tree = Tree::new(&mut p, &st, true, f64::INFINITY, vec![]);
                tree.run().unwrap();
                assert!(!tree.aborted);
                assert_abs_diff_eq!(tree.best_sse, want, epsilon = 1e-9);
                let best_orders = tree.best_orders.clone();
                let sse = p.eval(&best_orders).unwrap();
                assert_abs_diff_eq!(sse, want, epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn two_step_2b_is_monotone() {
        let q = table(vec![2, 2], &[0.0, 1.0, 1.0, 8.0]);
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(r.exact);
        assert_abs_diff_eq!(r.sse, 0.0, epsilon = 1e-12);
        assert_eq!(r.q_tot.values(), q.values());
    }

    #[test]
    fn one_agent_sorts() {
        let q = table(vec![4], &[3.0, -1.0, 7.0, 0.0]);
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(r.exact);
        assert_eq!(r.orders, vec![vec![1, 3, 0, 2]]);
        assert_abs_diff_eq!(r.sse, 0.0, epsilon = 1e-12);
        assert_eq!(r.method, METHOD_SORT);
    }

    #[test]
    fn budget_exhaustion_is_reported_with_a_valid_bound() {
        // 2 × 5: beyond enumeration; with a budget of 30 regressions the tree cannot finish.
        let q = JointTable::from_fn(vec![5, 5], |u| {
            (((u[0] * 7 + u[1] * 3) * 2_654_435_761usize) % 23) as f64 - 11.0
        })
        .unwrap();
        let full = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(full.exact);
        assert_eq!(full.method, METHOD_BRANCH_AND_BOUND);
        let opts = QmixOptions {
            max_orderings: Some(30),
            ..QmixOptions::default()
        };
        let r = project_qmix(&q, &opts).unwrap();
        assert!(!r.exact);
        assert_eq!(r.method, METHOD_LOCAL_SEARCH);
        assert!(r.sse >= full.sse - 1e-9);
        let lb = r.lower_bound.unwrap();
        assert!(
            lb <= full.sse + 1e-9,
            "bound {lb} above the optimum {}",
            full.sse
        );
        assert!(is_monotone(&r.q_tot, &r.orders));
    }

    #[test]
    fn block_bound_is_below_the_optimum() {
        let q = JointTable::from_fn(vec![4, 5], |u| {
            (((u[0] * 5 + u[1] * 11) * 40503usize) % 17) as f64
        })
        .unwrap();
        let full = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(full.exact);
        let p = Problem::new(vec![4, 5], observations(&q, None).unwrap(), Limits::NONE);
        let b = block_bound(&p, &full.orders).unwrap().unwrap();
        assert!(b <= full.sse + 1e-9);
        assert!(b > 0.0, "the bound should see some non-monotonicity");
    }

    #[test]
    fn symmetry_and_dominance_are_detected() {
        let q = table(vec![3, 3], &TABLE1);
        let p = Problem::new(vec![3, 3], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        // B and C are identical: B (1) before C (2); A is incomparable.
        assert_eq!(st.before[0], vec![0, 0, 1 << 1]);
        assert_eq!(st.sym_prev, vec![None, Some(0)]);
        let q = table(vec![2, 2], &[0.0, 1.0, 2.0, 8.0]);
        let p = Problem::new(vec![2, 2], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        assert_eq!(st.before[0], vec![0, 1]);
        assert_eq!(st.before[1], vec![0, 1]);
        assert_eq!(st.sym_prev, vec![None, None]);
    }

    #[test]
    fn rejects_bad_arguments() {
        let q = table(vec![2, 2], &[0.0, 1.0, 2.0, 8.0]);
        let bad_w = QmixOptions {
            weights: Some(vec![1.0; 3]),
            ..QmixOptions::default()
        };
        assert!(project_qmix(&q, &bad_w).is_err());
        let zero_w = QmixOptions {
            weights: Some(vec![0.0; 4]),
            ..QmixOptions::default()
        };
        assert!(project_qmix(&q, &zero_w).is_err());
        assert!(project_qmix_with_orders(&q, &[vec![0, 1]], None).is_err());
        assert!(project_qmix_with_orders(&q, &[vec![0, 1], vec![1, 1]], None).is_err());
        assert!(!is_monotone(&q, &[vec![0, 1]]));
    }

    #[test]
    fn orderings_total_saturates() {
        assert_eq!(orderings_total(&[3, 3]), 36);
        assert_eq!(orderings_total(&[1, 2, 4]), 48);
        assert_eq!(orderings_total(&[40, 40]), u128::MAX);
    }
}
