//! Which instruction set the CPU engine's kernels use: the one place that decides.
//!
//! The CPU engine ([`crate::kernels`], [`crate::engine`], [`crate::optim`]'s fused update, and
//! [`crate::bench::core_peak_gflops`]) has portable kernels and, on x86-64, kernels compiled
//! for AVX-512 or AVX2 + FMA (`#[target_feature]` functions next to the portable ones). Each of
//! them asks [`level`] which to run; this module detects the CPU's features once (cached) and
//! applies two overrides:
//!
//! - **`QFACTOR_SIMD`** (environment variable, read once per process): `portable` forces the
//!   portable kernels; `avx2` or `avx512` caps the level at AVX2 + FMA or AVX-512. Unset or
//!   empty: the detected level. An unknown value, or a level this CPU lacks, falls back to the
//!   detected level with one warning on stderr; it never selects instructions the CPU does not
//!   have. It applies to every thread, worker threads included.
//! - **[`with_level`]** (for tests and measurements): runs a closure with a given level on the
//!   calling thread only (never above [`detected`]), so tests in one process can run both the
//!   portable and the SIMD paths. Threads spawned inside the closure (the learner's worker
//!   threads when `threads > 1`) do not inherit it; they use [`default_level`].
//!
//! What each level runs ("AVX-512": `#[target_feature]` kernels or code compiled for it):
//!
//! | level | [`crate::kernels`] | [`crate::engine`] passes, optimiser norm | optimiser update |
//! |---|---|---|---|
//! | [`Level::Avx512`] | AVX-512 | AVX-512 | AVX-512 |
//! | [`Level::Avx2Fma`] | portable | portable | AVX2 |
//! | [`Level::Portable`] | portable | portable | portable |
//!
//! The results do not depend on the level: the SIMD kernels compute every element in the same
//! order with the same roundings as the portable ones (fused multiply-adds via `mul_add` in the
//! matrix products, plain IEEE operations elsewhere, fixed summation orders), so the choice is
//! one of speed only. This is tested kernel by kernel (`kernels`, `optim`) and end to end
//! (`neural/tests/simd.rs`: every method trained with each level gives bit-for-bit the same
//! tables and curves). `QFACTOR_SIMD=portable` is thus a way to check a suspected kernel
//! problem, or to measure what the vector kernels gain, without rebuilding.
//!
//! On other architectures than x86-64 the level is always [`Level::Portable`].

use std::cell::Cell;
use std::sync::OnceLock;

/// The name of the environment variable read by [`default_level`].
pub const ENV_VAR: &str = "QFACTOR_SIMD";

/// An instruction-set level of the CPU engine's kernels, ordered: each level's CPU features
/// include those of the levels below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Plain Rust, any CPU (what the compiler's baseline target allows, e.g. SSE2 on x86-64).
    Portable,
    /// AVX2 and FMA (x86-64).
    Avx2Fma,
    /// AVX-512F, with AVX2 and FMA (x86-64).
    Avx512,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::Portable, Level::Avx2Fma, Level::Avx512];

    /// The level's name as `QFACTOR_SIMD` spells it: `portable`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2Fma => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// The level named `s` (see [`Level::name`]; case and surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<Level> {
        let s = s.trim();
        Level::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
    }

    /// Whether this CPU can run the level's kernels.
    pub fn supported(self) -> bool {
        self <= detected()
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The highest level this CPU supports, detected on the first call and cached.
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    use std::arch::is_x86_feature_detected as has;
    let avx2_fma = has!("avx2") && has!("fma");
    if avx2_fma && has!("avx512f") {
        Level::Avx512
    } else if avx2_fma {
        Level::Avx2Fma
    } else {
        Level::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Portable
}

/// The process-wide level: [`detected`], capped by `QFACTOR_SIMD` (see the module docs).
/// Read on the first call and cached; a warning is printed once if the value is unknown or
/// asks for a level the CPU lacks.
pub fn default_level() -> Level {
    static DEFAULT: OnceLock<Level> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let value = std::env::var(ENV_VAR).ok();
        let (level, warning) = from_setting(value.as_deref(), detected());
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        level
    })
}

