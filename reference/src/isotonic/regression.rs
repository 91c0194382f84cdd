//! One-call entry points: the isotonic regression on a product of chains
//! ([`isotonic_regression`], [`try_isotonic_regression`]) and on any order
//! ([`isotonic_regression_dag`]).

use super::observations::Observations;
use super::order::{check_permutation, Dag};
use super::solver::IsotonicSolver;
use crate::error::{Error, Result};

/// Exact weighted isotonic regression on the product of chains: agent `i`'s actions ascend as
/// listed in `orders[i]`. `y` and `w` are row-major over `shape` in the original action
/// indexing (agent 1 slowest). Returns `x` with `x_u ≤ x_v` whenever `v` is above `u` in
/// every agent's order.
///
/// # Panics
///
/// On malformed arguments (lengths that do not match `shape`, orders that are not
/// permutations, non-finite values, negative weights); [`try_isotonic_regression`] reports
/// them as errors instead.
pub fn isotonic_regression(
    y: &[f64],
    w: &[f64],
    shape: &[usize],
    orders: &[Vec<usize>],
) -> Vec<f64> {
    match try_isotonic_regression(y, w, shape, orders) {
        Ok(x) => x,
        Err(e) => panic!("isotonic_regression: {e}"),
    }
}

/// [`isotonic_regression`] returning malformed arguments as errors.
pub fn try_isotonic_regression(
    y: &[f64],
    w: &[f64],
    shape: &[usize],
    orders: &[Vec<usize>],
) -> Result<Vec<f64>> {
    if orders.len() != shape.len() {
        return Err(Error::Invalid(format!(
            "{} orders for {} agents",
            orders.len(),
            shape.len()
        )));
    }
    for (o, &m) in orders.iter().zip(shape) {
        check_permutation(o, m, "an agent's order")?;
    }
    let obs = Observations::new(y.to_vec(), Some(w.to_vec()))?;
    let mut x = vec![0.0; y.len()];
    IsotonicSolver::new().solve_prefixes(shape, orders, &obs, &mut x)?;
    Ok(x)
}

