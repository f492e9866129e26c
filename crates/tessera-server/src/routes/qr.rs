//! QR codes as SVG, for the `otpauth://` URI of a TOTP enrolment. Drawn as one path of unit
//! squares with a 4-module quiet zone, so the image needs no script and no external resource.

use std::fmt::Write as _;

use qrcodegen::{QrCode, QrCodeEcc};

const QUIET_ZONE: i32 = 4;

/// The SVG document, or `None` when the text does not fit a QR code (far beyond any URI made
/// here).
pub fn svg(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = qr.size() + 2 * QUIET_ZONE;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE);
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 {size} {size}\" \
         width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>",
        px = size * 6,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_square_svg() {
        let svg = super::svg("otpauth://totp/Tessera:a%40example.test?secret=ABC").unwrap();
        assert!(svg.starts_with("<svg "));
        assert!(svg.contains("viewBox=\"0 0 "));
        assert!(svg.contains("<path d=\"M"));
        assert!(!svg.contains("otpauth"), "the secret is drawn, not written");
    }
}