/// The level for a `QFACTOR_SIMD` value on a CPU whose highest level is `detected`, and the
/// warning to print if the value cannot be followed.
fn from_setting(value: Option<&str>, detected: Level) -> (Level, Option<String>) {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return (detected, None);
    };
    match Level::parse(value) {
        Some(l) if l <= detected => (l, None),
        Some(l) => (
            detected,
            Some(format!(
                "{ENV_VAR}={value}: this CPU lacks {l}; using the detected level, {detected}"
            )),
        ),
        None => (
            detected,
            Some(format!(
                "{ENV_VAR}={value:?} is not one of portable, avx2, avx512; using the detected \
                 level, {detected}"
            )),
        ),
    }
}

thread_local! {
    /// The calling thread's override set by [`with_level`].
    static OVERRIDE: Cell<Option<Level>> = const { Cell::new(None) };
}

/// The level the kernels use on this thread: the innermost [`with_level`] if any, else
/// [`default_level`]. Never above [`detected`], so a kernel may rely on the level's CPU
/// features being present.
#[inline]
pub fn level() -> Level {
    OVERRIDE.with(Cell::get).unwrap_or_else(default_level)
}

/// Runs `f` with the kernels of `level` on the calling thread (capped at [`detected`]: a
/// level the CPU lacks runs the detected one), then restores the previous level (also if
/// `f` panics). Overrides `QFACTOR_SIMD`; nests; other threads are unaffected.
///
/// ```
/// use neural::simd::{self, Level};
/// let fast = simd::with_level(simd::detected(), simd::level);
/// assert_eq!(fast, simd::detected());
/// assert_eq!(simd::with_level(Level::Portable, simd::level), Level::Portable);
/// ```
pub fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Level>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let previous = OVERRIDE.with(|o| o.replace(Some(level.min(detected()))));
    let _restore = Restore(previous);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.name()), Some(l));
            assert_eq!(
                Level::parse(&format!(" {} ", l.name().to_uppercase())),
                Some(l)
            );
        }
        assert_eq!(Level::parse("sse"), None);
        assert!(Level::Portable < Level::Avx2Fma && Level::Avx2Fma < Level::Avx512);
    }

    /// The environment setting caps the level, and anything it cannot follow falls back to
    /// the detected level with a warning.
    #[test]
    fn settings_cap_and_fall_back() {
        use Level::*;
        assert_eq!(from_setting(None, Avx512), (Avx512, None));
        assert_eq!(from_setting(Some(""), Avx2Fma), (Avx2Fma, None));
        assert_eq!(from_setting(Some("portable"), Avx512), (Portable, None));
        assert_eq!(from_setting(Some("avx2"), Avx512), (Avx2Fma, None));
        assert_eq!(from_setting(Some("AVX512"), Avx512), (Avx512, None));
        let (l, w) = from_setting(Some("avx512"), Avx2Fma);
        assert_eq!(l, Avx2Fma);
        assert!(w.unwrap().contains("lacks avx512"));
        let (l, w) = from_setting(Some("avx2"), Portable);
        assert_eq!(l, Portable);
        assert!(w.is_some());
        let (l, w) = from_setting(Some("neon"), Avx512);
        assert_eq!(l, Avx512);
        assert!(w.unwrap().contains("not one of"));
    }

    /// `with_level` applies to the closure only, nests, is capped at the detected level and
    /// is restored after a panic.
    #[test]
    fn overrides_nest_and_restore() {
        let outside = level();
        assert!(outside <= detected());
        with_level(Level::Portable, || {
            assert_eq!(level(), Level::Portable);
            with_level(Level::Avx512, || assert_eq!(level(), detected()));
            assert_eq!(level(), Level::Portable);
            // Other threads keep the process-wide level.
            let other = std::thread::spawn(level).join().unwrap();
            assert_eq!(other, default_level());
        });
        assert_eq!(level(), outside);
        let r = std::panic::catch_unwind(|| with_level(Level::Portable, || panic!("inside")));
        assert!(r.is_err());
        assert_eq!(level(), outside);
        for l in Level::ALL {
            assert_eq!(l.supported(), l <= detected());
        }
    }
}
