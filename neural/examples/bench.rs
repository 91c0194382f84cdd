//! One throughput measurement of qfactor's seed-batched learners, printed as one JSON line
//! (the benchmark driver `bench/run.py` runs one process per measurement, so the peak
//! resident memory is that of this configuration alone).
//!
//! ```text
//! cargo run --release -p qfactor-neural --example bench -- \
//!     --game paper-table1 --method vdn --seeds 1024 --steps 300 [--warmup 40] \
//!     [--device cpu|cuda|cuda:N] [--threads T] [--chunk C] [--f64] [--cpu-kernels false]
//! cargo run --release -p qfactor-neural --example bench -- --peak
//! ```
//!
//! `--peak` measures instead one core's peak f32 rate: a loop of independent fused
//! multiply-adds on 12 vector registers (AVX-512 when the CPU has it, else AVX2 + FMA), in
//! FLOPs per second of CPU time (so the measurement holds on a shared machine).
//!
//! Steady state: learning starts at the 32nd transition (`learning_starts = batch_size`) and
//! the first `--warmup` steps (default 40) are not timed, so every timed step is an
//! environment step plus a gradient step for every seed, logging included (every 100 steps,
//! as in a default 10 000-step run). Reported: wall-clock and CPU seconds of the timed steps,
//! seed-steps per second (`K · steps / wall`), the FLOPs of a seed-step
//! ([`neural::cost::seed_step_cost`]) and the rate they imply, the peak resident memory of
//! the process and its resident memory before and after the timed steps (growth would be a
//! leak: the replay buffers are allocated up front).

use neural::config::{Method, Precision, TrainConfig};
use neural::cost::seed_step_cost;
use neural::learner::GameData;
use neural::run::device;
use neural::Learner;
use std::time::Instant;

struct Args {
    game: String,
    method: Method,
    seeds: usize,
    steps: usize,
    warmup: usize,
    device: String,
    threads: Option<usize>,
    chunk: Option<usize>,
    f64: bool,
    cpu_kernels: bool,
    peak: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        game: "paper-table1".into(),
        method: Method::Vdn,
        seeds: 1,
        steps: 300,
        warmup: 40,
        device: "cpu".into(),
        threads: None,
        chunk: None,
        f64: false,
        cpu_kernels: true,
        peak: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--f64" {
            a.f64 = true;
            continue;
        }
        if flag == "--peak" {
            a.peak = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--game" => a.game = value,
            "--method" => a.method = value.parse()?,
            "--seeds" => a.seeds = num(&value)?,
            "--steps" => a.steps = num(&value)?,
            "--warmup" => a.warmup = num(&value)?,
            "--device" => a.device = value,
            "--threads" => a.threads = Some(num(&value)?),
            "--chunk" => a.chunk = Some(num(&value)?),
            "--cpu-kernels" => {
                a.cpu_kernels = value.parse().map_err(|e| format!("{flag}: {e}"))?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// (user + system CPU seconds, peak resident set in MiB) of this process.
fn rusage() -> (f64, f64) {
    // SAFETY: getrusage writes into the zero-initialised struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (
        secs(ru.ru_utime) + secs(ru.ru_stime),
        ru.ru_maxrss as f64 / 1024.0,
    )
}

/// Current resident set in MiB (`/proc/self/statm`), if readable.
fn rss_now() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    Some(pages * page / (1024.0 * 1024.0))
}

/// One core's peak f32 FLOP rate per CPU-second: `(GFLOP/s, vector width in bits)`.
fn peak() -> (f64, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is available (checked).
            return (unsafe { fma_loop_avx512() }, 512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: AVX2 and FMA are available (checked).
            return (unsafe { fma_loop_avx2() }, 256);
        }
    }
    (0.0, 0)
}

macro_rules! fma_loop {
    ($name:ident, $feat:literal, $t:ty, $set1:ident, $fma:ident, $lanes:expr) => {
        /// 12 independent FMA chains (more than latency × pipes) for about 0.5 s.
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
            let (cpu0, _) = rusage();
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = $fma(*a, b, c);
                }
            }
            let (cpu1, _) = rusage();
            std::hint::black_box(&acc);
            (iters * 12 * $lanes * 2) as f64 / (cpu1 - cpu0) / 1e9
        }
    };
}
fma_loop!(fma_loop_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16);
fma_loop!(fma_loop_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse()?;
    if a.peak {
        let (gflops, bits) = peak();
        println!(
            "{}",
            serde_json::json!({"core_peak_gflops_per_cpu_s": gflops, "vector_bits": bits})
        );
        return Ok(());
    }
    let game = reference::io::load_game(&a.game)?;
    let (dev, _) = device(&a.device)?;
    let mut cfg = TrainConfig::new(&a.game, a.method);
    cfg.seeds = a.seeds;
    cfg.steps = a.warmup + a.steps;
    cfg.device = a.device.clone();
    cfg.threads = a.threads;
    cfg.seed_chunk = a.chunk;
    cfg.cpu_kernels = a.cpu_kernels;
    cfg.learning_starts = cfg.batch_size;
    // Log as a default 10 000-step run does (every 100 steps), whatever the run's length.
    cfg.log_every = 100;
    if a.f64 {
        cfg.precision = Precision::F64;
    }
    let data = GameData::new(&game, cfg.gamma)?;
    let cost = seed_step_cost(&cfg, &data);
    let mut learner = Learner::new(&game, &cfg, dev)?;
    learner.run_until(a.warmup, &mut |_| {})?;
    let _ = learner.last_loss().map(|l| l.sum(tch::Kind::Double).double_value(&[]));
    let rss_before = rss_now();
    let (cpu0, _) = rusage();
    let t = Instant::now();
    learner.run_until(a.warmup + a.steps, &mut |_| {})?;
    // Wait for the device: read the last losses back.
    let loss = learner
        .last_loss()
        .map(|l| l.sum(tch::Kind::Double).double_value(&[]));
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, max_rss) = rusage();
    let rss_after = rss_now();
    let cpu = cpu1 - cpu0;
    let seed_steps = (a.seeds * a.steps) as f64;
    let eff = learner.config();
    let out = serde_json::json!({
        "impl": "qfactor",
        "game": a.game,
        "method": a.method.name(),
        "seeds": a.seeds,
        "steps": a.steps,
        "device": neural::run::device_name(dev),
        "precision": if a.f64 { "f64" } else { "f32" },
        "threads": eff.threads,
        "chunk": eff.seed_chunk,
        "cpu_kernels": eff.cpu_kernels,
        "wall_s": wall,
        "cpu_s": cpu,
        "seed_steps_per_s": seed_steps / wall,
        "seed_steps_per_cpu_s": seed_steps / cpu.max(1e-9),
        "params_per_seed": cost.params,
        "matmul_flops_per_seed_step": cost.matmul(),
        "optimiser_flops_per_seed_step": cost.optimiser,
        "gflops_per_s": cost.matmul() * seed_steps / wall / 1e9,
        "gflops_per_cpu_s": cost.matmul() * seed_steps / cpu.max(1e-9) / 1e9,
        "max_rss_mb": max_rss,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "final_loss_sum": loss,
    });
    println!("{out}");
    Ok(())
}
