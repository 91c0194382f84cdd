//! Measures how large a game the exact QMIX projection can solve.
//!
//! For grids of `agents × actions`, runs [`project_qmix`] on several random integer games
//! (fixed seed), random real-valued games and structured games resembling the shipped ones
//! (penalty-like diagonals, climbing-like, the 21-action game sampled on a sub-grid), each with
//! a 10 s wall-clock limit and no evaluation budget, and prints how many were solved exactly,
//! the times and the number of isotonic regressions. Run with
//!
//! ```text
//! cargo run --release -p qfactor-reference --example qmix_limit [-- SECONDS [GAMES]]
//! ```

use reference::ideal::qmix::{orderings_total, project_qmix, QmixOptions};
use reference::rng::SplitMix64 as Rng;
use reference::JointTable;
use std::time::{Duration, Instant};

/// A uniform random integer in `lo..=hi`, as `f64`.
fn int(rng: &mut Rng, lo: i64, hi: i64) -> f64 {
    (lo + rng.below((hi - lo + 1) as u64) as i64) as f64
}

/// The 21-action game of the QTRAN paper (re-implementation's formula, see docs/DOMAIN.md) on the
/// actions `0, s, 2s, …` of each agent (2 agents only).
fn game21(u: &[usize], step: usize) -> f64 {
    let y = (u[0] * step) as f64;
    let x = (u[1] * step) as f64;
    let f1 = 5.0 - ((15.0 - x) / 3.0).powi(2) - ((5.0 - y) / 3.0).powi(2);
    let f2 = 10.0 - (5.0 - x).powi(2) - (15.0 - y).powi(2);
    f1.max(f2).max(-10.0)
}

fn games(agents: usize, actions: usize, count: usize, rng: &mut Rng) -> Vec<(String, JointTable)> {
    let shape = vec![actions; agents];
    let mut out = Vec::new();
    for g in 0..count {
        let t = JointTable::from_fn(shape.clone(), |_| int(rng, -20, 20)).unwrap();
        out.push((format!("random-int-{g}"), t));
    }
    for g in 0..count.div_ceil(2) {
        let t = JointTable::from_fn(shape.clone(), |_| rng.unit() * 20.0 - 10.0).unwrap();
        out.push((format!("random-real-{g}"), t));
    }
    // Penalty-like: 10 on the diagonal, −50 where exactly two agents disagree on the two
    // extreme actions, 0 elsewhere; climbing-like: a steep optimum next to heavy penalties.
    let penalty = JointTable::from_fn(shape.clone(), |u| {
        if u.iter().all(|&a| a == u[0]) {
            10.0
        } else if u.contains(&0) && u.contains(&(actions - 1)) {
            -50.0
        } else {
            0.0
        }
    })
    .unwrap();
    out.push(("penalty-like".into(), penalty));
    let climbing = JointTable::from_fn(shape.clone(), |u| {
        let s: usize = u.iter().sum();
        let spread = u.iter().max().unwrap() - u.iter().min().unwrap();
        if spread == 0 {
            11.0 - 2.0 * u[0] as f64
        } else {
            -30.0 / (1.0 + s as f64) + spread as f64
        }
    })
    .unwrap();
    out.push(("climbing-like".into(), climbing));
    if agents == 2 && actions >= 3 {
        let step = 20 / (actions - 1);
        let t = JointTable::from_fn(shape, |u| game21(u, step)).unwrap();
        out.push((format!("game21-step{step}"), t));
    }
    out
}

