//! QTRAN's ideal: utilities and `V_jt` that meet Theorem 1's (4) (QTRAN-base) or Theorem 2's
//! (4a)+(7) (QTRAN-alt) for a given joint table `Q` used as `Q_jt` itself.
//!
//! Everything returned here has been verified with [`theorem1`] (and [`theorem2`] for
//! QTRAN-alt) and [`check_igm`] before it is returned; a construction that fails verification
//! is reported, never returned as a solution.
//!
//! All constructions use the gauge `V_jt = 0` (the paper's fully observable setting, Table 1
//! footnote). Notation: `Q* = max Q`, `P = P_1 × … × P_N` the argmax set of `Q` (a product set
//! when `Q` is IGM-factorizable), `R = Q − Q*` (≤ 0, and 0 exactly on `P`), and
//! `D(u) = Σ_i Q_i(u_i) − Q(u) + V_jt`.
//!
//! QTRAN-base ([`qtran_base`]) always has a solution when `Q` is IGM-factorizable. QTRAN-alt
//! ([`qtran_alt`]) does for N ≤ 2, but for N > 2 usually not: on random small 3-agent games
//! with integer payoffs the exact search proves non-existence for most of them (about 95% of
//! 2×2×2 games with payoffs in −5..5, and over 80% of near-additive ones), so Theorem 2's
//! claim that (7) is necessary up to an affine map does not extend beyond two agents.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::igm::{check_igm, product_decomposition};
use crate::optimal::optimal_joint_actions;
use crate::qtran::{ser, theorem1, theorem2};
use crate::table::{increment, JointTable, Utilities};
use crate::tol;

/// Utilities and `V_jt` meeting QTRAN's conditions for a joint table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QtranFactorization {
    /// The utilities `[Q_i]`.
    #[serde(serialize_with = "ser::utilities")]
    pub utilities: Utilities,
    /// `V_jt` (0 for every construction here).
    pub v_jt: f64,
    /// `Q'_jt(u) = Σ_i Q_i(u_i)`.
    #[serde(serialize_with = "ser::table")]
    pub q_prime: JointTable,
}

/// The outcome of the search for a QTRAN-alt solution ((4a) and (7)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Cond7Solution {
    /// A verified solution.
    Found(QtranFactorization),
    /// Proven: no utilities and `V_jt` meet (4a) and (7) — the argmax set is not a product
    /// set, or (N > 2) an exhaustive exact search found none.
    NoneExists {
        /// Why, in words.
        reason: String,
    },
    /// None was found; existence is not decided.
    NotFound {
        /// Why, in words.
        reason: String,
    },
}

/// The argmax set of `q` as per-agent membership masks, when it is a product set.
fn argmax_factors(q: &JointTable) -> Option<Vec<Vec<bool>>> {
    let factors = product_decomposition(q.shape(), &optimal_joint_actions(q))?;
    Some(
        factors
            .iter()
            .zip(q.shape())
            .map(|(f, &n)| (0..n).map(|a| f.contains(&a)).collect())
            .collect(),
    )
}

/// `R(u) = Q(u) − Q*`, set to exactly 0 on the argmax set (where it is 0 up to the tie
/// tolerance), in storage order.
fn regret(q: &JointTable, in_p: &[Vec<bool>]) -> Vec<f64> {
    let q_star = q.max();
    q.iter()
        .map(|(u, v)| {
            if u.iter().zip(in_p).all(|(&a, m)| m[a]) {
                0.0
            } else {
                v - q_star
            }
        })
        .collect()
}

/// Checks (4a), (4b), IGM and optionally (7) for utilities with `V_jt = 0` (given) and also
/// with `V_jt` by definition; returns `Q'_jt` or what failed.
fn verify(
    q: &JointTable,
    utilities: &Utilities,
    with_7: bool,
) -> Result<std::result::Result<JointTable, String>> {
    let given = theorem1(q, utilities, Some(0.0))?;
    let defined = theorem1(q, utilities, None)?;
    let igm = check_igm(q, utilities)?;
    let mut failures = Vec::new();
    if !given.holds || !defined.holds {
        failures.push(format!(
            "(4) fails: max |D| on G = {:e}, max(0, −min D) off G = {:e} (V_jt = 0); \
             V_jt by definition = {:e}",
            given.violation_4a, given.violation_4b, defined.v_jt
        ));
    }
    if !igm.holds {
        failures.push(format!(
            "IGM fails: argmax set {:?}, greedy sets {:?}",
            igm.argmax_set, igm.greedy_sets
        ));
    }
    if with_7 {
        let t2 = theorem2(q, utilities, Some(0.0))?;
        for a in t2.agents.iter().filter(|a| !a.holds) {
            failures.push(format!(
                "(7) fails for agent {}: residual {:e} on the line through {:?}",
                a.agent + 1,
                a.max_residual,
                a.worst
            ));
        }
    }
    Ok(if failures.is_empty() {
        Ok(given.q_prime)
    } else {
        Err(failures.join("; "))
    })
}

/// Utilities `x_i + by` from gauge-free values.
fn shift(x: Vec<Vec<f64>>, by: f64) -> Utilities {
    Utilities(
        x.into_iter()
            .map(|x_i| x_i.into_iter().map(|v| v + by).collect())
            .collect(),
    )
}

/// For each agent `i` and action `a`: `max_{u_−i} values(a, u_−i)`.
fn slice_maxima(shape: &[usize], values: &[f64]) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = shape.iter().map(|&n| vec![f64::NEG_INFINITY; n]).collect();
    let mut u = vec![0usize; shape.len()];
    for &v in values {
        for (i, &a) in u.iter().enumerate() {
            out[i][a] = out[i][a].max(v);
        }
        increment(&mut u, shape);
    }
    out
}

