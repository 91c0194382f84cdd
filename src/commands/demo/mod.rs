//! `qfactor demo`: the teaching demo. Two games, each analysed exactly and then learned by
//! several seeds of each method, and the story told in plain words — every number and every
//! claim in the text is computed in this run, with a branch for every outcome, so a run that
//! comes out differently says what happened instead.
//!
//! 1. The QTRAN paper's matrix game: VDN's failure is one of its class; QMIX's class can keep
//!    the optimum but the learned mixer settles on another ordering (a failure of
//!    optimisation); QTRAN-base and QTRAN-alt find the optimum and meet Theorem 1.
//! 2. QMIX's two-step game: VDN's greedy policy collects less than the optimum, QMIX's reaches
//!    it.
//!
//! The facts the story states are computed apart from the words that tell them:
//! [`facts`] computes plain structs from each game's [`Study`] (numbers, counts, and for every
//! place where the story branches, which outcome this run had); [`prose`] turns those into
//! the text, choosing the branch and formatting, nothing more. So every branch's wording can
//! be checked on hand-built facts, without training.

pub mod facts;
pub mod prose;

use crate::commands::compare::write_outputs;
use crate::learn::{config_for, jobs_for, LearnArgs};
use crate::output::OutputDir;
use crate::present::style::Style;
use crate::study::Study;
use anyhow::{Context, Result};
use neural::config::{Method, TrainConfig};
use reference::ideal::qmix::QmixOptions;
use std::path::PathBuf;
use std::time::Instant;

/// Steps per seed on the QTRAN paper's game: QMIX's mixer settles on its ordering within about
/// 2,000, but QTRAN-alt's tables need about 8,000 to meet Theorem 1 closely in every seed.
const MATRIX_STEPS: usize = 8_000;
/// Steps per seed on the two-step game (both methods have settled by 1,500).
const TWO_STEP_STEPS: usize = 2_000;
/// Arguments of `qfactor demo`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Everything the demo says is computed in the run: the exact analysis by \
                        qfactor's reference, then the learners (8 seeds of each method by \
                        default, 8,000 steps on the matrix game and 2,000 on the two-step game). \
                        It takes under a minute on 2 CPU cores and prints its wall time.\n\n\
                        Examples:\n  qfactor demo\n  qfactor demo --out demo-run    # also \
                        pictures and report.html per game\n  qfactor demo --seeds 16 --seed 7"
)]
pub struct DemoArgs {
    /// Independent seeds per method.
    #[arg(long, default_value_t = 8)]
    pub seeds: usize,
    /// Base seed of the learners.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA if available, else CPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Methods trained at the same time (default: one per CPU core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Also write each game's tables, pictures and report.html into DIR/paper-table1/ and
    /// DIR/two-step/ (never replaced without --force).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Scale the demo's step counts (tests use a small value; the story needs the default).
    #[arg(long, default_value_t = 1.0, hide = true)]
    pub steps_scale: f64,
}

fn learn_args(args: &DemoArgs, methods: &str) -> LearnArgs {
    LearnArgs {
        method: methods.into(),
        device: args.device.clone(),
        seed: args.seed,
        seed_offset: 0,
        config: None,
        set: Vec::new(),
        threads: None,
        jobs: args.jobs,
        f64: false,
    }
}

fn scaled(steps: usize, scale: f64) -> usize {
    ((steps as f64 * scale).round() as usize).max(1)
}

fn configs(
    game: &str,
    methods: &[Method],
    steps: usize,
    args: &DemoArgs,
) -> Result<Vec<TrainConfig>> {
    let la = learn_args(args, "all");
    methods
        .iter()
        .map(|&m| config_for(game, m, args.seeds, steps, &la))
        .collect()
}

/// Runs `qfactor demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let start = Instant::now();
    if !(args.steps_scale.is_finite() && args.steps_scale > 0.0) {
        return Err(crate::learn::bad(
            "--steps-scale must be a positive number".into(),
        ));
    }
    let style = Style::stdout();
    let out_dir = match &args.out {
        Some(d) => Some(OutputDir::create(d, args.force)?),
        None => None,
    };
    let (dev, note) = neural::run::device(&args.device)?;
    if let Some(note) = note {
        tracing::info!("{note}");
    }
    let matrix_steps = scaled(MATRIX_STEPS, args.steps_scale);
    let two_steps = scaled(TWO_STEP_STEPS, args.steps_scale);
    let part1 = configs(
        "paper-table1",
        &[
            Method::Vdn,
            Method::Qmix,
            Method::QtranBase,
            Method::QtranAlt,
        ],
        matrix_steps,
        args,
    )?;
    let part2 = configs("two-step", &[Method::Vdn, Method::Qmix], two_steps, args)?;
    let jobs = jobs_for(args.jobs, &part1, dev);

    print!(
        "{}",
        prose::intro(
            args.seeds,
            matrix_steps,
            two_steps,
            &neural::run::device_name(dev),
            style
        )
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());

    let s1 = Study::run("paper-table1", &part1, dev, jobs, &QmixOptions::default())
        .context("part 1 (paper-table1)")?;
    let f1 = facts::matrix(&s1)?;
    let mut text = prose::part_heading(1, &s1.analysis.game.name, style);
    text.push_str(&prose::matrix_story(&f1, style));
    print!("{text}");
    let _ = std::io::Write::flush(&mut std::io::stdout());

    let s2 = Study::run(
        "two-step",
        &part2,
        dev,
        jobs_for(args.jobs, &part2, dev),
        &QmixOptions::default(),
    )
    .context("part 2 (two-step)")?;
    let f2 = facts::two_step(&s2)?;
    let mut text = prose::part_heading(2, &s2.analysis.game.name, style);
    text.push_str(&prose::two_step_story(&f2, style));

    if let Some(out) = out_dir {
        let command: Vec<String> = std::env::args().collect();
        let story = crate::figures::story(&s1)?;
        write_outputs(&s1, &out, "paper-table1/", &command.join(" "), vec![story])?;
        write_outputs(&s2, &out, "two-step/", &command.join(" "), Vec::new())?;
        let dest = out.commit()?;
        text.push_str(&prose::outputs_written(&dest.display().to_string()));
    }
    let total = start.elapsed().as_secs_f64();
    let seed_steps: usize = part1.iter().chain(&part2).map(|c| c.seeds * c.steps).sum();
    text.push_str(&prose::finished(
        total,
        s1.train_seconds + s2.train_seconds,
        part1.len() + part2.len(),
        seed_steps,
        jobs,
        &s1.device,
        style,
    ));
    if args.out.is_none() {
        text.push_str(prose::out_hint());
    }
    print!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Command};

    #[test]
    fn help_states_the_step_counts_used() {
        let help = DemoArgs::augment_args(Command::new("demo"))
            .render_long_help()
            .to_string();
        let words = |n: usize| {
            let s = n.to_string();
            if n >= 1000 {
                format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..])
            } else {
                s
            }
        };
        assert!(
            help.contains(&format!("{} steps on the matrix game", words(MATRIX_STEPS))),
            "{help}"
        );
        assert!(
            help.contains(&format!("{} on the two-step game", words(TWO_STEP_STEPS))),
            "{help}"
        );
    }

    #[test]
    fn scaling_steps() {
        assert_eq!(scaled(8000, 0.1), 800);
        assert_eq!(scaled(3, 0.01), 1);
    }
}
