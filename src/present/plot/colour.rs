//! Colours: the diverging scale of the heatmaps (ColorBrewer RdBu: red below zero, white at
//! zero, blue above), a colour per method for the curves, and "nice" tick values.

use plotters::style::RGBColor;

/// ColorBrewer's 11-class RdBu, from the most negative (dark red) to the most positive (dark
/// blue); white-ish at the centre.
const RDBU: [(u8, u8, u8); 11] = [
    (0x67, 0x00, 0x1f),
    (0xb2, 0x18, 0x2b),
    (0xd6, 0x60, 0x4d),
    (0xf4, 0xa5, 0x82),
    (0xfd, 0xdb, 0xc7),
    (0xf7, 0xf7, 0xf7),
    (0xd1, 0xe5, 0xf0),
    (0x92, 0xc5, 0xde),
    (0x43, 0x93, 0xc3),
    (0x21, 0x66, 0xac),
    (0x05, 0x30, 0x61),
];

/// The colour of `value` on a diverging scale symmetric about 0 with half-width `scale`
/// (values beyond ±`scale` get the end colours; a non-positive scale maps everything to white).
pub fn diverging(value: f64, scale: f64) -> RGBColor {
    let t = if scale > 0.0 && value.is_finite() {
        (value / scale).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let pos = (t + 1.0) / 2.0 * (RDBU.len() - 1) as f64;
    let i = (pos.floor() as usize).min(RDBU.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (RDBU[i], RDBU[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// True when black text is more legible than white on `c` (relative luminance ≥ 0.4).
pub fn dark_text_on(c: RGBColor) -> bool {
    let lin = |x: u8| {
        let v = x as f64 / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.0) + 0.7152 * lin(c.1) + 0.0722 * lin(c.2) >= 0.18
}

/// Okabe–Ito colours (safe for colour-blind readers), one per method.
#[cfg(feature = "neural")]
pub fn method_colour(method: &str) -> RGBColor {
    match method {
        "vdn" => RGBColor(0x00, 0x72, 0xb2),
        "qmix" => RGBColor(0xe6, 0x9f, 0x00),
        "qtran-base" => RGBColor(0x00, 0x9e, 0x73),
        "qtran-alt" => RGBColor(0xcc, 0x79, 0xa7),
        "iql" => RGBColor(0x55, 0x55, 0x55),
        _ => RGBColor(0xd5, 0x5e, 0x00),
    }
}

/// A "nice" step (1, 2, 2.5 or 5 times a power of ten) giving about `n` intervals over `span`.
pub fn nice_step(span: f64, n: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Tick values: multiples of a nice step inside `[lo, hi]` (about `n` intervals).
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let step = nice_step(hi - lo, n);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A tick label: integers without decimals, others with as few as the step needs.
pub fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize + 1
    };
    let s = format!("{v:.decimals$}");
    let s = if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    };
    s.replace('-', "−")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_is_white_at_zero_and_saturates() {
        assert_eq!(diverging(0.0, 10.0), RGBColor(0xf7, 0xf7, 0xf7));
        assert_eq!(diverging(-10.0, 10.0), RGBColor(0x67, 0x00, 0x1f));
        assert_eq!(diverging(25.0, 10.0), RGBColor(0x05, 0x30, 0x61));
        assert_eq!(diverging(f64::NAN, 10.0), RGBColor(0xf7, 0xf7, 0xf7));
        // Monotone in the red channel from the centre to the positive end.
        let reds: Vec<u8> = (0..=10).map(|k| diverging(k as f64, 10.0).0).collect();
        assert!(reds.windows(2).all(|w| w[0] >= w[1]), "{reds:?}");
        assert!(dark_text_on(diverging(0.0, 1.0)));
        assert!(!dark_text_on(diverging(1.0, 1.0)));
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(ticks(-12.0, 12.0, 6), vec![-10.0, -5.0, 0.0, 5.0, 10.0]);
        assert_eq!(ticks(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert!((nice_step(20.0, 4) - 5.0).abs() < 1e-12);
        assert_eq!(tick_label(-5.0, 5.0), "−5");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(-0.0, 1.0), "0");
    }
}
