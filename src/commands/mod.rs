//! One module per command: each parses its arguments (clap), calls the `reference` crate (and,
//! with the `neural` feature, the `neural` crate and the comparison model `study`),
//! and prints or writes what comes back through [`crate::present`]. No maths lives here.

pub mod analyze;
pub mod check;
#[cfg(feature = "neural")]
pub mod compare;
#[cfg(feature = "neural")]
pub mod demo;
pub mod games;
#[cfg(feature = "neural")]
pub mod train;
