//! Global least-squares projection onto QMIX's monotonic class.
//!
//! With free utilities, QMIX's class is every table that is monotone non-decreasing in each
//! agent's action under some total order `π_i` of that agent's actions (`DOMAIN.md`). The
//! projection of `Q` (weights `w ≥ 0`, uniform by default) is therefore
//!
//! $$ \min_{\pi_1,\dots,\pi_N} \; \min_{x \text{ isotone on } \pi_1\times\dots\times\pi_N} \sum_u w(u)\,(Q(u) - x(u))^2 , $$
//!
//! an isotonic regression ([`crate::isotonic`]) for each of the `∏ |U_i|!` orderings. The
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

#[cfg(doc)]
use crate::isotonic::IsotonicSolver;
#[cfg(doc)]
use crate::tol;

mod block_bound;
mod bounds;
mod branch_bound;
mod local_search;
mod options;
mod problem;
mod project;
mod symmetry;

pub use bounds::GROUP_MAX;
pub use options::{QmixBudget, QmixOptions, DEFAULT_WORK_BUDGET, INTERACTIVE_WORK_BUDGET};
pub use project::{
    is_monotone, orderings_total, project_qmix, project_qmix_with_orders, QmixProjection,
    BRANCH_AND_BOUND_MAX_ORDERINGS, ENUMERATION_MAX_ORDERINGS, METHOD_BRANCH_AND_BOUND,
    METHOD_ENUMERATION, METHOD_GIVEN_ORDERS, METHOD_LOCAL_SEARCH, METHOD_SORT,
};
