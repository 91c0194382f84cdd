//! A small deterministic PRNG with keyed streams.
//!
//! Every random number of seed `j` (initial weights, exploration, replay sampling) comes from a
//! stream keyed by `(base seed, j, purpose)`. A stream does not depend on how many seeds are
//! trained together or on the seed's position in the batch, which is what makes seed `j` of a
//! K = 64 run the same as seed `j` run alone, and every run reproducible.
//!
//! The generator is the reference's SplitMix64 ([`reference::rng`]): a 64-bit counter passed
//! through a bijective mixer. It passes BigCrush and its state is one `u64`, so it checkpoints
//! trivially.

pub use reference::rng::mix64;
use reference::rng::SplitMix64;
use reference::rng::GOLDEN;

/// FNV-1a hash of a purpose label.
fn hash_label(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A keyed SplitMix64 stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    inner: SplitMix64,
}

impl Rng {
    /// The stream for `(base, seed_index, purpose)`.
    pub fn keyed(base: u64, seed_index: u64, purpose: &str) -> Self {
        let k = mix64(base ^ GOLDEN)
            ^ mix64(seed_index.wrapping_add(0x632b_e59b_d9b4_e019)).rotate_left(17)
            ^ mix64(hash_label(purpose)).rotate_left(41);
        Rng::from_state(mix64(k))
    }

    /// A stream resumed from a saved state.
    pub fn from_state(state: u64) -> Self {
        Rng {
            inner: SplitMix64::new(state),
        }
    }

    /// The current state (for checkpoints).
    pub fn state(&self) -> u64 {
        self.inner.state()
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        self.inner.unit()
    }

    /// Uniform integer in `0..n` (`n ≥ 1`), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        let n = n as u64;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// Standard normal (Box–Muller; one of the pair is used so that the stream position per
    /// draw is fixed).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_keyed_and_reproducible() {
        let a: Vec<u64> = {
            let mut r = Rng::keyed(7, 3, "explore");
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::keyed(7, 3, "explore");
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        for other in [
            Rng::keyed(7, 4, "explore"),
            Rng::keyed(8, 3, "explore"),
            Rng::keyed(7, 3, "replay"),
        ] {
            let mut r = other;
            assert_ne!(r.next_u64(), a[0]);
        }
        let mut r = Rng::keyed(7, 3, "explore");
        r.next_u64();
        let mut resumed = Rng::from_state(r.state());
        assert_eq!(resumed.next_u64(), a[1]);
    }

    #[test]
    fn uniform_below_and_normal_moments() {
        let mut r = Rng::keyed(1, 0, "t");
        let n = 200_000;
        let mut counts = [0usize; 3];
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            counts[r.below(3)] += 1;
            let z = r.normal();
            s += z;
            s2 += z * z;
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
        }
        // Binomial sd of a count is √(n·(1/3)(2/3)) ≈ 211; 5 sd ≈ 1 050.
        for c in counts {
            assert!((c as f64 - n as f64 / 3.0).abs() < 1_050.0, "{counts:?}");
        }
        // Mean of n normals has sd 1/√n ≈ 0.0022; variance estimate sd ≈ √(2/n) ≈ 0.0032.
        assert!((s / n as f64).abs() < 0.012);
        assert!((s2 / n as f64 - 1.0).abs() < 0.016);
    }
}