/// Time per isotonic regression under random orders on a few grids, through the grid
/// dynamic programme where it applies (`solve_prefixes`) and through minimum cuts (`solve`).
fn bench_isotonic(rng: &mut Rng) {
    use reference::isotonic::{Dag, IsotonicSolver, Observations};
    println!("time per isotonic regression under random total orders (µs)");
    println!(
        "{:<14} {:>6} {:>10} {:>10} {:>10} {:>10}",
        "grid", "cells", "int", "real", "int cut", "real cut"
    );
    for shape in [
        vec![3, 3],
        vec![8, 8],
        vec![21, 21],
        vec![5, 5, 5],
        vec![2; 10],
        vec![6; 4],
    ] {
        let n: usize = shape.iter().product();
        let mut per = [0.0; 4];
        let mut rate = [0.0; 4];
        for (j, real) in [false, true].into_iter().enumerate() {
            let reps = (2_000_000 / n).clamp(20, 20_000);
            let mut cases = Vec::new();
            for _ in 0..8 {
                let y: Vec<f64> = (0..n)
                    .map(|_| {
                        if real {
                            rng.unit() * 40.0 - 20.0
                        } else {
                            int(rng, -20, 20)
                        }
                    })
                    .collect();
                let orders: Vec<Vec<usize>> = shape.iter().map(|&m| rng.permutation(m)).collect();
                let dag = Dag::product_of_chains(&shape, &orders).unwrap();
                cases.push((Observations::new(y, None).unwrap(), dag, orders));
            }
            let mut solver = IsotonicSolver::new();
            let mut x = vec![0.0; n];
            for (col, cut) in [(j, false), (j + 2, true)] {
                let start = Instant::now();
                let work0 = solver.work();
                for r in 0..reps {
                    let (obs, dag, orders) = &cases[r % cases.len()];
                    if cut {
                        solver.solve(dag, obs, &mut x).unwrap();
                    } else {
                        solver.solve_prefixes(&shape, orders, obs, &mut x).unwrap();
                    }
                }
                let secs = start.elapsed().as_secs_f64();
                per[col] = secs / reps as f64 * 1e6;
                rate[col] = (solver.work() - work0) as f64 / secs / 1e6;
            }
        }
        println!(
            "{:<14} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            format!("{shape:?}"),
            n,
            per[0],
            per[1],
            per[2],
            per[3]
        );
        println!(
            "{:<21} work units per µs: {:>6.1} {:>10.1} {:>10.1} {:>10.1}",
            "", rate[0], rate[1], rate[2], rate[3]
        );
    }
}