/// QTRAN-base's ideal: utilities with `V_jt = 0` meeting (4a)/(4b) for `Q_jt = q`. `None` iff
/// `q` is not IGM-factorizable (its argmax set is not a product set).
///
/// Construction, for every N: `Q_i(a) = Q*/N` for `a ∈ P_i` and
/// `Q_i(a) = Q*/N + (1/N)·max_{u_−i}(Q(a, u_−i) − Q*)` otherwise.
///
/// Proof. For `a ∉ P_i` every `(a, u_−i)` lies outside the product set `P`, so
/// `Q(a, u_−i) < Q*` and `Q_i(a) < Q*/N`: agent `i`'s greedy set is exactly `P_i`, and `G = P`.
/// On `P`, `Σ_i Q_i = Q* = Q(u)`, so `D = 0` (4a). For `u ∉ P` let `S ≠ ∅` be the agents with
/// `u_i ∉ P_i`; each of their maxima is at least `Q(u) − Q*` (take `u_−i` from `u`), so
/// `Σ_i Q_i(u_i) ≥ Q* + (|S|/N)(Q(u) − Q*) ≥ Q(u)` because `Q(u) − Q* < 0` and `|S|/N ≤ 1`:
/// `D(u) ≥ 0` (4b). With one agent this gives `Q_1 = Q`.
///
/// The result is verified with [`theorem1`] (with `V_jt = 0` and by definition) and
/// [`check_igm`]; if floating-point ties defeat the verification (payoffs tied to within a
/// few multiples of the tolerance), an error says so.
pub fn qtran_base(q: &JointTable) -> Result<Option<QtranFactorization>> {
    let Some(in_p) = argmax_factors(q) else {
        return Ok(None);
    };
    let n = q.n_agents() as f64;
    let q_star = q.max();
    let maxima = slice_maxima(q.shape(), q.values());
    let utilities = Utilities(
        maxima
            .iter()
            .zip(&in_p)
            .map(|(m_i, p_i)| {
                m_i.iter()
                    .zip(p_i)
                    .map(|(&m, &opt)| {
                        if opt {
                            q_star / n
                        } else {
                            q_star / n + (m - q_star) / n
                        }
                    })
                    .collect()
            })
            .collect(),
    );
    match verify(q, &utilities, false)? {
        Ok(q_prime) => Ok(Some(QtranFactorization {
            utilities,
            v_jt: 0.0,
            q_prime,
        })),
        Err(why) => Err(Error::Invalid(format!(
            "internal check failed: the QTRAN-base construction does not verify ({why}); \
             the payoffs are probably tied to within the tolerance"
        ))),
    }
}

/// The most coordinate sweeps tried for N > 2 in [`qtran_alt`].
pub const MAX_ALT_SWEEPS: usize = 64;

/// QTRAN-alt's ideal: utilities with `V_jt = 0` meeting (4a) and (7) for `Q_jt = q`.
///
/// - Not IGM-factorizable: [`Cond7Solution::NoneExists`] ((4a)+(7) imply IGM).
/// - N = 1: `Q_1 = Q`.
/// - N = 2: the alternating max-plus construction below, always found in exact arithmetic.
/// - N > 2: a solution need not exist (e.g. 3 agents, 2 actions, `Q = 0` at one joint action
///   and −1 elsewhere: see the tests). First, coordinate-wise max-plus sweeps
///   `Q_i(a) ← max_{u_−i}(R(a, u_−i) − Σ_{j≠i} Q_j(u_j))`, started from [`qtran_base`]'s
///   utilities, at most [`MAX_ALT_SWEEPS`] times. If none verifies, and the table is small
///   (at most [`EXACT_MAX_JOINT_ACTIONS`] joint actions) with payoffs on a dyadic grid
///   (multiples of 2^-20, e.g. integers), a complete exact search (module `exact`: rational
///   simplex over choices of zeros of `D`, at most `max_nodes` programmes) either finds a
///   solution or proves that none exists ([`Cond7Solution::NoneExists`]). Otherwise, or when
///   the budget runs out, [`Cond7Solution::NotFound`] (existence is not decided).
///
/// N = 2 construction, in the gauge `x = Q_1 − Q*/2`, `y = Q_2 − Q*/2` (so `D = x + y − R`).
/// Let `c(x)(b) = max_a(R(a,b) − x(a))` (column-wise) and `r(y)(a) = max_b(R(a,b) − y(b))`
/// (row-wise). Both are antitone and `y ≥ c(x) ⇔ x + y ≥ R ⇔ x ≥ r(y)` (a Galois
/// connection), so `r(c(x)) ≤ x`, `c(r(y)) ≤ y`, and hence `c(r(c(x))) = c(x)`: applying `c`
/// to `r(c(x)) ≤ x` gives `≥ c(x)`, and `c(r(y)) ≤ y` at `y = c(x)` gives `≤`. Start from
/// `x0 = 0` on `P_1` and `x0(a) = max_b R(a,b)/2 < 0` off `P_1`; set `y = c(x0)`,
/// `x = r(y)`; then `c(x) = c(r(c(x0))) = y`. So `x = r(y)` and `y = c(x)`: `D ≥ 0`
/// everywhere, and every row and every column of `D` has a zero — (7) for both agents, on
/// every line.
/// Greedy sets: for `b ∈ P_2`, `y(b) = 0` (attained at `a ∈ P_1`; off `P_1`,
/// `R(a,b) − x0(a) ≤ R(a,b)/2 < 0` since `x0(a) ≥ R(a,b)/2`); for `b ∉ P_2`, every candidate is
/// `< 0` by the same bounds, so `y(b) < 0`. For `a ∈ P_1`, `x(a) = 0` (attained at `b ∈ P_2`,
/// and `R(a,b) − y(b) ≤ 0` because `y(b) ≥ R(a,b) − x0(a) = R(a,b)`); for `a ∉ P_1`,
/// `x(a) ≤ x0(a) < 0`. So the greedy sets are `P_1`, `P_2`, `D = 0` on `P` (4a), and
/// `V_jt = Q* − Σ max Q_i = 0` by definition too. This covers ties (product argmax sets).
///
/// Every `Found` is verified with [`theorem1`], [`theorem2`] and [`check_igm`]; a failed
/// verification (only possible through floating-point near-ties) gives `NotFound`.
pub fn qtran_alt(q: &JointTable) -> Result<Cond7Solution> {
    qtran_alt_with_budget(q, EXACT_MAX_NODES)
}

