//! Positive affine maps `φ(Q) = A·Q + B` (`A` diagonal, `a_ii > 0`) and the necessity half of
//! QTRAN's Theorem 1.
//!
//! Theorem 1 is necessary only up to such a map: if `[Q_i]` satisfy IGM for `Q_jt`, then
//! `[a·Q_i + b_i]` meet (4) for every small enough common scale `a > 0`, whatever the `b_i`.
//! [`largest_common_scale`] computes the largest such `a` exactly.
//!
//! Derivation. With `V_jt` by definition, `Q* = max Q_jt`, `G` the greedy set of the utilities
//! and `ū ∈ G`, the scaled utilities give
//! `D_a(u) = a·(Q'(u) − Q'(ū)) + (Q* − Q_jt(u))` (the `b_i` cancel between `Q'` and `V_jt`).
//! On `G`, `Q'(u) = Q'(ū)` and, by IGM, `Q_jt(u) = Q*`, so (4a) holds for every `a`. Off `G`,
//! some agent is strictly below its maximum, so `Q'(ū) − Q'(u) > 0`, and by IGM
//! `Q* − Q_jt(u) > 0`; (4b) at `u` is `a ≤ (Q* − Q_jt(u)) / (Q'(ū) − Q'(u))`, a positive bound.
//! Hence (4) holds exactly for `a ∈ (0, a*]` with `a*` the least bound (`+∞` when `G` is every
//! joint action), and fails at the binding joint action for every `a > a*`.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::igm::{check_igm, validate_utilities};
use crate::table::{JointTable, Utilities};

fn check_scale(what: &str, a: f64) -> Result<()> {
    if !(a.is_finite() && a > 0.0) {
        return Err(Error::Invalid(format!(
            "{what} must be finite and > 0, got {a}"
        )));
    }
    Ok(())
}

/// `[a_i·Q_i + b_i]`. Errors unless there is one `a_i > 0` (finite) and one finite `b_i` per
/// agent and every result is finite.
pub fn apply(utilities: &Utilities, a: &[f64], b: &[f64]) -> Result<Utilities> {
    let n = utilities.n_agents();
    if a.len() != n || b.len() != n {
        return Err(Error::Invalid(format!(
            "an affine map of {n} utilities needs {n} scales and {n} offsets, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for (i, q_i) in utilities.0.iter().enumerate() {
        check_scale(&format!("the scale a_{}", i + 1), a[i])?;
        if !b[i].is_finite() {
            return Err(Error::Invalid(format!(
                "the offset b_{} = {} is not finite",
                i + 1,
                b[i]
            )));
        }
        let mapped: Vec<f64> = q_i.iter().map(|&q| a[i] * q + b[i]).collect();
        if mapped.iter().any(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "the map overflows agent {}'s utilities",
                i + 1
            )));
        }
        out.push(mapped);
    }
    Ok(Utilities(out))
}

/// `a·Q + b` for a joint table. Errors unless `a > 0` and `b` are finite and the result is.
pub fn apply_joint(q: &JointTable, a: f64, b: f64) -> Result<JointTable> {
    check_scale("the scale a", a)?;
    if !b.is_finite() {
        return Err(Error::Invalid(format!("the offset b = {b} is not finite")));
    }
    JointTable::new(
        q.shape().to_vec(),
        q.values().iter().map(|&v| a * v + b).collect(),
    )
}

/// The largest common scale `a*` for which `[a*·Q_i + b_i]` meet (4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommonScale {
    /// `a* > 0`; `+∞` when every joint action is greedy (nothing bounds it).
    pub scale: f64,
    /// The joint action whose bound is `a*` (first in storage order among equals); `None` when
    /// `scale` is infinite.
    pub binding: Option<Vec<usize>>,
}

