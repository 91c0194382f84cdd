//! Class or optimiser: why a learned factorization misses the optimum.
//!
//! Given learned tables and the class they come from (VDN, QMIX or QTRAN), the diagnosis puts
//! them beside the class's exact ideal ([`crate::exact::Exact`]) and answers the question
//! "did my learner fail because of its class or because of its optimiser?":
//!
//! * the learned policy is optimal — nothing to explain;
//! * the class's ideal loses the optimum — **the class cannot keep the optimum** (for QMIX
//!   this is proven only when the global projection is exact; otherwise the verdict says
//!   *heuristic*, since a better ordering might exist);
//! * the ideal keeps it but the learner does not — **the class could, the optimiser did not**.
//!   For QMIX the diagnosis adds the exact best fit under the *learned* utilities' action
//!   orders: when even that fit loses the optimum, the optimiser settled on orders from which
//!   the class cannot recover.
//!
//! The distances are MSEs over joint actions, weighted as the ideals were computed (uniform
//! unless [`crate::exact::Exact::compute`] was given weights).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::exact::Exact;
use crate::factorization::LearnedFactorization;
use crate::ideal::qmix::project_qmix_with_orders;
use crate::multistep::greedy_set;
use crate::table::JointTable;
use crate::tol::Tolerance;

/// A value-factorization class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Additive: `Q_tot = Σ_i Q_i`.
    Vdn,
    /// Monotonic mixing of the utilities.
    Qmix,
    /// QTRAN: an unrestricted `Q_jt` with utilities that factorize it.
    Qtran,
}

impl Class {
    /// The class of a learner's method name (`vdn`, `qmix`, `qtran-base`, `qtran-alt`,
    /// `qtran`); `None` for methods without a class ideal (`iql`) or unknown names.
    pub fn of_method(method: &str) -> Option<Class> {
        match method {
            "vdn" => Some(Class::Vdn),
            "qmix" => Some(Class::Qmix),
            "qtran" | "qtran-base" | "qtran-alt" => Some(Class::Qtran),
            _ => None,
        }
    }

    /// The class's exact ideal joint table per state: VDN's exact projection, QMIX's global
    /// monotonic projection, `Q*` for QTRAN (its class is unrestricted).
    pub fn ideal_tables(self, exact: &Exact) -> Vec<JointTable> {
        match self {
            Class::Vdn => exact.vdn.iter().map(|p| p.q_tot.clone()).collect(),
            Class::Qmix => exact.qmix.iter().map(|p| p.q_tot.clone()).collect(),
            Class::Qtran => exact.truth.q_star.clone(),
        }
    }

    /// The class's name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Vdn => "VDN",
            Class::Qmix => "QMIX",
            Class::Qtran => "QTRAN",
        }
    }
}

/// The verdict of a diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The learned greedy policy is optimal.
    Optimal,
    /// The class's exact ideal loses the optimum: no learner of this class can keep it
    /// (under the ideal's weights).
    ClassCannot,
    /// The class's best *known* fit loses the optimum, but it is a heuristic result (QMIX
    /// search cut short): the class may or may not be able to keep it.
    HeuristicClassLoses,
    /// The class's ideal keeps the optimum; the learner did not reach it.
    OptimiserDidNot,
}

impl Verdict {
    /// The sentence a report prints.
    pub fn sentence(self) -> &'static str {
        match self {
            Verdict::Optimal => "optimal: the learned greedy policy obtains the optimal return",
            Verdict::ClassCannot => "the class cannot keep the optimum",
            Verdict::HeuristicClassLoses => {
                "heuristic: the class's best known fit loses the optimum (not proven)"
            }
            Verdict::OptimiserDidNot => "the class could, the optimiser did not",
        }
    }
}

