//! GPUs needed per policy (capacity planning): one panel per workload or GPU kind, a
//! horizontal bar per policy at the fewest GPUs meeting the SLA, the count written at its end.
//! A policy that no count up to the bound satisfies gets no bar but the words "not met on up to
//! N GPUs", so the axis stays scaled to the answers. The first policy is at the top.

use super::{FONT, Plot, color, e, label};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One bar: policy name, palette index, the answer (`None`: not met up to `max_gpus`).
#[derive(Debug, Clone)]
pub struct NeededBar {
    pub policy: String,
    pub color: usize,
    pub gpus: Option<usize>,
    pub max_gpus: usize,
    /// No count can meet the SLA (the service-time floor exceeds it).
    pub unreachable: bool,
}

/// Panels of bars.
#[derive(Debug, Clone)]
pub struct GpusNeeded {
    pub title: String,
    /// (panel caption, its bars).
    pub panels: Vec<(String, Vec<NeededBar>)>,
}

impl Plot for GpusNeeded {
    fn size(&self) -> (u32, u32) {
        let rows: usize = self.panels.iter().map(|p| p.1.len()).max().unwrap_or(1);
        (
            1000,
            (60 + self.panels.len() * (70 + rows * 26)).max(260) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(&self.title, (FONT, 20)).map_err(e)?;
        let areas = root.split_evenly((self.panels.len().max(1), 1));
        for (area, (caption, bars)) in areas.iter().zip(&self.panels) {
            let n = bars.len();
            let top = bars.iter().filter_map(|b| b.gpus).max().unwrap_or(1).max(1) as f64 * 1.15;
            // Row k of the chart counts from the bottom: the first policy gets the top row.
            let names: Vec<String> = bars.iter().rev().map(|b| b.policy.clone()).collect();
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (FONT, 16))
                .margin(8)
                .x_label_area_size(38)
                .y_label_area_size(230)
                .build_cartesian_2d(0.0..top, -0.5..(n as f64 - 0.5))
                .map_err(e)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(TRANSPARENT)
                .y_labels(n)
                .y_label_formatter(&|y: &f64| label(&names, *y))
                // GPU counts are whole numbers: no "2.5" ticks.
                .x_label_formatter(&|x: &f64| {
                    if x.fract() == 0.0 {
                        format!("{x:.0}")
                    } else {
                        String::new()
                    }
                })
                .x_desc("GPUs needed to meet the SLA (fewer is better)")
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(e)?;
            for (k, b) in bars.iter().enumerate() {
                let y = (n - 1 - k) as f64;
                let c = color(b.color);
                let text = match b.gpus {
                    Some(g) => {
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(0.0, y - 0.35), (g as f64, y + 0.35)],
                                c.filled(),
                            )))
                            .map_err(e)?;
                        (g.to_string(), g as f64 + top * 0.01, BLACK)
                    }
                    None if b.unreachable => (
                        "no count can meet the SLA: the service time alone exceeds it".to_string(),
                        top * 0.01,
                        RGBColor(110, 110, 110),
                    ),
                    None => (
                        format!("not met on up to {} GPUs", b.max_gpus),
                        top * 0.01,
                        RGBColor(110, 110, 110),
                    ),
                };
                chart
                    .draw_series(std::iter::once(Text::new(
                        text.0,
                        (text.1, y + 0.15),
                        (FONT, 13).into_font().color(&text.2),
                    )))
                    .map_err(e)?;
            }
        }
        Ok(())
    }
}
