//! Line charts: p99 latency or utilization against offered load, and latency CDFs; one line
//! per policy, an optional horizontal reference line (the SLA), optional log axes.

use super::{FONT, Plot, color, e};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// One line.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// Index into the policy palette.
    pub color: usize,
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// A horizontal line and its legend name (e.g. the SLA).
    pub hline: Option<(f64, String)>,
    pub log_x: bool,
    pub log_y: bool,
}

fn bounds(v: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let v: Vec<f64> = v.filter(|x| x.is_finite() && (!log || *x > 0.0)).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (if log { 0.1 } else { 0.0 }, 1.0);
    }
    if log {
        (lo / 1.3, hi * 1.3)
    } else {
        let pad = ((hi - lo) * 0.05).max(1e-9);
        ((lo - pad).min(0.0f64.max(lo - pad)), hi + pad)
    }
}

impl LineChart {
    fn draw_on<DB: DrawingBackend, X, Y>(
        &self,
        root: &DrawingArea<DB, Shift>,
        x: X,
        y: Y,
    ) -> Result<(), String>
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(e)?;
        for s in &self.series {
            let c = color(s.color);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(a, b)| {
                    a.is_finite()
                        && b.is_finite()
                        && (!self.log_y || *b > 0.0)
                        && (!self.log_x || *a > 0.0)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(e)?
                .label(&s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            if pts.len() <= 40 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(e)?;
            }
        }
        if let Some((v, name)) = &self.hline {
            let (x0, x1) = bounds(
                self.series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.0)),
                self.log_x,
            );
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, *v), (x1, *v)],
                    6,
                    4,
                    BLACK.stroke_width(2),
                ))
                .map_err(e)?
                .label(name.as_str())
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(e)?;
        Ok(())
    }
}

impl Plot for LineChart {
    fn size(&self) -> (u32, u32) {
        (900, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let xs = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
        };
        let ys = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .chain(self.hline.iter().map(|h| h.0))
        };
        let (x0, x1) = bounds(xs(), self.log_x);
        let (y0, y1) = bounds(ys(), self.log_y);
        match (self.log_x, self.log_y) {
            (false, false) => self.draw_on(root, x0..x1, y0..y1),
            (false, true) => self.draw_on(root, x0..x1, (y0..y1).log_scale()),
            (true, false) => self.draw_on(root, (x0..x1).log_scale(), y0..y1),
            (true, true) => self.draw_on(root, (x0..x1).log_scale(), (y0..y1).log_scale()),
        }
    }
}
