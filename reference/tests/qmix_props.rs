//! Property tests of the QMIX projection (`reference::ideal::qmix`) against independent
//! computations: a brute force over every ordering with a brute-force isotonic regression
//! (the min–max formula over all upper and lower sets), the VDN projection (additive tables
//! are monotone, so QMIX can never fit worse), and monotone games (fitted exactly).
//!
//! Payoffs are small integers, often with ties, identical action slices, dominated actions
//! and symmetric agents, so that the search's symmetry and dominance reductions are exercised.
//! Tolerance: `1e-9 · (1 + SSE)` on sums of squares (rounding only; the payoffs are exact).

use proptest::prelude::*;
use reference::ideal::qmix::{
    is_monotone, orderings_total, project_qmix, project_qmix_with_orders, QmixOptions,
    QmixProjection,
};
use reference::ideal::vdn::project_vdn;
use reference::JointTable;

/// Shapes small enough for the brute force (≤ 12 cells, ≤ 120 orderings), 1–3 agents.
const BRUTE_SHAPES: &[&[usize]] = &[
    &[1],
    &[4],
    &[5],
    &[2, 2],
    &[2, 3],
    &[3, 2],
    &[3, 3],
    &[1, 3],
    &[2, 4],
    &[2, 2, 2],
    &[2, 1, 3],
    &[2, 2, 3],
];

/// Brute-force shapes with more than 720 orderings: solved by the branch-and-bound.
const BNB_SHAPES: &[&[usize]] = &[&[2, 6], &[6, 2], &[1, 6, 2]];

/// Larger shapes (1–4 agents, up to 5 actions) still solved exactly in well under a second.
const EXACT_SHAPES: &[&[usize]] = &[
    &[5, 4],
    &[4, 4],
    &[3, 3, 3],
    &[2, 2, 2, 2],
    &[3, 2, 2, 2],
    &[5, 3],
    &[1, 5, 2],
];

fn tol(x: f64) -> f64 {
    1e-9 * (1.0 + x.abs())
}

/// A game on `shape` with payoffs in −4..=4, optionally with action `1` of every agent a
/// copy of action `0` (identical slices) and, for two agents with equal action counts,
/// symmetric under swapping the agents.
fn game(shape: &'static [usize]) -> impl Strategy<Value = JointTable> {
    let n: usize = shape.iter().product();
    (
        prop::collection::vec(-4i32..=4, n),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(v, duplicate, symmetric)| {
            let mut q =
                JointTable::new(shape.to_vec(), v.iter().map(|&x| f64::from(x)).collect()).unwrap();
            if duplicate {
                q = JointTable::from_fn(shape.to_vec(), |u| {
                    let w: Vec<usize> = u
                        .iter()
                        .zip(shape)
                        .map(|(&a, &m)| if a == 1 && m > 2 { 0 } else { a })
                        .collect();
                    q.get(&w)
                })
                .unwrap();
            }
            if symmetric && shape.len() == 2 && shape[0] == shape[1] {
                q = JointTable::from_fn(shape.to_vec(), |u| {
                    let (a, b) = (u[0].min(u[1]), u[0].max(u[1]));
                    q.get(&[a, b])
                })
                .unwrap();
            }
            q
        })
}

/// Weights in {0, 0.5, 1, 2} with a positive total, or `None`.
fn weights(n: usize) -> impl Strategy<Value = Option<Vec<f64>>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(prop::sample::select(vec![0.0, 0.5, 1.0, 2.0]), n)
            .prop_filter("positive total", |w| w.iter().sum::<f64>() > 0.0)
            .prop_map(Some),
    ]
}

fn brute_case() -> impl Strategy<Value = (JointTable, Option<Vec<f64>>)> {
    case_on(BRUTE_SHAPES)
}

fn case_on(
    shapes: &'static [&'static [usize]],
) -> impl Strategy<Value = (JointTable, Option<Vec<f64>>)> {
    prop::sample::select(shapes.to_vec()).prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        (game(shape), weights(n))
    })
}

/// Every permutation of `0..m`.
fn permutations(m: usize) -> Vec<Vec<usize>> {
    if m == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(m - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, m - 1);
            out.push(q);
        }
    }
    out
}

/// Every tuple of orders (one permutation per agent).
fn all_orderings(shape: &[usize]) -> Vec<Vec<Vec<usize>>> {
    let mut out = vec![vec![]];
    for &m in shape {
        let perms = permutations(m);
        out = out
            .into_iter()
            .flat_map(|prefix: Vec<Vec<usize>>| {
                perms.iter().map(move |p| {
                    let mut t = prefix.clone();
                    t.push(p.clone());
                    t
                })
            })
            .collect();
    }
    out
}

