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
//! product, which [`IsotonicSolver::solve_prefixes`] solves without flows). A node fixes, for
//! each agent, a chain `p_1 < … < p_k` with every remaining action above `p_k`: a partial
//! order contained in every completion's total order. The isotonic regression under the
//! product of these partial orders (the *plain* relaxation) has fewer constraints than any
//! completion, so its SSE is a **lower bound** on the subtree; a subtree whose bound is not
//! below the incumbent (up to [`tol::tied`]) is pruned. The incumbent comes from the local
//! search below. Tiny problems (at most [`ENUMERATION_MAX_ORDERINGS`] orderings) are
//! enumerated leaf by leaf without bounds.
//!
//! **Group bounds.** The second agent's actions are split into *groups* of at most
//! [`GROUP_MAX`] (all of them when there are that few; otherwise built greedily from the
//! pairs in strongest conflict under the incumbent); later agents' actions stay single (their
//! groups' regressions would need maximum flows, which cost more than they prune). The cells
//! whose action of agent `j`
//! lies in a group form a sub-table, and the groups' sub-tables partition the table. Any
//! completion orders each group somehow (an *orientation*), and its SSE on the group's cells
//! is at least the regression of that sub-table under the node's prefixes with the group
//! ordered that way. Hence, for the next agent `j` still unconstrained,
//! `Σ_groups min_orientations cost` is a lower bound: the *next-group* bound. It is at least
//! the plain relaxation (which decomposes over `j`'s actions when `j` is free), so it replaces
//! it until the last agent. Costs only grow down the tree, so each node refines its parent's
//! costs lazily: orientations are recomputed in increasing order of their inherited bounds
//! until the next bound is not below the least cost found. Once agent `j`'s own order is
//! being built, its groups' costs (now fixed: the earlier agents are complete) give the
//! *own-group* bound, the cheapest orientation per group that agrees with `j`'s prefix; the
//! last agent takes the larger of that and the plain relaxation.
//!
//! Reductions shrink the tree; each keeps at least one optimal ordering:
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
//! - **Jointly interchangeable actions.** If swapping actions `c < d` of agent `j`, together
//!   with the same two actions of some later agents, leaves `Q` and the weights unchanged (as
//!   in penalty-like games, symmetric under relabelling the actions of all agents at once),
//!   that relabelling maps orderings to orderings of the same cost. These relabellings, the
//!   swaps of identical slices and the agent swaps above are all symmetries of the problem,
//!   and every orbit of orderings under the group they generate contains its lexicographic
//!   minimum (comparing `π_1`, then `π_2`, …), which no generator can make smaller. For a
//!   relabelling of `c, d` in agent `j` (earlier agents untouched) that comparison is decided
//!   in `π_j`: `c` must come before `d`. So when such a pair exists, the search keeps only
//!   orderings with `c` before `d` for every interchangeable pair (and `π_i ≤ π_j` for
//!   symmetric agents), and drops the dominance reduction, which is not a symmetry.
//!
//! Comparisons in these reductions are exact (no tolerance), so they never merge actions that
//! merely look alike.
//!
//! # Local search
//!
//! The incumbent (and the answer when the search cannot finish) comes from insertion moves
//! (one action moved to another position of its agent's order) from a few starts (actions by
//! weighted mean, by maximum, and seeded random orders), then iterated local search (random
//! kicks followed by descents). Each round scores every move by a cheap *proxy*: take the
//! action's slice out of the current fit and put it back at its new position, with the
//! isotonic regression of the slice clamped between its new neighbours' fitted slices; that
//! table is monotone under the new ordering, so the proxy bounds the move's SSE from above. A
//! move whose proxy improves is taken at once; otherwise moves are evaluated exactly in order
//! of their proxies, so a local optimum is certified against every insertion move.
//!
//! # Limits
//!
//! The search counts isotonic regressions (complete or partial orderings) in
//! [`QmixProjection::orderings_evaluated`]. It stops after a budget of
//! [`IsotonicSolver::work`] units (a deterministic count of elementary steps, so results are
//! reproducible): [`QmixOptions::work_budget`], [`DEFAULT_WORK_BUDGET`] (about 5–8 s of one
//! core) by default, or [`INTERACTIVE_WORK_BUDGET`] (milliseconds) with
//! [`QmixOptions::interactive`]. [`QmixOptions::max_orderings`] bounds the number of
//! regressions instead, and an explicit [`QmixOptions::time_limit`] adds a wall-clock limit
//! (and with it, run-to-run variation on problems that hit it). Problems with more than
//! [`BRANCH_AND_BOUND_MAX_ORDERINGS`] orderings skip the tree and run the local search only.
//! A result that is not proven optimal is labelled [`METHOD_LOCAL_SEARCH`], with
//! `exact = false` and, when one is available, a valid [`QmixProjection::lower_bound`]: the
//! smallest bound of the subtrees left open, and the *block bound*: partition each agent's
//! actions into small groups; the sub-grids formed by one group per agent partition the table,
//! and any table monotone under some orders is monotone on each sub-grid under the induced
//! orders, so the sum of the sub-grids' exact projections (or of lower bounds on them) is at
//! most the optimal SSE. A quarter of a finite budget (at most 2.5·10⁷ units) is held back
//! for that bound.

use super::isotonic::{check_permutation, Dag, IsotonicSolver, Observations};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
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
/// 1.2–2·10⁸ units per second on one core, so about 5–8 s): [`QmixBudget::Full`].
pub const DEFAULT_WORK_BUDGET: u64 = 1_000_000_000;

/// Budget of [`QmixBudget::Interactive`] in units of [`IsotonicSolver::work`]: about 15–30 ms
/// of one core, so that an analysis answers at once. Games up to about 2 agents × 7 actions,
/// 3 × 4 and 4 × 3 are usually still solved exactly within it; larger ones get the best
/// ordering found with a certified lower bound.
pub const INTERACTIVE_WORK_BUDGET: u64 = 2_000_000;

/// Most regressions for one block of the block bound (a block not solved exactly within it
/// contributes its own lower bound).
const BLOCK_MAX_EVALUATIONS: u64 = 20_000;

/// Share of a work budget held back for the lower bound of a search that does not finish:
/// a quarter, at most this many units.
const BOUND_RESERVE_MAX: u64 = 25_000_000;

/// Largest group of the second agent's actions in the group bound (module docs): each group
/// costs up to `GROUP_MAX!` regressions per node of the branch-and-bound.
pub const GROUP_MAX: usize = 4;

/// Joint relabellings try every subset of the later agents up to this many agents, else only
/// none or all of them.
const JOINT_SUBSETS_MAX_AGENTS: usize = 6;

/// Local-search starts drawn at random (after the deterministic ones).
const RANDOM_STARTS: usize = 4;

/// Rounds of iterated local search after the starts (each: a kick of 2 to
/// [`ILS_KICK_MOVES`] random insertion moves, then a descent), within `1 / ILS_WORK_SHARE`
/// of the work left.
const ILS_ROUNDS: usize = 64;
/// Most random insertion moves in one kick of the iterated local search.
const ILS_KICK_MOVES: usize = 6;
/// The iterated local search uses at most this fraction (its inverse) of the work left (and
/// of the time left, under a time limit).
const ILS_WORK_SHARE: u64 = 10;

