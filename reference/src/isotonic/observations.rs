//! Observations and weights validated once for repeated regressions ([`Observations`]),
//! with the exact integer representation the cuts use when the data allow it.

use crate::error::{Error, Result};

/// Observations `y` and weights `w ≥ 0`, validated once and prepared for repeated regressions
/// (including the exact integer representation when the data allow it).
#[derive(Debug, Clone)]
pub struct Observations {
    pub(super) y: Vec<f64>,
    pub(super) w: Vec<f64>,
    pub(super) int: Option<IntData>,
}

#[derive(Debug, Clone)]
pub(super) struct IntData {
    pub(super) y: Vec<i64>,
    pub(super) w: Vec<i64>,
    /// `y = int.y / y_scale` exactly (a power of two).
    pub(super) y_scale: f64,
}

impl Observations {
    /// Validates `y` (finite) and `w` (finite, `≥ 0`, same length; `None` means all 1).
    pub fn new(y: Vec<f64>, w: Option<Vec<f64>>) -> Result<Observations> {
        if let Some(v) = y.iter().find(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!("observation {v} is not finite")));
        }
        let w = match w {
            None => vec![1.0; y.len()],
            Some(w) => {
                if w.len() != y.len() {
                    return Err(Error::Invalid(format!(
                        "{} weights for {} observations",
                        w.len(),
                        y.len()
                    )));
                }
                if let Some(v) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                    return Err(Error::Invalid(format!(
                        "weight {v} is not a finite non-negative number"
                    )));
                }
                w
            }
        };
        let int = IntData::try_new(&y, &w);
        Ok(Observations { y, w, int })
    }

    /// Number of observations.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no observations.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The observations.
    pub fn y(&self) -> &[f64] {
        &self.y
    }

    /// The weights.
    pub fn w(&self) -> &[f64] {
        &self.w
    }

    /// Sum of the weights.
    pub fn total_weight(&self) -> f64 {
        self.w.iter().sum()
    }

    /// True when the cuts run in exact integer arithmetic (see the [module docs](super)).
    pub fn is_integral(&self) -> bool {
        self.int.is_some()
    }

    /// Weighted sum of squares `Σ w_k (y_k − x_k)²`.
    pub fn sse(&self, x: &[f64]) -> f64 {
        self.y
            .iter()
            .zip(&self.w)
            .zip(x)
            .map(|((&y, &w), &x)| w * (y - x) * (y - x))
            .sum()
    }
}

/// Exact equality of floats without tripping `float_cmp` (`-0.0` equals `0.0`).
fn same(a: f64, b: f64) -> bool {
    a <= b && b <= a
}

/// The smallest `s ≤ 30` such that every `v · 2^s` is an integer of magnitude at most `limit`.
fn power_of_two_scale(values: &[f64], limit: f64) -> Option<i32> {
    (0..=30).find(|&s| {
        let f = f64::from(2u32).powi(s);
        values.iter().all(|&v| {
            let t = v * f;
            same(t.trunc(), t) && t.abs() <= limit
        })
    })
}

impl IntData {
    fn try_new(y: &[f64], w: &[f64]) -> Option<IntData> {
        let positive: Vec<f64> = w.iter().copied().filter(|&v| v > 0.0).collect();
        let first = positive.first().copied().unwrap_or(1.0);
        let wi: Vec<i64> = if positive.iter().all(|&v| same(v, first)) {
            // Scaling every weight by one constant leaves the regression unchanged.
            w.iter().map(|&v| i64::from(v > 0.0)).collect()
        } else {
            let s = power_of_two_scale(w, 2f64.powi(31))?;
            let f = 2f64.powi(s);
            w.iter().map(|&v| (v * f) as i64).collect()
        };
        let s = power_of_two_scale(y, 2f64.powi(52))?;
        let y_scale = 2f64.powi(s);
        let yi: Vec<i64> = y.iter().map(|&v| (v * y_scale) as i64).collect();
        // Capacities are w_k (W y_k − S) with |W y_k − S| ≤ 2 W_tot y_max; their sum over the
        // points must stay below 2^60 so that the "infinite" capacity 2^61 exceeds every cut.
        let n = y.len() as u128;
        let w_max = wi.iter().copied().max().unwrap_or(0).max(0) as u128;
        let w_tot: u128 = wi.iter().map(|&v| v as u128).sum();
        let y_max = yi.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0) as u128;
        let bound = n
            .checked_mul(w_max)?
            .checked_mul(2)?
            .checked_mul(w_tot)?
            .checked_mul(y_max.max(1))?;
        (bound < (1u128 << 60)).then_some(IntData {
            y: yi,
            w: wi,
            y_scale,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_detection() {
        let o = Observations::new(vec![0.5, -1.25, 3.0], None).unwrap();
        assert!(o.is_integral());
        let o = Observations::new(vec![0.1, 2.0], None).unwrap();
        assert!(!o.is_integral());
        let o = Observations::new(vec![1.0, 2.0], Some(vec![0.3, 0.3])).unwrap();
        assert!(o.is_integral(), "equal weights are rescaled to 1");
        let o = Observations::new(vec![1.0, 2.0], Some(vec![0.3, 0.6])).unwrap();
        assert!(!o.is_integral());
        let o = Observations::new(vec![1e300, 2.0], None).unwrap();
        assert!(!o.is_integral());
    }
}
