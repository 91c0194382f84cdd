//! Helpers shared by the unit tests of the isotonic regression: two independent brute forces
//! (level-set partitions and the min–max formula), the weighted sum of squares and random
//! cases.

use crate::rng::SplitMix64 as Rng;

/// Independent brute force 1: every subset of cover edges taken as equalities gives a
/// partition into connected components, each at its weighted mean; keep the monotone ones.
/// Weights must be positive.
pub(super) fn brute_partitions(y: &[f64], w: &[f64], edges: &[(usize, usize)]) -> f64 {
    let n = y.len();
    let e = edges.len();
    assert!(e <= 20);
    let mut best = f64::INFINITY;
    for mask in 0u32..(1 << e) {
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], a: usize) -> usize {
            let mut a = a;
            while p[a] != a {
                p[a] = p[p[a]];
                a = p[a];
            }
            a
        }
        for (j, &(a, b)) in edges.iter().enumerate() {
            if mask >> j & 1 == 1 {
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                parent[ra] = rb;
            }
        }
        let mut sw = vec![0.0; n];
        let mut swy = vec![0.0; n];
        for k in 0..n {
            let r = find(&mut parent, k);
            sw[r] += w[k];
            swy[r] += w[k] * y[k];
        }
        let x: Vec<f64> = (0..n)
            .map(|k| {
                let r = find(&mut parent, k);
                swy[r] / sw[r]
            })
            .collect();
        if edges.iter().all(|&(a, b)| x[a] <= x[b] + 1e-9) {
            let s: f64 = (0..n).map(|k| w[k] * (y[k] - x[k]).powi(2)).sum();
            best = best.min(s);
        }
    }
    best
}

/// Independent brute force 2: the min–max formula
/// `x_k = max_{upper U ∋ k} min_{lower L ∋ k} Av_w(U ∩ L)` over all upper and lower sets
/// (enumerated as subsets). Weights must be positive.
pub(super) fn brute_minmax(y: &[f64], w: &[f64], edges: &[(usize, usize)]) -> Vec<f64> {
    let n = y.len();
    assert!(n <= 16);
    let closed_up = |s: u32| {
        edges
            .iter()
            .all(|&(a, b)| s >> a & 1 == 0 || s >> b & 1 == 1)
    };
    let closed_down = |s: u32| {
        edges
            .iter()
            .all(|&(a, b)| s >> b & 1 == 0 || s >> a & 1 == 1)
    };
    let uppers: Vec<u32> = (1u32..(1 << n)).filter(|&s| closed_up(s)).collect();
    let lowers: Vec<u32> = (1u32..(1 << n)).filter(|&s| closed_down(s)).collect();
    let av = |s: u32| {
        let (mut a, mut b) = (0.0, 0.0);
        for k in 0..n {
            if s >> k & 1 == 1 {
                a += w[k] * y[k];
                b += w[k];
            }
        }
        a / b
    };
    (0..n)
        .map(|k| {
            uppers
                .iter()
                .filter(|&&u| u >> k & 1 == 1)
                .map(|&u| {
                    lowers
                        .iter()
                        .filter(|&&l| l >> k & 1 == 1)
                        .map(|&l| av(u & l))
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

pub(super) fn sse(y: &[f64], w: &[f64], x: &[f64]) -> f64 {
    (0..y.len()).map(|k| w[k] * (y[k] - x[k]).powi(2)).sum()
}

pub(super) fn random_case(
    rng: &mut Rng,
    shape: &[usize],
    integer: bool,
) -> (Vec<f64>, Vec<f64>, Vec<Vec<usize>>) {
    let n: usize = shape.iter().product();
    let y: Vec<f64> = (0..n)
        .map(|_| {
            if integer {
                rng.below(21) as f64 - 10.0
            } else {
                rng.unit() * 20.0 - 10.0
            }
        })
        .collect();
    let w: Vec<f64> = (0..n)
        .map(|_| {
            if integer {
                1.0 + rng.below(4) as f64
            } else {
                0.1 + rng.unit() * 3.0
            }
        })
        .collect();
    let orders = shape.iter().map(|&m| rng.permutation(m)).collect();
    (y, w, orders)
}