/// The 21 × 21 game under a range of work budgets: time, SSE, lower bound.
fn budget_curve(only: Option<u64>) {
    let q21 = JointTable::from_fn(vec![21, 21], |u| game21(u, 1)).unwrap();
    println!(
        "{:>12} {:>9} {:>10} {:>10} {:>8}  argmax",
        "budget", "ms", "mse", "lb mse", "evals"
    );
    for budget in [
        500_000u64,
        1_000_000,
        2_000_000,
        3_000_000,
        5_000_000,
        10_000_000,
        30_000_000,
        100_000_000,
        1_000_000_000,
    ] {
        if only.is_some_and(|o| o != budget) {
            continue;
        }
        let opts = QmixOptions {
            work_budget: Some(budget),
            ..QmixOptions::default()
        };
        let mut times = Vec::new();
        let mut r = None;
        let reps = if only.is_some() {
            50
        } else if budget <= 10_000_000 {
            5
        } else {
            1
        };
        for _ in 0..reps {
            let start = Instant::now();
            r = Some(project_qmix(&q21, &opts).unwrap());
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let r = r.unwrap();
        println!(
            "{:>12} {:>9.2} {:>10.4} {:>10.4} {:>8}  {:?}",
            budget,
            times[times.len() / 2],
            r.mse,
            r.lower_bound.map_or(f64::NAN, |b| b / 441.0),
            r.orderings_evaluated,
            r.q_tot
                .argmax_set()
                .iter()
                .map(|&k| r.q_tot.joint_action(k))
                .collect::<Vec<_>>()
        );
    }
}

/// Median time of the whole analysis (`AnalysisOptions::default()`, or the given QMIX
/// budget) of every built-in game.
fn time_analyses(reps: usize, budget: Option<reference::ideal::qmix::QmixBudget>) {
    use reference::analysis::{analyze, AnalysisOptions};
    let mut opts = AnalysisOptions::default();
    if let Some(b) = budget {
        opts.qmix = QmixOptions::with_budget(b);
    }
    use reference::io::{builtins, load_builtin};
    println!(
        "{:<14} {:>9} {:>9}  qmix per state (exact, method)",
        "game", "med ms", "max ms"
    );
    for b in builtins() {
        let game = load_builtin(b.name).unwrap();
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..reps.max(1) {
            let start = Instant::now();
            last = Some(analyze(&game, &opts).unwrap());
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let a = last.unwrap();
        let states: Vec<String> = a
            .states
            .iter()
            .map(|s| format!("{} ({}, {})", s.state, s.qmix.exact, s.qmix.method))
            .collect();
        println!(
            "{:<14} {:>9.2} {:>9.2}  {}",
            b.name,
            times[times.len() / 2],
            times[times.len() - 1],
            states.join("; ")
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("iso") => {
            bench_isotonic(&mut Rng::new(1));
            return;
        }
        Some("budgets") => {
            let only: Option<u64> = args
                .get(2)
                .and_then(|s| s.parse::<f64>().ok())
                .map(|v| v as u64);
            budget_curve(only);
            return;
        }
        Some("analyze") => {
            let budget = args.get(3).map(|s| s.parse().expect("a QMIX budget"));
            time_analyses(
                args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20),
                budget,
            );
            return;
        }
        _ => {}
    }
    // `interactive` in place of SECONDS: the interactive work budget, no time limit.
    let interactive = args.get(1).map(String::as_str) == Some("interactive");
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let count: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    // Optional comma-separated list of grids to run, e.g. `2x10,3x6` (default: all).
    let only: Option<Vec<String>> = args
        .get(3)
        .map(|s| s.split(',').map(str::to_string).collect());
    let limit = Duration::from_secs_f64(secs);
    let grids: &[(usize, &[usize])] = &[
        (2, &[3, 4, 5, 6, 7, 8, 9, 10]),
        (3, &[3, 4, 5, 6]),
        (4, &[3, 4]),
        (5, &[2, 3]),
        (6, &[2, 3]),
        (8, &[2]),
        (10, &[2]),
        // Larger grids, appended last so that the games above stay the same.
        (2, &[11, 12]),
        (3, &[7]),
        (4, &[5]),
        (5, &[4]),
        (6, &[4]),
        (7, &[2, 3]),
        (8, &[3]),
        (12, &[2]),
    ];
    if interactive {
        println!("interactive work budget, no time limit, {count} random-int games per grid");
    } else {
        println!(
            "time limit {secs} s per game, no evaluation budget, {count} random-int games per grid"
        );
    }
    println!(
        "{:<7} {:>8} {:>11} {:>7} {:>9} {:>9} {:>12}  unsolved",
        "grid", "cells", "orderings", "exact", "med s", "max s", "max evals"
    );
    let mut rng = Rng::new(0x0051_AB1E);
    for &(agents, actions_list) in grids {
        for &actions in actions_list {
            let list = games(agents, actions, count, &mut rng);
            if only
                .as_ref()
                .is_some_and(|o| !o.contains(&format!("{agents}x{actions}")))
            {
                continue;
            }
            let mut times = Vec::new();
            let mut solved = 0;
            let mut max_evals = 0;
            let mut unsolved = Vec::new();
            for (name, q) in &list {
                let opts = if interactive {
                    QmixOptions::interactive()
                } else {
                    QmixOptions {
                        weights: None,
                        time_limit: Some(limit),
                        max_orderings: Some(u64::MAX),
                        work_budget: None,
                    }
                };
                let start = Instant::now();
                let r = project_qmix(q, &opts).unwrap();
                let t = start.elapsed().as_secs_f64();
                times.push(t);
                max_evals = max_evals.max(r.orderings_evaluated);
                if r.exact {
                    solved += 1;
                } else {
                    let gap = r
                        .lower_bound
                        .map_or(String::from("?"), |lb| format!("{lb:.1}"));
                    unsolved.push(format!("{name} (sse {:.1} ≥ lb {gap})", r.sse));
                }
            }
            times.sort_by(f64::total_cmp);
            let med = times[times.len() / 2];
            let max = times[times.len() - 1];
            println!(
                "{:<7} {:>8} {:>11.2e} {:>3}/{:<3} {:>9.3} {:>9.3} {:>12}  {}",
                format!("{agents}x{actions}"),
                actions.pow(agents as u32),
                orderings_total(&vec![actions; agents]) as f64,
                solved,
                list.len(),
                med,
                max,
                max_evals,
                unsolved.join("; ")
            );
        }
    }
    // The shipped 21-action game in full: heuristic path, timed with the default options.
    let q21 = JointTable::from_fn(vec![21, 21], |u| game21(u, 1)).unwrap();
    let start = Instant::now();
    let r = project_qmix(&q21, &QmixOptions::default()).unwrap();
    println!(
        "21x21 game, default options: {:.3} s, exact {}, method {}, mse {:.4}, lower bound {:?}, {} evaluations, argmax {:?}",
        start.elapsed().as_secs_f64(),
        r.exact,
        r.method,
        r.mse,
        r.lower_bound.map(|b| b / 441.0),
        r.orderings_evaluated,
        r.q_tot.argmax_set().iter().map(|&k| r.q_tot.joint_action(k)).collect::<Vec<_>>()
    );
}