/// Options of [`project_qmix`]. The default is the thorough search ([`QmixBudget::Full`]);
/// [`QmixOptions::interactive`] is the quick one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QmixOptions {
    /// Non-negative weight per joint action (row-major); `None` is uniform. Cells of weight 0
    /// are free.
    pub weights: Option<Vec<f64>>,
    /// Wall-clock limit of the search; `None` is none (the work budget still applies).
    pub time_limit: Option<Duration>,
    /// Most isotonic regressions to compute. When set and `work_budget` is `None`, there is
    /// no work budget.
    pub max_orderings: Option<u64>,
    /// Budget in units of [`IsotonicSolver::work`] (deterministic, unlike `time_limit`) for
    /// the whole projection: search, local search and lower bound. `None` is
    /// [`DEFAULT_WORK_BUDGET`], unless `max_orderings` is set.
    pub work_budget: Option<u64>,
}

impl QmixOptions {
    /// Uniform weights, no time limit, and the given budget.
    pub fn with_budget(budget: QmixBudget) -> QmixOptions {
        QmixOptions {
            work_budget: Some(budget.work_units()),
            ..QmixOptions::default()
        }
    }

    /// The quick search ([`QmixBudget::Interactive`]): small games stay exact, larger ones
    /// come back in milliseconds, labelled heuristic with a lower bound.
    pub fn interactive() -> QmixOptions {
        QmixOptions::with_budget(QmixBudget::Interactive)
    }
}

/// A named work budget for [`QmixOptions::work_budget`]; parses from `interactive`, `full`,
/// or a number of work units (`250000000`, `2.5e8`, `250_000_000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QmixBudget {
    /// [`INTERACTIVE_WORK_BUDGET`] (about 15–30 ms).
    Interactive,
    /// [`DEFAULT_WORK_BUDGET`] (about 5–8 s).
    Full,
    /// This many units of [`IsotonicSolver::work`].
    Work(u64),
}

impl QmixBudget {
    /// The budget in units of [`IsotonicSolver::work`].
    pub fn work_units(self) -> u64 {
        match self {
            QmixBudget::Interactive => INTERACTIVE_WORK_BUDGET,
            QmixBudget::Full => DEFAULT_WORK_BUDGET,
            QmixBudget::Work(w) => w,
        }
    }
}

impl std::str::FromStr for QmixBudget {
    type Err = Error;

    fn from_str(s: &str) -> Result<QmixBudget> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "interactive" => return Ok(QmixBudget::Interactive),
            "full" => return Ok(QmixBudget::Full),
            _ => {}
        }
        let digits = t.replace('_', "");
        if let Ok(w) = digits.parse::<u64>() {
            return Ok(QmixBudget::Work(w));
        }
        match digits.parse::<f64>() {
            // Whole numbers only, up to 2^63 (exactly representable bounds).
            Ok(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9.2e18 => {
                Ok(QmixBudget::Work(v as u64))
            }
            _ => Err(Error::Invalid(format!(
                "QMIX budget {s:?}: expected interactive, full, or a whole number of work units"
            ))),
        }
    }
}

impl std::fmt::Display for QmixBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QmixBudget::Interactive => write!(f, "interactive"),
            QmixBudget::Full => write!(f, "full"),
            QmixBudget::Work(w) => write!(f, "{w}"),
        }
    }
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
    let limits = Limits {
        evaluations: opts.max_orderings.unwrap_or(u64::MAX),
        work: opts.work_budget.unwrap_or(if opts.max_orderings.is_some() {
            u64::MAX
        } else {
            DEFAULT_WORK_BUDGET
        }),
        deadline: opts.time_limit.and_then(|d| Instant::now().checked_add(d)),
    };
    project(q, opts.weights.as_deref(), limits).map(|(r, _)| r)
}

