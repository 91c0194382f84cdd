//! Logs on stderr through `tracing`: `--quiet` keeps errors only, the default adds warnings
//! and notes (info), `-v` debug detail, `-vv` everything. Colours only on a terminal.

use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::filter::LevelFilter;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Installs the subscriber for this process (once; later calls do nothing).
pub fn init(quiet: bool, verbose: u8) {
    QUIET.store(quiet, Ordering::Relaxed);
    let level = if quiet {
        LevelFilter::ERROR
    } else {
        match verbose {
            0 => LevelFilter::INFO,
            1 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    };
    let ansi = crate::present::style::Style::stderr().bold("x") != "x";
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(ansi)
        .try_init();
}

/// True under `--quiet` (progress bars stay off too).
#[cfg(feature = "neural")]
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}
