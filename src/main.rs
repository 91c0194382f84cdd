//! `qfactor`: the command line. It parses arguments, calls the `reference` (and, with the
//! `neural` feature, `neural`) crates, and prints or writes their results: tables in the
//! terminal, pictures (PNG) and a one-page HTML report. It holds no maths of its own beyond the
//! small presentation helpers of `story` (listed there; with the `neural` feature).

mod commands;
#[cfg(feature = "neural")]
mod figures;
#[cfg(feature = "neural")]
mod learn;
mod logging;
mod output;
mod present;
#[cfg(feature = "neural")]
mod story;
#[cfg(feature = "neural")]
mod study;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use commands::{analyze, check, games};
#[cfg(feature = "neural")]
use commands::{compare, demo, train};
use std::process::ExitCode;

const EXAMPLES: &str = "Examples:
  qfactor demo                              the story of VDN, QMIX and QTRAN in under a minute
  qfactor analyze paper-table1              exact: what each method's class can reach
  qfactor compare paper-table1 --out run    learned versus exact, pictures and report.html
  qfactor check paper-table1 tables.csv     verify anyone's learned tables
  qfactor completions bash > ~/.local/share/bash-completion/completions/qfactor

Exit codes: 0 success, 2 bad input (arguments, files), 3 a `check --fail-if` condition held,
1 any other failure.";

/// Exact and learned value factorization for cooperative multi-agent games (VDN, QMIX, QTRAN).
#[derive(Parser)]
#[command(name = "qfactor", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    /// Print only errors on stderr (no notes, no progress bars).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More detail on stderr (-v debug, -vv trace).
    #[arg(long, short, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// Let a TOML manifest name game files outside its own folder (by default `file` and
    /// `next_file` must resolve to the manifest's folder or below it).
    #[arg(long, global = true)]
    allow_outside_files: bool,
    #[command(subcommand)]
    command: Command,
}

/// Arguments of a command this build lacks (it was built without the `neural` feature).
#[cfg(not(feature = "neural"))]
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
struct Unavailable {
    /// (ignored)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// The teaching demo: why VDN and QMIX fail where QTRAN succeeds, computed in under a minute.
    #[cfg(feature = "neural")]
    Demo(demo::DemoArgs),
    /// The teaching demo (this build has no libtorch: rebuild with `--features neural`).
    #[cfg(not(feature = "neural"))]
    Demo(Unavailable),
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
    Train(Unavailable),
    /// Train every method and show learned tables next to the exact ideals, with pictures and
    /// a one-page report.
    #[cfg(feature = "neural")]
    Compare(compare::CompareArgs),
    /// Train and compare with the exact ideals (this build has no libtorch: rebuild with
    /// `--features neural`).
    #[cfg(not(feature = "neural"))]
    Compare(Unavailable),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = "Examples:\n  qfactor completions bash > \
                            ~/.local/share/bash-completion/completions/qfactor\n  qfactor \
                            completions zsh > ~/.zfunc/_qfactor\n  qfactor completions fish > \
                            ~/.config/fish/completions/qfactor.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
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

/// A condition the user asked to fail on (`check --fail-if`) held: exit code 3.
#[derive(Debug)]
pub struct ConditionFailed(pub String);

impl std::fmt::Display for ConditionFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConditionFailed {}

#[cfg(not(feature = "neural"))]
fn unavailable(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`qfactor {command}` needs the neural learners, and this qfactor was built without them; \
         build it with `cargo build --release --features neural` (see README: libtorch set-up)"
    )
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Games(a) => games::run(&a),
        Command::Analyze(a) => analyze::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "qfactor", &mut std::io::stdout());
            Ok(())
        }
        #[cfg(feature = "neural")]
        Command::Train(a) => train::run(&a),
        #[cfg(feature = "neural")]
        Command::Compare(a) => compare::run(&a),
        #[cfg(feature = "neural")]
        Command::Demo(a) => demo::run(&a),
        #[cfg(not(feature = "neural"))]
        Command::Train(_) => Err(unavailable("train")),
        #[cfg(not(feature = "neural"))]
        Command::Compare(_) => Err(unavailable("compare")),
        #[cfg(not(feature = "neural"))]
        Command::Demo(_) => Err(unavailable("demo")),
    }
}

/// 2 for bad input (files, arguments), 3 for a `--fail-if` condition, 1 for anything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<ConditionFailed>().is_some() {
            return 3;
        }
        if cause.downcast_ref::<BadInput>().is_some() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<reference::Error>() {
            return if e.is_input() { 2 } else { 1 };
        }
        #[cfg(feature = "neural")]
        if let Some(e) = cause.downcast_ref::<neural::Error>() {
            return if e.is_input() { 2 } else { 1 };
        }
    }
    1
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message
/// already ends with (an I/O error's reason is part of its own message), so that nothing is
/// said twice.
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Lets a closed pipe (`qfactor analyze … | head`) end the process quietly, as other Unix
/// tools do, instead of a failed write to stdout.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting the default disposition of SIGPIPE at the start of `main`, before any
    // other thread exists, is async-signal-safe and affects only how a broken pipe ends us.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    // Usage errors exit with 2 and `--help`/`--version` with 0 (clap's conventions).
    let cli = Cli::parse();
    logging::init(cli.quiet, cli.verbose);
    if cli.allow_outside_files {
        reference::io::set_file_policy(reference::io::FilePolicy::Anywhere);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let style = present::style::Style::stderr();
            eprintln!("qfactor: {} {}", style.bad("error:"), message(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
