//! Measures seed-steps per second (environment step + gradient step per seed, learning from
//! the 32nd transition on) of each method, and prints what the seeds learned. Threads:
//! the configuration's default (1 below K·batch = 8192, else all cores) unless given as the
//! fifth argument.
//!
//! `cargo run --release -p qfactor-neural --example throughput -- [GAME] [K,K,…] [STEPS] [METHODS] [THREADS]`
//! e.g. `… -- paper-table1 1,1024 2000 vdn,qmix,qtran-base,qtran-alt,iql`.

use neural::config::{Method, TrainConfig};
use neural::learner::GameData;
use neural::report::{exact_results, summarize};
use neural::run::{train_method, NoProgress};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let game_spec = args.first().map(String::as_str).unwrap_or("paper-table1");
    let ks: Vec<usize> = args
        .get(1)
        .map(|s| s.split(',').map(|k| k.parse()).collect::<Result<_, _>>())
        .transpose()?
        .unwrap_or_else(|| vec![1, 1024]);
    let steps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let methods: Vec<Method> = match args.get(3) {
        Some(s) => s.split(',').map(|m| m.parse()).collect::<Result<_, _>>()?,
        None => Method::ALL.to_vec(),
    };
    let threads: Option<usize> = args.get(4).map(|s| s.parse()).transpose()?;
    let game = reference::io::load_game(game_spec)?;
    let data = GameData::new(&game, None)?;
    let exact = exact_results(&data)?;
    println!(
        "game {game_spec}, {steps} steps, threads {}",
        tch::get_num_threads()
    );
    println!(
        "method,K,seconds,seed_steps_per_s,optimal_rate,igm_rate,mse_payoff,mse_ideal,cond_4b"
    );
    for &m in &methods {
        for &k in &ks {
            let mut cfg = TrainConfig::new(game_spec, m);
            cfg.seeds = k;
            cfg.steps = steps;
            cfg.device = "cpu".into();
            cfg.threads = threads;
            // Steady state: every measured step includes a gradient step.
            cfg.learning_starts = cfg.batch_size;
            let t = Instant::now();
            let run = train_method(&game, &cfg, tch::Device::Cpu, &mut NoProgress)?;
            let secs = t.elapsed().as_secs_f64();
            let s = summarize(&data, &run, &exact)?;
            println!(
                "{m},{k},{},{secs:.2},{:.0},{:.3},{:.3},{:.4},{},{}",
                run.config.threads.unwrap_or(0),
                (k * steps) as f64 / secs,
                s.optimal_rate,
                s.igm_rate,
                s.mse_payoff,
                s.mse_ideal.map(|v| format!("{v:.4}")).unwrap_or_default(),
                s.cond_4b_violation
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or_default(),
            );
        }
    }
    Ok(())
}
