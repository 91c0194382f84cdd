//! QTRAN's sufficient conditions for factorization (Son et al. 2019, Theorems 1 and 2), checked
//! exactly on tables, with residuals.
//!
//! Notation (paper §3): `Q'_jt(u) = Σ_i Q_i(u_i)`, `ū_i ∈ argmax Q_i`, and
//! `D(u) = Q'_jt(u) − Q_jt(u) + V_jt`. `V_jt` is `max_u Q_jt(u) − Σ_i max Q_i` by definition,
//! unless a learned value is supplied.
//!
//! Ties: with tied greedy actions `ū` is not unique, so the conditions are stated over the set
//! `G = argmax Q_1 × … × argmax Q_N` of greedy joint actions:
//! - (4a) `D(u) = 0` for every `u ∈ G`;
//! - (4b) `D(u) ≥ 0` for every `u ∉ G`;
//! - (7) for every `u ∉ G` and every agent `i`: `min_{u_i ∈ U_i} D(u_i, u_−i) = 0`.
//!
//! (4a)+(4b) imply IGM with set semantics: on `G`, `Q_jt = Q'_jt(ū) + V_jt` is constant, and
//! for `u ∉ G` some agent plays a non-greedy action, so
//! `Q_jt(u) ≤ Q'_jt(u) + V_jt < Q'_jt(ū) + V_jt`. (7) implies (4b), because every `u ∉ G` lies
//! on its own line `{(u_i', u_−i)}` and a minimum of 0 bounds every point of the line below.
//!
//! Tolerances: the equalities (4a) and (7) hold when `|x| ≤ TIE_TOL · max(1, s)`
//! ([`tol::is_zero`](crate::tol::is_zero)) and (4b) when `x ≥ −TIE_TOL · max(1, s)` ([`tol::non_negative`](crate::tol::non_negative)), where
//! the scale `s` is the largest magnitude among `Q_jt`, `Q'_jt` and `V_jt` — the terms that
//! enter `D`. Greedy sets use [`tol::tied`](crate::tol::tied).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::igm::validate_utilities;
use crate::table::{JointTable, Utilities};
use crate::tol::Tolerance;

/// Serializers for the table types of this crate (which do not implement `Serialize`), used
/// with `#[serde(serialize_with = …)]` by the report structs.
pub(crate) mod ser {
    use serde::{Serialize, Serializer};

    use crate::table::{JointTable, Utilities};

    #[derive(Serialize)]
    struct TableRef<'a> {
        shape: &'a [usize],
        values: &'a [f64],
    }

    /// A table as `{ "shape": [...], "values": [...] }` (row-major, agent 1 slowest).
    pub(crate) fn table<S: Serializer>(t: &JointTable, s: S) -> Result<S::Ok, S::Error> {
        TableRef {
            shape: t.shape(),
            values: t.values(),
        }
        .serialize(s)
    }

    /// Utilities as a list of per-agent lists.
    pub(crate) fn utilities<S: Serializer>(u: &Utilities, s: S) -> Result<S::Ok, S::Error> {
        u.0.serialize(s)
    }
}

/// Everything Theorem 1 needs, computed once.
struct Residuals {
    v_jt: f64,
    q_prime: JointTable,
    d: JointTable,
    greedy_sets: Vec<Vec<usize>>,
    /// Per flat index: is the joint action in `G`?
    in_g: Vec<bool>,
    /// Reference magnitude for the tolerances.
    scale: f64,
}