/// One state of a diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct StateDiagnosis {
    /// State label.
    pub state: String,
    /// MSE of the learned joint table to the class's ideal (`null` without a joint table).
    pub mse_ideal: Option<f64>,
    /// MSE of the class's ideal to the table it projects (the class's own error floor).
    pub ideal_mse: f64,
    /// The ideal is proven (VDN and QTRAN always; QMIX when its search finished).
    pub ideal_exact: bool,
    /// QMIX: MSE of the exact best fit under the learned utilities' action orders to the
    /// table QMIX projects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_fit_mse: Option<f64>,
    /// QMIX: MSE of the learned joint table to that best fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mse_orders_fit: Option<f64>,
}

/// A diagnosis of one learned factorization of a whole game.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The class diagnosed.
    pub class: Class,
    /// The verdict.
    pub verdict: Verdict,
    /// The verdict as a sentence.
    pub sentence: String,
    /// The learned greedy policy is optimal (from the initial state).
    pub learned_optimal: bool,
    /// The greedy policy of the class's ideal is optimal.
    pub ideal_keeps_optimal: bool,
    /// Every state's ideal is proven (see [`StateDiagnosis::ideal_exact`]).
    pub ideal_exact: bool,
    /// QMIX: the greedy policy of the best fits under the learned orders is optimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_fit_keeps_optimal: Option<bool>,
    /// Per state (states without learned entries are left out).
    pub states: Vec<StateDiagnosis>,
}

