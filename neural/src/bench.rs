//! Throughput measurement of the seed-batched learners (used by
//! `neural/examples/bench.rs`, `bench/run.py` and the command line).
//!
//! [`measure`] trains `cfg` in the steady state — learning from the `batch_size`-th
//! transition, the first `warmup` steps untimed, a log point every 100 steps as in a default
//! 10 000-step run — and reports wall-clock and CPU time of the timed steps, seed-steps per
//! second, the FLOPs of a seed-step ([`crate::cost`]) and the rate they imply, and the
//! process's resident memory (peak, and before and after the timed steps: growth would be a
//! leak, since the replay buffers are allocated up front). [`core_peak_gflops`] measures one
//! core's peak f32 rate.

use crate::config::TrainConfig;
use crate::cost::{seed_step_cost, Cost};
use crate::learner::GameData;
use crate::run::device_name;
use crate::{Learner, Result};
use reference::Game;
use serde::Serialize;
use std::time::Instant;
use tch::Device;

/// One throughput measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Always `"qfactor"` (the PyTorch baseline writes `"pytorch"`).
    #[serde(rename = "impl")]
    pub implementation: String,
    /// The game as given.
    pub game: String,
    /// The method's name.
    pub method: String,
    /// Seeds K.
    pub seeds: usize,
    /// Timed steps.
    pub steps: usize,
    /// Device name (`cpu`, `cuda:0`).
    pub device: String,
    /// `f32` or `f64`.
    pub precision: String,
    /// CPU worker threads (CPU only).
    pub threads: Option<usize>,
    /// Seeds per chunk (CPU only).
    pub chunk: Option<usize>,
    /// Whether the CPU engine ran the networks fed by the observation.
    pub cpu_kernels: bool,
    /// Wall-clock seconds of the timed steps.
    pub wall_s: f64,
    /// CPU seconds (user + system, all threads) of the timed steps.
    pub cpu_s: f64,
    /// `K · steps / wall_s`.
    pub seed_steps_per_s: f64,
    /// `K · steps / cpu_s`.
    pub seed_steps_per_cpu_s: f64,
    /// Parameters per seed.
    pub params_per_seed: f64,
    /// Matrix-product FLOPs per seed-step ([`Cost::matmul`]).
    pub matmul_flops_per_seed_step: f64,
    /// Optimiser FLOPs per seed-step.
    pub optimiser_flops_per_seed_step: f64,
    /// Matrix-product GFLOP per wall-clock second.
    pub gflops_per_s: f64,
    /// Matrix-product GFLOP per CPU second.
    pub gflops_per_cpu_s: f64,
    /// Peak resident memory of the process, MiB.
    pub max_rss_mb: Option<f64>,
    /// Resident memory before the timed steps, MiB.
    pub rss_before_mb: Option<f64>,
    /// Resident memory after the timed steps, MiB.
    pub rss_after_mb: Option<f64>,
    /// Sum of the seeds' last losses (read back from the device, which also waits for it).
    pub final_loss_sum: Option<f64>,
}

/// (user + system CPU seconds, peak resident set in MiB) of this process, where the
/// platform reports them.
pub fn rusage() -> (Option<f64>, Option<f64>) {
    #[cfg(unix)]
    {
        // SAFETY: getrusage writes into the zero-initialised struct we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a rusage struct.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
            // ru_maxrss is in KiB on Linux.
            return (
                Some(secs(ru.ru_utime) + secs(ru.ru_stime)),
                Some(ru.ru_maxrss as f64 / 1024.0),
            );
        }
    }
    (None, None)
}

/// Current resident set in MiB (`/proc/self/statm`), if readable.
pub fn rss_now() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = text.split_whitespace().nth(1)?.parse().ok()?;
    #[cfg(unix)]
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    #[cfg(not(unix))]
    let page = 4096.0;
    Some(pages * page / (1024.0 * 1024.0))
}

