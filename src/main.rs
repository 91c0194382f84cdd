//! `qfactor`: the command line. It parses arguments, calls the `reference` (and, with the
//! `neural` feature, `neural`) crates, and prints or writes their results. It holds no maths.

mod analyze;
mod check;
mod games;
mod output;
mod render;
#[cfg(feature = "neural")]
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exact and learned value factorization for cooperative multi-agent games (VDN, QMIX, QTRAN).
#[derive(Parser)]
#[command(name = "qfactor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in games.
    Games(games::GamesArgs),
    /// Exact analysis of a game: optimal actions, IGM, and each method's ideal factorization.
    Analyze(analyze::AnalyzeArgs),
    /// Verify learned tables (from qfactor or any framework) against a game.
    Check(check::CheckArgs),
    /// Train neural learners (VDN, QMIX, QTRAN-base, QTRAN-alt, IQL), many seeds at once.
    #[cfg(feature = "neural")]
    Train(train::TrainArgs),
    /// Train neural learners (this build has no libtorch: rebuild with `--features neural`).
    #[cfg(not(feature = "neural"))]
    #[command(disable_help_flag = true)]
    Train {
        /// (ignored)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

/// An error that is the user's fault (bad input): exit code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Games(a) => games::run(&a),
        Command::Analyze(a) => analyze::run(&a),
        Command::Check(a) => check::run(&a),
        #[cfg(feature = "neural")]
        Command::Train(a) => train::run(&a),
        #[cfg(not(feature = "neural"))]
        Command::Train { .. } => Err(anyhow::anyhow!(
            "this qfactor was built without the neural learners; build it with \
             `cargo build --release --features neural` (see README: libtorch set-up)"
        )),
    }
}

/// 2 for bad input (files, arguments), 1 for anything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<BadInput>().is_some() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<reference::Error>() {
            return if e.is_input() { 2 } else { 1 };
        }
    }
    1
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qfactor: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}
