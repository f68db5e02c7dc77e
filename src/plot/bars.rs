//! Latency-bounded throughput per policy: one panel per workload, a horizontal bar per policy
//! at the mean across seeds, with a whisker from the minimum to the maximum seed.

use super::{FONT, Plot, color, e, label};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One bar: policy name, palette index, mean, min, max.
#[derive(Debug, Clone)]
pub struct Bar {
    pub policy: String,
    pub color: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// Panels of bars, one per workload.
#[derive(Debug, Clone)]
pub struct PeakBars {
    pub title: String,
    pub x_label: String,
    /// (workload, its bars).
    pub panels: Vec<(String, Vec<Bar>)>,
}

impl Plot for PeakBars {
    fn size(&self) -> (u32, u32) {
        let rows: usize = self.panels.iter().map(|p| p.1.len()).max().unwrap_or(1);
        (
            1000,
            (60 + self.panels.len() * (70 + rows * 22)).max(280) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(&self.title, (FONT, 20)).map_err(e)?;
        let areas = root.split_evenly((self.panels.len().max(1), 1));
        for (area, (workload, bars)) in areas.iter().zip(&self.panels) {
            let n = bars.len();
            let hi = bars.iter().map(|b| b.max).fold(0.0, f64::max).max(1e-9) * 1.12;
            let names: Vec<String> = bars.iter().map(|b| b.policy.clone()).collect();
            let mut chart = ChartBuilder::on(area)
                .caption(workload, (FONT, 16))
                .margin(8)
                .x_label_area_size(38)
                .y_label_area_size(230)
                .build_cartesian_2d(0.0..hi, -0.5..(n as f64 - 0.5))
                .map_err(e)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&|y: &f64| label(&names, *y))
                .x_label_formatter(&|x: &f64| super::lines::tick(*x, false))
                .x_desc(&self.x_label)
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(e)?;
            for (k, b) in bars.iter().enumerate() {
                let y = k as f64;
                let c = color(b.color);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y - 0.35), (b.mean, y + 0.35)],
                        c.filled(),
                    )))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(b.min, y), (b.max, y)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(e)?;
                for v in [b.min, b.max] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(v, y - 0.2), (v, y + 0.2)],
                            BLACK.stroke_width(2),
                        )))
                        .map_err(e)?;
                }
            }
        }
        Ok(())
    }
}
