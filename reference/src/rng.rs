//! SplitMix64 (Steele, Lea & Flood 2014), the one small deterministic generator of the
//! project: the QMIX search's random starts and kicks, the random games of tests, benchmarks
//! and examples, and (through `neural::rng`'s keyed streams) every random number of the
//! learners.
//!
//! A 64-bit counter advanced by the golden-ratio increment and passed through a bijective
//! mixer: it passes BigCrush, its whole state is one `u64` (trivial to checkpoint), and the
//! same seed gives the same sequence on every platform.

/// The counter's increment (2⁶⁴ divided by the golden ratio, odd).
pub const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output mixer (a bijection on `u64`).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A SplitMix64 stream; its state is the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The stream starting from `state` (a seed, or a state saved by [`SplitMix64::state`]).
    pub fn new(state: u64) -> Self {
        SplitMix64 { state }
    }

    /// The current state.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// `next_u64() % m` (`m ≥ 1`): uniform in `0..m` up to a modulo bias below `m / 2⁶⁴`,
    /// one draw per call (so sequences stay fixed). For unbiased draws see
    /// `neural::rng::Rng::below`.
    pub fn below(&mut self, m: u64) -> u64 {
        self.next_u64() % m
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A random permutation of `0..m` (Fisher–Yates from the back, one draw per position).
    pub fn permutation(&mut self, m: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..m).collect();
        for k in (1..m).rev() {
            p.swap(k, self.below(k as u64 + 1) as usize);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published reference values of SplitMix64 seeded with 1234567 (the first outputs
    /// of the C reference implementation `splitmix64.c`).
    #[test]
    fn matches_the_reference_implementation() {
        let mut r = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn permutations_and_units() {
        let mut r = SplitMix64::new(3);
        for m in 0..10 {
            let mut p = r.permutation(m);
            p.sort_unstable();
            assert_eq!(p, (0..m).collect::<Vec<_>>());
        }
        for _ in 0..1000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
        }
        let saved = SplitMix64::new(r.state());
        assert_eq!(saved, r);
    }
}