/// Brute-force isotonic regression SSE under `orders`: the min–max formula
/// `x_k = max_{upper U ∋ k} min_{lower L ∋ k} Av_w(U ∩ L)` over every upper and lower set of
/// the positive-weight cells, ordered by comparing each agent's rank (cells of weight 0 are
/// free and drop out; the order among the others is still the product order).
fn brute_isotonic_sse(q: &JointTable, w: &[f64], orders: &[Vec<usize>]) -> f64 {
    let cells: Vec<usize> = (0..q.len()).filter(|&k| w[k] > 0.0).collect();
    let n = cells.len();
    assert!(n <= 12);
    let rank: Vec<Vec<usize>> = orders
        .iter()
        .map(|o| {
            let mut r = vec![0; o.len()];
            for (pos, &a) in o.iter().enumerate() {
                r[a] = pos;
            }
            r
        })
        .collect();
    let ranks: Vec<Vec<usize>> = cells
        .iter()
        .map(|&k| {
            q.joint_action(k)
                .iter()
                .enumerate()
                .map(|(i, &a)| rank[i][a])
                .collect()
        })
        .collect();
    // up[a]: bit mask of cells above a (including a).
    let up: Vec<u32> = (0..n)
        .map(|a| {
            (0..n)
                .filter(|&b| ranks[a].iter().zip(&ranks[b]).all(|(x, y)| x <= y))
                .fold(0u32, |m, b| m | 1 << b)
        })
        .collect();
    let full = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
    let uppers: Vec<u32> = (1..=full)
        .filter(|&s| (0..n).all(|a| s >> a & 1 == 0 || up[a] & !s == 0))
        .collect();
    let lowers: Vec<u32> = uppers
        .iter()
        .map(|&u| full & !u)
        .filter(|&l| l != 0)
        .chain([full])
        .collect();
    let y: Vec<f64> = cells.iter().map(|&k| q.values()[k]).collect();
    let wc: Vec<f64> = cells.iter().map(|&k| w[k]).collect();
    let av = |s: u32| {
        let (mut a, mut b) = (0.0, 0.0);
        for k in 0..n {
            if s >> k & 1 == 1 {
                a += wc[k] * y[k];
                b += wc[k];
            }
        }
        a / b
    };
    (0..n)
        .map(|k| {
            let x = uppers
                .iter()
                .filter(|&&u| u >> k & 1 == 1)
                .map(|&u| {
                    lowers
                        .iter()
                        .filter(|&&l| l >> k & 1 == 1)
                        .map(|&l| av(u & l))
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(f64::NEG_INFINITY, f64::max);
            wc[k] * (y[k] - x) * (y[k] - x)
        })
        .sum()
}

fn brute_projection_sse(q: &JointTable, w: &[f64]) -> f64 {
    all_orderings(q.shape())
        .iter()
        .map(|o| brute_isotonic_sse(q, w, o))
        .fold(f64::INFINITY, f64::min)
}

/// A table monotone under random orders: multidimensional prefix sums of non-negative
/// increments on the rank grid, relabelled through the orders.
fn monotone_game() -> impl Strategy<Value = (JointTable, Vec<Vec<usize>>)> {
    prop::sample::select(
        EXACT_SHAPES
            .iter()
            .chain(BRUTE_SHAPES)
            .copied()
            .collect::<Vec<_>>(),
    )
    .prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        let orders: Vec<_> = shape
            .iter()
            .map(|&m| Just((0..m).collect::<Vec<usize>>()).prop_shuffle())
            .collect();
        (
            Just(shape),
            prop::collection::vec(0i32..=3, n),
            orders,
            -5i32..=5,
        )
    })
    .prop_map(|(shape, inc, orders, base)| {
        // f on the rank grid: prefix sums along every dimension in turn.
        let mut f: Vec<f64> = inc.iter().map(|&v| f64::from(v)).collect();
        let mut stride = 1;
        for i in (0..shape.len()).rev() {
            for k in 0..f.len() {
                if (k / stride) % shape[i] > 0 {
                    f[k] += f[k - stride];
                }
            }
            stride *= shape[i];
        }
        let rank_grid = JointTable::new(shape.to_vec(), f).unwrap();
        let q = JointTable::from_fn(shape.to_vec(), |u| {
            let r: Vec<usize> = u
                .iter()
                .enumerate()
                .map(|(i, &a)| orders[i].iter().position(|&b| b == a).unwrap())
                .collect();
            rank_grid.get(&r) + f64::from(base)
        })
        .unwrap();
        (q, orders)
    })
}