/// [`qtran_alt`] with a budget of `max_nodes` linear programmes for the exact search (N > 2).
pub fn qtran_alt_with_budget(q: &JointTable, max_nodes: usize) -> Result<Cond7Solution> {
    let Some(in_p) = argmax_factors(q) else {
        return Ok(Cond7Solution::NoneExists {
            reason: "the argmax set is not a product set, so no utilities satisfy IGM \
                     (and (4a) with (7) would imply IGM)"
                .into(),
        });
    };
    let q_star = q.max();
    let shape = q.shape().to_vec();
    let r = regret(q, &in_p);
    let n = shape.len();
    let shifted = |x: Vec<Vec<f64>>| shift(x, q_star / n as f64);
    match n {
        1 => {
            let utilities = Utilities(vec![q.values().to_vec()]);
            Ok(found_or(q, utilities, "N = 1: Q_1 = Q"))
        }
        2 => {
            let (n1, n2) = (shape[0], shape[1]);
            let r_at = |a: usize, b: usize| r[a * n2 + b];
            let col = |x: &[f64]| -> Vec<f64> {
                (0..n2)
                    .map(|b| {
                        (0..n1)
                            .map(|a| r_at(a, b) - x[a])
                            .fold(f64::NEG_INFINITY, f64::max)
                    })
                    .collect()
            };
            let row = |y: &[f64]| -> Vec<f64> {
                (0..n1)
                    .map(|a| {
                        (0..n2)
                            .map(|b| r_at(a, b) - y[b])
                            .fold(f64::NEG_INFINITY, f64::max)
                    })
                    .collect()
            };
            let x0: Vec<f64> = (0..n1)
                .map(|a| {
                    if in_p[0][a] {
                        0.0
                    } else {
                        (0..n2)
                            .map(|b| r_at(a, b))
                            .fold(f64::NEG_INFINITY, f64::max)
                            / 2.0
                    }
                })
                .collect();
            let y = col(&x0);
            let x = row(&y);
            // c(x) = y in exact arithmetic (module docs); recompute so that the columns'
            // zeros are attained exactly by the returned utilities.
            let y = col(&x);
            Ok(found_or(
                q,
                shifted(vec![x, y]),
                "N = 2 alternating max-plus construction",
            ))
        }
        _ => alt_many_agents(q, &in_p, &r, max_nodes),
    }
}

/// QTRAN-alt for N > 2: max-plus sweeps, then the exact search (see [`qtran_alt`]).
fn alt_many_agents(
    q: &JointTable,
    in_p: &[Vec<bool>],
    r: &[f64],
    max_nodes: usize,
) -> Result<Cond7Solution> {
    let q_star = q.max();
    let shape = q.shape().to_vec();
    let n = shape.len();
    let shifted = |x: Vec<Vec<f64>>| shift(x, q_star / n as f64);
    let Some(base) = qtran_base(q)? else {
        return Err(Error::Invalid(
            "invariant: factorizable table without a base solution".into(),
        ));
    };
    let mut x: Vec<Vec<f64>> = base
        .utilities
        .0
        .into_iter()
        .map(|q_i| q_i.into_iter().map(|v| v - q_star / n as f64).collect())
        .collect();
    let mut last = String::new();
    for sweep in 1..=MAX_ALT_SWEEPS {
        let mut changed = false;
        for i in 0..n {
            // values(u) = R(u) − Σ_{j≠i} x_j(u_j), maximised over u_−i per u_i.
            let mut u = vec![0usize; n];
            let mut best = vec![f64::NEG_INFINITY; shape[i]];
            for &r_u in r {
                let others: f64 = (0..n).filter(|&j| j != i).map(|j| x[j][u[j]]).sum();
                best[u[i]] = best[u[i]].max(r_u - others);
                increment(&mut u, &shape);
            }
            changed |= best.iter().zip(&x[i]).any(|(a, b)| !tol::tied(*a, *b));
            x[i] = best;
        }
        let utilities = shifted(x.clone());
        match verify(q, &utilities, true)? {
            Ok(q_prime) => {
                return Ok(Cond7Solution::Found(QtranFactorization {
                    utilities,
                    v_jt: 0.0,
                    q_prime,
                }))
            }
            Err(why) => last = format!("after {sweep} sweep(s): {why}"),
        }
        if !changed {
            break;
        }
    }
    let (problem, scale) = match exact_problem(q, in_p) {
        Ok(p) => p,
        Err(why) => {
            return Ok(Cond7Solution::NotFound {
                reason: format!(
                    "a solution of (4a) and (7) was not found by the max-plus \
                     construction ({last}), and {why}; existence for N > 2 is not \
                     decided"
                ),
            })
        }
    };
    Ok(match exact::search(&problem, max_nodes) {
        exact::Outcome::Found(y) => {
            let mut j = 0;
            let utilities = Utilities(
                in_p.iter()
                    .map(|p_i| {
                        p_i.iter()
                            .map(|&opt| {
                                let y_a = if opt {
                                    0.0
                                } else {
                                    j += 1;
                                    y[j - 1].to_f64() / scale
                                };
                                q_star / n as f64 - y_a
                            })
                            .collect()
                    })
                    .collect(),
            );
            found_or(q, utilities, "exact search's solution")
        }
        exact::Outcome::NoneExists(nodes) => Cond7Solution::NoneExists {
            reason: format!(
                "an exhaustive exact search ({nodes} rational linear programmes) shows \
                 that no utilities with greedy sets equal to the argmax factors have \
                 D ≥ 0 and a zero of D on each of the {} lines that miss the argmax \
                 set, as (4a) and (7) require",
                problem.lines.len()
            ),
        },
        exact::Outcome::GaveUp(why) => Cond7Solution::NotFound {
            reason: format!(
                "a solution of (4a) and (7) was not found by the max-plus \
                 construction ({last}), and the exact search stopped: {why}; \
                 existence for N > 2 is not decided"
            ),
        },
    })
}

