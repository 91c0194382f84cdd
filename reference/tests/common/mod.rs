//! Shared helpers for the integration tests: the games named in `docs/DOMAIN.md` and small
//! utilities. Each test binary uses a different subset, hence `dead_code` is allowed.
#![allow(dead_code)]

pub mod strategies;

use reference::{JointTable, Utilities};

/// A two-agent table from its rows.
pub fn matrix(rows: &[&[f64]]) -> JointTable {
    let n2 = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == n2), "ragged matrix");
    JointTable::new(vec![rows.len(), n2], rows.concat()).expect("valid matrix")
}

/// QTRAN paper Table 1a.
pub fn qtran_table1() -> JointTable {
    matrix(&[&[8.0, -12.0, -12.0], &[-12.0, 0.0, 0.0], &[-12.0, 0.0, 0.0]])
}

/// Climbing game (Claus & Boutilier 1998).
pub fn climbing() -> JointTable {
    matrix(&[&[11.0, -30.0, 0.0], &[-30.0, 7.0, 6.0], &[0.0, 0.0, 5.0]])
}

/// Penalty game with off-diagonal corner payoff `k ≤ 0`.
pub fn penalty(k: f64) -> JointTable {
    matrix(&[&[10.0, 0.0, k], &[0.0, 2.0, 0.0], &[k, 0.0, 10.0]])
}

/// State 2B of the QMIX two-step game (Rashid et al. 2018).
pub fn two_step_2b() -> JointTable {
    matrix(&[&[0.0, 1.0], &[1.0, 8.0]])
}

/// The two QPLEX matrix games.
pub fn qplex_games() -> [JointTable; 2] {
    [
        matrix(&[&[10.4, 0.0, 10.0], &[0.0, 10.0, 10.0], &[10.0, 10.0, 10.0]]),
        matrix(&[&[8.0, -12.0, -12.0], &[-12.0, 6.0, 0.0], &[-12.0, 0.0, 6.0]]),
    ]
}

/// Looks a game up by the name used in `data/golden/numbers.csv`.
pub fn named_game(name: &str) -> Option<JointTable> {
    Some(match name {
        "qtran_table1" => qtran_table1(),
        "climbing" => climbing(),
        "two_step_2b" => two_step_2b(),
        "qplex_1" => qplex_games()[0].clone(),
        "qplex_2" => qplex_games()[1].clone(),
        _ => {
            let k = name.strip_prefix("penalty_k")?;
            penalty(k.parse().ok()?)
        }
    })
}

/// `|a − b| ≤ tol`.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Largest absolute element-wise difference of two tables of one shape.
pub fn max_abs_diff(a: &JointTable, b: &JointTable) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.values()
        .iter()
        .zip(b.values())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Independent product-set test: a set of joint actions is a Cartesian product iff it is
/// closed under mixing coordinates of any two members (for every agent mask).
pub fn is_product_by_mixing(set: &[Vec<usize>]) -> bool {
    if set.is_empty() {
        return false;
    }
    let n = set[0].len();
    for u in set {
        for v in set {
            for mask in 0u32..(1 << n) {
                let w: Vec<usize> = (0..n)
                    .map(|i| if mask >> i & 1 == 1 { u[i] } else { v[i] })
                    .collect();
                if !set.contains(&w) {
                    return false;
                }
            }
        }
    }
    true
}

/// Utilities as plain vectors, for building [`Utilities`] in tests.
pub fn utilities(rows: &[&[f64]]) -> Utilities {
    Utilities(rows.iter().map(|r| r.to_vec()).collect())
}