/// A projection cut short by a budget, checked against brute force: never better than the
/// optimum, monotone in its orders, `exact` only when optimal, else labelled heuristic.
/// Returns it with the optimal SSE.
fn cut_short_projection(
    q: &JointTable,
    w: Option<Vec<f64>>,
    opts: &QmixOptions,
) -> Result<(QmixProjection, f64), TestCaseError> {
    let r = project_qmix(q, opts).unwrap();
    let wv = w.unwrap_or_else(|| vec![1.0; q.len()]);
    let opt = brute_projection_sse(q, &wv);
    prop_assert!(r.sse >= opt - tol(opt));
    prop_assert!(is_monotone(&r.q_tot, &r.orders));
    if r.exact {
        prop_assert!((r.sse - opt).abs() <= tol(opt));
    } else {
        prop_assert_eq!(r.method.as_str(), "local search (heuristic)");
    }
    Ok((r, opt))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The projection equals the brute force over all orderings, is certified exact, is
    /// monotone under its orders, and its SSE is consistent with its table.
    #[test]
    fn matches_brute_force((q, w) in brute_case()) {
        let opts = QmixOptions { weights: w.clone(), ..QmixOptions::default() };
        let r = project_qmix(&q, &opts).unwrap();
        let wv = w.clone().unwrap_or_else(|| vec![1.0; q.len()]);
        let want = brute_projection_sse(&q, &wv);
        prop_assert!(r.exact, "not exact: {r:?}");
        prop_assert!((r.sse - want).abs() <= tol(want), "sse {} vs brute force {}", r.sse, want);
        prop_assert!(is_monotone(&r.q_tot, &r.orders));
        let direct: f64 = (0..q.len()).map(|k| wv[k] * (q.values()[k] - r.q_tot.values()[k]).powi(2)).sum();
        prop_assert!((direct - r.sse).abs() <= tol(want));
        prop_assert!((r.mse - r.sse / wv.iter().sum::<f64>()).abs() <= tol(r.mse));
        prop_assert_eq!(r.lower_bound, Some(r.sse));
        prop_assert_eq!(r.orderings_total, orderings_total(q.shape()));
        // The regression under the returned orders is the same fit.
        let again = project_qmix_with_orders(&q, &r.orders, w.as_deref()).unwrap();
        prop_assert!((again.sse - r.sse).abs() <= tol(r.sse));
        // Deterministic.
        prop_assert_eq!(project_qmix(&q, &opts).unwrap(), r);
    }

    /// Never worse than VDN: additive tables are monotone under the orders that sort the
    /// utilities.
    #[test]
    fn no_worse_than_vdn(q in prop::sample::select(EXACT_SHAPES.iter().chain(BRUTE_SHAPES).copied().collect::<Vec<_>>()).prop_flat_map(game)) {
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        let v = project_vdn(&q, None).unwrap();
        prop_assert!(r.exact, "not exact on {:?}", q.shape());
        prop_assert!(r.sse <= v.sse + tol(v.sse), "qmix {} > vdn {}", r.sse, v.sse);
        prop_assert!(is_monotone(&r.q_tot, &r.orders));
        // VDN's own fit is monotone under the orders sorting its utilities, so the
        // regression under those orders is at most VDN's SSE too.
        let orders: Vec<Vec<usize>> = v.utilities.0.iter().map(|qi| {
            let mut o: Vec<usize> = (0..qi.len()).collect();
            o.sort_by(|&a, &b| qi[a].total_cmp(&qi[b]).then(a.cmp(&b)));
            o
        }).collect();
        let g = project_qmix_with_orders(&q, &orders, None).unwrap();
        prop_assert!(r.sse <= g.sse + tol(g.sse) && g.sse <= v.sse + tol(v.sse));
    }

    /// Monotone games are fitted exactly, whatever the orders that make them monotone.
    #[test]
    fn monotone_games_fit_exactly((q, orders) in monotone_game()) {
        prop_assert!(is_monotone(&q, &orders));
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        prop_assert!(r.exact);
        prop_assert!(r.sse <= 1e-9, "sse {}", r.sse);
        for (a, b) in r.q_tot.values().iter().zip(q.values()) {
            prop_assert!((a - b).abs() <= 1e-9);
        }
        let g = project_qmix_with_orders(&q, &orders, None).unwrap();
        prop_assert!(g.sse <= 1e-9);
    }

    /// With a tiny budget the result is labelled heuristic unless proven, and its lower
    /// bound brackets the true optimum.
    #[test]
    fn budgeted_results_bracket_the_optimum((q, w) in brute_case(), budget in 1u64..40) {
        let opts = QmixOptions { weights: w.clone(), max_orderings: Some(budget), ..QmixOptions::default() };
        let r = project_qmix(&q, &opts).unwrap();
        let wv = w.unwrap_or_else(|| vec![1.0; q.len()]);
        let opt = brute_projection_sse(&q, &wv);
        prop_assert!(r.sse >= opt - tol(opt));
        prop_assert!(is_monotone(&r.q_tot, &r.orders));
        if r.exact {
            prop_assert!((r.sse - opt).abs() <= tol(opt));
        }
        if let Some(lb) = r.lower_bound {
            prop_assert!(lb <= opt + tol(opt), "bound {lb} above the optimum {opt}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// The branch-and-bound (pruning, pair bounds, symmetry and dominance reductions) finds
    /// the brute-force optimum over all 1440 orderings.
    #[test]
    fn branch_and_bound_matches_brute_force((q, w) in case_on(BNB_SHAPES)) {
        let opts = QmixOptions { weights: w.clone(), ..QmixOptions::default() };
        let r = project_qmix(&q, &opts).unwrap();
        let wv = w.unwrap_or_else(|| vec![1.0; q.len()]);
        let want = brute_projection_sse(&q, &wv);
        prop_assert!(r.exact);
        prop_assert_eq!(r.method.as_str(), "branch-and-bound");
        prop_assert!((r.sse - want).abs() <= tol(want), "sse {} vs brute force {}", r.sse, want);
        prop_assert!(is_monotone(&r.q_tot, &r.orders));
    }

    /// A budget that stops the branch-and-bound early still yields a valid lower bound.
    #[test]
    fn interrupted_branch_and_bound_brackets_the_optimum((q, w) in case_on(BNB_SHAPES), budget in 1u64..200) {
        let opts = QmixOptions { weights: w.clone(), max_orderings: Some(budget), ..QmixOptions::default() };
        let (r, opt) = cut_short_projection(&q, w, &opts)?;
        let lb = r.lower_bound.unwrap();
        prop_assert!(lb <= opt + tol(opt), "bound {} above the optimum {}", lb, opt);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Work budgets (deterministic) down to nothing: the fit is never better than the
    /// optimum, `exact` only when it is optimal, and any lower bound is below the optimum;
    /// the same budget gives the same answer.
    #[test]
    fn work_budgets_bracket_the_optimum((q, w) in case_on(BNB_SHAPES), budget in 0u64..20_000) {
        let opts = QmixOptions { weights: w.clone(), work_budget: Some(budget), ..QmixOptions::default() };
        let (r, opt) = cut_short_projection(&q, w, &opts)?;
        if let Some(lb) = r.lower_bound {
            prop_assert!(lb <= opt + tol(opt), "bound {} above the optimum {}", lb, opt);
        }
        prop_assert_eq!(project_qmix(&q, &opts).unwrap(), r);
    }
}

#[test]
fn paper_numbers() {
    let t1 = JointTable::new(vec![3, 3], vec![8., -12., -12., -12., 0., 0., -12., 0., 0.]).unwrap();
    let r = project_qmix(&t1, &QmixOptions::default()).unwrap();
    assert!(r.exact);
    assert!((r.mse - 32.0).abs() < 1e-9 && (r.sse - 288.0).abs() < 1e-9);
    assert_eq!(r.q_tot.argmax_set(), vec![0]);
    assert!((brute_projection_sse(&t1, &[1.0; 9]) - 288.0).abs() < 1e-9);
    let learned = project_qmix_with_orders(&t1, &[vec![0, 1, 2], vec![0, 1, 2]], None).unwrap();
    assert!((learned.sse - 320.0).abs() < 1e-9);
    assert!((learned.mse - 35.5556).abs() < 1e-4);

    let climbing =
        JointTable::new(vec![3, 3], vec![11., -30., 0., -30., 7., 6., 0., 0., 5.]).unwrap();
    let r = project_qmix(&climbing, &QmixOptions::default()).unwrap();
    assert!(r.exact);
    assert!((r.mse - 110.8241).abs() < 5e-5, "mse {}", r.mse);
    assert_eq!(r.q_tot.argmax_set(), vec![climbing.index_of(&[2, 2])]);
    assert!((brute_projection_sse(&climbing, &[1.0; 9]) - r.sse).abs() < 1e-9);

    let two_step_2b = JointTable::new(vec![2, 2], vec![0., 1., 1., 8.]).unwrap();
    let r = project_qmix(&two_step_2b, &QmixOptions::default()).unwrap();
    assert!(r.exact && r.sse.abs() < 1e-12);
}