/// [`project_qmix`] under explicit limits; also returns the work spent (units of
/// [`IsotonicSolver::work`], the block bound's sub-problems included).
fn project(
    q: &JointTable,
    weights: Option<&[f64]>,
    limits: Limits,
) -> Result<(QmixProjection, u64)> {
    let obs = observations(q, weights)?;
    let shape = q.shape().to_vec();
    let total = orderings_total(&shape);
    // Part of the budget waits for the lower bound (only used if the search does not finish).
    let reserve = if limits.work == u64::MAX {
        0
    } else {
        (limits.work / 4).min(BOUND_RESERVE_MAX)
    };
    let search_limits = Limits {
        work: limits.work - reserve,
        ..limits
    };

    if shape.len() == 1 {
        // x = Q is monotone once the actions are sorted by value.
        let v = q.values();
        let mut order: Vec<usize> = (0..shape[0]).collect();
        order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
        let mut p = Problem::new(shape, obs, Limits::NONE);
        let orders = vec![order];
        p.eval(&orders)?;
        let r = finish(&p, q, orders, true, Some(0.0), METHOD_SORT)?;
        return Ok((r, p.work()));
    }

    let mut p = Problem::new(shape.clone(), obs, search_limits);
    let structure = Structure::analyze(&p);

    // A truncated enumeration leaves a candidate for the heuristic path below.
    let mut candidate: Option<(Vec<Vec<usize>>, f64)> = None;
    if total <= ENUMERATION_MAX_ORDERINGS {
        if let Some(st) = &structure {
            let mut tree = Tree::new(&mut p, st, false, f64::INFINITY, vec![]);
            tree.run()?;
            let (exact, best, orders) = (!tree.aborted, tree.best_sse, tree.best_orders.clone());
            if exact {
                let r = finish(&p, q, orders, true, Some(best), METHOD_ENUMERATION)?;
                return Ok((r, p.work()));
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
            p.prepare_groups(&best_orders)?;
            let mut tree = Tree::new(&mut p, st, true, best_sse, best_orders.clone());
            tree.run()?;
            let aborted = tree.aborted;
            let frontier = tree.frontier;
            if tree.best_sse < best_sse {
                best_sse = tree.best_sse;
                best_orders = tree.best_orders.clone();
            }
            if !aborted {
                let r = finish(
                    &p,
                    q,
                    best_orders,
                    true,
                    Some(best_sse),
                    METHOD_BRANCH_AND_BOUND,
                )?;
                return Ok((r, p.work()));
            }
            frontier_bound = Some(frontier.min(best_sse));
        }
    }
    p.limits.work = limits.work;
    let block = block_bound(&mut p, &best_orders)?;
    let lower_bound = match (frontier_bound, block) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
    .map(|lb| lb.min(best_sse));
    let r = finish(&p, q, best_orders, false, lower_bound, METHOD_LOCAL_SEARCH)?;
    Ok((r, p.work()))
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
    let (x, sse) = match &p.best_fit {
        // The local search's best fit (the same regression, computed once).
        Some((o, x)) if *o == orders => (x.clone(), p.obs.sse(x)),
        _ => {
            let mut x = vec![0.0; q.len()];
            let sse = IsotonicSolver::new().solve_prefixes(q.shape(), &orders, &p.obs, &mut x)?;
            (x, sse)
        }
    };
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
    /// The local search's best ordering and its fit.
    best_fit: Option<(Vec<Vec<usize>>, Vec<f64>)>,
    /// Per agent, its actions in groups with the sub-tables they select (see
    /// [`Problem::next_group_bound`]); empty for the first agent and before
    /// [`Problem::prepare_groups`].
    groups: Vec<Vec<Group>>,
    sub_prefixes: Vec<Vec<usize>>,
    sub_x: Vec<f64>,
    done: Vec<bool>,
    placed_local: Vec<usize>,
    evaluations: u64,
    /// Work done outside `solver` (the block bound's sub-problems).
    extra_work: u64,
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
    fn work(&self) -> u64 {
        self.solver.work().saturating_add(self.extra_work)
    }

    fn exhausted(&self) -> bool {
        self.evaluations >= self.limits.evaluations
            || self.work() >= self.limits.work
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

    /// The cost of orientation `o` of agent `j`'s group `g`: the regression of the group's
    /// sub-table under `prefixes`, with agent `j` restricted to the group and ordered by `o`
    /// (every agent after `j` must be unconstrained in `prefixes`, every agent between the one
    /// being built and `j` complete).
    fn group_cost(
        &mut self,
        groups: &[Group],
        g: usize,
        o: usize,
        prefixes: &[Vec<usize>],
        j: usize,
    ) -> Result<f64> {
        let group = &groups[g];
        self.sub_prefixes.resize_with(prefixes.len(), Vec::new);
        for (sub, pre) in self.sub_prefixes.iter_mut().zip(prefixes) {
            sub.clear();
            sub.extend_from_slice(pre);
        }
        self.sub_prefixes[j].clear();
        self.sub_prefixes[j].extend_from_slice(&group.perms[o]);
        self.sub_x.resize(group.obs.len(), 0.0);
        self.evaluations += 1;
        self.solver.solve_prefixes(
            &group.shape,
            &self.sub_prefixes,
            &group.obs,
            &mut self.sub_x,
        )
    }

    /// Every orientation's cost of agent `j`'s groups under `prefixes` (see
    /// [`Problem::group_cost`]), concatenated group after group into `out`.
    fn all_group_costs(
        &mut self,
        j: usize,
        prefixes: &[Vec<usize>],
        out: &mut Vec<f64>,
    ) -> Result<()> {
        out.clear();
        let groups = std::mem::take(&mut self.groups[j]);
        let mut result = Ok(());
        'groups: for g in 0..groups.len() {
            for o in 0..groups[g].perms.len() {
                match self.group_cost(&groups, g, o, prefixes, j) {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        result = Err(e);
                        break 'groups;
                    }
                }
            }
        }
        self.groups[j] = groups;
        result
    }

    /// The *group bound* for agent `j` (a later agent, still unconstrained) at a node:
    /// every completion orders each of `j`'s groups one way, and its SSE on the group's cells
    /// is at least the group's regression under the node's prefixes and that orientation; the
    /// groups partition the table, so `Σ_g min_o cost(g, o)` bounds the subtree from below.
    ///
    /// `parent` holds lower bounds of every orientation's cost that hold at this node
    /// (costs only grow down the tree, as constraints are added). They are refined lazily:
    /// orientations are computed in increasing order of their bounds until the next bound is
    /// not below the smallest cost found, which then is the group's exact minimum. The refined
    /// bounds are appended to `child`. Once the groups done plus the bounds of the others
    /// reach `cutoff`, the rest keep their parent bounds and the partial sum is returned
    /// (still a valid lower bound, and enough to prune).
    fn next_group_bound(
        &mut self,
        j: usize,
        prefixes: &[Vec<usize>],
        parent: &[f64],
        child: &mut Vec<f64>,
        cutoff: f64,
    ) -> Result<f64> {
        let start = child.len();
        child.extend_from_slice(parent);
        let groups = std::mem::take(&mut self.groups[j]);
        let mut pending: f64 = groups
            .iter()
            .map(|g| {
                parent[g.offset..g.offset + g.perms.len()]
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min)
            })
            .sum();
        let mut total = 0.0;
        let mut result = Ok(());
        for (gi, g) in groups.iter().enumerate() {
            let lbs = &mut child[start + g.offset..start + g.offset + g.perms.len()];
            let parent_min = lbs.iter().copied().fold(f64::INFINITY, f64::min);
            self.done.clear();
            self.done.resize(lbs.len(), false);
            let mut best = f64::INFINITY;
            loop {
                let mut pick = None;
                for (o, &v) in lbs.iter().enumerate() {
                    if !self.done[o] && v < best && pick.is_none_or(|(_, pv)| v < pv) {
                        pick = Some((o, v));
                    }
                }
                let Some((o, lb)) = pick else { break };
                match self.group_cost(&groups, gi, o, prefixes, j) {
                    Ok(v) => {
                        let v = v.max(lb);
                        lbs[o] = v;
                        self.done[o] = true;
                        best = best.min(v);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            if result.is_err() {
                break;
            }
            total += best;
            pending -= parent_min;
            if !improves(total + pending.max(0.0), cutoff) {
                total += pending.max(0.0);
                break;
            }
        }
        self.groups[j] = groups;
        result.map(|()| total)
    }

    /// The group bound for agent `i` while its own order is being built (every earlier
    /// agent complete, every later one unconstrained): the orientations of each group that
    /// agree with `prefix` (its members in the prefix come first, in the prefix's order), the
    /// cheapest of them per group, summed. `costs` and `exact` hold the stage's orientation
    /// costs (fixed while agent `i` is built), refined lazily as in
    /// [`Problem::next_group_bound`].
    fn own_group_bound(
        &mut self,
        i: usize,
        prefixes: &[Vec<usize>],
        costs: &mut [f64],
        exact: &mut [bool],
    ) -> Result<f64> {
        let groups = std::mem::take(&mut self.groups[i]);
        let prefix = &prefixes[i];
        let mut total = 0.0;
        let mut result = Ok(());
        'groups: for (gi, g) in groups.iter().enumerate() {
            // The group's members in the prefix, as local indices in prefix order.
            self.placed_local.clear();
            for &a in prefix {
                if let Some(l) = g.actions.iter().position(|&b| b == a) {
                    self.placed_local.push(l);
                }
            }
            let k = self.placed_local.len();
            loop {
                let mut pick = None;
                for (o, perm) in g.perms.iter().enumerate() {
                    let v = costs[g.offset + o];
                    if perm[..k] == self.placed_local[..] && pick.is_none_or(|(_, pv)| v < pv) {
                        pick = Some((o, v));
                    }
                }
                let (o, v) = pick.expect("invariant: the prefix's own orientation agrees");
                if exact[g.offset + o] {
                    total += v;
                    break;
                }
                match self.group_cost(&groups, gi, o, prefixes, i) {
                    Ok(c) => {
                        costs[g.offset + o] = c.max(v);
                        exact[g.offset + o] = true;
                    }
                    Err(e) => {
                        result = Err(e);
                        break 'groups;
                    }
                }
            }
        }
        self.groups[i] = groups;
        result.map(|()| total)
    }

    /// Splits the actions of every agent after the first into groups for the group bound.
    /// The second agent's: all of them when there are at most [`GROUP_MAX`], else groups of
    /// [`GROUP_MAX`] (and one smaller remainder) built greedily from the pairs in strongest
    /// conflict under the incumbent `orders` (the smaller SSE of the pair's two orientations
    /// with every other agent ordered as in `orders`). Later agents': single actions.
    fn prepare_groups(&mut self, orders: &[Vec<usize>]) -> Result<()> {
        let nag = self.shape.len();
        self.groups = (0..nag).map(|_| Vec::new()).collect();
        for agent in 1..nag {
            let m = self.shape[agent];
            if m < 2 {
                continue;
            }
            // Groups of the second agent are regressed with one agent constrained before them
            // (grid dynamic programme); for later agents they would need maximum flows, which
            // cost more than the bound saves (measured on 3 × 5 and 4 × 4), so their actions
            // stay single (the bound is then the plain relaxation, one small part at a time).
            let gmax = if agent == 1 { GROUP_MAX } else { 1 };
            let sets: Vec<Vec<usize>> = if m <= gmax {
                vec![(0..m).collect()]
            } else if gmax == 1 {
                (0..m).map(|a| vec![a]).collect()
            } else {
                // score[b][b2]: the conflict of the pair (symmetric).
                let mut score = vec![vec![0.0; m]; m];
                let pairs: Vec<(usize, usize)> = (0..m)
                    .flat_map(|b| (b + 1..m).map(move |b2| (b, b2)))
                    .collect();
                for (b, b2) in pairs {
                    let pair = Group::new(self, agent, &[b, b2], 0)?;
                    let mut best = f64::INFINITY;
                    for o in 0..2 {
                        let mut sub = orders.to_vec();
                        sub[agent].clone_from(&pair.perms[o]);
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
                    score[b][b2] = best;
                    score[b2][b] = best;
                }
                let mut used = vec![false; m];
                let mut sets = Vec::new();
                while used.iter().any(|u| !u) {
                    let free: Vec<usize> = (0..m).filter(|&a| !used[a]).collect();
                    let mut set = Vec::new();
                    if free.len() > 1 {
                        // Seed: the free pair in strongest conflict.
                        let mut seed = (f64::NEG_INFINITY, free[0], free[1]);
                        for (x, &b) in free.iter().enumerate() {
                            for &b2 in &free[x + 1..] {
                                if score[b][b2] > seed.0 {
                                    seed = (score[b][b2], b, b2);
                                }
                            }
                        }
                        set.push(seed.1);
                        set.push(seed.2);
                        used[seed.1] = true;
                        used[seed.2] = true;
                    } else {
                        set.push(free[0]);
                        used[free[0]] = true;
                    }
                    while set.len() < gmax {
                        let best = (0..m).filter(|&a| !used[a]).max_by(|&a, &b| {
                            let sa: f64 = set.iter().map(|&c| score[a][c]).sum();
                            let sb: f64 = set.iter().map(|&c| score[b][c]).sum();
                            sa.total_cmp(&sb).then(b.cmp(&a))
                        });
                        let Some(a) = best else { break };
                        set.push(a);
                        used[a] = true;
                    }
                    set.sort_unstable();
                    sets.push(set);
                }
                sets
            };
            let mut offset = 0;
            let mut groups = Vec::with_capacity(sets.len());
            for set in sets {
                let g = Group::new(self, agent, &set, offset)?;
                offset += g.perms.len();
                groups.push(g);
            }
            self.groups[agent] = groups;
        }
        Ok(())
    }

    /// Number of orientation costs of agent `j`'s groups.
    fn group_len(&self, j: usize) -> usize {
        self.groups[j].iter().map(|g| g.perms.len()).sum()
    }

    fn strides(&self) -> Vec<usize> {
        let mut s = vec![1; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.shape[i + 1];
        }
        s
    }
}

/// A group of one agent's actions for the group bound: the sub-table of the cells whose
/// action of that agent is in the group, and every order of the group.
#[derive(Debug, Clone)]
struct Group {
    /// The group's actions, by local index.
    actions: Vec<usize>,
    shape: Vec<usize>,
    obs: Observations,
    /// Every permutation of the local indices `0..actions.len()` (lowest first).
    perms: Vec<Vec<usize>>,
    /// Position of this group's first orientation among all of its agent's orientations.
    offset: usize,
}

impl Group {
    fn new(p: &Problem, agent: usize, actions: &[usize], offset: usize) -> Result<Group> {
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
        Ok(Group {
            actions: actions.to_vec(),
            shape,
            obs: Observations::new(y, Some(w))?,
            perms: permutations(actions.len()),
            offset,
        })
    }
}

/// Every permutation of `0..m`, in lexicographic order.
fn permutations(m: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = (0..m).collect();
    loop {
        out.push(cur.clone());
        // Next permutation in lexicographic order.
        let Some(k) = (0..m.saturating_sub(1))
            .rev()
            .find(|&k| cur[k] < cur[k + 1])
        else {
            return out;
        };
        let l = (k + 1..m)
            .rev()
            .find(|&l| cur[k] < cur[l])
            .expect("invariant: cur[k + 1] is larger");
        cur.swap(k, l);
        cur[k + 1..].reverse();
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
            let block = s * shape[i];
            (0..n).step_by(block).all(|hi| {
                (hi + b * s..hi + b * s + s).all(|k| {
                    let k2 = k - b * s + a * s;
                    same(w[k], w[k2]) && (w[k] <= 0.0 || y[k] <= y[k2])
                })
            })
        };
        let mut before: Vec<Vec<u64>> = (0..nag)
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
        // Joint relabellings: swapping actions c < d of agent j, and of some later agents
        // too, leaves the table unchanged. `Some(joint)` when it does (`joint`: only with
        // some later agent swapped as well, i.e. the slices are not identical).
        let invariant = |j: usize, c: usize, d: usize, later: &[usize]| -> bool {
            let mut u = vec![0usize; nag];
            (0..n).all(|k| {
                let mut k2 = k;
                for &i in std::iter::once(&j).chain(later) {
                    if u[i] == c {
                        k2 = k2 + d * strides[i] - c * strides[i];
                    } else if u[i] == d {
                        k2 = k2 + c * strides[i] - d * strides[i];
                    }
                }
                crate::table::increment(&mut u, shape);
                same(y[k], y[k2]) && same(w[k], w[k2])
            })
        };
        let interchangeable = |j: usize, c: usize, d: usize| -> Option<bool> {
            let candidates: Vec<usize> = (j + 1..nag).filter(|&i| shape[i] > d).collect();
            let subsets: Vec<u64> = if candidates.len() <= JOINT_SUBSETS_MAX_AGENTS {
                (0..1u64 << candidates.len()).collect()
            } else {
                vec![0, (1u64 << candidates.len()) - 1]
            };
            subsets.into_iter().find_map(|mask| {
                let later: Vec<usize> = (0..candidates.len())
                    .filter(|&b| mask >> b & 1 == 1)
                    .map(|b| candidates[b])
                    .collect();
                invariant(j, c, d, &later).then_some(mask != 0)
            })
        };
        let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
        let mut joint_any = false;
        for (j, &m) in shape.iter().enumerate() {
            for c in 0..m {
                for d in c + 1..m {
                    if let Some(joint) = interchangeable(j, c, d) {
                        pairs.push((j, c, d));
                        joint_any |= joint;
                    }
                }
            }
        }
        if joint_any {
            // Lexicographic leaders only (module docs): c before d for every interchangeable
            // pair; dominance, which is no symmetry, is not combined with it.
            for (j, masks) in before.iter_mut().enumerate() {
                masks.iter_mut().for_each(|mask| *mask = 0);
                for &(_, c, d) in pairs.iter().filter(|&&(pj, _, _)| pj == j) {
                    masks[d] |= 1 << c;
                }
            }
        }
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
    /// Per depth, the children kept: (bound, action, offset of their group bounds).
    children: Vec<Vec<(f64, usize, usize)>>,
    /// Per depth, the kept children's lower bounds on the orientation costs of the next
    /// agent's groups, `group_len` values each.
    child_costs: Vec<Vec<f64>>,
    /// Per depth, the node's lower bounds on the orientation costs of `costs_agent[depth]`'s
    /// groups.
    costs: Vec<Vec<f64>>,
    costs_agent: Vec<Option<usize>>,
    /// Per agent, while its order is being built: its groups' orientation costs (fixed then)
    /// and which of them are exact.
    own: Vec<Option<(Vec<f64>, Vec<bool>)>>,
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
            child_costs: vec![Vec::new(); depth],
            costs: vec![Vec::new(); depth],
            costs_agent: vec![None; depth],
            own: vec![None; nag],
            aborted: false,
            frontier: f64::INFINITY,
        }
    }

    fn run(&mut self) -> Result<()> {
        if self.use_bounds && self.prunes(0.0) {
            return Ok(()); // the incumbent fits exactly
        }
        if self.is_leaf() {
            // Every agent has a single action: the root is the only ordering.
            let s = self.p.eval(&self.prefix)?;
            if improves(s, self.best_sse) {
                self.best_sse = s;
                self.best_orders = self.prefix.clone();
            }
            return Ok(());
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

    /// The first agent after `i` still to be ordered that has groups for the group bound.
    fn next_grouped(&self, i: usize) -> Option<usize> {
        (i + 1..self.prefix.len())
            .find(|&j| self.prefix[j].len() < self.p.shape[j])
            .filter(|&j| !self.p.groups.get(j).is_none_or(Vec::is_empty))
    }

    /// Prepares the group bounds of a node whose next agent is `i`: at the first node of
    /// agent `i`'s stage, the bounds handed down for `i`'s groups become the stage's own
    /// costs, and the costs of the next agent's groups are computed exactly.
    fn enter(&mut self, depth: usize, i: usize, next: Option<usize>) -> Result<()> {
        if self.costs_agent[depth] == Some(i) {
            let costs = std::mem::take(&mut self.costs[depth]);
            let n = costs.len();
            self.own[i] = Some((costs, vec![false; n]));
            self.costs_agent[depth] = None;
        }
        if let Some(j) = next {
            if self.costs_agent[depth] != Some(j) {
                let mut costs = std::mem::take(&mut self.costs[depth]);
                let r = self.p.all_group_costs(j, &self.prefix, &mut costs);
                self.costs[depth] = costs;
                r?;
                self.costs_agent[depth] = Some(j);
            }
        }
        Ok(())
    }

    /// A lower bound for the subtree of the current prefix (agent `i` being built, `next`
    /// the next agent with groups): the larger of agent `i`'s own group bound and either the
    /// next agent's group bound (refined lazily; the refined costs are appended to
    /// `child_costs`) or, for the last agent, the plain relaxation. The group bound of the
    /// next agent is at least the plain relaxation, which then decomposes over its actions.
    fn node_bound(
        &mut self,
        depth: usize,
        i: usize,
        next: Option<usize>,
        child_costs: &mut Vec<f64>,
    ) -> Result<f64> {
        let mut bound = 0.0;
        if let Some((mut costs, mut exact)) = self.own[i].take() {
            let r = self
                .p
                .own_group_bound(i, &self.prefix, &mut costs, &mut exact);
            self.own[i] = Some((costs, exact));
            bound = r?;
        }
        match next {
            Some(j) => {
                if self.prunes(bound) {
                    child_costs.extend_from_slice(&self.costs[depth]);
                } else {
                    let parent = std::mem::take(&mut self.costs[depth]);
                    let r = self.p.next_group_bound(
                        j,
                        &self.prefix,
                        &parent,
                        child_costs,
                        self.best_sse,
                    );
                    self.costs[depth] = parent;
                    bound = bound.max(r?);
                }
            }
            None => {
                if !self.prunes(bound) {
                    bound = bound.max(self.p.eval(&self.prefix)?);
                }
            }
        }
        Ok(bound)
    }

    fn explore(&mut self, depth: usize, node_bound: f64) -> Result<()> {
        let Some(i) = self.next_agent() else {
            return Ok(());
        };
        let m = self.p.shape[i];
        let next = if self.use_bounds {
            self.next_grouped(i)
        } else {
            None
        };
        if self.use_bounds {
            self.enter(depth, i, next)?;
        }
        let width = next.map_or(0, |j| self.p.group_len(j));
        let mut kids = std::mem::take(&mut self.children[depth]);
        kids.clear();
        let mut child_costs = std::mem::take(&mut self.child_costs[depth]);
        child_costs.clear();
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
                let offset = child_costs.len();
                let s = if leaf {
                    self.p.eval(&self.prefix)?
                } else {
                    self.node_bound(depth, i, next, &mut child_costs)?
                };
                if leaf && improves(s, self.best_sse) {
                    self.best_sse = s;
                    self.best_orders = self.prefix.clone();
                }
                self.pop(i);
                if !leaf && !self.prunes(s) {
                    kids.push((s, a, offset));
                } else {
                    child_costs.truncate(offset);
                }
            } else {
                self.pop(i);
                kids.push((node_bound, a, 0));
            }
        }
        if !self.aborted {
            if self.use_bounds {
                kids.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            }
            for &(b, a, offset) in &kids {
                if self.use_bounds && self.prunes(b) {
                    continue;
                }
                if self.aborted {
                    self.frontier = self.frontier.min(b);
                    continue;
                }
                self.push(i, a);
                if self.use_bounds {
                    let c = &mut self.costs[depth + 1];
                    c.clear();
                    c.extend_from_slice(&child_costs[offset..offset + width]);
                    self.costs_agent[depth + 1] = next;
                }
                let r = self.explore(depth + 1, b);
                self.pop(i);
                r?;
            }
        }
        self.children[depth] = kids;
        self.child_costs[depth] = child_costs;
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

/// Agent `i`'s actions sorted by `key` ascending (ties by index).
fn order_by(m: usize, key: impl Fn(usize) -> f64) -> Vec<usize> {
    let keys: Vec<f64> = (0..m).map(key).collect();
    let mut o: Vec<usize> = (0..m).collect();
    o.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
    o
}

/// Deterministic starts (orders by weighted marginal mean and by slice maximum) and seeded
/// random ones, each improved by first-improvement insertion moves until no move helps or the
/// budget ends. Returns the best ordering and its SSE.
fn multi_start_local_search(p: &mut Problem) -> Result<(Vec<Vec<usize>>, f64)> {
    let shape = p.shape.clone();
    let strides = p.strides();
    let (y, w) = (p.obs.y().to_vec(), p.obs.w().to_vec());
    let (shape_ref, strides_ref) = (&shape, &strides);
    let slice = move |i: usize, a: usize| {
        let mut cells = Vec::new();
        slice_cells(shape_ref, strides_ref, i, a, &mut cells);
        cells.into_iter()
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
    let mut rng = SplitMix64::new(0x51AB_1E5E_ED00_0001);
    for _ in 0..RANDOM_STARTS {
        starts.push(shape.iter().map(|&m| rng.permutation(m)).collect());
    }
    let mut unique: Vec<Vec<Vec<usize>>> = Vec::with_capacity(starts.len());
    for start in starts {
        if !unique.contains(&start) {
            unique.push(start);
        }
    }
    let mut best: Option<Descent> = None;
    for (idx, start) in unique.into_iter().enumerate() {
        if idx > 0 && p.exhausted() {
            break;
        }
        let d = local_search(p, start)?;
        if best.as_ref().is_none_or(|b| improves(d.sse, b.sse)) {
            best = Some(d);
        }
    }
    let mut best = best.expect("invariant: the first start always runs");
    // Iterated local search: kick the best ordering with a few random insertion moves and
    // descend again, within a share of the remaining work budget.
    let share = p.limits.work.saturating_sub(p.work()) / ILS_WORK_SHARE;
    let ils_end = p.work().saturating_add(share);
    // Under a time limit, the same share of the time left.
    let now = Instant::now();
    let ils_deadline = p
        .limits
        .deadline
        .map(|d| now + d.saturating_duration_since(now) / ILS_WORK_SHARE as u32);
    let movable: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] > 2).collect();
    if !movable.is_empty() {
        for round in 0..ILS_ROUNDS {
            if p.exhausted()
                || p.work() >= ils_end
                || ils_deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
            let mut kicked = best.orders.clone();
            for _ in 0..2 + round % (ILS_KICK_MOVES - 1) {
                let i = movable[(rng.next_u64() % movable.len() as u64) as usize];
                let m = shape[i] as u64;
                let from = (rng.next_u64() % m) as usize;
                let to = (rng.next_u64() % m) as usize;
                move_element(&mut kicked[i], from, to);
            }
            let d = local_search(p, kicked)?;
            if improves(d.sse, best.sse) {
                best = d;
            }
        }
    }
    p.best_fit = Some((best.orders.clone(), best.x));
    Ok((best.orders, best.sse))
}

/// An insertion move: agent `agent`'s action at position `from` moves to position `to`;
/// `proxy` is an upper bound on the SSE after the move (see [`proxy_moves`]).
#[derive(Debug, Clone, Copy)]
struct Move {
    agent: usize,
    from: usize,
    to: usize,
    proxy: f64,
}

/// The cells of agent `i`'s slice `u_i = a`, in row-major order of the other agents.
fn slice_cells(shape: &[usize], strides: &[usize], i: usize, a: usize, out: &mut Vec<usize>) {
    out.clear();
    let s = strides[i];
    let block = s * shape[i];
    let n: usize = shape.iter().product();
    let mut hi = 0;
    while hi < n {
        let base = hi + a * s;
        out.extend(base..base + s);
        hi += block;
    }
}

/// Every insertion move from `orders` (fit `x`, SSE `sse`) with a cheap upper bound on the
/// SSE it leads to: take action `a` of agent `i` out of the fit (the other slices stay
/// monotone) and put it back at its new position with the values
/// `clamp(t, x_prev, x_next)`, where `t` is the isotonic regression of `a`'s slice under the
/// other agents' orders and `x_prev ≤ x_next` are the fitted slices of its new neighbours
/// (pointwise ordered, and each monotone along the other agents, so the clamp is too). That
/// table is monotone under the new ordering, so its SSE bounds the regression's from above.
/// Costs `O(n · Σ m_i)` plus one small regression per slice, against one full regression
/// per move for an exact scan.
fn proxy_moves(
    p: &mut Problem,
    orders: &[Vec<usize>],
    x: &[f64],
    sse: f64,
    moves: &mut Vec<Move>,
) -> Result<()> {
    moves.clear();
    let shape = p.shape.clone();
    let strides = p.strides();
    let nag = shape.len();
    let mut cells = Vec::new();
    let mut t = Vec::new();
    let mut ops = 0u64;
    for i in 0..nag {
        let m = shape[i];
        if m < 2 {
            continue;
        }
        if m == 2 {
            // One move (the swap), costing one regression to evaluate exactly: a proxy would
            // cost about as much. It gets the neutral score `sse`.
            moves.push(Move {
                agent: i,
                from: 0,
                to: 1,
                proxy: sse,
            });
            continue;
        }
        let sub_shape: Vec<usize> = (0..nag).filter(|&j| j != i).map(|j| shape[j]).collect();
        let sub_orders: Vec<&[usize]> = (0..nag)
            .filter(|&j| j != i)
            .map(|j| orders[j].as_slice())
            .collect();
        for from in 0..m {
            if p.exhausted() {
                // Large tables: a slice's regression is costly; the scan stops with the
                // budget (the moves scored so far stay valid).
                p.extra_work = p.extra_work.saturating_add(ops);
                return Ok(());
            }
            let a = orders[i][from];
            slice_cells(&shape, &strides, i, a, &mut cells);
            let (y, w) = (p.obs.y(), p.obs.w());
            let ys: Vec<f64> = cells.iter().map(|&k| y[k]).collect();
            let ws: Vec<f64> = cells.iter().map(|&k| w[k]).collect();
            let current: f64 = cells
                .iter()
                .map(|&k| w[k] * (y[k] - x[k]) * (y[k] - x[k]))
                .sum();
            let obs = Observations::new(ys, Some(ws))?;
            t.resize(cells.len(), 0.0);
            p.solver
                .solve_prefixes(&sub_shape, &sub_orders, &obs, &mut t)?;
            let (ys, ws) = (obs.y(), obs.w());
            let s = strides[i];
            for to in 0..m {
                if to == from {
                    continue;
                }
                // The order without `a`, then `a` inserted at index `to`.
                let at = |q: usize| {
                    if q < from {
                        orders[i][q]
                    } else {
                        orders[i][q + 1]
                    }
                };
                let prev = (to > 0).then(|| at(to - 1));
                let next = (to + 1 < m).then(|| at(to));
                let mut cost = 0.0;
                for (j, &k) in cells.iter().enumerate() {
                    let base = k - a * s;
                    let mut v = t[j];
                    if let Some(b) = prev {
                        v = v.max(x[base + b * s]);
                    }
                    if let Some(b) = next {
                        v = v.min(x[base + b * s]);
                    }
                    cost += ws[j] * (ys[j] - v) * (ys[j] - v);
                }
                ops += cells.len() as u64;
                moves.push(Move {
                    agent: i,
                    from,
                    to,
                    proxy: sse - current + cost,
                });
            }
        }
    }
    p.extra_work = p.extra_work.saturating_add(ops);
    Ok(())
}

/// Local search over insertion moves from `start`: each round scores every move by its
/// proxy ([`proxy_moves`]); a move whose proxy already improves is taken at once (the exact
/// regression is at most the proxy), otherwise the moves are evaluated exactly in order of
/// their proxies and the first improving one is taken. Ends at a local optimum (no insertion
/// move improves by more than a tie) or when the budget is spent.
fn local_search(p: &mut Problem, start: Vec<Vec<usize>>) -> Result<Descent> {
    let mut cur = start;
    let mut cur_sse = p.eval(&cur)?;
    let mut cur_x = p.x.clone();
    let mut moves = Vec::new();
    'rounds: loop {
        if p.exhausted() {
            break;
        }
        proxy_moves(p, &cur, &cur_x, cur_sse, &mut moves)?;
        // Moving the action at `from − 1` to `from` gives the same order as moving the one at
        // `from` to `from − 1`: keep one of the two, with the better proxy.
        for mv in moves.iter_mut() {
            if mv.to + 1 == mv.from {
                (mv.from, mv.to) = (mv.to, mv.from);
            }
        }
        moves.sort_by(|a, b| {
            (a.agent, a.from, a.to)
                .cmp(&(b.agent, b.from, b.to))
                .then(a.proxy.total_cmp(&b.proxy))
        });
        moves.dedup_by(|later, first| {
            (later.agent, later.from, later.to) == (first.agent, first.from, first.to)
        });
        moves.sort_by(|a, b| {
            a.proxy
                .total_cmp(&b.proxy)
                .then((a.agent, a.from, a.to).cmp(&(b.agent, b.from, b.to)))
        });
        let proxied = moves.first().is_some_and(|mv| improves(mv.proxy, cur_sse));
        for mv in &moves {
            if p.exhausted() {
                break 'rounds;
            }
            move_element(&mut cur[mv.agent], mv.from, mv.to);
            let s = p.eval(&cur)?;
            if improves(s, cur_sse) || (proxied && s <= cur_sse) {
                cur_sse = s;
                cur_x.copy_from_slice(&p.x);
                continue 'rounds;
            }
            move_element(&mut cur[mv.agent], mv.to, mv.from);
        }
        break;
    }
    Ok(Descent {
        orders: cur,
        sse: cur_sse,
        x: cur_x,
    })
}