/// `Found` when `utilities` verify ((4), (7), IGM), else `NotFound` with the failures.
fn found_or(q: &JointTable, utilities: Utilities, what: &str) -> Cond7Solution {
    match verify(q, &utilities, true) {
        Ok(Ok(q_prime)) => Cond7Solution::Found(QtranFactorization {
            utilities,
            v_jt: 0.0,
            q_prime,
        }),
        Ok(Err(why)) => Cond7Solution::NotFound {
            reason: format!(
                "the {what} did not pass verification ({why}); the payoffs are probably tied \
                 to within the tolerance"
            ),
        },
        Err(e) => Cond7Solution::NotFound {
            reason: format!("the {what} could not be verified: {e}"),
        },
    }
}

/// Exact search for QTRAN-alt solutions of small tables with N > 2 (see [`qtran_alt`]).
///
/// In the gauge `V_jt = 0`, `Q_i = Q*/N − y_i` with `y_i = 0` on `P_i` and `y_i(a) > 0` off
/// `P_i` (strict greedy sets equal to `P_i`, as IGM requires), and `g = Q* − Q ≥ 0`:
/// `D(u) = g(u) − Σ_i y_i(u_i)`. A solution is a `y` with `Σ_i y_i(u_i) ≤ g(u)` everywhere
/// and, on every line `{(a, u_−i)}` that misses `P` (the lines through `P` already contain a
/// zero of `D`), at least one point where equality holds (a *tight* point).
///
/// Search: a set `E` of points forced tight; for each `E` a linear programme in exact
/// rational arithmetic maximises `t` subject to `y ≥ t`, `t ≤ 1`, the inequalities, and
/// equality on `E`. If `t* ≤ 0` (or the programme is infeasible) no solution has all of `E`
/// tight, so the branch is closed. Otherwise, if the optimum's tight points meet every line,
/// it is a solution; else the first line without a tight point is chosen and the search
/// branches over its points. This is complete: a solution with tight set `T` keeps every
/// `E ⊆ T` feasible with `t* > 0`, and the branch through `T`'s point on each chosen line
/// stays inside `T` until a solution is found. An exhausted search is therefore a proof
/// that none exists, for the payoffs as exact rationals (the search runs only when they lie
/// on a dyadic grid and the tie-tolerant argmax set equals the exact one).
mod exact {
    use std::cmp::Ordering;
    use std::collections::HashSet;

