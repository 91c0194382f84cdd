//! # qfactor's neural learners
//!
//! VDN, QMIX, QTRAN-base, QTRAN-alt and IQL on libtorch (tch), with K independent seeds
//! trained together: every parameter and every batch has a leading seed dimension, so one
//! process keeps the CPU cores or the GPU busy, while each seed stays exactly what it would be
//! alone (own initialisation, data and exploration streams; per-seed losses, gradient clipping
//! and element-wise optimisers).
//!
//! After training, every network is evaluated on every state and joint action into the exact
//! reference's table types ([`reference::JointTable`], [`reference::Utilities`]), so the same
//! IGM, Theorem 1/2 and distance-to-ideal checks run on learned and exact tables alike
//! ([`report`]).
//!
//! Entry points: [`config::TrainConfig`] (every setting, with documented defaults),
//! [`run::train_method`], [`report`] (tables, summaries, curves) and [`checkpoint`].
#![deny(clippy::float_cmp)]

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod cost;
pub mod engine;
pub mod kernels;
pub mod learner;
pub mod mixing;
pub mod model;
pub mod nets;
pub mod optim;
pub mod qtran_engine;
pub mod report;
pub mod rng;
pub mod run;
pub mod simd;

pub use config::{Method, TrainConfig};
pub use learner::{Learner, SeedTables};

/// Errors of the neural crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A libtorch error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// An error from the exact reference (invalid game, table shapes, …).
    #[error(transparent)]
    Reference(#[from] reference::Error),
    /// An invalid setting or request from the user (a configuration value, a device name, a
    /// checkpoint that does not fit): bad input, exit code 2 in the command line.
    #[error("{0}")]
    Invalid(String),
    /// A failure that is not the input's fault (a worker thread, a buffer that cannot be
    /// written).
    #[error("{0}")]
    Internal(String),
    /// Training produced non-finite values.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// File input/output.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// True when the error is the user's input's fault (bad settings, files or names), as
    /// opposed to a failure of the run itself; the command line exits with 2 for these.
    pub fn is_input(&self) -> bool {
        match self {
            Error::Reference(e) => e.is_input(),
            Error::Invalid(_) => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::InvalidInput
            ),
            Error::Torch(_) | Error::Internal(_) | Error::Diverged(_) => false,
        }
    }
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
