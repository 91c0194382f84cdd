//! Learning curves: per method, the training loss and the share of seeds whose greedy joint
//! action is optimal against environment steps, each with a band for the spread across seeds.

use super::colour::{method_colour, nice_step, ticks};
use super::font::{ensure, font, Font};
use super::{draw_err, encode_png};
use anyhow::{bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

/// One point of a curve with its band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Environment steps.
    pub x: f64,
    /// The line's value.
    pub mid: f64,
    /// Lower edge of the band.
    pub lo: f64,
    /// Upper edge of the band.
    pub hi: f64,
}

/// One method's curves.
#[derive(Debug, Clone)]
pub struct Series {
    /// The method's name (chooses its colour).
    pub method: String,
    /// The legend text.
    pub label: String,
    /// Loss points (only where a loss was logged).
    pub loss: Vec<Band>,
    /// Optimal-action-rate points.
    pub optimal: Vec<Band>,
}

/// A figure of two charts (loss above, optimal-action rate below) for several methods.
#[derive(Debug, Clone)]
pub struct CurvesFigure {
    /// Title.
    pub title: String,
    /// Lines under the title.
    pub notes: Vec<String>,
    /// One entry per method.
    pub series: Vec<Series>,
    /// Caption of the loss chart (say what the line and the band are).
    pub loss_caption: String,
    /// Caption of the rate chart.
    pub optimal_caption: String,
}

const W: u32 = 1100;
const CHART_H: i32 = 370;
const PAD: i32 = 20;
const BLACK_: RGBColor = RGBColor(0, 0, 0);
const GREY: RGBColor = RGBColor(90, 90, 90);
const GRID: RGBColor = RGBColor(225, 225, 225);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Steps as `2.5k`, `10k`, `300`.
fn steps_label(x: f64) -> String {
    if x.abs() >= 1000.0 {
        let k = x / 1000.0;
        if (k - k.round()).abs() < 1e-9 {
            format!("{}k", k.round())
        } else {
            format!("{k:.1}k")
        }
    } else {
        format!("{}", x.round())
    }
}

/// Loss tick labels as plain decimals (`0.001`, `0.5`, `20`).
fn loss_label(y: f64) -> String {
    if y >= 1.0 {
        format!("{}", y.round())
    } else {
        let d = (-y.log10()).ceil().max(0.0) as usize;
        let s = format!("{y:.d$}");
        if s.trim_start_matches(['0', '.']).is_empty() {
            format!("{y:.e$}", e = d + 1)
        } else {
            s
        }
    }
}