fn residuals(
    q_jt: &JointTable,
    utilities: &Utilities,
    v_jt: Option<f64>,
    tolerance: &Tolerance,
) -> Result<Residuals> {
    validate_utilities(q_jt, utilities)?;
    if let Some(v) = v_jt {
        if !v.is_finite() {
            return Err(Error::Invalid(format!("V_jt = {v} is not finite")));
        }
    }
    let v_jt = v_jt.unwrap_or_else(|| q_jt.max() - utilities.greedy_sum());
    // `JointTable::from_fn` rejects non-finite values (an overflowing sum) with an error.
    let q_prime = JointTable::from_fn(q_jt.shape().to_vec(), |u| utilities.sum_at(u))?;
    let d = q_prime.zip_with(q_jt, |qp, q| qp - q + v_jt)?;
    let greedy_sets: Vec<Vec<usize>> = (0..utilities.n_agents())
        .map(|i| utilities.greedy_set_within(i, tolerance))
        .collect();
    let masks: Vec<Vec<bool>> = greedy_sets
        .iter()
        .zip(q_jt.shape())
        .map(|(set, &n)| (0..n).map(|a| set.contains(&a)).collect())
        .collect();
    let in_g = q_jt
        .iter()
        .map(|(u, _)| u.iter().zip(&masks).all(|(&a, m)| m[a]))
        .collect();
    let max_abs = |t: &JointTable| t.values().iter().fold(0f64, |m, v| m.max(v.abs()));
    let scale = max_abs(q_jt).max(max_abs(&q_prime)).max(v_jt.abs());
    Ok(Residuals {
        v_jt,
        q_prime,
        d,
        greedy_sets,
        in_g,
        scale,
    })
}

/// Theorem 1 (conditions (4a) and (4b)) for given utilities and `Q_jt`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Theorem1 {
    /// `V_jt`: the given value, or `max Q_jt − Σ_i max Q_i`.
    pub v_jt: f64,
    /// Whether `v_jt` was supplied (a learned value) rather than computed by definition.
    pub v_jt_given: bool,
    /// `Q'_jt(u) = Σ_i Q_i(u_i)`.
    #[serde(serialize_with = "ser::table")]
    pub q_prime: JointTable,
    /// `D(u) = Q'_jt(u) − Q_jt(u) + V_jt`.
    #[serde(serialize_with = "ser::table")]
    pub d: JointTable,
    /// One greedy joint action `ū` (the first greedy action of each agent).
    pub greedy: Vec<usize>,
    /// Each agent's greedy set; `G` is their product.
    pub greedy_sets: Vec<Vec<usize>>,
    /// (4a): `D(u) = 0` for all `u ∈ G`.
    pub cond_4a: bool,
    /// `max |D(u)|` over `u ∈ G`.
    pub violation_4a: f64,
    /// (4b): `D(u) ≥ 0` for all `u ∉ G` (vacuous when every joint action is greedy).
    pub cond_4b: bool,
    /// `max(0, −min_{u ∉ G} D(u))` (0 when `G` is everything).
    pub violation_4b: f64,
    /// `cond_4a && cond_4b`: the utilities factorize `Q_jt` (Theorem 1).
    pub holds: bool,
}

/// Checks Theorem 1's conditions (4a)/(4b). `v_jt`: a learned `V_jt`, or `None` for the
/// definition. Errors on shape mismatch or non-finite inputs.
pub fn theorem1(q_jt: &JointTable, utilities: &Utilities, v_jt: Option<f64>) -> Result<Theorem1> {
    theorem1_within(q_jt, utilities, v_jt, &Tolerance::EXACT)
}

/// [`theorem1`] with greedy sets, (4a) and (4b) decided by `tolerance` (for learned tables;
/// [`theorem1`] uses [`Tolerance::EXACT`]).
pub fn theorem1_within(
    q_jt: &JointTable,
    utilities: &Utilities,
    v_jt: Option<f64>,
    tolerance: &Tolerance,
) -> Result<Theorem1> {
    let r = residuals(q_jt, utilities, v_jt, tolerance)?;
    let mut violation_4a = 0f64;
    let mut min_outside = f64::INFINITY;
    for (&x, &g) in r.d.values().iter().zip(&r.in_g) {
        if g {
            violation_4a = violation_4a.max(x.abs());
        } else {
            min_outside = min_outside.min(x);
        }
    }
    let cond_4a = tolerance.is_zero(violation_4a, r.scale);
    let violation_4b = if min_outside.is_finite() {
        (-min_outside).max(0.0)
    } else {
        0.0
    };
    let cond_4b = !min_outside.is_finite() || tolerance.non_negative(min_outside, r.scale);
    let greedy = r.greedy_sets.iter().map(|s| s[0]).collect();
    Ok(Theorem1 {
        v_jt: r.v_jt,
        v_jt_given: v_jt.is_some(),
        q_prime: r.q_prime,
        d: r.d,
        greedy,
        greedy_sets: r.greedy_sets,
        cond_4a,
        violation_4a,
        cond_4b,
        violation_4b,
        holds: cond_4a && cond_4b,
    })
}

