//! Heat maps of one replay: the busy fraction of every instance over time, and which slice
//! served which batch sizes (the share of each batch bucket's queries per slice).

use super::{FONT, Plot, e, label};
use plotters::coord::Shift;
use plotters::prelude::*;

/// White (0) to dark blue (1).
fn shade(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, label: &str) -> Result<(), String> {
    // A colour bar in the bottom-right corner, clear of the title and the axes.
    let (w, h) = area.dim_in_pixel();
    let (x0, y0) = (w as i32 - 230, h as i32 - 19);
    for k in 0..100 {
        area.draw(&Rectangle::new(
            [(x0 + k * 2, y0), (x0 + k * 2 + 2, y0 + 14)],
            shade(k as f64 / 99.0).filled(),
        ))
        .map_err(e)?;
    }
    area.draw(&Rectangle::new(
        [(x0, y0), (x0 + 200, y0 + 14)],
        BLACK.stroke_width(1),
    ))
    .map_err(e)?;
    for (t, x) in [("0", x0 - 12), ("1", x0 + 204)] {
        area.draw(&Text::new(t, (x, y0 + 1), (FONT, 12)))
            .map_err(e)?;
    }
    area.draw(&Text::new(
        label.to_string(),
        (x0 - 150, y0 + 1),
        (FONT, 12),
    ))
    .map_err(e)?;
    Ok(())
}

/// Busy fraction per instance (rows) per time bin (columns).
#[derive(Debug, Clone)]
pub struct BusyHeat {
    pub title: String,
    pub instances: Vec<String>,
    pub bin_s: f64,
    pub busy: Vec<Vec<f64>>,
}

impl Plot for BusyHeat {
    fn size(&self) -> (u32, u32) {
        (1000, (164 + self.instances.len() * 14).max(344) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let (_, h) = root.dim_in_pixel();
        let (root, bottom) = root.split_vertically(h as i32 - 24);
        legend(&bottom, "busy fraction")?;
        let n = self.instances.len();
        let bins = self.busy.first().map_or(1, |r| r.len());
        let t1 = bins as f64 * self.bin_s;
        let names = &self.instances;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..t1, -0.5..n as f64 - 0.5)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .y_labels(n.min(60))
            .y_label_formatter(&|y: &f64| label(names, *y))
            .x_desc("simulated time (s)")
            .y_desc("instance")
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(self.busy.iter().enumerate().flat_map(|(i, row)| {
                row.iter().enumerate().map(move |(b, &v)| {
                    Rectangle::new(
                        [
                            (b as f64 * self.bin_s, i as f64 - 0.5),
                            ((b + 1) as f64 * self.bin_s, i as f64 + 0.5),
                        ],
                        shade(v).filled(),
                    )
                })
            }))
            .map_err(e)?;
        Ok(())
    }
}

/// Share of each batch bucket's queries (columns) served by each slice (rows).
#[derive(Debug, Clone)]
pub struct BatchHeat {
    pub title: String,
    pub buckets: Vec<String>,
    pub slices: Vec<String>,
    pub count: Vec<Vec<u64>>,
}

impl Plot for BatchHeat {
    fn size(&self) -> (u32, u32) {
        (900, (184 + self.slices.len() * 50) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let (_, h) = root.dim_in_pixel();
        let (root, bottom) = root.split_vertically(h as i32 - 24);
        legend(&bottom, "share of the bucket")?;
        let (nb, ns) = (self.buckets.len(), self.slices.len());
        let col_total: Vec<u64> = (0..nb)
            .map(|b| self.count.iter().map(|r| r[b]).sum())
            .collect();
        let (buckets, slices) = (&self.buckets, &self.slices);
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(-0.5..nb as f64 - 0.5, -0.5..ns as f64 - 0.5)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nb)
            .y_labels(ns)
            .x_label_formatter(&|x: &f64| label(buckets, *x))
            .y_label_formatter(&|y: &f64| label(slices, *y))
            .x_desc("batch size")
            .y_desc("slice")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(e)?;
        for s in 0..ns {
            for (b, &total) in col_total.iter().enumerate() {
                let v = if total == 0 {
                    0.0
                } else {
                    self.count[s][b] as f64 / total as f64
                };
                let (x, y) = (b as f64 - 0.5, s as f64 - 0.5);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        shade(v).filled(),
                    )))
                    .map_err(e)?;
                if self.count[s][b] > 0 {
                    let txt = format!("{}", self.count[s][b]);
                    let c = if v > 0.55 { WHITE } else { BLACK };
                    chart
                        .draw_series(std::iter::once(Text::new(
                            txt,
                            (x + 0.3, y + 0.6),
                            (FONT, 11).into_font().color(&c),
                        )))
                        .map_err(e)?;
                }
            }
        }
        Ok(())
    }
}
