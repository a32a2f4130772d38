//! QR codes of the subscribe links, made on the server (the `qrcode` crate): SVG for the
//! page, PNG at a chosen size for print.

use qrcode::{EcLevel, QrCode};

/// The smallest and largest PNG a citizen's poster may ask for, in pixels.
pub const PNG_SIZES: std::ops::RangeInclusive<u32> = 128..=2400;

fn code(link: &str) -> Option<QrCode> {
    // Medium error correction: a poster survives a crease or a smudge.
    QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).ok()
}

/// The QR code of `link` as SVG.
pub fn svg(link: &str) -> Option<String> {
    Some(
        code(link)?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
    )
}

/// The QR code of `link` as a PNG at least `size` pixels wide (clamped to [`PNG_SIZES`];
/// a little more, so that every module has the same whole number of pixels).
pub fn png(link: &str, size: u32) -> Option<Vec<u8>> {
    let size = size.clamp(*PNG_SIZES.start(), *PNG_SIZES.end());
    let image = code(link)?
        .render::<image::Luma<u8>>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .build();
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_decodes_back_to_its_link() {
        let link = "https://wa.me/390372000000?text=ISCRIVIMI";
        let bytes = png(link, 400).unwrap();
        let image = image::load_from_memory(&bytes).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, link);
        assert!(svg(link).unwrap().starts_with("<?xml"));
    }
}
