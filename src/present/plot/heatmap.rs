//! Heatmaps of joint tables, laid out like the QTRAN paper's Table 1 and Figure 2: agent 1's
//! actions down the side, agent 2's across the top (for more agents, the columns are the joint
//! actions of agents 2..N), utilities on the margins when the cells are large enough, a
//! diverging colour scale shared by every panel of a figure (with its colour bar), the true
//! optimum framed and the greedy joint action of the shown factorization dotted.

use super::colour::{dark_text_on, diverging, nice_step, tick_label, ticks};
use super::font::{ensure, font, Font};
use super::{draw_err, encode_png};
use anyhow::{bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

/// One joint table to draw.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title (bold), e.g. `QMIX learned Q_tot`.
    pub title: String,
    /// Lines under the title (grey), e.g. `seed 3 (median MSE), MSE to Q* 35.71`.
    pub notes: Vec<String>,
    /// Row labels (agent 1's actions).
    pub rows: Vec<String>,
    /// Column labels (agent 2's actions, or joint actions of agents 2..N).
    pub cols: Vec<String>,
    /// What the rows are, e.g. `agent 1`.
    pub row_axis: String,
    /// What the columns are, e.g. `agent 2`.
    pub col_axis: String,
    /// `rows × cols` values, row-major.
    pub values: Vec<f64>,
    /// Utilities shown beside the row labels, when known.
    pub row_utilities: Option<Vec<f64>>,
    /// Utilities shown under the column labels, when known.
    pub col_utilities: Option<Vec<f64>>,
    /// Cells (row-major indices) of the true optimum: framed.
    pub optimal: Vec<usize>,
    /// Cells of the greedy joint action(s) of the shown factorization: dotted.
    pub greedy: Vec<usize>,
}

/// Several panels on one shared colour scale.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Title (bold, large).
    pub title: String,
    /// Lines under the title (wrapped to the figure's width).
    pub notes: Vec<String>,
    /// The panels, row by row (rows may differ in length).
    pub rows: Vec<Vec<Panel>>,
    /// Caption of the colour bar.
    pub value_label: String,
    /// Legend text for the frame marker.
    pub optimal_label: String,
    /// Legend text for the dot marker.
    pub greedy_label: String,
}

const PAD: i32 = 20;
const GAP: i32 = 34;
const GREY: RGBColor = RGBColor(90, 90, 90);
const FRAME: RGBColor = RGBColor(0, 0, 0);

/// Sizes of one panel's parts.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    cell: i32,
    show_values: bool,
    show_utils: bool,
    label_size: f64,
    value_size: f64,
    col_label_step: usize,
    /// Left edge of the grid, from the panel's left.
    left: i32,
    /// Top edge of the grid, from the panel's top.
    top: i32,
    width: i32,
    height: i32,
}

const TITLE_SIZE: f64 = 17.0;
const NOTE_SIZE: f64 = 14.0;
const AXIS_SIZE: f64 = 14.0;

fn fmt_value(v: f64, cell: i32) -> String {
    let s = if cell >= 66 || v.abs() < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    };
    let s = if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    };
    s.replace('-', "−")
}

fn fmt_utility(v: f64) -> String {
    fmt_value(v, 100)
}

/// Panels are at least this wide (so that titles and notes need few lines).
const MIN_TEXT_W: i32 = 360;