/// The end of a local search: an ordering, its SSE and its fit.
struct Descent {
    orders: Vec<Vec<usize>>,
    sse: f64,
    x: Vec<f64>,
}

/// The block lower bound (module docs) for the best of a few groupings of the actions:
/// consecutive in index order, consecutive in `orders`, and strided in `orders`. Each block
/// contributes its exact projection's SSE, or a lower bound on it when its search stops
/// (0 once `p`'s work budget is spent), so every grouping gives a valid bound.
fn block_bound(p: &mut Problem, orders: &[Vec<usize>]) -> Result<Option<f64>> {
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
    for groups in groupings {
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
            let remaining = p.limits.work.saturating_sub(p.work());
            if sub_w.iter().sum::<f64>() > 0.0 && remaining > 0 {
                // No deadline: the bound is worth its (bounded) work even past a time limit.
                let limits = Limits {
                    evaluations: BLOCK_MAX_EVALUATIONS,
                    work: remaining,
                    deadline: None,
                };
                let (r, work) = project(&sub, Some(&sub_w), limits)?;
                p.extra_work = p.extra_work.saturating_add(work);
                total += r.lower_bound.unwrap_or(0.0).max(0.0);
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
        // Agents with more than GROUP_MAX actions get several groups.
        let shapes: [&[usize]; 10] = [
            &[2, 4],
            &[3, 3],
            &[4, 4],
            &[2, 2, 3],
            &[3, 4],
            &[4, 2, 2],
            &[2, 6],
            &[3, 5],
            &[5, 3],
            &[2, 2, 5],
        ];
        for shape in shapes {
            for case in 0..16 {
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
                // Penalty-like: a function of the pattern of the joint action (all equal, how
                // many agents play 0, how many distinct actions), unchanged when actions ≥ 1
                // are relabelled in every agent at once (jointly interchangeable actions).
                let pattern = |u: &[usize]| {
                    let mut v = u.to_vec();
                    v.sort_unstable();
                    v.dedup();
                    let zeros = u.iter().filter(|&&a| a == 0).count();
                    (v.len() == 1) as usize * 16 + zeros * 4 + v.len()
                };
                let penalty_like = case % 4 >= 2;
                let mut r = [0.0f64; 64];
                if penalty_like {
                    r.iter_mut().for_each(|v| *v = (next() % 7 - 3) as f64);
                    q = JointTable::from_fn(shape.to_vec(), |u| r[pattern(u) % 64]).unwrap();
                }
                let weights: Option<Vec<f64>> = (case % 2 == 1).then(|| {
                    if penalty_like {
                        let rw: Vec<f64> = (0..64).map(|_| (next() % 3) as f64 * 0.5).collect();
                        (0..q.len())
                            .map(|k| rw[pattern(&q.joint_action(k)) % 64])
                            .collect()
                    } else {
                        (0..q.len()).map(|_| (next() % 3) as f64 * 0.5).collect()
                    }
                });
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
                p.prepare_groups(&identity).unwrap();
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

    /// Every bound of the branch-and-bound is at most the best completion of its node, by
    /// brute force over all completions: the plain relaxation, the next agent's group bound
    /// (computed from scratch and refined lazily from the parent's costs, which must agree)
    /// and the agent's own group bound, at random nodes of every stage, on tables whose
    /// agents have several groups.
    #[test]
    fn group_bounds_are_below_every_completion() {
        let mut rng = SplitMix64::new(77);
        let shapes: [&[usize]; 6] = [
            &[5, 5],
            &[2, 6],
            &[6, 3],
            &[3, 2, 5],
            &[2, 5, 2],
            &[5, 1, 3],
        ];
        let perms_of = |m: usize| permutations(m);
        for shape in shapes {
            let nag = shape.len();
            for case in 0..16 {
                let q = JointTable::from_fn(shape.to_vec(), |_| (rng.next_u64() % 9) as f64 - 4.0)
                    .unwrap();
                let weights: Option<Vec<f64>> = (case % 3 == 1)
                    .then(|| (0..q.len()).map(|_| (rng.next_u64() % 3) as f64).collect());
                if weights
                    .as_ref()
                    .is_some_and(|w| w.iter().sum::<f64>() <= 0.0)
                {
                    continue;
                }
                let obs = observations(&q, weights.as_deref()).unwrap();
                let mut p = Problem::new(shape.to_vec(), obs, Limits::NONE);
                let incumbent: Vec<Vec<usize>> =
                    shape.iter().map(|&m| rng.permutation(m)).collect();
                p.prepare_groups(&incumbent).unwrap();
                // A node: agent i being built (prefix of 1..m−1 actions), earlier agents
                // complete, later ones free (single-action agents are always complete).
                let buildable: Vec<usize> = (0..nag).filter(|&i| shape[i] > 1).collect();
                let i = buildable[(rng.next_u64() % buildable.len() as u64) as usize];
                let mut prefixes: Vec<Vec<usize>> = (0..nag)
                    .map(|j| match j.cmp(&i) {
                        std::cmp::Ordering::Less => rng.permutation(shape[j]),
                        _ if shape[j] == 1 => vec![0],
                        _ => vec![],
                    })
                    .collect();
                let order_i = rng.permutation(shape[i]);
                let k = 1 + (rng.next_u64() % (shape[i] as u64 - 1)) as usize;
                prefixes[i] = order_i[..k].to_vec();
                // Brute force: every completion.
                let mut best = f64::INFINITY;
                let rest_i: Vec<usize> =
                    (0..shape[i]).filter(|a| !prefixes[i].contains(a)).collect();
                let mut choices: Vec<Vec<Vec<usize>>> = vec![perms_of(rest_i.len())
                    .into_iter()
                    .map(|pm| {
                        let mut o = prefixes[i].clone();
                        o.extend(pm.iter().map(|&l| rest_i[l]));
                        o
                    })
                    .collect()];
                for &m in &shape[i + 1..] {
                    choices.push(perms_of(m));
                }
                let mut pick = vec![0usize; choices.len()];
                loop {
                    let mut full = prefixes[..i].to_vec();
                    for (c, &x) in choices.iter().zip(&pick) {
                        full.push(c[x].clone());
                    }
                    best = best.min(p.eval(&full).unwrap());
                    let mut d = pick.len();
                    while d > 0 {
                        d -= 1;
                        pick[d] += 1;
                        if pick[d] < choices[d].len() {
                            break;
                        }
                        pick[d] = 0;
                    }
                    if pick.iter().all(|&x| x == 0) {
                        break;
                    }
                }
                let tol = 1e-9 * (1.0 + best);
                let plain = p.eval(&prefixes).unwrap();
                assert!(plain <= best + tol, "plain {plain} > {best}");
                if let Some(j) = (i + 1..nag).find(|&j| shape[j] > 1) {
                    let width = p.group_len(j);
                    let mut from_scratch = Vec::new();
                    let b0 = p
                        .next_group_bound(
                            j,
                            &prefixes,
                            &vec![0.0; width],
                            &mut from_scratch,
                            f64::INFINITY,
                        )
                        .unwrap();
                    let mut parent_prefixes = prefixes.clone();
                    parent_prefixes[i].pop();
                    let mut parent = Vec::new();
                    p.all_group_costs(j, &parent_prefixes, &mut parent).unwrap();
                    let mut lazy = Vec::new();
                    let b1 = p
                        .next_group_bound(j, &prefixes, &parent, &mut lazy, f64::INFINITY)
                        .unwrap();
                    assert!(b0 <= best + tol, "{shape:?} next-group bound {b0} > {best}");
                    assert_abs_diff_eq!(b0, b1, epsilon = tol);
                    assert!(b0 >= plain - tol, "group bound {b0} below plain {plain}");
                    // The refined costs stay lower bounds of the exact ones.
                    let mut exact_costs = Vec::new();
                    p.all_group_costs(j, &prefixes, &mut exact_costs).unwrap();
                    for (l, e) in lazy.iter().zip(&exact_costs) {
                        assert!(*l <= e + tol, "refined cost {l} above exact {e}");
                    }
                }
                if i > 0 && !p.groups[i].is_empty() {
                    let mut stage_root = prefixes.clone();
                    stage_root[i].clear();
                    let mut costs = Vec::new();
                    p.all_group_costs(i, &stage_root, &mut costs).unwrap();
                    let mut exact = vec![false; costs.len()];
                    let own = p
                        .own_group_bound(i, &prefixes, &mut costs, &mut exact)
                        .unwrap();
                    assert!(
                        own <= best + tol,
                        "{shape:?} own-group bound {own} > {best}"
                    );
                }
            }
        }
    }

    #[test]
    fn permutations_are_listed_once_each() {
        for m in 0..6 {
            let ps = permutations(m);
            let expect: usize = (1..=m).product();
            assert_eq!(ps.len(), expect);
            let mut sorted = ps.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), ps.len());
            assert!(ps.iter().all(|p| check_permutation(p, m, "p").is_ok()));
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
        let mut p = Problem::new(vec![4, 5], observations(&q, None).unwrap(), Limits::NONE);
        let b = block_bound(&mut p, &full.orders).unwrap().unwrap();
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
        // Penalty game: relabelling a ↔ c for both agents at once is a symmetry (rows a and c
        // differ, no action dominates another): a before c for agent 1 only.
        let q = table(
            vec![3, 3],
            &[10.0, 0.0, -100.0, 0.0, 2.0, 0.0, -100.0, 0.0, 10.0],
        );
        let p = Problem::new(vec![3, 3], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        assert_eq!(st.before[0], vec![0, 0, 1]);
        assert_eq!(st.before[1], vec![0, 0, 0]);
        assert_eq!(st.sym_prev, vec![None, Some(0)]);
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        let every = (0..36)
            .map(|k| {
                let perms = permutations(3);
                let orders = [perms[k / 6].clone(), perms[k % 6].clone()];
                project_qmix_with_orders(&q, &orders, None).unwrap().sse
            })
            .fold(f64::INFINITY, f64::min);
        assert_abs_diff_eq!(r.sse, every, epsilon = 1e-9);
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

    /// Every agent with one action (a whole game, or a block of the block bound such as the
    /// `[1, 1]` corner of a 10 × 10 grid cut into groups of 3): the single ordering is
    /// evaluated, not left empty.
    #[test]
    fn single_action_agents() {
        for shape in [vec![1, 1], vec![1, 1, 1]] {
            let q = JointTable::new(shape.clone(), vec![3.5]).unwrap();
            let r = project_qmix(&q, &QmixOptions::default()).unwrap();
            assert!(r.exact);
            assert_eq!(r.orders, vec![vec![0]; shape.len()]);
            assert_abs_diff_eq!(r.sse, 0.0, epsilon = 1e-12);
        }
        // A 10 × 10 game reaches the block bound with a 1 × 1 block.
        let q =
            JointTable::from_fn(vec![10, 10], |u| ((u[0] * 7 + u[1] * 13) % 11) as f64).unwrap();
        let opts = QmixOptions {
            max_orderings: Some(2_000),
            ..QmixOptions::default()
        };
        let r = project_qmix(&q, &opts).unwrap();
        assert!(r.lower_bound.is_some_and(|lb| lb <= r.sse + 1e-9));
    }

    #[test]
    fn budgets_parse() {
        let parse = |t: &str| t.parse::<QmixBudget>();
        assert_eq!(parse("interactive").unwrap(), QmixBudget::Interactive);
        assert_eq!(parse(" FULL ").unwrap(), QmixBudget::Full);
        assert_eq!(parse("250000").unwrap(), QmixBudget::Work(250_000));
        assert_eq!(parse("2_500_000").unwrap(), QmixBudget::Work(2_500_000));
        assert_eq!(parse("2.5e8").unwrap(), QmixBudget::Work(250_000_000));
        for bad in ["", "fast", "-1", "1.5", "1e30", "nan"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        for b in [
            QmixBudget::Interactive,
            QmixBudget::Full,
            QmixBudget::Work(7),
        ] {
            assert_eq!(parse(&b.to_string()).unwrap(), b);
        }
        assert_eq!(
            QmixBudget::Interactive.work_units(),
            INTERACTIVE_WORK_BUDGET
        );
        assert_eq!(QmixBudget::Full.work_units(), DEFAULT_WORK_BUDGET);
        assert_eq!(
            QmixOptions::interactive().work_budget,
            Some(INTERACTIVE_WORK_BUDGET)
        );
        assert_eq!(QmixOptions::default().work_budget, None);
    }

    /// The interactive budget on the 21-action game: a heuristic answer, labelled so, with a
    /// lower bound, reproducible, and the work stays within the budget (up to one step).
    #[test]
    fn interactive_budget_on_the_21_action_game() {
        let q =
            JointTable::from_fn(vec![21, 21], |u| crate::io::twentyone_payoff(u[0], u[1])).unwrap();
        let limits = Limits {
            evaluations: u64::MAX,
            work: INTERACTIVE_WORK_BUDGET,
            deadline: None,
        };
        let (r, work) = project(&q, None, limits).unwrap();
        assert!(!r.exact);
        assert_eq!(r.method, METHOD_LOCAL_SEARCH);
        let lb = r.lower_bound.expect("a lower bound");
        assert!(lb > 0.0 && lb <= r.sse, "bound {lb}, sse {}", r.sse);
        assert!(is_monotone(&r.q_tot, &r.orders));
        // One step past the budget at most: a proxy scan (n Σ m_i) or one regression.
        assert!(
            work <= INTERACTIVE_WORK_BUDGET + 100_000,
            "work {work} over the budget"
        );
        let again = project_qmix(&q, &QmixOptions::interactive()).unwrap();
        assert_eq!(again, r);
        // The optimum is around MSE 11.5: the heuristic is close, the bound below it.
        assert!(r.mse < 12.0, "mse {}", r.mse);
    }

    /// Small games stay exact under the interactive budget.
    #[test]
    fn interactive_budget_keeps_small_games_exact() {
        for v in [&TABLE1, &CLIMBING] {
            let q = table(vec![3, 3], v);
            let r = project_qmix(&q, &QmixOptions::interactive()).unwrap();
            let full = project_qmix(&q, &QmixOptions::default()).unwrap();
            assert!(r.exact);
            assert_eq!(r, full);
        }
        // 2 × 6 (518 400 orderings): exact through the branch-and-bound.
        let q =
            JointTable::from_fn(vec![6, 6], |u| (((u[0] * 5 + u[1] * 3) * 7) % 11) as f64).unwrap();
        let r = project_qmix(&q, &QmixOptions::interactive()).unwrap();
        assert!(r.exact, "{r:?}");
        assert_eq!(r.method, METHOD_BRANCH_AND_BOUND);
    }

    #[test]
    fn orderings_total_saturates() {
        assert_eq!(orderings_total(&[3, 3]), 36);
        assert_eq!(orderings_total(&[1, 2, 4]), 48);
        assert_eq!(orderings_total(&[40, 40]), u128::MAX);
    }
}
