//! Test fixtures shared by the unit tests: the games of docs/DOMAIN.md as tables.

use crate::table::JointTable;

/// QTRAN's Table 1 game [[8,−12,−12],[−12,0,0],[−12,0,0]].
pub(crate) fn table1() -> JointTable {
    JointTable::new(
        vec![3, 3],
        vec![8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0],
    )
    .expect("invariant: a valid table")
}

/// The climbing game [[11,−30,0],[−30,7,6],[0,0,5]].
pub(crate) fn climbing() -> JointTable {
    JointTable::new(
        vec![3, 3],
        vec![11.0, -30.0, 0.0, -30.0, 7.0, 6.0, 0.0, 0.0, 5.0],
    )
    .expect("invariant: a valid table")
}

/// Three agents, two actions: 0 at (0,0,0) and −1 elsewhere.
pub(crate) fn coordination3() -> JointTable {
    JointTable::from_fn(vec![2, 2, 2], |u| {
        if u.iter().all(|&a| a == 0) {
            0.0
        } else {
            -1.0
        }
    })
    .expect("invariant: a valid table")
}