fn geometry(p: &Panel) -> (Geometry, PanelText) {
    let (r, c) = (p.rows.len().max(1) as i32, p.cols.len().max(1) as i32);
    let cell = (400 / r.max(c)).clamp(18, 84);
    let show_values = cell >= 44;
    let show_utils = show_values && (p.row_utilities.is_some() || p.col_utilities.is_some());
    let label_size = if cell >= 30 { 15.0 } else { 12.0 };
    let value_size = (cell as f64 * 0.24).clamp(11.0, 19.0);
    let label_font = font(label_size, false, FRAME);
    let util_font = font(label_size - 1.0, false, GREY);
    let widest_col = p
        .cols
        .iter()
        .map(|l| label_font.width(l))
        .max()
        .unwrap_or(0);
    let col_label_step = ((widest_col + 6) as f64 / cell as f64).ceil().max(1.0) as usize;
    let row_label_w = p
        .rows
        .iter()
        .map(|l| label_font.width(l))
        .max()
        .unwrap_or(0);
    let util_w = match (&p.row_utilities, show_utils) {
        (Some(u), true) => {
            u.iter()
                .map(|&v| util_font.width(&fmt_utility(v)))
                .max()
                .unwrap_or(0)
                + 8
        }
        _ => 0,
    };
    let axis_font = font(AXIS_SIZE, false, GREY);
    let row_axis_w = axis_font.width(&format!("{} ↓", p.row_axis));
    let left = (row_label_w + util_w + 10).max(row_axis_w + 10) + 4;
    let label_h = (label_size * 1.4) as i32;
    let util_h = if show_utils && p.col_utilities.is_some() {
        label_h
    } else {
        0
    };
    let grid_w = cell * c;
    let grid_h = cell * r;
    let col_axis_w = axis_font.width(&format!("{} →", p.col_axis));
    let width = (left + grid_w + 6)
        .max(left + col_axis_w + 4)
        .max(MIN_TEXT_W);
    // Titles and notes wrap to the panel's width rather than widening it.
    let title: Vec<String> = wrap(&p.title, &font(TITLE_SIZE, true, FRAME), width - 4);
    let notes: Vec<String> = p
        .notes
        .iter()
        .flat_map(|n| wrap(n, &font(NOTE_SIZE, false, GREY), width - 4))
        .collect();
    let head = 6 + 22 * title.len() as i32 + 20 * notes.len() as i32;
    let top = head + 22 + label_h + util_h + 8;
    let geometry = Geometry {
        cell,
        show_values,
        show_utils,
        label_size,
        value_size,
        col_label_step,
        left,
        top,
        width,
        height: top + grid_h + 8,
    };
    (geometry, PanelText { title, notes })
}

/// A panel's title and notes, wrapped to its width.
#[derive(Debug, Clone)]
struct PanelText {
    title: Vec<String>,
    notes: Vec<String>,
}

