//! Rendering a pairing QR text (see [`crate::Event::Qr`]) for people to scan.
//!
//! Three renderings: terminal text in unicode half blocks, SVG, and PNG. The `try_*` variants
//! report text too long for a QR code; the plain variants (the agreed API) return an empty
//! string / empty buffer in that case. Pairing texts are ~150 bytes and always fit.

use image::ImageEncoder;
use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

/// The text cannot be encoded as a QR code (too long).
#[derive(Debug, thiserror::Error)]
#[error("text cannot be encoded as a QR code: {0}")]
pub struct QrError(String);

fn code(text: &str) -> Result<QrCode, QrError> {
    // Level L keeps the code small; WhatsApp's own QR codes use L as well.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|e| QrError(e.to_string()))
}

/// Render as unicode half-block text (two modules per character cell), dark modules on a light
/// background, with a quiet zone. Prints correctly on dark and light terminals.
pub fn try_to_terminal(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// Render as an SVG document.
pub fn try_to_svg(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}

/// Pixels per module in the PNG.
const PNG_SCALE: usize = 8;
/// Quiet zone width in modules.
const QUIET: usize = 4;

/// Render as a grayscale PNG (8 pixels per module, 4-module quiet zone).
pub fn try_to_png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = code(text)?;
    let width = code.width();
    let modules = code.to_colors();
    let side = (width + 2 * QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in modules.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for dy in 0..PNG_SCALE {
            let row = (my * PNG_SCALE + dy) * side;
            let start = row + mx * PNG_SCALE;
            pixels[start..start + PNG_SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).map_err(|_| QrError("image too large".into()))?;
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, side32, side32, image::ExtendedColorType::L8)
        .map_err(|e| QrError(e.to_string()))?;
    Ok(out)
}

/// Terminal rendering; empty when the text does not fit a QR code.
pub fn to_terminal(text: &str) -> String {
    try_to_terminal(text).unwrap_or_default()
}

/// SVG rendering; empty when the text does not fit a QR code.
pub fn to_svg(text: &str) -> String {
    try_to_svg(text).unwrap_or_default()
}

/// PNG rendering; empty when the text does not fit a QR code.
pub fn to_png(text: &str) -> Vec<u8> {
    try_to_png(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "2@abc,ZmFrZW5vaXNla2V5,ZmFrZWlkZW50aXR5,ZmFrZXNlY3JldA==,1";

    #[test]
    fn terminal_has_one_line_per_two_rows() {
        let c = code(SAMPLE).unwrap();
        let t = to_terminal(SAMPLE);
        let lines: Vec<&str> = t.lines().collect();
        // quiet zone of 4 modules each side, two module rows per text line
        assert_eq!(lines.len(), (c.width() + 8).div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == c.width() + 8));
        assert!(t.contains('█') || t.contains('▀') || t.contains('▄'));
    }

    #[test]
    fn svg_is_svg() {
        let s = to_svg(SAMPLE);
        assert!(s.contains("<svg"));
        assert!(s.contains("#000000"));
    }

    #[test]
    fn png_decodes_back_to_the_modules() {
        let png = to_png(SAMPLE);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_luma8();
        let c = code(SAMPLE).unwrap();
        let w = c.width();
        assert_eq!(img.width() as usize, (w + 2 * QUIET) * PNG_SCALE);
        let colors = c.to_colors();
        for y in 0..w {
            for x in 0..w {
                let px = img.get_pixel(
                    ((x + QUIET) * PNG_SCALE + 3) as u32,
                    ((y + QUIET) * PNG_SCALE + 3) as u32,
                )[0];
                let dark = colors[y * w + x] == qrcode::Color::Dark;
                assert_eq!(px == 0, dark, "module {x},{y}");
            }
        }
    }

    #[test]
    fn too_long_is_an_error_not_a_panic() {
        let long = "x".repeat(10_000);
        assert!(try_to_png(&long).is_err());
        assert!(to_terminal(&long).is_empty());
        assert!(to_svg(&long).is_empty());
        assert!(to_png(&long).is_empty());
    }
}