/// Ticks of a log axis over `[lo, hi]`: powers of ten, with 2× and 5× when fewer than three
/// decades are shown.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mults: &[f64] = if hi.log10() - lo.log10() < 3.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let step = ((b - a) as f64 / 6.0).ceil().max(1.0) as i32;
    let mut out = Vec::new();
    for e in a..=b {
        if mults.len() == 1 && (e - a) % step != 0 {
            continue;
        }
        for m in mults {
            let v = m * 10f64.powi(e);
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    out
}

/// The plotting rectangle of a chart and its axis mappings.
struct Frame {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    x_max: f64,
    y_lo: f64,
    y_hi: f64,
    log: bool,
}

impl Frame {
    fn x(&self, x: f64) -> i32 {
        let t = if self.x_max > 0.0 {
            x / self.x_max
        } else {
            0.0
        };
        self.left + (t.clamp(0.0, 1.0) * (self.right - self.left) as f64).round() as i32
    }

    fn y(&self, y: f64) -> i32 {
        let t = if self.log {
            (y.max(self.y_lo).log10() - self.y_lo.log10()) / (self.y_hi.log10() - self.y_lo.log10())
        } else {
            (y - self.y_lo) / (self.y_hi - self.y_lo)
        };
        self.bottom - (t.clamp(0.0, 1.0) * (self.bottom - self.top) as f64).round() as i32
    }
}

/// Draws the axes, grid, ticks and descriptions of one chart whose area starts at `(x0, y0)`.
fn axes(
    root: &Area<'_>,
    f: &Frame,
    y_ticks: &[(f64, String)],
    caption: &str,
    y_desc: &str,
    x0: i32,
) -> Result<()> {
    let tick_font = font(14.0, false, BLACK_);
    let desc_font = font(15.0, false, BLACK_);
    font(17.0, true, BLACK_).draw(root, caption, x0, f.top - 16, HPos::Left)?;
    let x_step = nice_step(f.x_max, 8);
    for x in ticks(0.0, f.x_max, 8) {
        let px = f.x(x);
        root.draw(&PathElement::new(
            vec![(px, f.top), (px, f.bottom)],
            GRID.stroke_width(1),
        ))
        .map_err(draw_err)?;
        root.draw(&PathElement::new(
            vec![(px, f.bottom), (px, f.bottom + 5)],
            BLACK_.stroke_width(1),
        ))
        .map_err(draw_err)?;
        let label = if x_step >= 1.0 {
            steps_label(x)
        } else {
            format!("{x}")
        };
        tick_font.draw(root, &label, px, f.bottom + 22, HPos::Center)?;
    }
    let mut widest = 0;
    for (y, label) in y_ticks {
        let py = f.y(*y);
        root.draw(&PathElement::new(
            vec![(f.left, py), (f.right, py)],
            GRID.stroke_width(1),
        ))
        .map_err(draw_err)?;
        root.draw(&PathElement::new(
            vec![(f.left - 5, py), (f.left, py)],
            BLACK_.stroke_width(1),
        ))
        .map_err(draw_err)?;
        tick_font.draw(
            root,
            label,
            f.left - 8,
            tick_font.centred_baseline(py),
            HPos::Right,
        )?;
        widest = widest.max(tick_font.width(label));
    }
    root.draw(&Rectangle::new(
        [(f.left, f.top), (f.right, f.bottom)],
        GREY.stroke_width(1),
    ))
    .map_err(draw_err)?;
    desc_font.draw(
        root,
        "environment steps",
        (f.left + f.right) / 2,
        f.bottom + 46,
        HPos::Center,
    )?;
    desc_font.draw_up(
        root,
        y_desc,
        f.left - 8 - widest - 10 - 16,
        (f.top + f.bottom) / 2,
    )?;
    Ok(())
}

fn band_and_line(
    root: &Area<'_>,
    f: &Frame,
    pts: &[Band],
    colour: RGBColor,
    alpha: f64,
) -> Result<()> {
    let mut poly: Vec<(i32, i32)> = pts.iter().map(|b| (f.x(b.x), f.y(b.hi))).collect();
    poly.extend(pts.iter().rev().map(|b| (f.x(b.x), f.y(b.lo))));
    root.draw(&Polygon::new(poly, colour.mix(alpha).filled()))
        .map_err(draw_err)?;
    let line: Vec<(i32, i32)> = pts.iter().map(|b| (f.x(b.x), f.y(b.mid))).collect();
    root.draw(&PathElement::new(line, colour.stroke_width(2)))
        .map_err(draw_err)
}

fn chart_frame(x0: i32, y0: i32, x_max: f64, y_lo: f64, y_hi: f64, log: bool) -> Frame {
    Frame {
        left: x0 + 100,
        right: W as i32 - PAD - 10,
        top: y0 + 34,
        bottom: y0 + CHART_H - 64,
        x_max,
        y_lo,
        y_hi,
        log,
    }
}

fn draw_loss(root: &Area<'_>, fig: &CurvesFigure, x_max: f64, y0: i32) -> Result<()> {
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    for v in fig
        .series
        .iter()
        .flat_map(|s| s.loss.iter())
        .flat_map(|b| [b.lo, b.mid, b.hi])
    {
        if v.is_finite() && v > 0.0 {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !(lo.is_finite() && hi > 0.0) {
        font(17.0, true, BLACK_).draw(root, &fig.loss_caption, PAD, y0 + 18, HPos::Left)?;
        font(15.0, false, GREY).draw(
            root,
            "(no loss was logged)",
            PAD + 80,
            y0 + 80,
            HPos::Left,
        )?;
        return Ok(());
    }
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    let f = chart_frame(PAD, y0, x_max, lo, hi, true);
    let y_ticks: Vec<(f64, String)> = log_ticks(lo, hi)
        .into_iter()
        .map(|v| (v, loss_label(v)))
        .collect();
    axes(
        root,
        &f,
        &y_ticks,
        &fig.loss_caption,
        "loss (log scale)",
        PAD,
    )?;
    for s in fig.series.iter().filter(|s| !s.loss.is_empty()) {
        band_and_line(root, &f, &s.loss, method_colour(&s.method), 0.18)?;
    }
    Ok(())
}

fn draw_rate(root: &Area<'_>, fig: &CurvesFigure, x_max: f64, y0: i32) -> Result<()> {
    let f = chart_frame(PAD, y0, x_max, -0.02, 1.02, false);
    let y_ticks: Vec<(f64, String)> = (0..=4)
        .map(|k| (k as f64 / 4.0, format!("{}%", k * 25)))
        .collect();
    axes(
        root,
        &f,
        &y_ticks,
        &fig.optimal_caption,
        "seeds optimal",
        PAD,
    )?;
    for s in fig.series.iter().filter(|s| !s.optimal.is_empty()) {
        band_and_line(root, &f, &s.optimal, method_colour(&s.method), 0.15)?;
    }
    Ok(())
}

/// Draws `fig` and returns the PNG bytes.
pub fn curves_png(fig: &CurvesFigure) -> Result<Vec<u8>> {
    ensure()?;
    if fig.series.is_empty() {
        bail!("a curves figure needs at least one method");
    }
    let x_max = fig
        .series
        .iter()
        .flat_map(|s| s.loss.iter().chain(&s.optimal))
        .map(|b| b.x)
        .fold(1f64, f64::max);
    let title_font: Font = font(23.0, true, BLACK_);
    let note_font = font(15.0, false, GREY);
    let legend_font = font(16.0, false, BLACK_);
    // Legend entries laid out in rows that fit the width.
    let mut legend_rows: Vec<Vec<(usize, i32)>> = vec![Vec::new()];
    let mut x = PAD;
    for (k, s) in fig.series.iter().enumerate() {
        let w = 40 + legend_font.width(&s.label) + 28;
        if x + w > W as i32 - PAD && x > PAD {
            legend_rows.push(Vec::new());
            x = PAD;
        }
        if let Some(row) = legend_rows.last_mut() {
            row.push((k, x));
        }
        x += w;
    }
    let header_h = 40 + 21 * fig.notes.len() as i32 + 30 * legend_rows.len() as i32 + 8;
    let h = (PAD + header_h + 2 * CHART_H + PAD) as u32;
    let mut buf = vec![255u8; (W * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        title_font.draw(&root, &fig.title, PAD, PAD + 22, HPos::Left)?;
        let mut y = PAD + 46;
        for n in &fig.notes {
            note_font.draw(&root, n, PAD, y, HPos::Left)?;
            y += 21;
        }
        y += 8;
        for row in &legend_rows {
            for &(k, x) in row {
                let s = &fig.series[k];
                let c = method_colour(&s.method);
                root.draw(&Rectangle::new(
                    [(x, y - 15), (x + 32, y + 3)],
                    c.mix(0.18).filled(),
                ))
                .map_err(draw_err)?;
                root.draw(&PathElement::new(
                    vec![(x, y - 6), (x + 32, y - 6)],
                    c.stroke_width(3),
                ))
                .map_err(draw_err)?;
                legend_font.draw(&root, &s.label, x + 40, y, HPos::Left)?;
            }
            y += 30;
        }
        let top = PAD + header_h;
        draw_loss(&root, fig, x_max, top)?;
        draw_rate(&root, fig, x_max, top + CHART_H)?;
        root.present().map_err(draw_err)?;
    }
    encode_png(&buf, W, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::plot::png_size;

    fn series(method: &str, with_loss: bool) -> Series {
        let pts = |f: &dyn Fn(f64) -> f64| -> Vec<Band> {
            (1..=20)
                .map(|k| {
                    let x = k as f64 * 150.0;
                    Band {
                        x,
                        mid: f(x),
                        lo: f(x) * 0.5,
                        hi: f(x) * 1.5,
                    }
                })
                .collect()
        };
        Series {
            method: method.into(),
            label: method.to_uppercase(),
            loss: if with_loss {
                pts(&|x| 100.0 / x)
            } else {
                Vec::new()
            },
            optimal: pts(&|x| (x / 3000.0).min(1.0))
                .into_iter()
                .map(|b| Band {
                    lo: (b.mid - 0.1).max(0.0),
                    hi: (b.mid + 0.1).min(1.0),
                    ..b
                })
                .collect(),
        }
    }

    #[test]
    fn draws_curves() {
        let fig = CurvesFigure {
            title: "Learning curves".into(),
            notes: vec!["8 seeds".into()],
            series: vec![
                series("vdn", true),
                series("qmix", true),
                series("qtran-base", false),
            ],
            loss_caption: "loss".into(),
            optimal_caption: "optimal".into(),
        };
        let png = curves_png(&fig).unwrap();
        let (w, h) = png_size(&png).unwrap();
        assert_eq!(w, W);
        assert!(h > 2 * CHART_H as u32);
        if let Ok(dir) = std::env::var("QFACTOR_PLOT_DUMP") {
            std::fs::write(format!("{dir}/curves_test.png"), &png).unwrap();
        }
        // No loss at all is drawn as a note, not an error.
        let fig = CurvesFigure {
            series: vec![series("vdn", false)],
            ..fig
        };
        assert!(curves_png(&fig).is_ok());
    }

    #[test]
    fn labels_and_ticks() {
        assert_eq!(steps_label(2500.0), "2.5k");
        assert_eq!(steps_label(10000.0), "10k");
        assert_eq!(steps_label(300.0), "300");
        assert_eq!(loss_label(0.01), "0.01");
        assert_eq!(loss_label(100.0), "100");
        assert_eq!(
            log_ticks(0.05, 30.0),
            vec![0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
        );
        let wide = log_ticks(1e-6, 1e3);
        assert!(wide.len() <= 10 && wide.contains(&1.0), "{wide:?}");
    }
}