    /// A rational `n/d` with `d > 0`, in lowest terms; every operation is checked and gives
    /// `None` on `i128` overflow.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) struct Rat {
        n: i128,
        d: i128,
    }

    fn gcd(a: i128, b: i128) -> Option<i128> {
        let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        i128::try_from(a).ok()
    }

    impl Rat {
        pub(super) const ZERO: Rat = Rat { n: 0, d: 1 };
        pub(super) const ONE: Rat = Rat { n: 1, d: 1 };

        pub(super) fn int(n: i128) -> Rat {
            Rat { n, d: 1 }
        }

        fn new(n: i128, d: i128) -> Option<Rat> {
            if d == 0 || n == i128::MIN || d == i128::MIN {
                return None;
            }
            let g = gcd(n, d)?;
            let (n, d) = (n / g, d / g);
            Some(if d < 0 {
                Rat { n: -n, d: -d }
            } else {
                Rat { n, d }
            })
        }

        pub(super) fn add(self, o: Rat) -> Option<Rat> {
            let g = gcd(self.d, o.d)?;
            let (a, b) = (self.d / g, o.d / g);
            let n = self.n.checked_mul(b)?.checked_add(o.n.checked_mul(a)?)?;
            Rat::new(n, self.d.checked_mul(b)?)
        }

        pub(super) fn sub(self, o: Rat) -> Option<Rat> {
            self.add(Rat {
                n: o.n.checked_neg()?,
                d: o.d,
            })
        }

        pub(super) fn mul(self, o: Rat) -> Option<Rat> {
            if self.n == 0 || o.n == 0 {
                return Some(Rat::ZERO);
            }
            let (g1, g2) = (gcd(self.n, o.d)?, gcd(o.n, self.d)?);
            let n = (self.n / g1).checked_mul(o.n / g2)?;
            Rat::new(n, (self.d / g2).checked_mul(o.d / g1)?)
        }

        pub(super) fn div(self, o: Rat) -> Option<Rat> {
            self.mul(Rat::new(o.d, o.n)?)
        }

        pub(super) fn is_zero(self) -> bool {
            self.n == 0
        }

        pub(super) fn is_positive(self) -> bool {
            self.n > 0
        }

        pub(super) fn is_negative(self) -> bool {
            self.n < 0
        }

        pub(super) fn cmp(self, o: Rat) -> Option<Ordering> {
            Some(self.sub(o)?.n.cmp(&0))
        }

        pub(super) fn to_f64(self) -> f64 {
            self.n as f64 / self.d as f64
        }
    }

    /// `coef · z ≤ rhs` or `coef · z = rhs`, with `rhs ≥ 0`.
    pub(super) struct Row {
        pub(super) coef: Vec<Rat>,
        pub(super) equal: bool,
        pub(super) rhs: Rat,
    }

    /// The outcome of a linear programme.
    pub(super) enum Lp {
        Infeasible,
        Unbounded,
        Optimal { value: Rat, z: Vec<Rat> },
    }

    struct Tableau {
        t: Vec<Vec<Rat>>,
        obj: Vec<Rat>,
        basis: Vec<usize>,
        width: usize,
    }

    impl Tableau {
        fn pivot(&mut self, r: usize, j: usize) -> Option<()> {
            let p = self.t[r][j];
            for x in self.t[r].iter_mut() {
                *x = x.div(p)?;
            }
            let prow = self.t[r].clone();
            for (rr, row) in self.t.iter_mut().enumerate() {
                let f = row[j];
                if rr != r && !f.is_zero() {
                    for (x, &p) in row.iter_mut().zip(&prow) {
                        *x = x.sub(f.mul(p)?)?;
                    }
                }
            }
            let f = self.obj[j];
            if !f.is_zero() {
                for (x, &p) in self.obj.iter_mut().zip(&prow) {
                    *x = x.sub(f.mul(p)?)?;
                }
            }
            self.basis[r] = j;
            Some(())
        }

        /// Primal simplex with Bland's rule over columns `< allowed`; `Some(false)` when
        /// unbounded.
        fn run(&mut self, allowed: usize) -> Option<bool> {
            loop {
                let Some(j) = (0..allowed).find(|&j| self.obj[j].is_negative()) else {
                    return Some(true);
                };
                let mut best: Option<(usize, Rat)> = None;
                for r in 0..self.t.len() {
                    if self.t[r][j].is_positive() {
                        let ratio = self.t[r][self.width].div(self.t[r][j])?;
                        let better = match best {
                            None => true,
                            Some((br, bv)) => match ratio.cmp(bv)? {
                                Ordering::Less => true,
                                Ordering::Equal => self.basis[r] < self.basis[br],
                                Ordering::Greater => false,
                            },
                        };
                        if better {
                            best = Some((r, ratio));
                        }
                    }
                }
                let Some((r, _)) = best else {
                    return Some(false);
                };
                self.pivot(r, j)?;
            }
        }

        /// Sets the objective row to maximise `c · z` and prices out the basic columns.
        fn set_objective(&mut self, c: &[(usize, Rat)]) -> Option<()> {
            self.obj = vec![Rat::ZERO; self.width + 1];
            for &(j, cj) in c {
                self.obj[j] = Rat::ZERO.sub(cj)?;
            }
            for r in 0..self.t.len() {
                let f = self.obj[self.basis[r]];
                if !f.is_zero() {
                    for k in 0..=self.width {
                        self.obj[k] = self.obj[k].sub(f.mul(self.t[r][k])?)?;
                    }
                }
            }
            Some(())
        }
    }

    /// Maximises `c · z` over `z ≥ 0` (`n` variables) subject to `rows`: two-phase simplex
    /// with Bland's rule, exact. `None` on arithmetic overflow.
    pub(super) fn maximize(n: usize, rows: &[Row], c: &[(usize, Rat)]) -> Option<Lp> {
        let m = rows.len();
        let n_slack = rows.iter().filter(|r| !r.equal).count();
        let width = n + n_slack + (m - n_slack);
        let mut tab = Tableau {
            t: vec![vec![Rat::ZERO; width + 1]; m],
            obj: Vec::new(),
            basis: vec![0; m],
            width,
        };
        let (mut s, mut a) = (n, n + n_slack);
        let mut artificials = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            tab.t[r][..n].copy_from_slice(&row.coef);
            tab.t[r][width] = row.rhs;
            let col = if row.equal {
                artificials.push((a, Rat::int(-1)));
                a += 1;
                a - 1
            } else {
                s += 1;
                s - 1
            };
            tab.t[r][col] = Rat::ONE;
            tab.basis[r] = col;
        }
        // Phase 1: maximise −Σ artificials.
        tab.set_objective(&artificials)?;
        tab.run(width)?;
        if tab.obj[width].is_negative() {
            return Some(Lp::Infeasible);
        }
        // Drive zero-level artificials out of the basis where possible; a row whose
        // non-artificial entries are all zero is redundant and never blocks phase 2.
        let first_art = n + n_slack;
        for r in 0..m {
            if tab.basis[r] >= first_art {
                if let Some(j) = (0..first_art).find(|&j| !tab.t[r][j].is_zero()) {
                    tab.pivot(r, j)?;
                }
            }
        }
        tab.set_objective(c)?;
        if !tab.run(first_art)? {
            return Some(Lp::Unbounded);
        }
        let mut z = vec![Rat::ZERO; n];
        for (r, &b) in tab.basis.iter().enumerate() {
            if b < n {
                z[b] = tab.t[r][width];
            }
        }
        Some(Lp::Optimal {
            value: tab.obj[width],
            z,
        })
    }

    /// The search problem: variables `y_j`, one per non-optimal action of each agent.
    pub(super) struct Problem {
        /// Number of `y` variables.
        pub(super) n_vars: usize,
        /// Per joint action off `P`: its flat index, its variables and `g(u) > 0`.
        pub(super) cells: Vec<(usize, Vec<usize>, Rat)>,
        /// Lines that miss `P`, as positions in `cells`.
        pub(super) lines: Vec<Vec<usize>>,
    }

    /// The outcome of [`search`].
    pub(super) enum Outcome {
        /// `y`, one value per variable.
        Found(Vec<Rat>),
        /// Exhausted after this many linear programmes.
        NoneExists(usize),
        /// Why the search stopped early.
        GaveUp(String),
    }

    struct Dfs<'a> {
        p: &'a Problem,
        visited: HashSet<Vec<usize>>,
        nodes: usize,
        max_nodes: usize,
    }

    impl Dfs<'_> {
        fn lp(&self, tight: &[usize]) -> Option<Lp> {
            let t = self.p.n_vars; // index of t
            let mut rows = Vec::with_capacity(self.p.cells.len() + t + 1);
            for (pos, (_, vars, g)) in self.p.cells.iter().enumerate() {
                let mut coef = vec![Rat::ZERO; t + 1];
                for &j in vars {
                    coef[j] = Rat::ONE;
                }
                rows.push(Row {
                    coef,
                    equal: tight.contains(&pos),
                    rhs: *g,
                });
            }
            for j in 0..t {
                let mut coef = vec![Rat::ZERO; t + 1];
                coef[t] = Rat::ONE;
                coef[j] = Rat::int(-1);
                rows.push(Row {
                    coef,
                    equal: false,
                    rhs: Rat::ZERO,
                });
            }
            let mut coef = vec![Rat::ZERO; t + 1];
            coef[t] = Rat::ONE;
            rows.push(Row {
                coef,
                equal: false,
                rhs: Rat::ONE,
            });
            maximize(t + 1, &rows, &[(t, Rat::ONE)])
        }

        fn go(&mut self, e: &mut Vec<usize>) -> Result<Option<Vec<Rat>>, String> {
            let mut key = e.clone();
            key.sort_unstable();
            if !self.visited.insert(key) {
                return Ok(None);
            }
            self.nodes += 1;
            if self.nodes > self.max_nodes {
                return Err(format!(
                    "search budget of {} linear programmes exhausted",
                    self.max_nodes
                ));
            }
            let lp = self.lp(e).ok_or("exact arithmetic overflowed i128")?;
            let z = match lp {
                Lp::Optimal { value, z } if value.is_positive() => z,
                Lp::Optimal { .. } | Lp::Infeasible => return Ok(None),
                Lp::Unbounded => return Err("internal: unbounded programme".into()),
            };
            let mut tight = Vec::with_capacity(self.p.cells.len());
            for (_, vars, g) in &self.p.cells {
                let mut sum = Rat::ZERO;
                for &j in vars {
                    sum = sum.add(z[j]).ok_or("exact arithmetic overflowed i128")?;
                }
                tight.push(sum == *g);
            }
            let Some(line) = self.p.lines.iter().find(|l| !l.iter().any(|&c| tight[c])) else {
                return Ok(Some(z[..self.p.n_vars].to_vec()));
            };
            for &c in line {
                e.push(c);
                let found = self.go(e)?;
                e.pop();
                if found.is_some() {
                    return Ok(found);
                }
            }
            Ok(None)
        }
    }

    /// Runs the complete search with at most `max_nodes` linear programmes.
    pub(super) fn search(p: &Problem, max_nodes: usize) -> Outcome {
        let mut dfs = Dfs {
            p,
            visited: HashSet::new(),
            nodes: 0,
            max_nodes,
        };
        match dfs.go(&mut Vec::new()) {
            Ok(Some(y)) => Outcome::Found(y),
            Ok(None) => Outcome::NoneExists(dfs.nodes),
            Err(why) => Outcome::GaveUp(why),
        }
    }
}

