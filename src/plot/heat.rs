//! Heat maps of one replay: the busy fraction of every instance over time, and which slice
//! served which batch sizes (the share of each batch bucket's queries per slice).

use super::{FONT, Plot, e};
use plotters::coord::Shift;
use plotters::prelude::*;

/// White (0) to dark blue (1).
fn shade(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, label: &str) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let x0 = w as i32 - 230;
    for k in 0..100 {
        area.draw(&Rectangle::new(
            [(x0 + k * 2, 8), (x0 + k * 2 + 2, 22)],
            shade(k as f64 / 99.0).filled(),
        ))
        .map_err(e)?;
    }
    area.draw(&Rectangle::new(
        [(x0, 8), (x0 + 200, 22)],
        BLACK.stroke_width(1),
    ))
    .map_err(e)?;
    area.draw(&Text::new("0", (x0 - 12, 9), (FONT, 12)))
        .map_err(e)?;
    area.draw(&Text::new("1", (x0 + 204, 9), (FONT, 12)))
        .map_err(e)?;
    area.draw(&Text::new(label.to_string(), (x0 - 150, 9), (FONT, 12)))
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
        (1000, (140 + self.instances.len() * 14).max(320) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        legend(root, "busy fraction")?;
        let n = self.instances.len();
        let bins = self.busy.first().map_or(1, |r| r.len());
        let t1 = bins as f64 * self.bin_s;
        let names = &self.instances;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..t1, 0.0..n as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .y_labels(n.min(60))
            .y_label_formatter(&|y: &f64| {
                let k = (y - 0.5).round();
                if (y - 0.5 - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < names.len() {
                    names[k as usize].clone()
                } else {
                    String::new()
                }
            })
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
                            (b as f64 * self.bin_s, i as f64),
                            ((b + 1) as f64 * self.bin_s, i as f64 + 1.0),
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
        (900, (160 + self.slices.len() * 50) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        legend(root, "share of the bucket")?;
        let (nb, ns) = (self.buckets.len(), self.slices.len());
        let col_total: Vec<u64> = (0..nb)
            .map(|b| self.count.iter().map(|r| r[b]).sum())
            .collect();
        let (buckets, slices) = (&self.buckets, &self.slices);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..nb as f64, 0.0..ns as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nb)
            .y_labels(ns)
            .x_label_formatter(&|x: &f64| {
                let k = (x - 0.5).round();
                if (x - 0.5 - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < buckets.len() {
                    buckets[k as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y: &f64| {
                let k = (y - 0.5).round();
                if (y - 0.5 - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < slices.len() {
                    slices[k as usize].clone()
                } else {
                    String::new()
                }
            })
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
                let (x, y) = (b as f64, s as f64);
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