/// The largest `a > 0` such that `[a·Q_i + b_i]` meet Theorem 1's (4) for `q_jt`, for any
/// offsets `b_i`. Every `a ∈ (0, a*]` works and every larger `a` fails (module docs). Errors
/// when the utilities do not satisfy IGM for `q_jt` (then no positive affine map helps) or the
/// shapes differ.
pub fn largest_common_scale(q_jt: &JointTable, utilities: &Utilities) -> Result<CommonScale> {
    validate_utilities(q_jt, utilities)?;
    let igm = check_igm(q_jt, utilities)?;
    if !igm.holds {
        return Err(Error::Invalid(format!(
            "the utilities do not satisfy IGM for Q_jt (argmax set {:?}, greedy sets {:?}); \
             (4) implies IGM and positive affine maps of the utilities keep their greedy \
             sets, so no common scale makes (4) hold",
            igm.argmax_set, igm.greedy_sets
        )));
    }
    let q_star = q_jt.max();
    let maxima: Vec<f64> = utilities
        .0
        .iter()
        .map(|q_i| q_i.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        .collect();
    let greedy: Vec<Vec<bool>> = igm
        .greedy_sets
        .iter()
        .zip(q_jt.shape())
        .map(|(set, &n)| (0..n).map(|a| set.contains(&a)).collect())
        .collect();
    let mut best = CommonScale {
        scale: f64::INFINITY,
        binding: None,
    };
    for (u, q) in q_jt.iter() {
        if u.iter().zip(&greedy).all(|(&a, g)| g[a]) {
            continue;
        }
        // Q'(ū) − Q'(u) as a sum of non-negative terms, one of them beyond the tie tolerance,
        // so it is > 0 in floating point too; Q* − Q(u) > 0 because u is not optimal (IGM).
        let gap: f64 = u
            .iter()
            .zip(utilities.0.iter().zip(&maxima))
            .map(|(&a, (q_i, m))| m - q_i[a])
            .sum();
        let bound = (q_star - q) / gap;
        if bound < best.scale {
            best = CommonScale {
                scale: bound,
                binding: Some(u),
            };
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qtran::theorem1;

    use crate::fixtures::table1;

    #[test]
    fn apply_maps_and_rejects() {
        let u = Utilities(vec![vec![1.0, -1.0], vec![0.5]]);
        let m = apply(&u, &[2.0, 4.0], &[1.0, -3.0]).unwrap();
        assert_eq!(m, Utilities(vec![vec![3.0, -1.0], vec![-1.0]]));
        assert!(apply(&u, &[0.0, 1.0], &[0.0, 0.0]).is_err());
        assert!(apply(&u, &[-1.0, 1.0], &[0.0, 0.0]).is_err());
        assert!(apply(&u, &[1.0], &[0.0, 0.0]).is_err());
        assert!(apply(&u, &[1.0, 1.0], &[f64::NAN, 0.0]).is_err());
        assert!(apply(&u, &[1e308, 1.0], &[0.0, 1e308]).is_ok());
        assert!(apply(&u, &[1e308, 1.0], &[1e308, 0.0]).is_err());
        let q = apply_joint(&table1(), 0.5, 1.0).unwrap();
        assert!((q.get(&[0, 0]) - 5.0).abs() < 1e-12 && (q.get(&[2, 1]) - 1.0).abs() < 1e-12);
        assert!(apply_joint(&table1(), 0.0, 1.0).is_err());
    }

    #[test]
    fn table1_vdn_like_utilities_need_a_small_scale() {
        // Utilities greedy at (A, A): Q_1 = Q_2 = [1, 0, 0]. Q'(ū) − Q'(u) is 1 when one agent
        // deviates and 2 when both do; Q* − Q(u) is 20 on row/column A and 8 elsewhere.
        // Bounds: 20/1 = 20 and 8/2 = 4, so a* = 4, binding at (B, B).
        let u = Utilities(vec![vec![1.0, 0.0, 0.0], vec![1.0, 0.0, 0.0]]);
        let s = largest_common_scale(&table1(), &u).unwrap();
        assert!((s.scale - 4.0).abs() < 1e-12);
        assert_eq!(s.binding, Some(vec![1, 1]));
        let at = apply(&u, &[s.scale, s.scale], &[3.0, -7.0]).unwrap();
        assert!(theorem1(&table1(), &at, None).unwrap().holds);
        let above = apply(&u, &[4.001, 4.001], &[3.0, -7.0]).unwrap();
        let t = theorem1(&table1(), &above, None).unwrap();
        assert!(t.cond_4a && !t.cond_4b);
        assert!((t.violation_4b - 0.002).abs() < 1e-9);
    }

    #[test]
    fn unbounded_and_non_igm() {
        let q = JointTable::new(vec![2], vec![1.0, 1.0]).unwrap();
        let s = largest_common_scale(&q, &Utilities(vec![vec![5.0, 5.0]])).unwrap();
        assert!(s.scale.is_infinite() && s.binding.is_none());
        let err = largest_common_scale(&table1(), &Utilities(vec![vec![0.0, 1.0, 0.0]; 2]));
        assert!(err.unwrap_err().to_string().contains("do not satisfy IGM"));
    }
}
