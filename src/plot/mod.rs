//! Plots with plotters, each drawn once per backend: SVG (inlined in the HTML report) and PNG
//! (encoded with the `png` crate from plotters' RGB buffer). Text is rendered headless with
//! `ab_glyph` and the embedded DejaVu Sans (`assets/fonts`), so no fontconfig is needed.
//! One file per kind of plot; every policy keeps one colour in every plot ([`color`]).

pub mod bars;
mod heat;
mod lines;
mod needed;
mod timeline;

pub use bars::PeakBars;
pub use heat::{BatchHeat, BusyHeat};
pub use lines::{LineChart, Series};
pub use needed::{GpusNeeded, NeededBar};
pub use timeline::Timeline;

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// The font family every plot uses.
pub const FONT: &str = "sans-serif";

/// Register the embedded font (once).
pub fn init_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
        );
    });
}

/// A plot that can draw itself on any backend.
pub trait Plot {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

/// The colour of the `k`-th policy (a qualitative palette, cycled). No black: black is the
/// reference (SLA) line's colour.
pub fn color(k: usize) -> RGBColor {
    const P: [(u8, u8, u8); 12] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (107, 110, 207),
        (255, 187, 120),
    ];
    let (r, g, b) = P[k % P.len()];
    RGBColor(r, g, b)
}

/// PNGs larger than this many pixels are not rendered (the SVG, which the HTML report embeds,
/// still is): a figure that tall (a sweep of thousands of policies) would need gigabytes.
pub const MAX_PNG_PIXELS: u64 = 32 << 20;

/// Draw `plot` to `dir/name.svg` and `dir/name.png` (the PNG only up to [`MAX_PNG_PIXELS`],
/// with a note on stderr beyond); returns the SVG text.
pub fn save(plot: &impl Plot, dir: &Path, name: &str) -> Result<String> {
    init_font();
    let (w, h) = plot.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        plot.draw(&root)
            .map_err(|e| Error::Other(format!("plot {name}: {e}")))?;
        root.present()
            .map_err(|e| Error::Other(format!("plot {name}: {e}")))?;
    }
    if w as u64 * h as u64 > MAX_PNG_PIXELS {
        eprintln!(
            "note: {name}.png not written: {w} x {h} pixels is over {MAX_PNG_PIXELS}; {name}.svg has the figure"
        );
        // No stale PNG of an earlier run beside the new SVG.
        let _ = std::fs::remove_file(dir.join(format!("{name}.png")));
        crate::io::write_atomic(&dir.join(format!("{name}.svg")), svg.as_bytes())?;
        return Ok(svg);
    }
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        plot.draw(&root)
            .map_err(|e| Error::Other(format!("plot {name}: {e}")))?;
        root.present()
            .map_err(|e| Error::Other(format!("plot {name}: {e}")))?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc
            .write_header()
            .map_err(|e| Error::Other(format!("png {name}: {e}")))?;
        wr.write_image_data(&rgb)
            .map_err(|e| Error::Other(format!("png {name}: {e}")))?;
    }
    crate::io::write_atomic(&dir.join(format!("{name}.png")), &png_bytes)?;
    crate::io::write_atomic(&dir.join(format!("{name}.svg")), svg.as_bytes())?;
    Ok(svg)
}

/// The name of category `v` when `v` is (nearly) an integer index into `names`.
pub(crate) fn label(names: &[String], v: f64) -> String {
    let k = v.round();
    if (v - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < names.len() {
        names[k as usize].clone()
    } else {
        String::new()
    }
}

/// Turn any displayable plotting error into text.
pub(crate) fn e<T: std::fmt::Display>(x: T) -> String {
    x.to_string()
}
