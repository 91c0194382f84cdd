//! Individual-Global-Max (IGM), with set semantics for ties.
//!
//! Utilities `[Q_i]` satisfy IGM for `Q_jt` when the argmax *set* of `Q_jt` equals the
//! Cartesian product of the agents' argmax sets `argmax Q_i` (see `docs/DOMAIN.md`). Consequently
//! `Q_jt` is IGM-factorizable — some utilities satisfy IGM for it — exactly when its argmax set
//! is a product set: take `Q_i = 1` on the `i`-th factor and `0` elsewhere. A unique optimum is
//! always a product set; the two optima `(a,a)`, `(c,c)` of the penalty game are not.
//!
//! Ties are decided by [`tol::tied`](crate::tol::tied), both in `Q_jt` and in each `Q_i`.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::optimal::optimal_joint_actions;
use crate::table::{JointTable, Utilities};

/// If the set of joint actions `set` (over action counts `shape`) is a Cartesian product
/// `S_1 × … × S_N`, the factors `S_i`, each sorted ascending; otherwise `None`.
///
/// Duplicates in `set` are ignored. Returns `None` for an empty set and for joint actions that
/// do not fit `shape` (wrong length or an action index out of range).
///
/// A finite set is a product iff its size equals the product of the sizes of its coordinate
/// projections (it is always contained in that product).
pub fn product_decomposition(shape: &[usize], set: &[Vec<usize>]) -> Option<Vec<Vec<usize>>> {
    if set.is_empty() {
        return None;
    }
    if set
        .iter()
        .any(|u| u.len() != shape.len() || u.iter().zip(shape).any(|(&a, &s)| a >= s))
    {
        return None;
    }
    let mut distinct: Vec<&Vec<usize>> = set.iter().collect();
    distinct.sort();
    distinct.dedup();
    let factors: Vec<Vec<usize>> = (0..shape.len())
        .map(|i| {
            let mut f: Vec<usize> = distinct.iter().map(|u| u[i]).collect();
            f.sort_unstable();
            f.dedup();
            f
        })
        .collect();
    // The product size cannot overflow: every factor size is ≤ |set| and the product of the
    // factor sizes is compared only while it stays ≤ |set|.
    let mut product: usize = 1;
    for f in &factors {
        product = product.saturating_mul(f.len());
        if product > distinct.len() {
            return None;
        }
    }
    (product == distinct.len()).then_some(factors)
}

/// True when `q`'s argmax set (ties by [`tol`](crate::tol)) is a product set, i.e. when some
/// utilities satisfy IGM for `q`.
pub fn igm_factorizable(q: &JointTable) -> bool {
    product_decomposition(q.shape(), &optimal_joint_actions(q)).is_some()
}

/// The outcome of an IGM check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgmReport {
    /// True when `argmax_set` equals the Cartesian product of `greedy_sets`.
    pub holds: bool,
    /// The optimal joint actions of `Q_jt`, in storage order.
    pub argmax_set: Vec<Vec<usize>>,
    /// Each agent's greedy action set `argmax Q_i`, ascending.
    pub greedy_sets: Vec<Vec<usize>>,
}

/// Errors unless `utilities` fit `q_jt`: same number of agents, same action counts, finite
/// values.
pub fn validate_utilities(q_jt: &JointTable, utilities: &Utilities) -> Result<()> {
    let shape = utilities.shape();
    if shape != q_jt.shape() {
        return Err(Error::Invalid(format!(
            "utilities have action counts {shape:?} but the joint table has {:?}",
            q_jt.shape()
        )));
    }
    for (i, q_i) in utilities.0.iter().enumerate() {
        if let Some(v) = q_i.iter().find(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "utility of agent {} is not finite: {v}",
                i + 1
            )));
        }
    }
    Ok(())
}

/// Checks IGM of `utilities` for `q_jt` with set semantics. Errors when the shapes differ or a
/// utility is not finite.
pub fn check_igm(q_jt: &JointTable, utilities: &Utilities) -> Result<IgmReport> {
    check_igm_within(q_jt, utilities, &crate::tol::Tolerance::EXACT)
}

/// [`check_igm`] for learned utilities against an exact `q_jt`: the utilities' ties are
/// decided by `tolerance`, `q_jt`'s optimal set stays exact.
pub fn check_igm_within(
    q_jt: &JointTable,
    utilities: &Utilities,
    tolerance: &crate::tol::Tolerance,
) -> Result<IgmReport> {
    validate_utilities(q_jt, utilities)?;
    let argmax_set = optimal_joint_actions(q_jt);
    let greedy_sets: Vec<Vec<usize>> = (0..utilities.n_agents())
        .map(|i| utilities.greedy_set_within(i, tolerance))
        .collect();
    // `argmax_set` has no duplicates, so it equals the product of the greedy sets iff it is a
    // product whose factors are exactly the greedy sets.
    let holds = product_decomposition(q_jt.shape(), &argmax_set)
        .is_some_and(|factors| factors == greedy_sets);
    Ok(IgmReport {
        holds,
        argmax_set,
        greedy_sets,
    })
}

