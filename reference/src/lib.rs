//! # qfactor's exact tabular reference
//!
//! Everything in this crate is exact up to floating-point arithmetic with the stated
//! tolerance [`tol::TIE_TOL`]; nothing here is learned or sampled. Heuristic results are
//! labelled as such in their types.
//!
//! Conventions (see `docs/DOMAIN.md`): a joint table over `U_1 × … × U_N` is stored row-major with
//! agent 1 slowest ([`table::JointTable`]).
#![deny(clippy::float_cmp)]

pub mod affine;
pub mod analysis;
pub mod diagnose;
pub mod error;
pub mod exact;
pub mod factorization;
#[cfg(test)]
mod fixtures;
pub mod game;
pub mod ideal;
pub mod igm;
pub mod io;
pub mod isotonic;
pub mod multistep;
pub mod optimal;
pub mod qtran;
pub mod rng;
pub mod table;
pub mod tol;
pub mod verify;

pub use error::{Error, Result};
pub use exact::{Exact, Truth};
pub use factorization::{Factorization, Joint, JointKind, LearnedFactorization};
pub use game::{Agent, Game, Next, State};
pub use table::{JointTable, Utilities};
