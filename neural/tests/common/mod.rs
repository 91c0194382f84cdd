//! Shared helpers of the integration tests: small games and configurations.
#![allow(dead_code)]

use neural::config::{Method, Precision, TrainConfig};
use reference::game::{Agent, Game, Next, State};
use reference::JointTable;

/// Agents named `1..=n` with actions `a0, a1, …`.
pub fn agents(shape: &[usize]) -> Vec<Agent> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &k)| Agent {
            name: format!("{}", i + 1),
            actions: (0..k).map(|a| format!("a{a}")).collect(),
        })
        .collect()
}

/// A matrix game from row-major payoffs.
pub fn matrix(name: &str, shape: &[usize], payoff: Vec<f64>) -> Game {
    Game::matrix(
        name,
        agents(shape),
        JointTable::new(shape.to_vec(), payoff).unwrap(),
    )
    .unwrap()
}

/// QTRAN paper Table 1a.
pub fn paper_table1() -> Game {
    matrix(
        "paper-table1",
        &[3, 3],
        vec![8.0, -12.0, -12.0, -12.0, 0.0, 0.0, -12.0, 0.0, 0.0],
    )
}

/// The QMIX paper's two-step game (γ = 1): agent 1's action in state 1 picks 2A or 2B.
pub fn two_step() -> Game {
    let t = |v: Vec<f64>| JointTable::new(vec![2, 2], v).unwrap();
    Game {
        name: "two-step".into(),
        source: None,
        note: None,
        agents: agents(&[2, 2]),
        states: vec![
            State {
                label: "1".into(),
                payoff: t(vec![0.0; 4]),
                next: Next::Joint(vec![Some(1), Some(1), Some(2), Some(2)]),
            },
            State {
                label: "2A".into(),
                payoff: t(vec![7.0; 4]),
                next: Next::Terminal,
            },
            State {
                label: "2B".into(),
                payoff: t(vec![0.0, 1.0, 1.0, 8.0]),
                next: Next::Terminal,
            },
        ],
        initial: 0,
        gamma: 1.0,
    }
}

/// The deterministic generator for random test games.
pub use reference::rng::SplitMix64 as TestRng;

/// A random matrix game with payoffs uniform in [−10, 10] and a unique optimum (the best
/// joint action is raised so that it beats the runner-up by at least `gap`).
pub fn random_unique_game(rng: &mut TestRng, shape: &[usize], gap: f64) -> Game {
    let n: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..n).map(|_| rng.unit() * 20.0 - 10.0).collect();
    let (best, _) = v
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    let second = v
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != best)
        .map(|(_, &x)| x)
        .fold(f64::NEG_INFINITY, f64::max);
    if v[best] < second + gap {
        v[best] = second + gap;
    }
    matrix("random", shape, v)
}

/// A configuration for tests: `threads = 1` (tests run concurrently), everything else
/// default unless changed by the caller.
pub fn config(method: Method, seeds: usize, steps: usize) -> TrainConfig {
    let mut c = TrainConfig::new("test", method);
    c.seeds = seeds;
    c.steps = steps;
    c.device = "cpu".into();
    c.threads = Some(1);
    c
}

/// A small, fast configuration for tests of mechanics (not of learning quality): small nets,
/// 64-bit floats, learning from the 16th transition.
pub fn tiny(method: Method, seeds: usize, steps: usize) -> TrainConfig {
    let mut c = config(method, seeds, steps);
    c.precision = Precision::F64;
    c.agent.hidden = vec![16, 16];
    c.qmix.mixing_embed = 8;
    c.qmix.hypernet_embed = 16;
    c.qtran.joint_hidden = vec![16];
    c.learning_starts = 16;
    c.batch_size = 8;
    c.buffer_size = 64;
    c.target_update_interval = 20;
    c.log_every = 25;
    c
}
