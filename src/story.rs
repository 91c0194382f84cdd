//! Small computations the commands need to *present* results, kept apart and named so they
//! can move into the `neural`/`reference` crates later:
//!
//! - [`lower_median_index`]: the representative seed (median by MSE, lower median for even K);
//! - [`split_means`]: a table's mean over the cells that share some agent's optimal action
//!   (e.g. "row and column A") and over the rest;
//! - [`seed_return`]: the return of one seed's greedy policy from the initial state;
//! - [`curve_bands`]: per logged step, the loss's mean and 10th–90th percentiles across seeds
//!   and the optimal share with its 95% Wilson interval (both statistics from
//!   `neural::report`).

use crate::present::plot::curves::Band;
use neural::learner::{CurvePoint, GameData, SeedTables};
use neural::report::{percentile, wilson_interval};
use reference::table::JointTable;

/// The index (into `values`) of the lower median: sort by value (ties by index) and take
/// position `(K − 1) / 2`. `None` when `values` is empty or holds a NaN.
pub fn lower_median_index(values: &[f64]) -> Option<usize> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    Some(idx[(values.len() - 1) / 2])
}

/// Means of `table` over the cells where some agent plays its action in `optimum` ("along"
/// the optimum's rows and columns) and over the other cells (`None` when there are none).
pub fn split_means(table: &JointTable, optimum: &[usize]) -> (f64, Option<f64>) {
    let (mut on, mut n_on, mut off, mut n_off) = (0.0, 0usize, 0.0, 0usize);
    for (u, v) in table.iter() {
        if u.iter().zip(optimum).any(|(a, b)| a == b) {
            on += v;
            n_on += 1;
        } else {
            off += v;
            n_off += 1;
        }
    }
    (
        on / n_on.max(1) as f64,
        (n_off > 0).then(|| off / n_off as f64),
    )
}

/// The return from the initial state of `seed`'s greedy policy (the product of each agent's
/// greedy set in every state), as `[min, max]` over tied greedy choices.
pub fn seed_return(data: &GameData, seed: &SeedTables) -> reference::Result<(f64, f64)> {
    let greedy: Vec<Vec<usize>> = seed.states.iter().map(|st| st.greedy_joint_set()).collect();
    data.truth.greedy_return(&greedy)
}

/// Loss bands (mean; 10th–90th percentile across seeds) and optimal-share bands (share; 95%
/// Wilson interval) of a curve.
pub fn curve_bands(curve: &[CurvePoint]) -> (Vec<Band>, Vec<Band>) {
    let mut loss = Vec::new();
    let mut optimal = Vec::new();
    for p in curve {
        let x = p.step as f64;
        if let Some(l) = p.loss.as_ref().filter(|l| !l.is_empty()) {
            let mean = l.iter().sum::<f64>() / l.len() as f64;
            if let (Some(lo), Some(hi)) = (percentile(l, 0.1), percentile(l, 0.9)) {
                if mean.is_finite() && lo.is_finite() && hi.is_finite() {
                    loss.push(Band {
                        x,
                        mid: mean,
                        lo,
                        hi,
                    });
                }
            }
        }
        let n = p.optimal.len();
        if n > 0 {
            let k = p.optimal.iter().filter(|&&o| o).count();
            let (lo, hi) = wilson_interval(k, n);
            optimal.push(Band {
                x,
                mid: k as f64 / n as f64,
                lo,
                hi,
            });
        }
    }
    (loss, optimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_median() {
        assert_eq!(lower_median_index(&[3.0, 1.0, 2.0]), Some(2));
        // Even K: the lower of the two middle values.
        assert_eq!(lower_median_index(&[4.0, 1.0, 3.0, 2.0]), Some(3));
        // Ties broken by index.
        assert_eq!(lower_median_index(&[1.0, 1.0, 1.0]), Some(1));
        assert_eq!(lower_median_index(&[]), None);
        assert_eq!(lower_median_index(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn split_means_of_the_paper_qmix_table() {
        // Table 1f of the QTRAN paper (rounded): −8.08 along A, ≈ 0 elsewhere.
        let t = JointTable::new(
            vec![3, 3],
            vec![-8.08, -8.08, -8.08, -8.08, 0.01, 0.03, -8.08, 0.01, 0.02],
        )
        .unwrap();
        let (on, off) = split_means(&t, &[0, 0]);
        assert!((on + 8.08).abs() < 1e-12);
        assert!((off.unwrap() - 0.0175).abs() < 1e-12);
        let one = JointTable::new(vec![1, 1], vec![5.0]).unwrap();
        assert_eq!(split_means(&one, &[0]).1, None);
    }

    #[test]
    fn bands_from_a_curve() {
        let curve = vec![
            CurvePoint {
                step: 10,
                loss: None,
                optimal: vec![false, false],
            },
            CurvePoint {
                step: 20,
                loss: Some(vec![1.0, 3.0]),
                optimal: vec![true, false],
            },
        ];
        let (loss, opt) = curve_bands(&curve);
        assert_eq!(loss.len(), 1);
        assert!((loss[0].mid - 2.0).abs() < 1e-12);
        assert!((loss[0].lo - 1.2).abs() < 1e-12 && (loss[0].hi - 2.8).abs() < 1e-12);
        assert_eq!(opt.len(), 2);
        assert!((opt[1].mid - 0.5).abs() < 1e-12 && opt[1].lo < 0.5 && opt[1].hi > 0.5);
    }
}
