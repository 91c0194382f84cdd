//! Pool-adjacent-violators ([`pava`]): the weighted isotonic regression on one chain.

/// Pool-adjacent-violators: the weighted isotonic regression on the chain `0 < 1 < … < n−1`.
/// Points of weight 0 join the block before them (the first block when they lead); if every
/// weight is 0 the result is the constant unweighted mean.
///
/// # Panics
///
/// When `y` and `w` differ in length.
pub fn pava(y: &[f64], w: &[f64]) -> Vec<f64> {
    assert_eq!(y.len(), w.len(), "pava: y and w differ in length");
    let n = y.len();
    if w.iter().all(|&v| v <= 0.0) {
        let m = if n == 0 {
            0.0
        } else {
            y.iter().sum::<f64>() / n as f64
        };
        return vec![m; n];
    }
    // Blocks: (sum_w, sum_wy, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(n);
    let mut leading = 0;
    for k in 0..n {
        if w[k] <= 0.0 {
            match blocks.last_mut() {
                Some(b) => b.2 += 1,
                None => leading += 1,
            }
            continue;
        }
        blocks.push((w[k], w[k] * y[k], 1));
        while blocks.len() >= 2 {
            let (w2, s2, c2) = blocks[blocks.len() - 1];
            let (w1, s1, c1) = blocks[blocks.len() - 2];
            if s1 / w1 > s2 / w2 {
                blocks.pop();
                let last = blocks
                    .last_mut()
                    .expect("invariant: two blocks were present");
                *last = (w1 + w2, s1 + s2, c1 + c2);
            } else {
                break;
            }
        }
    }
    let mut x = Vec::with_capacity(n);
    let first = blocks[0].1 / blocks[0].0;
    x.extend(std::iter::repeat_n(first, leading));
    for (bw, bs, c) in blocks {
        x.extend(std::iter::repeat_n(bs / bw, c));
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    use super::super::isotonic_regression;
    use super::super::test_support::random_case;
    use crate::rng::SplitMix64 as Rng;

    #[test]
    fn pava_agrees_with_the_partition_algorithm_on_chains() {
        let mut rng = Rng::new(3);
        for case in 0..200 {
            let m = 1 + rng.below(12) as usize;
            let (y, w, orders) = random_case(&mut rng, &[m], case % 2 == 0);
            let x = isotonic_regression(&y, &w, &[m], &orders);
            let yo: Vec<f64> = orders[0].iter().map(|&a| y[a]).collect();
            let wo: Vec<f64> = orders[0].iter().map(|&a| w[a]).collect();
            let p = pava(&yo, &wo);
            for (pos, &a) in orders[0].iter().enumerate() {
                assert_abs_diff_eq!(x[a], p[pos], epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn pava_known_values() {
        assert_eq!(
            pava(&[1.0, 3.0, 2.0, 4.0], &[1.0; 4]),
            vec![1.0, 2.5, 2.5, 4.0]
        );
        assert_eq!(pava(&[3.0, 1.0], &[1.0, 3.0]), vec![1.5, 1.5]);
        // Zero weights are free: they follow their neighbours.
        assert_eq!(
            pava(&[9.0, 1.0, 5.0, 0.0], &[0.0, 1.0, 0.0, 1.0]),
            vec![0.5; 4]
        );
        assert!(pava(&[], &[]).is_empty());
    }
}
