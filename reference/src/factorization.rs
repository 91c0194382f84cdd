//! The one per-state factorization type: what every exact projection, every learner and every
//! file of learned tables becomes before it is judged by [`crate::verify`].
//!
//! A [`Factorization`] of one state holds
//! * the utilities `[Q_i]` (every agent's every action),
//! * optionally a learned joint table, tagged with what it is ([`JointKind`]): QTRAN's joint
//!   critic `Q_jt`, or a mixer's output `Q_tot` (VDN's sum, QMIX's monotone mixer, IQL's sum),
//! * optionally QTRAN's `V_jt`.
//!
//! `Q'_jt = Σ_i Q_i` is derived from the utilities ([`Factorization::q_prime`]), never stored,
//! so it cannot disagree with them. Conversions: [`Factorization::vdn`] from the exact VDN
//! projection, [`Factorization::qmix`] from the exact QMIX projection (utilities that are each
//! action's rank in its agent's order), [`Factorization::qtran`] from an exact QTRAN
//! factorization, and the learners build one per seed and state directly.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ideal::qmix::QmixProjection;
use crate::ideal::qtran::QtranFactorization;
use crate::ideal::vdn::VdnProjection;
use crate::table::{JointTable, Utilities};
use crate::tol::Tolerance;

/// What a learned joint table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum JointKind {
    /// QTRAN's joint action-value network `Q_jt` (unrestricted).
    #[serde(rename = "q_jt")]
    QJt,
    /// A mixer's output `Q_tot` (VDN's and IQL's sum, QMIX's monotone mixer).
    #[serde(rename = "q_tot")]
    QTot,
}

impl JointKind {
    /// The table's name in files and output (`q_jt`, `q_tot`).
    pub fn name(self) -> &'static str {
        match self {
            JointKind::QJt => "q_jt",
            JointKind::QTot => "q_tot",
        }
    }
}

/// A learned (or exact) joint table and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    /// `Q_jt` or `Q_tot`.
    pub kind: JointKind,
    /// The table, shaped like the game.
    pub table: JointTable,
}

/// One state's factorization (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Factorization {
    /// `[Q_i]`, every agent's every action.
    pub utilities: Utilities,
    /// The joint table, when one is given.
    pub joint: Option<Joint>,
    /// QTRAN's `V_jt`, when given.
    pub v_jt: Option<f64>,
}

impl Factorization {
    /// Utilities alone.
    pub fn new(utilities: Utilities) -> Self {
        Factorization {
            utilities,
            joint: None,
            v_jt: None,
        }
    }

    /// With a joint table of `kind` (checked against the utilities' shape).
    pub fn with_joint(mut self, kind: JointKind, table: JointTable) -> Result<Self> {
        if table.shape() != self.utilities.shape().as_slice() {
            return Err(Error::Invalid(format!(
                "{} of shape {:?} for utilities of shape {:?}",
                kind.name(),
                table.shape(),
                self.utilities.shape()
            )));
        }
        self.joint = Some(Joint { kind, table });
        Ok(self)
    }

    /// With `V_jt`.
    pub fn with_v_jt(mut self, v_jt: f64) -> Self {
        self.v_jt = Some(v_jt);
        self
    }

    /// VDN's exact projection: its canonical-gauge utilities and `Q_tot = Σ Q_i`.
    pub fn vdn(p: &VdnProjection) -> Self {
        Factorization {
            utilities: p.utilities.clone(),
            joint: Some(Joint {
                kind: JointKind::QTot,
                table: p.q_tot.clone(),
            }),
            v_jt: None,
        }
    }

