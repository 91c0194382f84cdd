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
