//! Ideal factorizations: the best each method's class can reach on a given joint table.
//!
//! - [`vdn`]: least-squares projection onto additive tables (closed form).
//! - [`qmix`]: global least-squares projection onto the monotonic class.
//! - [`qtran`]: exact utilities and `V_jt` meeting QTRAN's conditions (4) and (7).

pub mod qmix;
pub mod qtran;
pub mod vdn;
