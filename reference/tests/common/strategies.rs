//! proptest strategies for small games: 1–4 agents, 1–5 actions each, payoffs that are small
//! integers or multiples of 1/8 (dyadic, so sums, ties and affine maps with dyadic
//! coefficients are exact in floating point and no test depends on rounding luck).

use proptest::prelude::*;
use reference::table::joint_size;
use reference::{JointTable, Utilities};

/// Action counts: 1–4 agents, 1–5 actions each.
pub fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=5, 1..=4)
}

/// Action counts of exactly `n` agents.
pub fn shape_of(n: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=5, n)
}

/// A payoff: an integer in −20..=20, or a multiple of 1/8 in −10..=10.
pub fn payoff() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-20i32..=20).prop_map(f64::from),
        (-80i32..=80).prop_map(|k| f64::from(k) / 8.0)
    ]
}

/// A table of the given shape with [`payoff`] values.
pub fn table_of(shape: Vec<usize>) -> impl Strategy<Value = JointTable> {
    let len = joint_size(&shape).expect("small shape");
    prop::collection::vec(payoff(), len)
        .prop_map(move |v| JointTable::new(shape.clone(), v).expect("valid table"))
}

/// A random game (ties, including tied optima, are common).
pub fn game() -> impl Strategy<Value = JointTable> {
    shape().prop_flat_map(table_of)
}

/// A random game of `n` agents.
pub fn game_of(n: usize) -> impl Strategy<Value = JointTable> {
    shape_of(n).prop_flat_map(table_of)
}

/// Raises the first optimal entry by 1/2 so that the optimum is unique.
pub fn make_unique(mut q: JointTable) -> JointTable {
    let k = q.argmax_set()[0];
    q.values_mut()[k] += 0.5;
    q
}

/// A random game with a unique optimum.
pub fn game_unique_optimum() -> impl Strategy<Value = JointTable> {
    game().prop_map(make_unique)
}

/// Integer utilities of the given shape in −10..=10 (ties are common).
pub fn utilities_of(shape: Vec<usize>) -> impl Strategy<Value = Utilities> {
    shape
        .into_iter()
        .map(|n| prop::collection::vec((-10i32..=10).prop_map(f64::from), n))
        .collect::<Vec<_>>()
        .prop_map(Utilities)
}

/// A random game with random utilities of its shape (rarely IGM).
pub fn game_and_utilities() -> impl Strategy<Value = (JointTable, Utilities)> {
    shape().prop_flat_map(|s| (table_of(s.clone()), utilities_of(s)))
}

/// An additive table `Σ_i Q_i` with its utilities.
pub fn additive_game() -> impl Strategy<Value = (JointTable, Utilities)> {
    shape()
        .prop_flat_map(utilities_of)
        .prop_map(|u| (JointTable::additive(&u), u))
}

/// A table with utilities that satisfy IGM for it: random utilities and table, then every
/// greedy joint action `u ∈ G` is set to `max + 1`, so that the argmax set is exactly `G`.
pub fn igm_pair() -> impl Strategy<Value = (JointTable, Utilities)> {
    game_and_utilities().prop_map(|(mut q, u)| {
        let top = q.max() + 1.0;
        let greedy: Vec<Vec<usize>> = (0..u.n_agents()).map(|i| u.greedy_set(i)).collect();
        for k in 0..q.len() {
            let ua = q.joint_action(k);
            if ua.iter().zip(&greedy).all(|(a, g)| g.contains(a)) {
                q.values_mut()[k] = top;
            }
        }
        (q, u)
    })
}

/// Positive weights, multiples of 1/8 in [1/8, 4].
pub fn positive_weights(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((1i32..=32).prop_map(|k| f64::from(k) / 8.0), len)
}

/// A game and positive weights for it.
pub fn game_and_weights() -> impl Strategy<Value = (JointTable, Vec<f64>)> {
    game().prop_flat_map(|q| {
        let len = q.len();
        (Just(q), positive_weights(len))
    })
}

/// A game and weights that are zero on many joint actions but positive on the "star" of a
/// base joint action `u⁰` (every `u` differing from `u⁰` in at most one agent), which
/// identifies the utilities up to the gauge: `Q_i(a) − Q_i(u⁰_i) = Q_tot(a, u⁰_−i) − Q_tot(u⁰)`.
pub fn game_and_sparse_weights() -> impl Strategy<Value = (JointTable, Vec<f64>)> {
    game().prop_flat_map(|q| {
        let len = q.len();
        let base = q.shape().iter().map(|&n| 0..n).collect::<Vec<_>>();
        let w = prop::collection::vec(
            prop_oneof![Just(0.0), (1i32..=32).prop_map(|k| f64::from(k) / 8.0)],
            len,
        );
        (Just(q), base, w).prop_map(|(q, base, mut w)| {
            for (k, u) in q.iter().map(|(u, _)| u).enumerate() {
                if u.iter().zip(&base).filter(|(a, b)| a != b).count() <= 1 && w[k] <= 0.0 {
                    w[k] = 1.0;
                }
            }
            (q, w)
        })
    })
}

/// A positive dyadic scale in [1/8, 8] and an integer offset in −10..=10.
pub fn affine_pair() -> impl Strategy<Value = (f64, f64)> {
    (
        (1i32..=64).prop_map(|k| f64::from(k) / 8.0),
        (-10i32..=10).prop_map(f64::from),
    )
}

/// An integer additive table of the given shape plus integer noise in −1..=1 per joint action
/// (near-additive games, where QTRAN-alt solutions for N > 2 are less rare).
pub fn near_additive_of(shape: Vec<usize>) -> impl Strategy<Value = JointTable> {
    let len = joint_size(&shape).expect("small shape");
    (utilities_of(shape), prop::collection::vec(-1i32..=1, len)).prop_map(|(u, noise)| {
        let mut q = JointTable::additive(&u);
        q.values_mut()
            .iter_mut()
            .zip(noise)
            .for_each(|(v, e)| *v += f64::from(e));
        q
    })
}
