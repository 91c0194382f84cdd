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
//! What is measured and reported: [`neural::bench::measure`] (steady state, the first
//! `--warmup` steps (default 40) untimed, logging every 100 steps; wall-clock and CPU time,
//! seed-steps per second, FLOPs, resident memory).

use neural::bench::{core_peak_gflops, measure};
use neural::config::{Method, Precision, TrainConfig};
use neural::run::device;

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
            "--cpu-kernels" => a.cpu_kernels = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse()?;
    if a.peak {
        let (gflops, bits) = core_peak_gflops();
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
    cfg.device = a.device.clone();
    cfg.threads = a.threads;
    cfg.seed_chunk = a.chunk;
    cfg.cpu_kernels = a.cpu_kernels;
    if a.f64 {
        cfg.precision = Precision::F64;
    }
    let m = measure(&game, &cfg, dev, a.warmup, a.steps)?;
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}
