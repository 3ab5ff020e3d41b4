//! `--plot FILE.svg|FILE.png`: a command's main chart as a file of its own.
//! PNG is the same SVG rasterised by resvg (pure Rust) with an embedded font, so it
//! needs no system library or installed font.
use std::path::Path;
use std::sync::Arc;

use super::svg::{Chart, FONT_FAMILY};
use crate::error::InputError;

/// The font PNG text is drawn with: Liberation Sans (SIL OFL 1.1, see assets/fonts/OFL.txt).
const FONT: &[u8] = include_bytes!("../../../assets/fonts/LiberationSans-Regular.ttf");

/// What `--plot` writes, from the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    Svg,
    Png,
}

impl PlotFormat {
    /// `.svg` or `.png` (any case); anything else is a usage error (exit 2).
    pub fn from_path(path: &Path) -> Result<PlotFormat, InputError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(PlotFormat::Svg),
            Some("png") => Ok(PlotFormat::Png),
            _ => Err(InputError::flag(
                "--plot",
                format!("{}: the file name must end in .svg or .png", path.display()),
            )),
        }
    }
}

/// Charts one above the other in one SVG document.
pub fn stack(charts: &[Chart]) -> String {
    let width = charts.iter().map(|c| c.width).fold(0.0, f64::max);
    let height: f64 = charts.iter().map(|c| c.height).sum();
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{FONT_FAMILY}">"#
    );
    let mut y = 0.0;
    for chart in charts {
        s.push_str(&format!(r#"<g transform="translate(0 {y})">"#));
        s.push_str(&chart.render());
        s.push_str("</g>");
        y += chart.height;
    }
    s.push_str("</svg>");
    s
}

/// The bytes of the plot file in `format`.
pub fn encode(svg: &str, format: PlotFormat) -> anyhow::Result<Vec<u8>> {
    match format {
        PlotFormat::Svg => {
            Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{svg}\n").into_bytes())
        }
        PlotFormat::Png => png(svg),
    }
}

/// Rasterise an SVG document at twice its size (sharp on high-density screens).
pub fn png(svg: &str) -> anyhow::Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_data(FONT.to_vec());
    fonts.set_sans_serif_family("Liberation Sans");
    let options = usvg::Options {
        font_family: "Liberation Sans".into(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options)?;
    let scale = 2.0;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or_else(|| anyhow::anyhow!("the chart has no size"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow::anyhow!("cannot allocate a {size:?} image"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap.encode_png()?)
}

/// Write the plot to `path` (atomically), in the format its extension names.
pub fn write(path: &Path, svg: &str) -> anyhow::Result<()> {
    let format = PlotFormat::from_path(path)?;
    crate::output::write_bytes(path, &encode(svg, format)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::html::svg::{colors, XAxis};

    fn chart() -> Chart {
        Chart::new("Latency", "ms", XAxis::Seconds).line(
            "p95",
            colors::RED,
            vec![(0.0, 1.0), (5.0, 9.0), (10.0, 3.0)],
        )
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(
            PlotFormat::from_path(Path::new("a.SVG")).unwrap(),
            PlotFormat::Svg
        );
        assert_eq!(
            PlotFormat::from_path(Path::new("a.png")).unwrap(),
            PlotFormat::Png
        );
        let err = PlotFormat::from_path(Path::new("a.jpg")).unwrap_err();
        assert!(err.to_string().contains(".svg or .png"), "{err}");
        assert!(PlotFormat::from_path(Path::new("plot")).is_err());
    }

    #[test]
    fn png_is_a_drawn_image_with_text() {
        let bytes = png(&stack(&[chart(), chart()])).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = ::png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (1920, 1200));
        let pixels = &buf[..info.buffer_size()];
        let step = info.line_size / info.width as usize;
        // Title text is drawn: dark pixels in the title row band (y 4..22 at 2x => 8..44).
        let title_band = &pixels[8 * info.line_size..44 * info.line_size];
        let dark = title_band
            .chunks(step)
            .filter(|p| p[0] < 80 && p[1] < 80)
            .count();
        assert!(dark > 100, "no title text drawn ({dark} dark pixels)");
        // The red line is drawn.
        let red = pixels
            .chunks(step)
            .filter(|p| p[0] > 180 && p[1] < 80 && p[2] < 80)
            .count();
        assert!(red > 100, "{red}");
    }
}