/// IGM for learned tables, to `tolerance`: every greedy joint action of `utilities` (each
/// agent's greedy set with ties decided by `tolerance`) attains `max q_jt` to `tolerance`
/// (`q_jt(ū) ≥ max q_jt − tolerance.threshold(max |q_jt|)`).
///
/// This is the direction that decentralised execution needs: the agents' greedy choices are
/// jointly greedy. Exact [`check_igm`] also asks the converse (every optimum of `q_jt` is a
/// greedy joint action), which f32 tables meet only by accident where `q_jt` has ties (a
/// QMIX mixer flat in one agent's utility keeps `Q_tot` tied to rounding while the utility
/// still prefers one action). For exact tables with a unique optimum the two agree.
pub fn greedy_attains_max(
    q_jt: &JointTable,
    utilities: &Utilities,
    tolerance: &crate::tol::Tolerance,
) -> Result<bool> {
    validate_utilities(q_jt, utilities)?;
    let m = q_jt.max();
    let floor = m - tolerance.threshold(m.abs());
    Ok(utilities
        .greedy_joint_set_within(tolerance)
        .iter()
        .all(|&k| q_jt.values()[k] >= floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(shape: Vec<usize>, values: Vec<f64>) -> JointTable {
        JointTable::new(shape, values).unwrap()
    }

    fn penalty(k: f64) -> JointTable {
        table(vec![3, 3], vec![10.0, 0.0, k, 0.0, 2.0, 0.0, k, 0.0, 10.0])
    }

    #[test]
    fn product_sets_are_recognised() {
        let s = vec![vec![0, 1], vec![2, 1], vec![0, 0], vec![2, 0], vec![0, 0]];
        assert_eq!(
            product_decomposition(&[3, 2], &s),
            Some(vec![vec![0, 2], vec![0, 1]])
        );
        let diag = vec![vec![0, 0], vec![2, 2]];
        assert_eq!(product_decomposition(&[3, 3], &diag), None);
        assert_eq!(product_decomposition(&[3, 3], &[]), None);
        assert_eq!(product_decomposition(&[3, 3], &[vec![3, 0]]), None);
        assert_eq!(product_decomposition(&[3, 3], &[vec![0]]), None);
        assert_eq!(
            product_decomposition(&[4], &[vec![3], vec![1]]),
            Some(vec![vec![1, 3]])
        );
    }

    #[test]
    fn penalty_game_ties() {
        // k = -100: optima (a,a) and (c,c) form no product set.
        assert!(!igm_factorizable(&penalty(-100.0)));
        // k = 10 makes the corners optimal too: {a,c} × {a,c} is a product set.
        assert!(igm_factorizable(&penalty(10.0)));
        let u = Utilities(vec![vec![1.0, 0.0, 1.0], vec![3.0, -1.0, 3.0]]);
        let r = check_igm(&penalty(10.0), &u).unwrap();
        assert!(r.holds);
        assert_eq!(r.greedy_sets, vec![vec![0, 2], vec![0, 2]]);
        // One greedy action only covers half the argmax set.
        let u = Utilities(vec![vec![1.0, 0.0, 0.5], vec![3.0, -1.0, 3.0]]);
        assert!(!check_igm(&penalty(10.0), &u).unwrap().holds);
    }

    #[test]
    #[allow(clippy::approx_constant)] // −3.14 is the paper's Q_2(A), not π
    fn table1_utilities() {
        let q = table(
            vec![3, 3],
            vec![8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0],
        );
        assert!(igm_factorizable(&q));
        // QTRAN's learned utilities (paper Table 1b): greedy (A, A).
        let qtran = Utilities(vec![vec![3.84, -2.06, -2.25], vec![4.16, 2.29, 2.29]]);
        let r = check_igm(&q, &qtran).unwrap();
        assert!(r.holds);
        assert_eq!(r.argmax_set, vec![vec![0, 0]]);
        // VDN's learned utilities (Table 1e): greedy (C, B).
        let vdn = Utilities(vec![vec![-2.29, -1.22, -0.73], vec![-3.14, -2.29, -2.41]]);
        let r = check_igm(&q, &vdn).unwrap();
        assert!(!r.holds);
        assert_eq!(r.greedy_sets, vec![vec![2], vec![1]]);
    }

    #[test]
    fn shape_mismatch_and_nan_are_errors() {
        let q = table(vec![2, 2], vec![1.0, 0.0, 0.0, 0.0]);
        assert!(check_igm(&q, &Utilities(vec![vec![1.0, 0.0]])).is_err());
        assert!(check_igm(&q, &Utilities(vec![vec![1.0, 0.0], vec![1.0]])).is_err());
        assert!(check_igm(&q, &Utilities(vec![vec![1.0, 0.0], vec![f64::NAN, 0.0]])).is_err());
        assert!(
            check_igm(&q, &Utilities(vec![vec![1.0, 0.0], vec![1.0, 0.0]]))
                .unwrap()
                .holds
        );
    }

    #[test]
    fn greedy_attains_max_forgives_rounding_ties_only() {
        use crate::tol::Tolerance;
        // Q_tot tied to rounding in agent 2's action while agent 2 prefers action 0.
        let q = table(vec![2, 2], vec![8.0, 8.0 + 1e-7, 0.0, 1.0]);
        let u = Utilities(vec![vec![1.0, 0.0], vec![0.5, 0.4]]);
        assert!(!check_igm(&q, &u).unwrap().holds);
        assert!(greedy_attains_max(&q, &u, &Tolerance::LEARNED).unwrap());
        // A real gap is never forgiven.
        let q = table(vec![2, 2], vec![8.0, 8.01, 0.0, 1.0]);
        assert!(!greedy_attains_max(&q, &u, &Tolerance::LEARNED).unwrap());
        // Near-tied utilities count both actions greedy: both must attain the max.
        let u = Utilities(vec![vec![1.0, 0.0], vec![0.5, 0.5 - 1e-7]]);
        let q = table(vec![2, 2], vec![8.0, 7.0, 0.0, 1.0]);
        assert!(!greedy_attains_max(&q, &u, &Tolerance::LEARNED).unwrap());
        assert!(greedy_attains_max(&q, &u, &Tolerance::EXACT).unwrap());
    }
}
