//! Text in the pictures, set in DejaVu Sans (regular and bold, embedded from `data/fonts/`,
//! Bitstream Vera licence beside them) and rasterised here with `ab_glyph`.
//!
//! Glyphs are placed at sub-pixel pen positions with kerning, then anti-aliased coverage is
//! blended into the picture pixel by pixel; plotters' own text path rounds every glyph to a
//! whole pixel, which leaves visibly uneven letter spacing at small sizes. No system font,
//! fontconfig or display is involved.

use super::draw_err;
use ab_glyph::{point, Font as _, FontRef, PxScale, ScaleFont as _};
use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;
use std::sync::OnceLock;

static REGULAR: &[u8] = include_bytes!("../../../data/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../../data/fonts/DejaVuSans-Bold.ttf");

struct Faces {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

fn faces() -> Result<&'static Faces> {
    static FACES: OnceLock<Result<Faces, String>> = OnceLock::new();
    FACES
        .get_or_init(|| {
            let regular = FontRef::try_from_slice(REGULAR)
                .map_err(|e| format!("the embedded DejaVuSans.ttf: {e}"))?;
            let bold = FontRef::try_from_slice(BOLD)
                .map_err(|e| format!("the embedded DejaVuSans-Bold.ttf: {e}"))?;
            Ok(Faces { regular, bold })
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Checks that the embedded fonts load (the drawing entry points call it first).
pub(crate) fn ensure() -> Result<()> {
    faces().map(|_| ()).context("loading the embedded fonts")
}

/// A size, weight and colour of text. `size` is the font's height (ascent + descent) in pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Font {
    /// Height in pixels (ascent + descent of DejaVu Sans).
    pub size: f32,
    /// Bold face.
    pub bold: bool,
    /// Colour.
    pub colour: RGBColor,
}

/// Regular text of `size` pixels in `colour`.
pub(crate) fn font(size: f64, bold: bool, colour: RGBColor) -> Font {
    Font {
        size: size as f32,
        bold,
        colour,
    }
}

impl Font {
    fn face(&self) -> Option<&'static FontRef<'static>> {
        faces()
            .ok()
            .map(|f| if self.bold { &f.bold } else { &f.regular })
    }

    /// Pen advance of `text` in pixels (0 when the fonts failed to load).
    pub fn advance(&self, text: &str) -> f32 {
        let Some(face) = self.face() else { return 0.0 };
        let f = face.as_scaled(PxScale::from(self.size));
        let mut x = 0f32;
        let mut prev = None;
        for c in text.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                x += f.kern(p, id);
            }
            x += f.h_advance(id);
            prev = Some(id);
        }
        x
    }

    /// Width of `text` in whole pixels (rounded up).
    pub fn width(&self, text: &str) -> i32 {
        self.advance(text).ceil() as i32
    }

    /// Height of capital letters and digits above the baseline, in pixels.
    pub fn cap_height(&self) -> f32 {
        // DejaVu Sans: cap height 1493 of (ascent 1901 + descent 483) font units.
        self.size * 1493.0 / 2384.0
    }

    /// The baseline that centres capitals and digits on `centre`.
    pub fn centred_baseline(&self, centre: i32) -> i32 {
        (centre as f32 + self.cap_height() / 2.0).round() as i32
    }

    /// Draws `text` with its baseline at `baseline`, anchored horizontally at `x` by `h`.
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        text: &str,
        x: i32,
        baseline: i32,
        h: HPos,
    ) -> Result<()> {
        let w = self.advance(text);
        let x0 = match h {
            HPos::Left => x as f32,
            HPos::Center => x as f32 - w / 2.0,
            HPos::Right => x as f32 - w,
        };
        self.rasterise(text, x0, baseline as f32, |px, py, cov| {
            area.draw_pixel((px, py), &self.colour.mix(cov as f64))
                .map_err(draw_err)
        })
    }

    /// Draws `text` turned a quarter to the left (reading upwards), its baseline on the
    /// vertical line `x`, centred vertically on `y`.
    #[cfg(feature = "neural")]
    pub fn draw_up<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        text: &str,
        x: i32,
        y: i32,
    ) -> Result<()> {
        let w = self.advance(text);
        // Lay the text out horizontally from (0, 0), then map (u, v) → (x + v, y + w/2 − u).
        self.rasterise(text, 0.0, 0.0, |u, v, cov| {
            let px = x + v;
            let py = y + (w / 2.0).round() as i32 - u;
            area.draw_pixel((px, py), &self.colour.mix(cov as f64))
                .map_err(draw_err)
        })
    }

    /// Calls `put(x, y, coverage)` for every pixel the glyphs of `text` cover, the pen
    /// starting at `(x0, baseline)` (sub-pixel positions kept).
    fn rasterise(
        &self,
        text: &str,
        x0: f32,
        baseline: f32,
        mut put: impl FnMut(i32, i32, f32) -> Result<()>,
    ) -> Result<()> {
        let face = faces()?;
        let face = if self.bold { &face.bold } else { &face.regular };
        let scale = PxScale::from(self.size);
        let f = face.as_scaled(scale);
        let mut pen = x0;
        let mut prev = None;
        let mut result = Ok(());
        for c in text.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                pen += f.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(scale, point(pen, baseline));
            pen += f.h_advance(id);
            let Some(outline) = face.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            let (bx, by) = (b.min.x as i32, b.min.y as i32);
            outline.draw(|gx, gy, cov| {
                if cov > 0.004 && result.is_ok() {
                    result = put(bx + gx as i32, by + gy as i32, cov.min(1.0));
                }
            });
            result.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fonts_load_and_measure() {
        ensure().unwrap();
        let f = font(20.0, false, RGBColor(0, 0, 0));
        let b = font(20.0, true, RGBColor(0, 0, 0));
        assert!(f.width("MMMM") > f.width("iiii"));
        assert!(b.advance("Payoff") > f.advance("Payoff"), "bold is wider");
        assert!((f.advance("ab") - f.advance("a") - f.advance("b")).abs() < 2.0);
        assert!(f.cap_height() > 10.0 && f.cap_height() < 15.0);
        // Every character the pictures use has a glyph (no "tofu" boxes).
        let face = faces().unwrap();
        for c in "QMIX Q'_jt − Q_tot Σ ≈ × ↓ → ₁ ₂ ū * [] () % 0123456789".chars() {
            if c != ' ' {
                assert_ne!(face.regular.glyph_id(c).0, 0, "{c:?}");
                assert_ne!(face.bold.glyph_id(c).0, 0, "{c:?}");
            }
        }
    }
}
