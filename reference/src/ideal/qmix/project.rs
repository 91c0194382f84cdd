//! The projection's entry points ([`project_qmix`], [`project_qmix_with_orders`]), its result
//! ([`QmixProjection`]) and method labels, and the driver that runs the enumeration or the
//! branch-and-bound, the local search and the lower bound (module docs).

use super::block_bound::block_bound;
use super::branch_bound::Tree;
use super::local_search::multi_start_local_search;
use super::options::{QmixOptions, DEFAULT_WORK_BUDGET};
use super::problem::{improves, Limits, Problem};
use super::symmetry::Structure;
use crate::error::{Error, Result};
use crate::isotonic::{check_permutation, Dag, IsotonicSolver, Observations};
use crate::table::JointTable;
use crate::tol;
use std::time::Instant;

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

/// Share of a work budget held back for the lower bound of a search that does not finish:
/// a quarter, at most this many units.
const BOUND_RESERVE_MAX: u64 = 25_000_000;

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
pub(super) fn project(
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

pub(super) fn observations(q: &JointTable, weights: Option<&[f64]>) -> Result<Observations> {
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

#[cfg(test)]
mod tests {
    use super::super::INTERACTIVE_WORK_BUDGET;
    use super::*;
    use crate::fixtures::{climbing, table1};
    use approx::assert_abs_diff_eq;

    fn table(shape: Vec<usize>, v: &[f64]) -> JointTable {
        JointTable::new(shape, v.to_vec()).unwrap()
    }

    #[test]
    fn qtran_table1_projection() {
        let q = table1();
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
        let q = table1();
        let r = project_qmix_with_orders(&q, &[vec![0, 1, 2], vec![0, 1, 2]], None).unwrap();
        assert_abs_diff_eq!(r.sse, 320.0, epsilon = 1e-9);
        assert_abs_diff_eq!(r.mse, 320.0 / 9.0, epsilon = 1e-9);
        assert!(!r.exact);
        assert_eq!(r.method, METHOD_GIVEN_ORDERS);
        assert!(is_monotone(&r.q_tot, &r.orders));
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
        for q in [table1(), climbing()] {
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
