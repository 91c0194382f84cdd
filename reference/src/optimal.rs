//! Optimal joint actions of a joint table: every `u` with `Q(u)` tied with `max_u Q(u)`.
//!
//! Ties are decided by [`tol::tied`](crate::tol::tied) (relative tolerance
//! [`TIE_TOL`](crate::tol::TIE_TOL)), so that the payoffs `10` and `10 + 1e-12` count as one
//! optimum shared by two joint actions.

use crate::table::JointTable;

/// All joint actions tied with the maximum of `q`, in storage order (row-major, agent 1
/// slowest). Never empty: a table has at least one joint action.
pub fn optimal_joint_actions(q: &JointTable) -> Vec<Vec<usize>> {
    q.argmax_set()
        .into_iter()
        .map(|k| q.joint_action(k))
        .collect()
}

/// The optimal value `Q* = max_u Q(u)`.
pub fn optimal_value(q: &JointTable) -> f64 {
    q.max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table1_has_one_optimum() {
        let q = JointTable::new(
            vec![3, 3],
            vec![8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0],
        )
        .unwrap();
        assert_eq!(optimal_joint_actions(&q), vec![vec![0, 0]]);
        assert!((optimal_value(&q) - 8.0).abs() < 1e-12);
    }

    #[test]
    fn penalty_game_ties_in_storage_order() {
        // Penalty game with k = -100: optima (a,a) and (c,c), both 10.
        let q = JointTable::new(
            vec![3, 3],
            vec![10.0, 0.0, -100.0, 0.0, 2.0, 0.0, -100.0, 0.0, 10.0],
        )
        .unwrap();
        assert_eq!(optimal_joint_actions(&q), vec![vec![0, 0], vec![2, 2]]);
    }

    #[test]
    fn ties_within_tolerance_count_and_outside_do_not() {
        let q = JointTable::new(vec![2, 1, 2], vec![5.0, 5.0 - 1e-12, 4.9, 5.0 - 1e-6]).unwrap();
        assert_eq!(
            optimal_joint_actions(&q),
            vec![vec![0, 0, 0], vec![0, 0, 1]]
        );
        // Brute force: a joint action is optimal iff no other value exceeds it by more than
        // the tolerance.
        for (u, v) in q.iter() {
            let optimal = q
                .iter()
                .all(|(_, w)| w - v <= 1e-9 * v.abs().max(w.abs()).max(1.0));
            assert_eq!(optimal, optimal_joint_actions(&q).contains(&u));
        }
    }
}
