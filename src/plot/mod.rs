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

/// The ticks of a log axis over `[lo, hi]` (`0 < lo < hi`), at most `max` of them (>= 2), all
/// inside the range: the densest of the decade series 1, 1-2-5, 1-2-3-5 and 1..9 (x 10^k) that fits in
/// `max` (every n-th decade when even 1 per decade does not), so that every stretch of the axis
/// has a label near it. A range too narrow to hold two ticks of any series (less than a factor
/// of 2 between 10^k and 2 x 10^k, say) gets linear ticks at a round step instead (45, 50, 55,
/// 60), which read the same on a log axis.
pub fn log_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let max = max.max(2);
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let series = |mantissas: &[f64], every: i32| -> Vec<f64> {
        let mut v = Vec::new();
        for k in k0..=k1 {
            if (k - k0) % every != 0 {
                continue;
            }
            for &m in mantissas {
                // Rounded to 12 significant digits, so that 3 x 10^-1 reads 0.3.
                let t = m * 10f64.powi(k);
                let t = format!("{t:.11e}").parse::<f64>().unwrap_or(t);
                if t >= lo * (1.0 - 1e-12) && t <= hi * (1.0 + 1e-12) {
                    v.push(t);
                }
            }
        }
        v
    };
    let all: [&[f64]; 4] = [
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        &[1.0, 2.0, 3.0, 5.0],
        &[1.0, 2.0, 5.0],
        &[1.0],
    ];
    let best = match all.iter().map(|m| series(m, 1)).find(|v| v.len() <= max) {
        Some(v) => v,
        None => {
            let every = series(&[1.0], 1).len().div_ceil(max) as i32;
            series(&[1.0], every)
        }
    };
    if best.len() < 3 {
        let lin = linear_ticks(lo, hi, max.min(6));
        if lin.len() > best.len() {
            return lin;
        }
    }
    best
}

/// Round ticks of a linear axis over `[lo, hi]`: a step of 1, 2 or 5 x 10^k giving at most
/// `max` ticks inside the range.
pub fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let max = max.max(2);
    if !(hi > lo && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let raw = (hi - lo) / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (((hi / s).floor() - (lo / s).ceil()) as usize) < max)
        .unwrap_or(10.0 * mag);
    let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    (a..=b)
        .map(|i| {
            let t = i as f64 * step;
            format!("{t:.11e}").parse::<f64>().unwrap_or(t)
        })
        .collect()
}

/// The light grid lines of a log axis over `[lo, hi]`: 1..9 x 10^k inside it (none when there
/// would be more than `max`).
pub fn log_grid(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let mut v = Vec::new();
    for k in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for m in 1..10 {
            let t = m as f64 * 10f64.powi(k);
            if t >= lo && t <= hi {
                v.push(t);
            }
        }
    }
    if v.len() > max { Vec::new() } else { v }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected ticks written out by hand for each range.
    #[test]
    fn log_ticks_fall_inside_every_range() {
        // Three decades of p99 latency: 1-2-5 (1-2-3-5 would be 12 ticks, 1..9 27).
        assert_eq!(
            log_ticks(20.0, 14000.0, 10),
            vec![
                20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0
            ]
        );
        // The same range below 12 ticks: 1-2-3-5, a tick at 30 for a curve at 27.
        assert_eq!(
            log_ticks(20.8, 14000.0, 12),
            vec![
                30.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0, 3000.0, 5000.0, 10000.0
            ]
        );
        // Curves at 55-61 ms padded by 1.3: 42.3 .. 79.3 holds no power of ten; 1..9 x 10.
        assert_eq!(log_ticks(42.3, 79.3, 10), vec![50.0, 60.0, 70.0]);
        // 10.5 .. 17.7 holds none of 1..9 x 10^k: a linear step of 2.
        assert_eq!(log_ticks(10.5, 17.7, 10), vec![12.0, 14.0, 16.0]);
        // Thirteen powers of ten, at most 6 ticks: every third decade.
        assert_eq!(log_ticks(1e-3, 1e9, 6), vec![1e-3, 1.0, 1e3, 1e6, 1e9]);
        // Sub-unit values read exactly.
        assert_eq!(
            log_ticks(0.15, 0.95, 10),
            vec![0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        );
    }

    #[test]
    fn linear_ticks_are_round_and_inside() {
        assert_eq!(linear_ticks(42.3, 79.3, 6), vec![50.0, 60.0, 70.0]);
        assert_eq!(
            linear_ticks(0.0, 1.0, 6),
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
    }
}