    /// QMIX's exact projection: `Q_tot`, with utilities `Q_i(a) = rank of a in agent i's order`
    /// (0 = lowest). The projection does not identify utilities (any utilities increasing along
    /// its orders realise it through some monotone mixer); the ranks are one consistent choice.
    /// `None` when the orders are not permutations of the actions.
    pub fn qmix(p: &QmixProjection) -> Option<Self> {
        let shape = p.q_tot.shape();
        let mut utilities = Vec::with_capacity(p.orders.len());
        for (i, order) in p.orders.iter().enumerate() {
            if shape.get(i) != Some(&order.len()) {
                return None;
            }
            let mut q = vec![f64::NAN; order.len()];
            for (rank, &a) in order.iter().enumerate() {
                *q.get_mut(a)? = rank as f64;
            }
            if q.iter().any(|x| x.is_nan()) {
                return None;
            }
            utilities.push(q);
        }
        if utilities.len() != shape.len() {
            return None;
        }
        Some(Factorization {
            utilities: Utilities(utilities),
            joint: Some(Joint {
                kind: JointKind::QTot,
                table: p.q_tot.clone(),
            }),
            v_jt: None,
        })
    }

    /// An exact QTRAN factorization of `q_jt`: `Q_jt = q_jt`, its utilities and `V_jt`.
    pub fn qtran(q_jt: &JointTable, f: &QtranFactorization) -> Result<Self> {
        Ok(Factorization::new(f.utilities.clone())
            .with_joint(JointKind::QJt, q_jt.clone())?
            .with_v_jt(f.v_jt))
    }

    /// The learned `Q_jt`, if the joint table is one.
    pub fn q_jt(&self) -> Option<&JointTable> {
        self.joint
            .as_ref()
            .filter(|j| j.kind == JointKind::QJt)
            .map(|j| &j.table)
    }

    /// The learned `Q_tot`, if the joint table is one.
    pub fn q_tot(&self) -> Option<&JointTable> {
        self.joint
            .as_ref()
            .filter(|j| j.kind == JointKind::QTot)
            .map(|j| &j.table)
    }

    /// The joint table, whatever it is.
    pub fn joint_table(&self) -> Option<&JointTable> {
        self.joint.as_ref().map(|j| &j.table)
    }

    /// `Q'_jt(u) = Σ_i Q_i(u_i)`, derived from the utilities.
    pub fn q_prime(&self) -> JointTable {
        JointTable::additive(&self.utilities)
    }

    /// Flat indices of the greedy joint actions (see [`Utilities::greedy_joint_set`]).
    pub fn greedy_joint_set(&self) -> Vec<usize> {
        self.utilities.greedy_joint_set()
    }
}

/// A factorization of a whole game: per state (indexed like `game.states`), `None` for states
/// without any entries (a file may cover some states only).
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedFactorization {
    /// Per state.
    pub states: Vec<Option<Factorization>>,
}

impl LearnedFactorization {
    /// Every state given.
    pub fn complete(states: Vec<Factorization>) -> Self {
        LearnedFactorization {
            states: states.into_iter().map(Some).collect(),
        }
    }
}

/// The greedy joint actions of utilities: the product of each agent's greedy set (ties by
/// [`crate::tol`]). Defined here, beside the type that uses them most, so that there is one
/// greedy product in the project.
impl Utilities {
    /// Every greedy joint action (per-agent indices), in row-major order (agent 1 slowest).
    pub fn greedy_joint_actions(&self) -> Vec<Vec<usize>> {
        self.greedy_joint_actions_within(&Tolerance::EXACT)
    }

