//! Presentation: plain-text tables in the QTRAN paper's Table 1 layout ([`render`]), terminal
//! styling ([`style`]), pictures ([`plot`]: heatmaps and learning curves, drawn in Rust), the
//! heatmap of an exact analysis ([`exact_figure`]) and the one-page HTML report (`html`, with the `neural` feature).
//!
//! This module lays out what it is given and knows nothing of training: it depends on the
//! `reference` crate's result types at most, never on `neural`. What goes into a picture or
//! a report of a training run is decided by `figures` (with the `neural` feature).

pub mod exact_figure;
#[cfg(feature = "neural")]
pub mod html;
pub mod plot;
pub mod render;
pub mod style;
