//! Pictures drawn in Rust: heatmaps of joint tables ([`heatmap`]) and learning curves
//! (`curves`, with the `neural` feature), returned as PNG bytes.
//!
//! Everything is drawn by `plotters` into an in-memory RGB buffer with fonts embedded in the
//! binary (DejaVu Sans, `data/fonts/`), then encoded by the `png` crate: no system font,
//! fontconfig or display is needed. The pictures only *show* numbers computed elsewhere (the
//! exact reference and the learners); nothing here computes a result.

pub mod colour;
#[cfg(feature = "neural")]
pub mod curves;
mod font;
pub mod heatmap;

use anyhow::{Context, Result};

/// Encodes an 8-bit RGB buffer (`width × height × 3` bytes, rows top to bottom) as a PNG.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        enc.add_text_chunk("Software".into(), "qfactor".into())
            .context("PNG text chunk")?;
        let mut writer = enc.write_header().context("PNG header")?;
        writer.write_image_data(rgb).context("PNG image data")?;
        writer.finish().context("finishing the PNG")?;
    }
    Ok(out)
}

/// The width and height stored in a PNG's header, or `None` when `bytes` is not a PNG.
#[cfg(test)]
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    if bytes.len() < 24 || bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    Some((w, h))
}

/// A drawing error from plotters, as an `anyhow` error.
pub(crate) fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing failed: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_roundtrip_header() {
        let rgb = vec![200u8; 5 * 3 * 3];
        let bytes = encode_png(&rgb, 5, 3).unwrap();
        assert_eq!(png_size(&bytes), Some((5, 3)));
        // The png crate's decoder reads back the same pixels.
        let dec = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (5, 3));
        assert_eq!(&buf[..info.buffer_size()], &rgb[..]);
        assert_eq!(png_size(b"not a png at all, just some text"), None);
    }
}
