//! Numerical tolerances, stated once.
//!
//! Two values `a`, `b` are *tied* when `|a − b| ≤ TIE_TOL · max(1, |a|, |b|)`. This decides
//! argmax sets (optimal joint actions, greedy actions of utilities) and whether an equality
//! condition such as (4a) or (7) holds. Inequalities such as (4b) are checked as
//! `x ≥ −TIE_TOL · scale`. The tolerance is relative so that payoffs in the thousands and in
//! the hundredths are treated alike.

/// Relative tolerance for ties and equality conditions.
pub const TIE_TOL: f64 = 1e-9;

/// The scale used with [`TIE_TOL`] for a pair of values.
pub fn scale(a: f64, b: f64) -> f64 {
    1f64.max(a.abs()).max(b.abs())
}

/// `a` and `b` are equal up to the tie tolerance.
pub fn tied(a: f64, b: f64) -> bool {
    (a - b).abs() <= TIE_TOL * scale(a, b)
}

/// `x` is zero up to a tolerance relative to `reference_scale`.
pub fn is_zero(x: f64, reference_scale: f64) -> bool {
    x.abs() <= TIE_TOL * 1f64.max(reference_scale.abs())
}

/// `x ≥ 0` up to a tolerance relative to `reference_scale`.
pub fn non_negative(x: f64, reference_scale: f64) -> bool {
    x >= -TIE_TOL * 1f64.max(reference_scale.abs())
}

/// A tolerance with an absolute and a relative part: `x` counts as zero at scale `s` when
/// `|x| ≤ max(abs, rel · |s|)`, and `a`, `b` are tied when `a − b` is zero at scale
/// `max(|a|, |b|)`.
///
/// Exact arithmetic uses [`Tolerance::EXACT`] (both parts [`TIE_TOL`]: the same rule as
/// [`tied`], [`is_zero`] and [`non_negative`]). Learned values are f32 approximations whose
/// ties and equalities hold only to their rounding; verdicts on them use
/// [`Tolerance::LEARNED`] unless the user states another (`qfactor check --tolerance`), and
/// every report on learned values prints the tolerance it used.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tolerance {
    /// Absolute part.
    pub abs: f64,
    /// Relative part (a fraction of the values' magnitude).
    pub rel: f64,
}

impl Tolerance {
    /// The exact arithmetic's tolerance: `TIE_TOL`, absolute and relative.
    pub const EXACT: Tolerance = Tolerance {
        abs: TIE_TOL,
        rel: TIE_TOL,
    };

    /// The default for learned (f32) values: `1e-5` absolute and `1e-5` relative, about 80
    /// f32 rounding units at any magnitude, far below any gap a learner is meant to find.
    pub const LEARNED: Tolerance = Tolerance {
        abs: 1e-5,
        rel: 1e-5,
    };

    /// A tolerance; errors unless both parts are finite and non-negative.
    pub fn new(abs: f64, rel: f64) -> crate::Result<Self> {
        if !(abs.is_finite() && abs >= 0.0 && rel.is_finite() && rel >= 0.0) {
            return Err(crate::Error::Invalid(format!(
                "a tolerance needs finite, non-negative parts (got abs {abs}, rel {rel})"
            )));
        }
        Ok(Tolerance { abs, rel })
    }

    /// The largest `|x|` that counts as zero at magnitude `scale`.
    pub fn threshold(&self, scale: f64) -> f64 {
        self.abs.max(self.rel * scale.abs())
    }

    /// `|x|` is zero at magnitude `scale`.
    pub fn is_zero(&self, x: f64, scale: f64) -> bool {
        x.abs() <= self.threshold(scale)
    }

    /// `x ≥ 0` up to the tolerance at magnitude `scale`.
    pub fn non_negative(&self, x: f64, scale: f64) -> bool {
        x >= -self.threshold(scale)
    }

    /// `a` and `b` are equal up to the tolerance.
    pub fn tied(&self, a: f64, b: f64) -> bool {
        (a - b).abs() <= self.threshold(a.abs().max(b.abs()))
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::LEARNED
    }
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "abs {:e}, rel {:e}", self.abs, self.rel)
    }
}

impl std::str::FromStr for Tolerance {
    type Err = crate::Error;

    /// `T` (both parts `T`), `ABS,REL`, or `abs=A,rel=R` (either key may be left out; the
    /// other part is then 0).
    fn from_str(text: &str) -> crate::Result<Self> {
        let bad = || {
            crate::Error::Invalid(format!(
                "{text:?} is not a tolerance (give T, ABS,REL or abs=A,rel=R, e.g. 1e-5 or \
                 abs=1e-6,rel=1e-4)"
            ))
        };
        let num = |s: &str| s.trim().parse::<f64>().map_err(|_| bad());
        let parts: Vec<&str> = text.split(',').collect();
        let (abs, rel) = if parts.iter().any(|p| p.contains('=')) {
            let (mut abs, mut rel) = (None, None);
            for p in &parts {
                let (k, v) = p.split_once('=').ok_or_else(bad)?;
                let slot = match k.trim() {
                    "abs" => &mut abs,
                    "rel" => &mut rel,
                    _ => return Err(bad()),
                };
                if slot.replace(num(v)?).is_some() {
                    return Err(bad());
                }
            }
            (abs.unwrap_or(0.0), rel.unwrap_or(0.0))
        } else {
            match parts.as_slice() {
                [t] => (num(t)?, num(t)?),
                [a, r] => (num(a)?, num(r)?),
                _ => return Err(bad()),
            }
        };
        Tolerance::new(abs, rel).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_tolerance_is_the_tie_rule() {
        let t = Tolerance::EXACT;
        for (a, b) in [
            (10.0, 10.0 + 1e-12),
            (10.0, 10.0 + 1e-7),
            (0.0, 1e-10),
            (1e6, 1e6 + 1e-4),
        ] {
            assert_eq!(t.tied(a, b), tied(a, b), "{a} {b}");
        }
        for (x, s) in [(1e-10, 0.0), (5e-9, 8.0), (1e-7, 8.0), (-5e-9, 8.0)] {
            assert_eq!(t.is_zero(x, s), is_zero(x, s));
            assert_eq!(t.non_negative(x, s), non_negative(x, s));
        }
    }

    #[test]
    fn learned_tolerance_absorbs_f32_rounding() {
        let t = Tolerance::LEARNED;
        let a = 8.0f32;
        let b = f32::from_bits(a.to_bits() + 3);
        assert!(t.tied(a as f64, b as f64));
        assert!(!t.tied(8.0, 8.01));
        assert!(t.is_zero(4e-7, 8.0));
        assert!(!t.is_zero(1e-3, 8.0));
    }

    #[test]
    fn parses_every_form_and_refuses_nonsense() {
        assert_eq!(
            "1e-4".parse::<Tolerance>().unwrap(),
            Tolerance::new(1e-4, 1e-4).unwrap()
        );
        assert_eq!(
            "0,1e-3".parse::<Tolerance>().unwrap(),
            Tolerance::new(0.0, 1e-3).unwrap()
        );
        assert_eq!(
            "rel=1e-3".parse::<Tolerance>().unwrap(),
            Tolerance::new(0.0, 1e-3).unwrap()
        );
        assert_eq!(
            "abs=1e-6, rel=1e-4".parse::<Tolerance>().unwrap(),
            Tolerance::new(1e-6, 1e-4).unwrap()
        );
        for bad in ["", "x", "-1", "nan", "1,2,3", "abs=1,abs=2", "tol=1", "inf"] {
            assert!(bad.parse::<Tolerance>().is_err(), "{bad:?}");
        }
    }
}
