//! The options of [`project_qmix`] ([`QmixOptions`]: weights and limits) and its named work
//! budgets ([`QmixBudget`]).

#[cfg(doc)]
use super::project_qmix;
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::isotonic::IsotonicSolver;
use std::time::Duration;

/// Default budget of a projection in units of [`IsotonicSolver::work`] (measured at
/// 1.2–2·10⁸ units per second on one core, so about 5–8 s): [`QmixBudget::Full`].
pub const DEFAULT_WORK_BUDGET: u64 = 1_000_000_000;

/// Budget of [`QmixBudget::Interactive`] in units of [`IsotonicSolver::work`]: about 15–30 ms
/// of one core, so that an analysis answers at once. Games up to about 2 agents × 7 actions,
/// 3 × 4 and 4 × 3 are usually still solved exactly within it; larger ones get the best
/// ordering found with a certified lower bound.
pub const INTERACTIVE_WORK_BUDGET: u64 = 2_000_000;

/// Options of [`project_qmix`]. The default is the thorough search ([`QmixBudget::Full`]);
/// [`QmixOptions::interactive`] is the quick one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QmixOptions {
    /// Non-negative weight per joint action (row-major); `None` is uniform. Cells of weight 0
    /// are free.
    pub weights: Option<Vec<f64>>,
    /// Wall-clock limit of the search; `None` is none (the work budget still applies).
    pub time_limit: Option<Duration>,
    /// Most isotonic regressions to compute. When set and `work_budget` is `None`, there is
    /// no work budget.
    pub max_orderings: Option<u64>,
    /// Budget in units of [`IsotonicSolver::work`] (deterministic, unlike `time_limit`) for
    /// the whole projection: search, local search and lower bound. `None` is
    /// [`DEFAULT_WORK_BUDGET`], unless `max_orderings` is set.
    pub work_budget: Option<u64>,
}

impl QmixOptions {
    /// Uniform weights, no time limit, and the given budget.
    pub fn with_budget(budget: QmixBudget) -> QmixOptions {
        QmixOptions {
            work_budget: Some(budget.work_units()),
            ..QmixOptions::default()
        }
    }

    /// The quick search ([`QmixBudget::Interactive`]): small games stay exact, larger ones
    /// come back in milliseconds, labelled heuristic with a lower bound.
    pub fn interactive() -> QmixOptions {
        QmixOptions::with_budget(QmixBudget::Interactive)
    }
}

/// A named work budget for [`QmixOptions::work_budget`]; parses from `interactive`, `full`,
/// or a number of work units (`250000000`, `2.5e8`, `250_000_000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QmixBudget {
    /// [`INTERACTIVE_WORK_BUDGET`] (about 15–30 ms).
    Interactive,
    /// [`DEFAULT_WORK_BUDGET`] (about 5–8 s).
    Full,
    /// This many units of [`IsotonicSolver::work`].
    Work(u64),
}

impl QmixBudget {
    /// The budget in units of [`IsotonicSolver::work`].
    pub fn work_units(self) -> u64 {
        match self {
            QmixBudget::Interactive => INTERACTIVE_WORK_BUDGET,
            QmixBudget::Full => DEFAULT_WORK_BUDGET,
            QmixBudget::Work(w) => w,
        }
    }
}

impl std::str::FromStr for QmixBudget {
    type Err = Error;

    fn from_str(s: &str) -> Result<QmixBudget> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "interactive" => return Ok(QmixBudget::Interactive),
            "full" => return Ok(QmixBudget::Full),
            _ => {}
        }
        let digits = t.replace('_', "");
        if let Ok(w) = digits.parse::<u64>() {
            return Ok(QmixBudget::Work(w));
        }
        match digits.parse::<f64>() {
            // Whole numbers only, up to 2^63 (exactly representable bounds).
            Ok(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9.2e18 => {
                Ok(QmixBudget::Work(v as u64))
            }
            _ => Err(Error::Invalid(format!(
                "QMIX budget {s:?}: expected interactive, full, or a whole number of work units"
            ))),
        }
    }
}

impl std::fmt::Display for QmixBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QmixBudget::Interactive => write!(f, "interactive"),
            QmixBudget::Full => write!(f, "full"),
            QmixBudget::Work(w) => write!(f, "{w}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse() {
        let parse = |t: &str| t.parse::<QmixBudget>();
        assert_eq!(parse("interactive").unwrap(), QmixBudget::Interactive);
        assert_eq!(parse(" FULL ").unwrap(), QmixBudget::Full);
        assert_eq!(parse("250000").unwrap(), QmixBudget::Work(250_000));
        assert_eq!(parse("2_500_000").unwrap(), QmixBudget::Work(2_500_000));
        assert_eq!(parse("2.5e8").unwrap(), QmixBudget::Work(250_000_000));
        for bad in ["", "fast", "-1", "1.5", "1e30", "nan"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        for b in [
            QmixBudget::Interactive,
            QmixBudget::Full,
            QmixBudget::Work(7),
        ] {
            assert_eq!(parse(&b.to_string()).unwrap(), b);
        }
        assert_eq!(
            QmixBudget::Interactive.work_units(),
            INTERACTIVE_WORK_BUDGET
        );
        assert_eq!(QmixBudget::Full.work_units(), DEFAULT_WORK_BUDGET);
        assert_eq!(
            QmixOptions::interactive().work_budget,
            Some(INTERACTIVE_WORK_BUDGET)
        );
        assert_eq!(QmixOptions::default().work_budget, None);
    }
}