/// Splits `text` into lines no wider than `max` pixels in `style` (a word longer than `max`
/// gets a line of its own).
fn wrap(text: &str, style: &Font, max: i32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    // Words wider than a line are cut into pieces that fit.
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let mut piece = String::new();
        for ch in word.chars() {
            piece.push(ch);
            if style.width(&piece) > max && piece.chars().count() > 1 {
                piece.pop();
                words.push(std::mem::take(&mut piece));
                piece.push(ch);
            }
        }
        words.push(piece);
    }
    for word in &words {
        let word = word.as_str();
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if style.width(&candidate) <= max || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn text(area: &Area<'_>, s: &str, style: &Font, x: i32, baseline: i32, h: HPos) -> Result<()> {
    style.draw(area, s, x, baseline, h)
}

fn rect(area: &Area<'_>, x0: i32, y0: i32, x1: i32, y1: i32, c: RGBColor) -> Result<()> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], c.filled()))
        .map_err(draw_err)
}

/// A frame `t` pixels thick just inside the box `[x0, x1) × [y0, y1)`.
fn frame(area: &Area<'_>, x0: i32, y0: i32, x1: i32, y1: i32, t: i32, c: RGBColor) -> Result<()> {
    rect(area, x0, y0, x1, y0 + t, c)?;
    rect(area, x0, y1 - t, x1, y1, c)?;
    rect(area, x0, y0, x0 + t, y1, c)?;
    rect(area, x1 - t, y0, x1, y1, c)
}

fn dot(area: &Area<'_>, x: i32, y: i32, r: i32) -> Result<()> {
    area.draw(&Circle::new((x, y), r + 2, WHITE.filled()))
        .map_err(draw_err)?;
    area.draw(&Circle::new((x, y), r, FRAME.filled()))
        .map_err(draw_err)
}

fn draw_panel(
    area: &Area<'_>,
    p: &Panel,
    (g, words): (&Geometry, &PanelText),
    x: i32,
    y: i32,
    scale: f64,
) -> Result<()> {
    let (nr, nc) = (p.rows.len(), p.cols.len());
    let mut base = y + 16;
    for l in &words.title {
        text(area, l, &font(TITLE_SIZE, true, FRAME), x, base, HPos::Left)?;
        base += 22;
    }
    base -= 2;
    for n in &words.notes {
        text(area, n, &font(NOTE_SIZE, false, GREY), x, base, HPos::Left)?;
        base += 20;
    }
    let gx = x + g.left;
    let gy = y + g.top;
    let axis = font(AXIS_SIZE, false, GREY);
    let label = font(g.label_size, false, FRAME);
    let util = font(g.label_size - 1.0, false, GREY);
    let label_h = (g.label_size * 1.4) as i32;
    let col_utils = g.show_utils && p.col_utilities.is_some();
    let util_base = gy - 8;
    let labels_base = if col_utils {
        util_base - label_h
    } else {
        util_base
    };
    let axis_base = labels_base - label_h - 2;
    text(
        area,
        &format!("{} →", p.col_axis),
        &axis,
        gx,
        axis_base,
        HPos::Left,
    )?;
    text(
        area,
        &format!("{} ↓", p.row_axis),
        &axis,
        gx - 8,
        axis_base,
        HPos::Right,
    )?;
    for (j, l) in p.cols.iter().enumerate() {
        let cx = gx + g.cell * j as i32 + g.cell / 2;
        if j % g.col_label_step == 0 {
            text(area, l, &label, cx, labels_base, HPos::Center)?;
        }
        if let (true, Some(u)) = (g.show_utils, &p.col_utilities) {
            if let Some(&v) = u.get(j) {
                text(area, &fmt_utility(v), &util, cx, util_base, HPos::Center)?;
            }
        }
    }
    let util_w = match (&p.row_utilities, g.show_utils) {
        (Some(u), true) => {
            u.iter()
                .map(|&v| util.width(&fmt_utility(v)))
                .max()
                .unwrap_or(0)
                + 8
        }
        _ => 0,
    };
    let row_step = if g.cell >= 16 { 1 } else { 2 };
    for (i, l) in p.rows.iter().enumerate() {
        let cy = gy + g.cell * i as i32 + g.cell / 2;
        let base = label.centred_baseline(cy);
        if i % row_step == 0 {
            text(area, l, &label, gx - 8 - util_w, base, HPos::Right)?;
        }
        if let (true, Some(u)) = (g.show_utils, &p.row_utilities) {
            if let Some(&v) = u.get(i) {
                text(
                    area,
                    &fmt_utility(v),
                    &util,
                    gx - 8,
                    util.centred_baseline(cy),
                    HPos::Right,
                )?;
            }
        }
    }
    let sep = if g.cell >= 24 { 1 } else { 0 };
    for i in 0..nr {
        for j in 0..nc {
            let v = p.values.get(i * nc + j).copied().unwrap_or(f64::NAN);
            let c = diverging(v, scale);
            let x0 = gx + g.cell * j as i32;
            let y0 = gy + g.cell * i as i32;
            rect(area, x0, y0, x0 + g.cell - sep, y0 + g.cell - sep, c)?;
            if g.show_values {
                let tc = if dark_text_on(c) { FRAME } else { WHITE };
                let vf = font(g.value_size, false, tc);
                let cy = y0 + g.cell / 2;
                text(
                    area,
                    &fmt_value(v, g.cell),
                    &vf,
                    x0 + g.cell / 2,
                    vf.centred_baseline(cy),
                    HPos::Center,
                )?;
            }
        }
    }
    let (gw, gh) = (g.cell * nc as i32, g.cell * nr as i32);
    area.draw(&Rectangle::new(
        [(gx - 1, gy - 1), (gx + gw, gy + gh)],
        GREY.stroke_width(1),
    ))
    .map_err(draw_err)?;
    let t = (g.cell / 14).clamp(2, 4);
    for &k in &p.optimal {
        let (i, j) = ((k / nc.max(1)) as i32, (k % nc.max(1)) as i32);
        let (x0, y0) = (gx + g.cell * j, gy + g.cell * i);
        frame(area, x0, y0, x0 + g.cell - sep, y0 + g.cell - sep, t, FRAME)?;
        frame(
            area,
            x0 + t,
            y0 + t,
            x0 + g.cell - sep - t,
            y0 + g.cell - sep - t,
            1,
            WHITE,
        )?;
    }
    for &k in &p.greedy {
        let (i, j) = ((k / nc.max(1)) as i32, (k % nc.max(1)) as i32);
        let (x0, y0) = (gx + g.cell * j, gy + g.cell * i);
        if g.show_values {
            let r = (g.cell / 11).max(3);
            dot(area, x0 + g.cell / 2, y0 + t + r + 5, r)?;
        } else {
            dot(area, x0 + g.cell / 2, y0 + g.cell / 2, (g.cell / 3).max(4))?;
        }
    }
    Ok(())
}

fn legend_sample_frame(area: &Area<'_>, x: i32, y: i32) -> Result<()> {
    rect(area, x, y, x + 22, y + 22, diverging(0.3, 1.0))?;
    frame(area, x, y, x + 22, y + 22, 3, FRAME)?;
    frame(area, x + 3, y + 3, x + 19, y + 19, 1, WHITE)
}

/// Draws `fig` and returns the PNG bytes.
pub fn heatmap_png(fig: &Figure) -> Result<Vec<u8>> {
    ensure()?;
    let panels: Vec<&Panel> = fig.rows.iter().flatten().collect();
    if panels.is_empty() {
        bail!("a heatmap figure needs at least one panel");
    }
    for p in &panels {
        if p.values.len() != p.rows.len() * p.cols.len() {
            bail!(
                "panel {:?}: {} values for a {}×{} grid",
                p.title,
                p.values.len(),
                p.rows.len(),
                p.cols.len()
            );
        }
    }
    let (mut geos, words): (Vec<Geometry>, Vec<PanelText>) =
        panels.iter().map(|p| geometry(p)).unzip();
    // Line the grids up: every panel gets the largest left and top margins.
    let left = geos.iter().map(|g| g.left).max().unwrap_or(0);
    let top = geos.iter().map(|g| g.top).max().unwrap_or(0);
    for g in &mut geos {
        g.width += left - g.left;
        g.height += top - g.top;
        g.left = left;
        g.top = top;
    }
    let pw = geos.iter().map(|g| g.width).max().unwrap_or(0);
    let ph = geos.iter().map(|g| g.height).max().unwrap_or(0);
    let cols = fig.rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let rows = fig.rows.len();
    let scale = panels
        .iter()
        .flat_map(|p| p.values.iter())
        .filter(|v| v.is_finite())
        .fold(0f64, |m, v| m.max(v.abs()));
    let scale = if scale > 0.0 { scale } else { 1.0 };

    // Colour bar geometry.
    let tick_font = font(14.0, false, FRAME);
    let tick_values = ticks(-scale, scale, 8);
    let step = nice_step(2.0 * scale, 8);
    let tick_w = tick_values
        .iter()
        .map(|&v| tick_font.width(&tick_label(v, step)))
        .max()
        .unwrap_or(0);
    let cap_font = font(14.0, true, FRAME);
    let bar_w = 20;
    let bar_block = (bar_w + 8 + tick_w).max(cap_font.width(&fig.value_label));
    let panels_w = cols as i32 * pw + (cols as i32 - 1) * GAP;
    // The colour bar sits right of the first row (next to the payoff when it is alone there).
    let first_w = {
        let n = fig.rows.first().map_or(1, Vec::len).max(1) as i32;
        n * pw + (n - 1) * GAP
    };
    let fig_w = PAD + panels_w.max(first_w + GAP + bar_block) + PAD;

    // Header and footer text, wrapped to the figure's width.
    let title_font = font(23.0, true, FRAME);
    let note_font = font(15.0, false, GREY);
    let text_w = fig_w - 2 * PAD;
    let title_lines = wrap(&fig.title, &title_font, text_w);
    let note_lines: Vec<String> = fig
        .notes
        .iter()
        .flat_map(|n| wrap(n, &note_font, text_w))
        .collect();
    let legend_font = font(15.0, false, FRAME);
    let any_utils = panels
        .iter()
        .zip(&geos)
        .any(|(p, g)| g.show_utils && (p.row_utilities.is_some() || p.col_utilities.is_some()));
    let mut legend: Vec<(u8, String)> = vec![
        (0, fig.optimal_label.clone()),
        (1, fig.greedy_label.clone()),
    ];
    if any_utils {
        legend.push((2, "grey numbers beside the action labels: the utilities Q_i(u_i) of the shown factorization".into()));
    }
    let legend_lines: Vec<(u8, Vec<String>)> = legend
        .into_iter()
        .map(|(k, t)| (k, wrap(&t, &legend_font, text_w - 36)))
        .collect();
    let header_h = 10 + 32 * title_lines.len() as i32 + 21 * note_lines.len() as i32 + 14;
    let legend_h: i32 = legend_lines
        .iter()
        .map(|(_, l)| 28.max(21 * l.len() as i32 + 7))
        .sum();
    let fig_h = PAD + header_h + rows as i32 * ph + (rows as i32 - 1) * GAP + 16 + legend_h + PAD;

    let (w, h) = (fig_w as u32, fig_h as u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        area.fill(&WHITE).map_err(draw_err)?;
        let mut yb = PAD + 24;
        for l in &title_lines {
            text(&area, l, &title_font, PAD, yb, HPos::Left)?;
            yb += 32;
        }
        yb -= 6;
        for l in &note_lines {
            text(&area, l, &note_font, PAD, yb, HPos::Left)?;
            yb += 21;
        }
        let top = PAD + header_h;
        let mut k = 0;
        for (r, row) in fig.rows.iter().enumerate() {
            for (c, p) in row.iter().enumerate() {
                let (r, c) = (r as i32, c as i32);
                draw_panel(
                    &area,
                    p,
                    (&geos[k], &words[k]),
                    PAD + c * (pw + GAP),
                    top + r * (ph + GAP),
                    scale,
                )?;
                k += 1;
            }
        }
        // Colour bar beside the first row's grid.
        let bx = PAD + first_w + GAP;
        let by = top + geos[0].top;
        let bh = (geos[0].height - geos[0].top - 8).max(200);
        text(&area, &fig.value_label, &cap_font, bx, by - 12, HPos::Left)?;
        for yy in 0..bh {
            let v = scale * (1.0 - 2.0 * yy as f64 / (bh - 1).max(1) as f64);
            rect(
                &area,
                bx,
                by + yy,
                bx + bar_w,
                by + yy + 1,
                diverging(v, scale),
            )?;
        }
        area.draw(&Rectangle::new(
            [(bx - 1, by - 1), (bx + bar_w, by + bh)],
            GREY.stroke_width(1),
        ))
        .map_err(draw_err)?;
        for &v in &tick_values {
            let yy = by + ((scale - v) / (2.0 * scale) * (bh - 1) as f64).round() as i32;
            rect(&area, bx + bar_w, yy, bx + bar_w + 5, yy + 1, FRAME)?;
            text(
                &area,
                &tick_label(v, step),
                &tick_font,
                bx + bar_w + 8,
                tick_font.centred_baseline(yy),
                HPos::Left,
            )?;
        }
        // Legend of the markers.
        let mut ly = top + rows as i32 * ph + (rows as i32 - 1) * GAP + 16;
        for (kind, lines) in &legend_lines {
            match kind {
                0 => legend_sample_frame(&area, PAD, ly)?,
                1 => {
                    rect(&area, PAD, ly, PAD + 22, ly + 22, diverging(0.3, 1.0))?;
                    dot(&area, PAD + 11, ly + 11, 5)?;
                }
                _ => text(
                    &area,
                    "−4.1",
                    &font(12.0, false, GREY),
                    PAD + 11,
                    ly + 16,
                    HPos::Center,
                )?,
            }
            for (k, l) in lines.iter().enumerate() {
                text(
                    &area,
                    l,
                    &legend_font,
                    PAD + 34,
                    ly + 16 + 21 * k as i32,
                    HPos::Left,
                )?;
            }
            ly += 28.max(21 * lines.len() as i32 + 7);
        }
        area.present().map_err(draw_err)?;
    }
    encode_png(&buf, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::plot::png_size;

    fn panel(n: usize, utilities: bool) -> Panel {
        let labels: Vec<String> = (0..n).map(|i| format!("{i}")).collect();
        Panel {
            title: "Payoff".into(),
            notes: vec!["a note".into()],
            rows: labels.clone(),
            cols: labels,
            row_axis: "agent 1".into(),
            col_axis: "agent 2".into(),
            values: (0..n * n)
                .map(|k| k as f64 - (n * n) as f64 / 2.0)
                .collect(),
            row_utilities: utilities.then(|| vec![1.5; n]),
            col_utilities: utilities.then(|| vec![-2.0; n]),
            optimal: vec![n * n - 1],
            greedy: vec![0],
        }
    }

    fn figure(panels: Vec<Panel>) -> Figure {
        Figure {
            title: "A title".into(),
            notes: vec!["notes".into()],
            rows: panels.chunks(2).map(<[Panel]>::to_vec).collect(),
            value_label: "value".into(),
            optimal_label: "true optimum".into(),
            greedy_label: "greedy".into(),
        }
    }

    #[test]
    fn draws_small_and_large_tables() {
        let small = heatmap_png(&figure(vec![
            panel(3, true),
            panel(3, false),
            panel(3, true),
        ]))
        .unwrap();
        let (w, h) = png_size(&small).unwrap();
        assert!(w > 400 && h > 300, "{w}×{h}");
        let large = heatmap_png(&figure(vec![panel(21, true)])).unwrap();
        let (w, h) = png_size(&large).unwrap();
        assert!(w > 21 * 18 && h > 21 * 18, "{w}×{h}");
        if let Ok(dir) = std::env::var("QFACTOR_PLOT_DUMP") {
            std::fs::write(format!("{dir}/heat_small_test.png"), &small).unwrap();
            std::fs::write(format!("{dir}/heat_large_test.png"), &large).unwrap();
        }
    }

    #[test]
    fn rejects_inconsistent_panels() {
        let mut p = panel(3, false);
        p.values.pop();
        assert!(heatmap_png(&figure(vec![p])).is_err());
        assert!(heatmap_png(&figure(vec![])).is_err());
    }

    #[test]
    fn wrapping_respects_the_width() {
        ensure().unwrap();
        let f = font(15.0, false, FRAME);
        let lines = wrap("one two three four five six seven eight nine ten", &f, 80);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(lines.iter().all(|l| f.width(l) <= 80 || !l.contains(' ')));
        assert_eq!(
            lines.join(" "),
            "one two three four five six seven eight nine ten"
        );
        // A word wider than the line is cut, never left overflowing.
        let long = "20<19<18<17<16<15<14<13<12<11<10<1<0<2<9<8<4<3<7<5<6";
        let lines = wrap(long, &f, 120);
        assert!(
            lines.len() > 1 && lines.iter().all(|l| f.width(l) <= 120),
            "{lines:?}"
        );
        assert_eq!(lines.concat(), long);
    }

    #[test]
    fn value_format_uses_true_minus() {
        assert_eq!(fmt_value(-12.0, 84), "−12.00");
        assert_eq!(fmt_value(-12.0, 50), "−12.0");
        assert_eq!(fmt_value(-0.001, 84), "0.00");
    }
}