/// Diagnoses `learned` (every state given) as a member of `class`, against `exact`; the
/// learned utilities' ties are decided by `tolerance`, as in [`crate::verify::check_with`].
pub fn diagnose(
    exact: &Exact,
    learned: &LearnedFactorization,
    class: Class,
    tolerance: &Tolerance,
) -> Result<Diagnosis> {
    let truth = &exact.truth;
    let n = truth.n_states();
    if learned.states.len() != n || learned.states.iter().any(Option::is_none) {
        return Err(Error::Invalid(
            "a diagnosis needs learned tables for every state of the game".into(),
        ));
    }
    let learned: Vec<_> = learned.states.iter().flatten().collect();
    let greedy: Vec<Vec<usize>> = learned
        .iter()
        .map(|f| f.utilities.greedy_joint_set_within(tolerance))
        .collect();
    let learned_optimal = truth.policy_optimal(&greedy)?;
    let (ideal_greedy, ideal_exact): (Vec<Vec<usize>>, bool) = match class {
        Class::Vdn => (exact.vdn_greedy(), true),
        Class::Qmix => (exact.qmix_greedy(), exact.qmix_exact()),
        Class::Qtran => (truth.optimal.clone(), true),
    };
    let ideal_keeps_optimal = truth.policy_optimal(&ideal_greedy)?;
    let mut states = Vec::with_capacity(n);
    let mut fits_greedy = Vec::with_capacity(n);
    for (s, f) in learned.iter().enumerate() {
        let joint = f.joint_table();
        let (ideal, ideal_mse, exact_s) = match class {
            Class::Vdn => (&exact.vdn[s].q_tot, exact.vdn[s].mse, true),
            Class::Qmix => (&exact.qmix[s].q_tot, exact.qmix[s].mse, exact.qmix[s].exact),
            Class::Qtran => (&truth.q_star[s], 0.0, true),
        };
        let (orders_fit_mse, mse_orders_fit) = if class == Class::Qmix {
            let weights = exact.qmix_options.weights.as_deref();
            let fit = project_qmix_with_orders(
                &exact.qmix_targets[s],
                &f.utilities.ascending_orders(),
                weights,
            )?;
            fits_greedy.push(greedy_set(&fit.q_tot));
            (Some(fit.mse), joint.map(|j| j.mse(&fit.q_tot, None)))
        } else {
            (None, None)
        };
        states.push(StateDiagnosis {
            state: truth.game.states[s].label.clone(),
            mse_ideal: joint.map(|j| j.mse(ideal, None)),
            ideal_mse,
            ideal_exact: exact_s,
            orders_fit_mse,
            mse_orders_fit,
        });
    }
    let orders_fit_keeps_optimal = if class == Class::Qmix {
        Some(truth.policy_optimal(&fits_greedy)?)
    } else {
        None
    };
    let verdict = if learned_optimal {
        Verdict::Optimal
    } else if ideal_keeps_optimal {
        Verdict::OptimiserDidNot
    } else if ideal_exact {
        Verdict::ClassCannot
    } else {
        Verdict::HeuristicClassLoses
    };
    Ok(Diagnosis {
        class,
        verdict,
        sentence: verdict.sentence().into(),
        learned_optimal,
        ideal_keeps_optimal,
        ideal_exact,
        orders_fit_keeps_optimal,
        states,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factorization::Factorization;
    use crate::ideal::qmix::QmixOptions;
    use crate::io::load_builtin;

    fn exact(name: &str) -> Exact {
        Exact::compute(&load_builtin(name).unwrap(), None, &QmixOptions::default()).unwrap()
    }

    /// On the QTRAN paper's game VDN's exact projection loses the optimum, so VDN's own ideal,
    /// learned perfectly, is diagnosed "class cannot" with MSE 0 to its ideal.
    #[test]
    fn vdn_ideal_on_paper_table1_is_a_class_failure() {
        let e = exact("paper-table1");
        let learned = LearnedFactorization::complete(e.vdn_factorizations());
        let d = diagnose(&e, &learned, Class::Vdn, &Tolerance::EXACT).unwrap();
        assert_eq!(d.verdict, Verdict::ClassCannot);
        assert!(!d.learned_optimal && !d.ideal_keeps_optimal);
        assert!(d.states[0].mse_ideal.unwrap() < 1e-12);
    }

    /// QTRAN's class holds `Q*` itself: the exact QTRAN factorization is optimal, and VDN
    /// tables judged as QTRAN's are an optimiser failure.
    #[test]
    fn qtran_class_always_could() {
        let e = exact("paper-table1");
        let vdn = LearnedFactorization::complete(e.vdn_factorizations());
        let d = diagnose(&e, &vdn, Class::Qtran, &Tolerance::EXACT).unwrap();
        assert_eq!(d.verdict, Verdict::OptimiserDidNot);
        let q = &e.truth.q_star[0];
        let base = crate::ideal::qtran::qtran_base(q).unwrap().unwrap();
        let f = Factorization::qtran(q, &base).unwrap();
        let d = diagnose(
            &e,
            &LearnedFactorization::complete(vec![f]),
            Class::Qtran,
            &Tolerance::EXACT,
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Optimal);
        assert!(d.states[0].mse_ideal.unwrap() < 1e-12);
    }

    /// A QMIX table judged against its class: the best fit under the ideal's own orders is
    /// the ideal (same MSE), and the learned table at the ideal is 0 from both.
    #[test]
    fn qmix_fit_under_the_ideals_orders_is_the_ideal() {
        let e = exact("paper-table1");
        let learned = LearnedFactorization {
            states: e.qmix_factorizations(),
        };
        let d = diagnose(&e, &learned, Class::Qmix, &Tolerance::EXACT).unwrap();
        let s = &d.states[0];
        assert!((s.orders_fit_mse.unwrap() - s.ideal_mse).abs() < 1e-9);
        assert!(s.mse_ideal.unwrap() < 1e-12 && s.mse_orders_fit.unwrap() < 1e-12);
        assert_eq!(d.orders_fit_keeps_optimal, Some(d.ideal_keeps_optimal));
    }

    #[test]
    fn missing_states_are_an_error() {
        let e = exact("two-step");
        let learned = LearnedFactorization {
            states: vec![None; e.truth.n_states()],
        };
        assert!(diagnose(&e, &learned, Class::Vdn, &Tolerance::EXACT).is_err());
        assert_eq!(Class::of_method("qtran-alt"), Some(Class::Qtran));
        assert_eq!(Class::of_method("iql"), None);
    }
}