    /// [`Utilities::greedy_joint_actions`] with ties decided by `tolerance` (learned values).
    pub fn greedy_joint_actions_within(&self, tolerance: &Tolerance) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = vec![Vec::new()];
        for i in 0..self.n_agents() {
            let set = self.greedy_set_within(i, tolerance);
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    set.iter().map(move |&a| {
                        let mut p = prefix.clone();
                        p.push(a);
                        p
                    })
                })
                .collect();
        }
        out
    }

    /// Each agent's actions sorted by its utility, lowest first (ties by action index): the
    /// action orders a monotonic mixer over these utilities is bound to.
    pub fn ascending_orders(&self) -> Vec<Vec<usize>> {
        self.0
            .iter()
            .map(|q| {
                let mut o: Vec<usize> = (0..q.len()).collect();
                o.sort_by(|&a, &b| q[a].total_cmp(&q[b]).then(a.cmp(&b)));
                o
            })
            .collect()
    }

    /// Flat indices (row-major, agent 1 slowest) of [`Utilities::greedy_joint_actions`].
    pub fn greedy_joint_set(&self) -> Vec<usize> {
        self.greedy_joint_set_within(&Tolerance::EXACT)
    }

    /// [`Utilities::greedy_joint_set`] with ties decided by `tolerance` (learned values).
    pub fn greedy_joint_set_within(&self, tolerance: &Tolerance) -> Vec<usize> {
        let shape = self.shape();
        self.greedy_joint_actions_within(tolerance)
            .iter()
            .map(|u| u.iter().zip(&shape).fold(0, |k, (&a, &n)| k * n + a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_sort_by_utility_ties_by_index() {
        let u = Utilities(vec![vec![-4.0, 0.3, 0.2], vec![1.0, 1.0, 0.0]]);
        assert_eq!(u.ascending_orders(), vec![vec![0, 2, 1], vec![2, 0, 1]]);
    }
    use crate::ideal::qmix::{project_qmix, QmixOptions};
    use crate::ideal::qtran::qtran_base;
    use crate::ideal::vdn::project_vdn;

    fn payoff() -> JointTable {
        JointTable::new(
            vec![3, 3],
            vec![8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0],
        )
        .unwrap()
    }

    #[test]
    fn greedy_product_with_ties_is_row_major() {
        let u = Utilities(vec![vec![1.0, 0.0, 1.0], vec![2.0, 2.0]]);
        assert_eq!(
            u.greedy_joint_actions(),
            vec![vec![0, 0], vec![0, 1], vec![2, 0], vec![2, 1]]
        );
        assert_eq!(u.greedy_joint_set(), vec![0, 1, 4, 5]);
        // Brute force: every joint action whose every component is greedy.
        let t = JointTable::additive(&u);
        let brute: Vec<usize> = (0..t.len())
            .filter(|&k| {
                let a = t.joint_action(k);
                (0..2).all(|i| u.greedy_set(i).contains(&a[i]))
            })
            .collect();
        assert_eq!(u.greedy_joint_set(), brute);
    }

    #[test]
    fn q_prime_is_derived_and_kinds_are_kept() {
        let u = Utilities(vec![vec![1.0, 2.0, 3.0], vec![0.5, 0.0, -1.0]]);
        let f = Factorization::new(u.clone())
            .with_joint(JointKind::QJt, payoff())
            .unwrap()
            .with_v_jt(0.25);
        assert_eq!(f.q_prime(), JointTable::additive(&u));
        assert_eq!(f.q_jt(), Some(&payoff()));
        assert!(f.q_tot().is_none());
        assert_eq!(f.v_jt, Some(0.25));
        let bad = JointTable::new(vec![2, 2], vec![0.0; 4]).unwrap();
        assert!(Factorization::new(u)
            .with_joint(JointKind::QTot, bad)
            .is_err());
    }

    #[test]
    fn conversions_from_exact_projections() {
        let q = payoff();
        let v = project_vdn(&q, None).unwrap();
        let f = Factorization::vdn(&v);
        assert_eq!(f.q_tot(), Some(&v.q_tot));
        assert_eq!(f.q_prime(), v.q_tot);

        let m = project_qmix(&q, &QmixOptions::default()).unwrap();
        let f = Factorization::qmix(&m).unwrap();
        assert_eq!(f.q_tot(), Some(&m.q_tot));
        // Ranks increase along each order, so the greedy action is each order's last.
        for (i, order) in m.orders.iter().enumerate() {
            assert_eq!(f.utilities.greedy_set(i), vec![*order.last().unwrap()]);
        }

        let b = qtran_base(&q).unwrap().unwrap();
        let f = Factorization::qtran(&q, &b).unwrap();
        assert_eq!(f.q_jt(), Some(&q));
        assert_eq!(f.v_jt, Some(b.v_jt));
        assert_eq!(f.q_prime(), b.q_prime);
    }

    #[test]
    fn rank_utilities_reject_non_permutations() {
        let q = payoff();
        let mut m = project_qmix(&q, &QmixOptions::default()).unwrap();
        m.orders[0] = vec![0, 0, 1];
        assert!(Factorization::qmix(&m).is_none());
        m.orders[0] = vec![5, 0, 1];
        assert!(Factorization::qmix(&m).is_none());
    }
}