/// The default budget of linear programmes for [`qtran_alt`]'s exact search.
pub const EXACT_MAX_NODES: usize = 2000;

/// The exact search runs only on tables with at most this many joint actions.
pub const EXACT_MAX_JOINT_ACTIONS: usize = 256;

/// Payoffs must be multiples of `2^-EXACT_MAX_SHIFT` for the exact search.
const EXACT_MAX_SHIFT: i32 = 20;

/// Builds the exact search problem, or says why the table is out of its scope.
fn exact_problem(
    q: &JointTable,
    in_p: &[Vec<bool>],
) -> std::result::Result<(exact::Problem, f64), String> {
    if q.len() > EXACT_MAX_JOINT_ACTIONS {
        return Err(format!(
            "the exact search is limited to {EXACT_MAX_JOINT_ACTIONS} joint actions"
        ));
    }
    // Smallest s with every value · 2^s an integer of magnitude ≤ 2^60.
    let on_grid = |s: i32| {
        let f = 2f64.powi(s);
        q.values().iter().all(|v| {
            let x = v * f;
            x.abs() <= 2f64.powi(60) && x.round().total_cmp(&x).is_eq()
        })
    };
    let Some(s) = (0..=EXACT_MAX_SHIFT).find(|&s| on_grid(s)) else {
        return Err(format!(
            "the exact search needs payoffs that are multiples of 2^-{EXACT_MAX_SHIFT}"
        ));
    };
    let scale = 2f64.powi(s);
    // Exact integers (|x| ≤ 2^60 < 2^63, so the casts are exact).
    let ints: Vec<i128> = q.values().iter().map(|v| (v * scale) as i128).collect();
    let top = *ints
        .iter()
        .max()
        .expect("invariant: a table is never empty");
    let shape = q.shape();
    let mut var_of: Vec<Vec<Option<usize>>> = Vec::with_capacity(shape.len());
    let mut n_vars = 0;
    for p_i in in_p {
        var_of.push(
            p_i.iter()
                .map(|&opt| {
                    (!opt).then(|| {
                        n_vars += 1;
                        n_vars - 1
                    })
                })
                .collect(),
        );
    }
    let mut cells = Vec::new();
    let mut cell_of = vec![None; q.len()];
    for (k, (u, _)) in q.iter().enumerate() {
        let vars: Vec<usize> = u.iter().zip(&var_of).filter_map(|(&a, v)| v[a]).collect();
        let exact_opt = ints[k] == top;
        if vars.is_empty() != exact_opt {
            return Err(
                "ties within the tolerance are not exact ties, so the exact search \
                        does not apply"
                    .into(),
            );
        }
        if !vars.is_empty() {
            cell_of[k] = Some(cells.len());
            cells.push((k, vars, exact::Rat::int(top - ints[k])));
        }
    }
    let mut lines = Vec::new();
    for (i, &n_i) in shape.iter().enumerate() {
        let stride: usize = shape[i + 1..].iter().product();
        for start in 0..q.len() {
            if !(start / stride).is_multiple_of(n_i) {
                continue;
            }
            let line: Option<Vec<usize>> = (0..n_i).map(|a| cell_of[start + a * stride]).collect();
            if let Some(line) = line {
                lines.push(line);
            }
        }
    }
    Ok((
        exact::Problem {
            n_vars,
            cells,
            lines,
        },
        scale,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(shape: Vec<usize>, values: Vec<f64>) -> JointTable {
        JointTable::new(shape, values).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    use crate::fixtures::{coordination3, table1};

    fn penalty(k: f64) -> JointTable {
        table(vec![3, 3], vec![10.0, 0.0, k, 0.0, 2.0, 0.0, k, 0.0, 10.0])
    }

    fn found(s: Cond7Solution) -> QtranFactorization {
        match s {
            Cond7Solution::Found(f) => f,
            other => panic!("expected Found, got {other:?}"),
        }
    }

    fn assert_alt(q: &JointTable, f: &QtranFactorization) {
        let t1 = theorem1(q, &f.utilities, Some(f.v_jt)).unwrap();
        let t2 = theorem2(q, &f.utilities, Some(f.v_jt)).unwrap();
        assert!(t1.holds && t2.holds, "{t1:?} {t2:?}");
        assert!(check_igm(q, &f.utilities).unwrap().holds);
    }

    #[test]
    fn base_on_table1_by_hand() {
        // Q* = 8, N = 2: Q_i(A) = 4; Q_i(B) = 4 + (0 − 8)/2 = 0 = Q_i(C).
        let f = qtran_base(&table1()).unwrap().unwrap();
        for q_i in &f.utilities.0 {
            assert!(close(q_i[0], 4.0) && close(q_i[1], 0.0) && close(q_i[2], 0.0));
        }
        assert!(close(f.q_prime.get(&[0, 1]), 4.0) && close(f.v_jt, 0.0));
        assert!(theorem1(&table1(), &f.utilities, Some(0.0)).unwrap().holds);
    }

    #[test]
    fn base_on_climbing_and_ties() {
        let climbing = table(
            vec![3, 3],
            vec![11.0, -30.0, 0.0, -30.0, 7.0, 6.0, 0.0, 0.0, 5.0],
        );
        // Q* = 11: Q_i(a) = 5.5 (optimal). Agent 1: row b has max 7 → 5.5 + (7 − 11)/2 = 3.5,
        // row c max 5 → 2.5. Agent 2: column b max 7 → 3.5, column c max 6 → 3.
        let f = qtran_base(&climbing).unwrap().unwrap();
        assert_eq!(
            f.utilities.0,
            vec![vec![5.5, 3.5, 2.5], vec![5.5, 3.5, 3.0]]
        );
        // Penalty k = −100: no product argmax set.
        assert!(qtran_base(&penalty(-100.0)).unwrap().is_none());
        // Penalty k = 10: argmax {a,c} × {a,c}; both actions greedy for each agent.
        let f = qtran_base(&penalty(10.0)).unwrap().unwrap();
        let t = theorem1(&penalty(10.0), &f.utilities, Some(0.0)).unwrap();
        assert!(t.holds);
        assert_eq!(t.greedy_sets, vec![vec![0, 2], vec![0, 2]]);
    }

    #[test]
    fn alt_on_table1_by_hand() {
        // R = Q − 8: [[0,−20,−20],[−20,−8,−8],[−20,−8,−8]]. x0 = (0, −4, −4).
        // y = c(x0) = (0, max(−20, −4, −4), ·) = (0, −4, −4); x = r(y) = (0, −4, −4).
        // Shift by Q*/2 = 4: Q_i = (4, 0, 0), and D = Q' − Q has rows [0, 16, 16],
        // [16, 0, 0], [16, 0, 0]: every row and column has a zero.
        let f = found(qtran_alt(&table1()).unwrap());
        for q_i in &f.utilities.0 {
            assert!(close(q_i[0], 4.0) && close(q_i[1], 0.0) && close(q_i[2], 0.0));
        }
        assert_alt(&table1(), &f);
        let d = theorem1(&table1(), &f.utilities, Some(0.0)).unwrap().d;
        assert!(close(d.get(&[0, 1]), 16.0) && close(d.get(&[1, 1]), 0.0));
    }

    #[test]
    fn alt_on_climbing_penalty_and_qplex() {
        let climbing = table(
            vec![3, 3],
            vec![11.0, -30.0, 0.0, -30.0, 7.0, 6.0, 0.0, 0.0, 5.0],
        );
        let f = found(qtran_alt(&climbing).unwrap());
        assert_alt(&climbing, &f);
        // Penalty k = 0 still has two optima (a,a), (c,c): not a product set.
        for k in [0.0, -25.0, -100.0] {
            assert!(matches!(
                qtran_alt(&penalty(k)).unwrap(),
                Cond7Solution::NoneExists { .. }
            ));
        }
        // Ties in a product argmax set (k = 10): {a,c} × {a,c}.
        let f = found(qtran_alt(&penalty(10.0)).unwrap());
        assert_alt(&penalty(10.0), &f);
        for q in [
            table(
                vec![3, 3],
                vec![10.4, 0.0, 10.0, 0.0, 10.0, 10.0, 10.0, 10.0, 10.0],
            ),
            table(
                vec![3, 3],
                vec![8.0, -12.0, -12.0, -12.0, 6.0, 0.0, -12.0, 0.0, 6.0],
            ),
        ] {
            let f = found(qtran_alt(&q).unwrap());
            assert_alt(&q, &f);
            assert!(qtran_base(&q).unwrap().is_some());
        }
    }

    #[test]
    fn alt_single_agent() {
        let q = table(vec![4], vec![1.0, 3.0, 3.0, -2.0]);
        let f = found(qtran_alt(&q).unwrap());
        assert_eq!(f.utilities.0[0], q.values().to_vec());
        assert_alt(&q, &f);
    }

    #[test]
    fn alt_three_agents_additive_is_found() {
        // Q = f1 + f2 + f3 with a unique optimum: one sweep reaches Q_i = f_i − max f_i + Q*/3.
        let f = [vec![1.0, 0.0], vec![0.0, 2.0, -1.0], vec![3.0, 1.0]];
        let q =
            JointTable::from_fn(vec![2, 3, 2], |u| f[0][u[0]] + f[1][u[1]] + f[2][u[2]]).unwrap();
        let s = found(qtran_alt(&q).unwrap());
        assert_alt(&q, &s);
        let d = theorem1(&q, &s.utilities, Some(0.0)).unwrap().d;
        assert!(d.values().iter().all(|v| v.abs() < 1e-12));
    }

    #[test]
    fn alt_three_agents_coordination_has_no_solution() {
        // Q = 0 at (0,0,0) and −1 elsewhere, 2 actions each. No solution exists. Proof: IGM
        // forces greedy sets {0}, so (gauge V_jt = 0) x_i(0) = 0 and x_i(1) = −α_i with
        // α_i > 0, and D(u) = 1 − Σ_{i: u_i = 1} α_i off the optimum. Agent 1's line (·,1,0)
        // is {1 − α_2, 1 − α_1 − α_2}, so (7) needs α_1 + α_2 = 1 (the smaller one is 0);
        // likewise the line (·,0,1) needs α_1 + α_3 = 1 and the line (·,1,1) needs
        // α_1 + α_2 + α_3 = 1. Then α_3 = 0, a contradiction. (Theorem 2's claim that (7) is
        // necessary up to an affine map therefore fails for N = 3: these utilities satisfy IGM
        // with Q_i = (1, 0).)
        let q = coordination3();
        match qtran_alt(&q).unwrap() {
            Cond7Solution::NoneExists { reason } => {
                assert!(reason.contains("exhaustive exact search"), "{reason}")
            }
            other => panic!("expected NoneExists, got {other:?}"),
        }
        // Without a budget the search cannot decide, and says so.
        match qtran_alt_with_budget(&q, 0).unwrap() {
            Cond7Solution::NotFound { reason } => {
                assert!(reason.contains("not decided"), "{reason}")
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        // Payoffs off the dyadic grid are out of the exact search's scope.
        let q_off = JointTable::from_fn(vec![2, 2, 2], |u| {
            if u.iter().all(|&a| a == 0) {
                0.1
            } else {
                -1.0
            }
        })
        .unwrap();
        assert!(matches!(
            qtran_alt(&q_off).unwrap(),
            Cond7Solution::NotFound { .. }
        ));
        // QTRAN-base still works.
        let f = qtran_base(&q).unwrap().unwrap();
        assert!(theorem1(&q, &f.utilities, Some(0.0)).unwrap().holds);
    }

    #[test]
    fn alt_three_agents_found_by_exact_search() {
        // g = Q* − Q off the optimum (0,0,0): single deviations 3, double deviations 2
        // (α_i + α_j ≤ 2 tight), triple 3. α = (1, 1, 1) makes every double deviation tight:
        // D(e_i) = 3 − 1 = 2, D(e_i + e_j) = 0, D(1,1,1) = 3 − 3 = 0. Each line missing the
        // optimum contains a double or the triple deviation, so (7) holds.
        let q = JointTable::from_fn(vec![2, 2, 2], |u| {
            match u.iter().filter(|&&a| a == 1).count() {
                0 => 6.0,
                1 => 3.0,
                2 => 4.0,
                _ => 3.0,
            }
        })
        .unwrap();
        let f = found(qtran_alt(&q).unwrap());
        assert_alt(&q, &f);
        // The max-plus sweeps alone do not find it (so this exercises the exact search).
        match qtran_alt_with_budget(&q, 0).unwrap() {
            Cond7Solution::NotFound { .. } => {}
            other => panic!("expected NotFound without the exact search, got {other:?}"),
        }
    }

    #[test]
    fn rationals_and_simplex() {
        use exact::{maximize, Lp, Rat, Row};
        let (a, b) = (
            Rat::int(3).div(Rat::int(4)).unwrap(),
            Rat::int(-5).div(Rat::int(6)).unwrap(),
        );
        assert_eq!(a.add(b).unwrap(), Rat::int(-1).div(Rat::int(12)).unwrap());
        assert_eq!(a.mul(b).unwrap(), Rat::int(-5).div(Rat::int(8)).unwrap());
        assert!(Rat::int(i128::MAX).add(Rat::ONE).is_none());
        assert!(Rat::int(1).div(Rat::ZERO).is_none());
        // max x + y s.t. x + 2y ≤ 4, 3x + y ≤ 6, x − y = 0: x = y, 3x ≤ 4 and 4x ≤ 6, so
        // x = y = 4/3, value 8/3.
        let r = |c: &[i128], equal: bool, rhs: i128| Row {
            coef: c.iter().map(|&v| Rat::int(v)).collect(),
            equal,
            rhs: Rat::int(rhs),
        };
        let rows = [
            r(&[1, 2], false, 4),
            r(&[3, 1], false, 6),
            r(&[1, -1], true, 0),
        ];
        match maximize(2, &rows, &[(0, Rat::ONE), (1, Rat::ONE)]).unwrap() {
            Lp::Optimal { value, z } => {
                assert_eq!(value, Rat::int(8).div(Rat::int(3)).unwrap());
                assert_eq!(z, vec![Rat::int(4).div(Rat::int(3)).unwrap(); 2]);
            }
            _ => panic!("expected an optimum"),
        }
        // x + y = 5 with x + 2y ≤ 4 and x, y ≥ 0: x + 2y ≥ x + y = 5 > 4, infeasible.
        let rows = [r(&[1, 2], false, 4), r(&[1, 1], true, 5)];
        assert!(matches!(
            maximize(2, &rows, &[(0, Rat::ONE)]).unwrap(),
            Lp::Infeasible
        ));
        // Unbounded: max x with only x − y ≤ 1.
        let rows = [r(&[1, -1], false, 1)];
        assert!(matches!(
            maximize(2, &rows, &[(0, Rat::ONE)]).unwrap(),
            Lp::Unbounded
        ));
    }
}
