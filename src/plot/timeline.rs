//! The timeline of one run: p99 latency per window (log scale, each model's SLA dashed) and SLA
//! attainment per window, with a red mark at every reconfiguration's begin, above one strip per
//! GPU coloured by the layout in force (grey while reconfiguring).

use super::lines::tick;
use super::{FONT, Plot, color, e};
use crate::metrics::timeline::TimelineData;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The timeline plot: a title and what it draws.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub title: String,
    pub data: TimelineData,
}

const GREY: RGBColor = RGBColor(190, 190, 190);

impl Timeline {
    /// The distinct layouts in order of first appearance (not `reconfiguring`).
    fn layouts(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in self.data.strips.iter().flatten() {
            if s.2 != "reconfiguring" && !v.contains(&s.2) {
                v.push(s.2.clone());
            }
        }
        v
    }

    fn strip_height(&self) -> u32 {
        (self.data.strips.len() as u32 * 16).clamp(60, 400)
    }
}

impl Plot for Timeline {
    fn size(&self) -> (u32, u32) {
        (
            1000,
            300 + 220 + self.strip_height() + 40 + 40 + 18 * (self.layouts().len() as u32 + 1),
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(&self.title, (FONT, 18)).map_err(e)?;
        let (top, rest) = root.split_vertically(300);
        let (mid, bottom) = rest.split_vertically(220);
        let x1 = self.data.end_s.max(1e-9);
        // p99, log scale: the data's range, widened to show the SLAs within a factor of 1000
        // of it (a log axis over hundreds of decades is not a figure).
        let data: Vec<f64> = self
            .data
            .p99_ms
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .filter(|y| y.is_finite() && *y > 0.0)
            .collect();
        let dlo = data.iter().copied().fold(f64::INFINITY, f64::min);
        let dhi = data.iter().copied().fold(0.0, f64::max);
        let (mut lo, mut hi) = if dlo.is_finite() {
            (dlo, dhi)
        } else {
            (0.1, 1.0)
        };
        let shown = |y: f64| y.is_finite() && y >= lo / 1e3 && y <= hi * 1e3;
        let slas: Vec<(String, f64)> = self
            .data
            .slas
            .iter()
            .filter(|s| shown(s.1))
            .cloned()
            .collect();
        for s in &slas {
            lo = lo.min(s.1);
            hi = hi.max(s.1);
        }
        let (lo, hi) = (lo / 1.5, hi * 1.5);
        // Ticks inside the range, at most 6 on the panel's height (plotters' own crowd the top
        // of each decade or label powers of ten only).
        let y = (lo..hi)
            .log_scale()
            .with_key_points(super::log_ticks(lo, hi, 6))
            .with_light_points(super::log_grid(lo, hi, 40));
        let mut c = ChartBuilder::on(&top)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x1, y)
            .map_err(e)?;
        c.configure_mesh()
            .x_label_formatter(&|v: &f64| tick(*v, false))
            .y_label_formatter(&|v: &f64| tick(*v, false))
            .y_desc("p99 latency (ms) of arrivals")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(e)?;
        for (k, (name, pts)) in self.data.p99_ms.iter().enumerate() {
            let col = color(k);
            c.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2))
                });
        }
        for (k, (name, sla)) in slas.iter().enumerate() {
            let col = color(k);
            c.draw_series(DashedLineSeries::new(
                vec![(0.0, *sla), (x1, *sla)],
                6,
                4,
                col.stroke_width(1),
            ))
            .map_err(e)?
            .label(format!("SLA {name} {sla} ms"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(1)));
        }
        for &m in &self.data.marks_s {
            c.draw_series(std::iter::once(PathElement::new(
                vec![(m, lo), (m, hi)],
                RED.stroke_width(1),
            )))
            .map_err(e)?;
        }
        c.configure_series_labels()
            .label_font((FONT, 11))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(e)?;
        // Attainment.
        let mut c = ChartBuilder::on(&mid)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x1, 0.0..1.05)
            .map_err(e)?;
        c.configure_mesh()
            .x_label_formatter(&|v: &f64| tick(*v, false))
            .y_label_formatter(&|v: &f64| tick(*v, false))
            .y_desc("SLA attainment")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(e)?;
        for (k, (_, pts)) in self.data.attainment.iter().enumerate() {
            c.draw_series(LineSeries::new(pts.clone(), color(k).stroke_width(2)))
                .map_err(e)?;
        }
        for &m in &self.data.marks_s {
            c.draw_series(std::iter::once(PathElement::new(
                vec![(m, 0.0), (m, 1.05)],
                RED.stroke_width(1),
            )))
            .map_err(e)?;
        }
        // Layout strips, one row per GPU.
        let (strips, legend) = bottom.split_vertically(self.strip_height() + 40);
        let ng = self.data.strips.len().max(1) as f64;
        let layouts = self.layouts();
        let mut c = ChartBuilder::on(&strips)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x1, 0.0..ng)
            .map_err(e)?;
        c.configure_mesh()
            .x_label_formatter(&|v: &f64| tick(*v, false))
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("simulated time (s)")
            .y_desc("GPUs")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(e)?;
        for (g, spans) in self.data.strips.iter().enumerate() {
            let y0 = ng - g as f64 - 0.9;
            for (a, b, l) in spans {
                let col = match layouts.iter().position(|x| x == l) {
                    Some(k) => color(k + 3),
                    None => GREY,
                };
                c.draw_series(std::iter::once(Rectangle::new(
                    [(*a, y0), (*b, y0 + 0.8)],
                    col.filled(),
                )))
                .map_err(e)?;
            }
        }
        // Legend: colour -> layout.
        for (k, l) in layouts
            .iter()
            .map(String::as_str)
            .chain(std::iter::once("reconfiguring"))
            .enumerate()
        {
            let col = if l == "reconfiguring" {
                GREY
            } else {
                color(k + 3)
            };
            let y = 4 + 18 * k as i32;
            legend
                .draw(&Rectangle::new([(80, y), (100, y + 12)], col.filled()))
                .map_err(e)?;
            legend
                .draw(&Text::new(l.to_string(), (108, y), (FONT, 12)))
                .map_err(e)?;
        }
        Ok(())
    }
}