/// Condition (7) for one agent `i`: on every line `{(u_i, u_−i) : u_i ∈ U_i}` that contains a
/// non-greedy joint action, `min_{u_i} D = 0`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cond7Agent {
    /// The agent (0-based).
    pub agent: usize,
    /// Whether (7) holds for this agent.
    pub holds: bool,
    /// `max |min_{u_i} D(u_i, u_−i)|` over `u ∉ G` (0 when no joint action is outside `G`).
    pub max_residual: f64,
    /// When (7) fails: a joint action `u ∉ G` on the worst line (its `u_−i` names the line;
    /// the first such `u` in storage order). `None` when (7) holds.
    pub worst: Option<Vec<usize>>,
}

/// Theorem 2's condition (7), per agent. Theorem 2 proper is (4a) — see [`theorem1`] — together
/// with (7).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Theorem2 {
    /// `V_jt` used (given, or by definition as in [`theorem1`]).
    pub v_jt: f64,
    /// (7) holds for every agent.
    pub holds: bool,
    /// Per-agent results, agent 0 first.
    pub agents: Vec<Cond7Agent>,
}

/// Checks condition (7) of Theorem 2. `v_jt` as in [`theorem1`]. Errors on shape mismatch or
/// non-finite inputs.
pub fn theorem2(q_jt: &JointTable, utilities: &Utilities, v_jt: Option<f64>) -> Result<Theorem2> {
    theorem2_within(q_jt, utilities, v_jt, &Tolerance::EXACT)
}