/// Exact weighted isotonic regression on an arbitrary order given by `dag`.
pub fn isotonic_regression_dag(y: &[f64], w: &[f64], dag: &Dag) -> Result<Vec<f64>> {
    let obs = Observations::new(y.to_vec(), Some(w.to_vec()))?;
    let mut x = vec![0.0; y.len()];
    IsotonicSolver::new().solve(dag, &obs, &mut x)?;
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    use super::super::test_support::{brute_minmax, brute_partitions, random_case, sse};
    use crate::rng::SplitMix64 as Rng;

    #[test]
    fn matches_both_brute_forces_on_tiny_grids() {
        let mut rng = Rng::new(7);
        let shapes: [&[usize]; 6] = [&[3, 3], &[2, 2, 2], &[2, 3], &[4], &[3, 2], &[1, 3]];
        for shape in shapes {
            for case in 0..30 {
                let integer = case % 2 == 0;
                let (y, w, orders) = random_case(&mut rng, shape, integer);
                let dag = Dag::product_of_chains(shape, &orders).unwrap();
                let edges: Vec<_> = dag.edges().collect();
                let x = isotonic_regression(&y, &w, shape, &orders);
                assert!(dag.is_monotone(&x, 0.0), "not monotone: {x:?}");
                let got = sse(&y, &w, &x);
                let want = brute_partitions(&y, &w, &edges);
                assert_abs_diff_eq!(got, want, epsilon = 1e-9 * (1.0 + want));
                let mm = brute_minmax(&y, &w, &edges);
                for k in 0..x.len() {
                    assert_abs_diff_eq!(x[k], mm[k], epsilon = 1e-9);
                }
            }
        }
    }

    #[test]
    fn matches_minmax_formula_on_4x4_and_2x2x3() {
        let mut rng = Rng::new(11);
        for shape in [&[4usize, 4][..], &[2, 2, 3]] {
            for case in 0..6 {
                let (y, w, orders) = random_case(&mut rng, shape, case % 2 == 0);
                let dag = Dag::product_of_chains(shape, &orders).unwrap();
                let edges: Vec<_> = dag.edges().collect();
                let x = isotonic_regression(&y, &w, shape, &orders);
                let mm = brute_minmax(&y, &w, &edges);
                for k in 0..x.len() {
                    assert_abs_diff_eq!(x[k], mm[k], epsilon = 1e-9);
                }
            }
        }
    }

    #[test]
    fn zero_weights_are_free_and_kept_monotone() {
        let mut rng = Rng::new(21);
        for case in 0..40 {
            let shape = [3usize, 4];
            let (y, mut w, orders) = random_case(&mut rng, &shape, case % 2 == 0);
            for v in w.iter_mut() {
                if rng.below(3) == 0 {
                    *v = 0.0;
                }
            }
            let dag = Dag::product_of_chains(&shape, &orders).unwrap();
            let x = isotonic_regression(&y, &w, &shape, &orders);
            assert!(dag.is_monotone(&x, 0.0));
            // Compare with tiny positive weights in place of the zeros (continuity).
            let w_eps: Vec<f64> = w.iter().map(|&v| if v > 0.0 { v } else { 1e-9 }).collect();
            let x_eps = isotonic_regression(&y, &w_eps, &shape, &orders);
            assert_abs_diff_eq!(sse(&y, &w, &x), sse(&y, &w, &x_eps), epsilon = 1e-6);
            // Brute force on the positive cells with the induced order (through free cells).
            let pos: Vec<usize> = (0..w.len()).filter(|&k| w[k] > 0.0).collect();
            if pos.len() <= 12 && !pos.is_empty() {
                let reach = transitive_closure(&dag);
                let mut rel = vec![];
                for (i, &a) in pos.iter().enumerate() {
                    for (j, &b) in pos.iter().enumerate() {
                        if a != b && reach[a][b] {
                            rel.push((i, j));
                        }
                    }
                }
                let yp: Vec<f64> = pos.iter().map(|&k| y[k]).collect();
                let wp: Vec<f64> = pos.iter().map(|&k| w[k]).collect();
                let mm = brute_minmax(&yp, &wp, &rel);
                for (i, &k) in pos.iter().enumerate() {
                    assert_abs_diff_eq!(x[k], mm[i], epsilon = 1e-9);
                }
            }
        }
    }

    fn transitive_closure(dag: &Dag) -> Vec<Vec<bool>> {
        let n = dag.n();
        let mut r = vec![vec![false; n]; n];
        for (s, row) in r.iter_mut().enumerate() {
            let mut stack = vec![s];
            while let Some(a) = stack.pop() {
                for &b in dag.successors(a) {
                    if !row[b] {
                        row[b] = true;
                        stack.push(b);
                    }
                }
            }
        }
        r
    }

    #[test]
    fn rejects_malformed_arguments() {
        assert!(Observations::new(vec![f64::NAN], None).is_err());
        assert!(Observations::new(vec![1.0], Some(vec![-1.0])).is_err());
        assert!(Observations::new(vec![1.0], Some(vec![1.0, 2.0])).is_err());
        assert!(
            try_isotonic_regression(&[1.0; 4], &[1.0; 4], &[2, 2], &[vec![0, 0], vec![0, 1]])
                .is_err()
        );
        assert!(
            try_isotonic_regression(&[1.0; 4], &[1.0; 3], &[2, 2], &[vec![0, 1], vec![0, 1]])
                .is_err()
        );
        assert!(Dag::new(2, &[(0, 2)]).is_err());
        let dag = Dag::new(2, &[(0, 1)]).unwrap();
        let obs = Observations::new(vec![1.0; 3], None).unwrap();
        assert!(IsotonicSolver::new()
            .solve(&dag, &obs, &mut [0.0; 3])
            .is_err());
    }

    #[test]
    fn cycles_force_equality_and_all_zero_weights_give_a_constant() {
        let dag = Dag::new(3, &[(0, 1), (1, 2), (2, 0)]).unwrap();
        let x = isotonic_regression_dag(&[1.0, 2.0, 6.0], &[1.0; 3], &dag).unwrap();
        assert_eq!(x, vec![3.0; 3]);
        let x = isotonic_regression(&[2.0, 1.0], &[0.0, 0.0], &[2], &[vec![0, 1]]);
        assert_eq!(x, vec![1.5, 1.5]);
    }

    #[test]
    fn qtran_table1_under_both_orderings() {
        let y = [8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0];
        let w = [1.0; 9];
        // A highest for both agents: 8 at (A,A), −6 elsewhere, SSE 288.
        let x = isotonic_regression(&y, &w, &[3, 3], &[vec![1, 2, 0], vec![1, 2, 0]]);
        assert_abs_diff_eq!(x[0], 8.0, epsilon = 1e-12);
        for &v in &x[1..] {
            assert_abs_diff_eq!(v, -6.0, epsilon = 1e-12);
        }
        assert_abs_diff_eq!(sse(&y, &w, &x), 288.0, epsilon = 1e-9);
        // A lowest for both (the paper's learned ordering): SSE 320.
        let x = isotonic_regression(&y, &w, &[3, 3], &[vec![0, 1, 2], vec![0, 1, 2]]);
        assert_abs_diff_eq!(sse(&y, &w, &x), 320.0, epsilon = 1e-9);
    }
}