/// Trains `cfg` (its `steps` and `learning_starts` are replaced) for `warmup` untimed and
/// `steps` timed steps on `device` and reports the throughput (see the module docs).
pub fn measure(
    game: &Game,
    cfg: &TrainConfig,
    device: Device,
    warmup: usize,
    steps: usize,
) -> Result<Measurement> {
    let mut cfg = cfg.clone();
    cfg.steps = warmup + steps;
    cfg.learning_starts = cfg.batch_size;
    cfg.log_every = 100;
    let data = GameData::new(game, cfg.gamma)?;
    let cost: Cost = seed_step_cost(&cfg, &data);
    let mut learner = Learner::new(game, &cfg, device)?;
    learner.run_until(warmup, &mut |_| {})?;
    let sync = |l: &Learner| {
        l.last_loss()
            .map(|t| t.sum(tch::Kind::Double).double_value(&[]))
    };
    let _ = sync(&learner);
    let rss_before = rss_now();
    let (cpu0, _) = rusage();
    let t = Instant::now();
    learner.run_until(warmup + steps, &mut |_| {})?;
    let loss = sync(&learner);
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, max_rss) = rusage();
    let rss_after = rss_now();
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    let eff = learner.config();
    let seed_steps = (cfg.seeds * steps) as f64;
    Ok(Measurement {
        implementation: "qfactor".into(),
        game: cfg.game.clone(),
        method: cfg.method.name().into(),
        seeds: cfg.seeds,
        steps,
        device: device_name(device),
        precision: match cfg.precision {
            crate::config::Precision::F32 => "f32".into(),
            crate::config::Precision::F64 => "f64".into(),
        },
        threads: eff.threads,
        chunk: eff.seed_chunk,
        cpu_kernels: eff.cpu_kernels && device == Device::Cpu,
        wall_s: wall,
        cpu_s: cpu,
        seed_steps_per_s: seed_steps / wall,
        seed_steps_per_cpu_s: seed_steps / cpu.max(1e-9),
        params_per_seed: cost.params,
        matmul_flops_per_seed_step: cost.matmul(),
        optimiser_flops_per_seed_step: cost.optimiser,
        gflops_per_s: cost.matmul() * seed_steps / wall / 1e9,
        gflops_per_cpu_s: cost.matmul() * seed_steps / cpu.max(1e-9) / 1e9,
        max_rss_mb: max_rss,
        rss_before_mb: rss_before,
        rss_after_mb: rss_after,
        final_loss_sum: loss,
    })
}

/// One core's peak f32 rate in GFLOP per CPU-second and the vector width used (bits): a loop
/// of independent fused multiply-adds on 12 registers, about 0.3 s, with the instruction set
/// the engine's kernels use ([`crate::simd::level`]: AVX-512, or AVX2 + FMA). `(0, 0)` at
/// [`crate::simd::Level::Portable`] (no vector FMA available, or `QFACTOR_SIMD=portable`).
pub fn core_peak_gflops() -> (f64, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::Level;
        match crate::simd::level() {
            // SAFETY: AVX-512F is available (`simd::level` never exceeds the CPU's level).
            Level::Avx512 => return (unsafe { fma_loop_avx512() }, 512),
            // SAFETY: AVX2 and FMA are available (likewise).
            Level::Avx2Fma => return (unsafe { fma_loop_avx2() }, 256),
            Level::Portable => {}
        }
    }
    (0.0, 0)
}

macro_rules! fma_loop {
    ($name:ident, $feat:literal, $t:ident, $set1:ident, $fma:ident, $lanes:expr) => {
        /// 12 independent FMA chains (more than latency × pipes), timed in CPU seconds.
        ///
        /// # Safety
        /// The CPU must support the target feature.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $name() -> f64 {
            use std::arch::x86_64::*;
            let b = $set1(1.000_000_1);
            let c = $set1(1e-7);
            let mut acc: [$t; 12] = [$set1(0.0); 12];
            for (i, a) in acc.iter_mut().enumerate() {
                *a = $set1(i as f32);
            }
            let iters: u64 = 100_000_000;
            let t = Instant::now();
            let (cpu0, _) = rusage();
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = $fma(*a, b, c);
                }
            }
            let (cpu1, _) = rusage();
            std::hint::black_box(&acc);
            let secs = match (cpu0, cpu1) {
                (Some(a), Some(b)) if b > a => b - a,
                _ => t.elapsed().as_secs_f64(),
            };
            (iters * 12 * $lanes * 2) as f64 / secs / 1e9
        }
    };
}
fma_loop!(
    fma_loop_avx512,
    "avx512f",
    __m512,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    16
);
fma_loop!(
    fma_loop_avx2,
    "avx2,fma",
    __m256,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    8
);