/// [`theorem2`] with greedy sets and (7) decided by `tolerance` (for learned tables;
/// [`theorem2`] uses [`Tolerance::EXACT`]).
pub fn theorem2_within(
    q_jt: &JointTable,
    utilities: &Utilities,
    v_jt: Option<f64>,
    tolerance: &Tolerance,
) -> Result<Theorem2> {
    let r = residuals(q_jt, utilities, v_jt, tolerance)?;
    let shape = q_jt.shape();
    let d = r.d.values();
    let mut agents = Vec::with_capacity(shape.len());
    for i in 0..shape.len() {
        // Flat-index stride of agent i: the product of the later agents' action counts.
        let stride: usize = shape[i + 1..].iter().product();
        let n_i = shape[i];
        let mut max_residual = 0f64;
        let mut worst: Option<usize> = None;
        for start in 0..d.len() {
            if !(start / stride).is_multiple_of(n_i) {
                continue; // not the first point (u_i = 0) of its line
            }
            let line = (0..n_i).map(|a| start + a * stride);
            let Some(outside) = line.clone().find(|&k| !r.in_g[k]) else {
                continue; // the line lies in G: (7) asks nothing of it
            };
            let min = line.map(|k| d[k]).fold(f64::INFINITY, f64::min);
            let residual = min.abs();
            if !tolerance.is_zero(residual, r.scale) && residual > max_residual {
                worst = Some(outside);
            }
            max_residual = max_residual.max(residual);
        }
        agents.push(Cond7Agent {
            agent: i,
            holds: worst.is_none(),
            max_residual,
            worst: worst.map(|k| q_jt.joint_action(k)),
        });
    }
    Ok(Theorem2 {
        v_jt: r.v_jt,
        holds: agents.iter().all(|a| a.holds),
        agents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixtures::{coordination3, table1};

    /// Brute-force (7) for 2 agents: rows and columns of D containing a non-greedy point.
    fn cond7_brute_2(d: &JointTable, in_g: impl Fn(usize, usize) -> bool) -> (f64, f64) {
        let (n1, n2) = (d.shape()[0], d.shape()[1]);
        let mut agent1 = 0f64; // lines along agent 1: columns u_2 fixed
        for b in 0..n2 {
            if (0..n1).any(|a| !in_g(a, b)) {
                let m = (0..n1)
                    .map(|a| d.get(&[a, b]))
                    .fold(f64::INFINITY, f64::min);
                agent1 = agent1.max(m.abs());
            }
        }
        let mut agent2 = 0f64;
        for a in 0..n1 {
            if (0..n2).any(|b| !in_g(a, b)) {
                let m = (0..n2)
                    .map(|b| d.get(&[a, b]))
                    .fold(f64::INFINITY, f64::min);
                agent2 = agent2.max(m.abs());
            }
        }
        (agent1, agent2)
    }

    #[test]
    fn paper_table1_qtran_meets_4_not_7() {
        // Table 1b utilities and 1c learned Q_jt, V_jt = 0 (fully observable).
        let u = Utilities(vec![vec![3.84, -2.06, -2.25], vec![4.16, 2.29, 2.29]]);
        let q_jt = JointTable::new(
            vec![3, 3],
            vec![
                8.00, -12.02, -12.02, -12.00, 0.00, 0.00, -12.00, 0.00, -0.01,
            ],
        )
        .unwrap();
        let t = theorem1(&q_jt, &u, Some(0.0)).unwrap();
        assert!(t.cond_4a && t.cond_4b && t.holds && t.v_jt_given);
        assert_eq!(t.greedy, vec![0, 0]);
        assert!(t.violation_4a < 1e-12 && t.violation_4b <= 0.0);
        // D(B,B) = −2.06 + 2.29 − 0 = 0.23 (Table 1d).
        assert!((t.d.get(&[1, 1]) - 0.23).abs() < 1e-12);
        // Against the true payoff too; V_jt by definition = 8 − 8 = 0.
        let t = theorem1(&table1(), &u, None).unwrap();
        assert!(t.holds && t.v_jt.abs() < 1e-12);
        // (7) fails: row B of D is [14.1, 0.23, 0.23] (agent 2's line), min 0.23.
        let t2 = theorem2(&q_jt, &u, Some(0.0)).unwrap();
        assert!(!t2.holds);
        assert!((t2.agents[1].max_residual - 0.23).abs() < 1e-12);
        assert_eq!(t2.agents[1].worst, Some(vec![1, 0]));
        // Columns: B → min(18.15, 0.23, 0.04) = 0.04, C → min(18.15, 0.23, 0.05) = 0.05.
        assert!((t2.agents[0].max_residual - 0.05).abs() < 1e-12);
        let d = theorem1(&q_jt, &u, Some(0.0)).unwrap().d;
        let (a1, a2) = cond7_brute_2(&d, |a, b| a == 0 && b == 0);
        assert!((a1 - t2.agents[0].max_residual).abs() < 1e-12);
        assert!((a2 - t2.agents[1].max_residual).abs() < 1e-12);
    }

    #[test]
    #[allow(clippy::approx_constant)] // −3.14 is the paper's Q_2(A), not π
    fn vdn_utilities_fail_4a() {
        // Exactly additive Q_jt = Q' with greedy (C, B) meets (4) for itself, but not for the
        // true payoff: D(ū) = Q'(ū) − Q(ū) + V = Q* − Q(ū) = 8 − 0 with V by definition.
        let u = Utilities(vec![vec![-2.29, -1.22, -0.73], vec![-3.14, -2.29, -2.41]]);
        let t = theorem1(&table1(), &u, None).unwrap();
        assert!(!t.cond_4a);
        assert!((t.violation_4a - 8.0).abs() < 1e-12);
        let own = JointTable::additive(&u);
        let t = theorem1(&own, &u, None).unwrap();
        assert!(t.holds && t.violation_4a < 1e-12 && t.violation_4b <= 0.0);
        assert!(theorem2(&own, &u, None).unwrap().holds);
    }

    #[test]
    fn violation_4b_and_given_v() {
        // 2×2, optimum (0,0)=4; utilities greedy (0,0) with Q'(1,1) = −2 < Q(1,1) = 1.
        let q = JointTable::new(vec![2, 2], vec![4.0, 0.0, 0.0, 1.0]).unwrap();
        let u = Utilities(vec![vec![2.0, -1.0], vec![2.0, -1.0]]);
        let t = theorem1(&q, &u, None).unwrap();
        assert!(t.cond_4a && !t.cond_4b && !t.holds);
        // D(1,1) = −2 − 1 + 0 = −3.
        assert!((t.violation_4b - 3.0).abs() < 1e-12);
        // A wrong learned V_jt breaks (4a) even though the greedy action is optimal.
        let t = theorem1(&q, &u, Some(0.5)).unwrap();
        assert!(!t.cond_4a && (t.violation_4a - 0.5).abs() < 1e-12);
        assert!(theorem1(&q, &u, Some(f64::INFINITY)).is_err());
    }

    #[test]
    fn ties_in_utilities_use_the_greedy_set() {
        // Q_jt has argmax {0,1} × {0}; utilities tie actions 0 and 1 of agent 1.
        let q = JointTable::new(vec![3, 2], vec![5.0, 1.0, 5.0, 0.0, -3.0, -3.0]).unwrap();
        let u = Utilities(vec![vec![3.0, 3.0, -1.0], vec![2.0, -2.0]]);
        let t = theorem1(&q, &u, None).unwrap();
        assert_eq!(t.greedy_sets, vec![vec![0, 1], vec![0]]);
        assert!(t.holds);
        // (0,1): D = 3 − 2 − 1 = 0; (1,1): D = 1 − 0 = 1; (2,0): −1 + 2 + 3 = 4; (2,1): 0.
        let t2 = theorem2(&q, &u, None).unwrap();
        // Agent 1's lines are columns: column 0 holds G points (min 0); column 1 is
        // [0, 1, 0] with min 0. Agent 2's lines are rows: row 2 = [4, 0], min 0.
        assert!(t2.holds, "{t2:?}");
        let d = t.d;
        let (a1, a2) = cond7_brute_2(&d, |a, b| a < 2 && b == 0);
        assert!(a1 < 1e-12 && a2 < 1e-12);
    }

    #[test]
    fn three_agents_lines() {
        // N = 3, 2 actions each. Q = 0 at (0,0,0), −1 elsewhere; utilities x(0) = 0,
        // x(1) = −1/2 for every agent. D(u) = −k/2 + 1 for k deviating agents (k ≥ 1).
        let q = coordination3();
        let u = Utilities(vec![vec![0.0, -0.5]; 3]);
        let t = theorem1(&q, &u, None).unwrap();
        assert!(t.cond_4a && !t.cond_4b);
        assert!((t.violation_4b - 0.5).abs() < 1e-12); // k = 3: D = −1/2
        let t2 = theorem2(&q, &u, None).unwrap();
        // Agent 1's line (·,1,1): D(0,1,1) = 0, D(1,1,1) = −1/2 → min −1/2; line (·,1,0):
        // D(0,1,0) = 1/2, D(1,1,0) = 0 → 0; line (·,0,0) contains ū.
        for a in &t2.agents {
            assert!(!a.holds);
            assert!((a.max_residual - 0.5).abs() < 1e-12);
        }
        assert_eq!(t2.agents[0].worst, Some(vec![0, 1, 1]));
        assert_eq!(t2.agents[2].worst, Some(vec![1, 1, 0]));
    }

    #[test]
    fn single_agent_and_all_greedy() {
        let q = JointTable::new(vec![3], vec![1.0, 2.0, 2.0]).unwrap();
        let t = theorem1(&q, &Utilities(vec![vec![1.0, 2.0, 2.0]]), None).unwrap();
        assert!(t.holds);
        // Every action greedy: (4b) and (7) are vacuous.
        let q = JointTable::new(vec![2], vec![1.0, 1.0]).unwrap();
        let u = Utilities(vec![vec![0.0, 0.0]]);
        let t = theorem1(&q, &u, None).unwrap();
        assert!(t.holds && t.violation_4b <= 0.0);
        let t2 = theorem2(&q, &u, None).unwrap();
        assert!(t2.holds && t2.agents[0].max_residual <= 0.0);
    }
}
