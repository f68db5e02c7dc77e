//! Line charts: p99 latency or utilization against offered load, and latency CDFs; one line
//! per policy, an optional horizontal reference line (the SLA), optional log axes.
//!
//! Every policy stays visible: besides its colour, each gets a marker shape (five) and a line
//! style (solid, then dashed and with larger markers for the next five: [`style_of`]), so ten
//! policies are ten distinct looks. Markers are hollow outlines drawn above every line, so two
//! policies at (nearly) the same point show both outlines instead of one hiding the other; a
//! series whose points equal an earlier one's is also named "(= that one)" in the legend.
//! Ticks are written in the unit's natural form: `20`, not `20.0`; `0.25`; `20%` on a percent
//! axis. A log axis is labelled inside whatever range it spans ([`super::log_ticks`]: 50, 60,
//! 70 for curves at 55-61 ms, not only the powers of ten around them).

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
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// A horizontal line and its legend name (e.g. the SLA).
    pub hline: Option<(f64, String)>,
    pub log_x: bool,
    pub log_y: bool,
    /// Values in percent: ticks read `20%`.
    pub x_percent: bool,
    pub y_percent: bool,
}

/// A tick value in its natural form: the fewest decimals (up to 4) that write it, `%` after it
/// on a percent axis.
pub fn tick(v: f64, percent: bool) -> String {
    let mut t = format!("{v:.4}");
    for d in 0..4 {
        let c = format!("{v:.d$}");
        if (c.parse::<f64>().unwrap_or(f64::NAN) - v).abs() <= 1e-9 * v.abs().max(1.0) {
            t = c;
            break;
        }
    }
    if t == "-0" {
        t = "0".into();
    }
    if percent {
        t.push('%');
    }
    t
}

/// The marker shape (0..5) and whether the line is dashed (and its markers larger) for palette
/// index `k`: five shapes solid, then the five again dashed with larger markers, so ten
/// policies look different even where colours are hard to tell apart, and two policies with
/// the same shape at the same point show as two concentric outlines.
pub fn style_of(k: usize) -> (usize, bool) {
    (k % 5, (k / 5) % 2 == 1)
}

/// Draw marker `shape` at `p` as a hollow outline of half-size `r` pixels, on a chart (data
/// coordinates) or the legend (pixels).
fn marker<DB: DrawingBackend, CT: CoordTranslate>(
    chart: &DrawingArea<DB, CT>,
    p: CT::From,
    shape: usize,
    r: i32,
    c: RGBColor,
) -> Result<(), String> {
    let st = c.stroke_width(2);
    let outline = |p, pts: Vec<(i32, i32)>| EmptyElement::at(p) + PathElement::new(pts, st);
    match shape {
        0 => chart.draw(&Circle::new(p, r, st)),
        1 => chart.draw(&outline(
            p,
            vec![(0, -r - 1), (r + 1, r), (-r - 1, r), (0, -r - 1)],
        )),
        2 => chart.draw(&(EmptyElement::at(p) + Rectangle::new([(-r, -r), (r, r)], st))),
        3 => chart.draw(&Cross::new(p, r, st)),
        _ => chart.draw(&outline(
            p,
            vec![
                (0, -r - 1),
                (r + 1, 0),
                (0, r + 1),
                (-r - 1, 0),
                (0, -r - 1),
            ],
        )),
    }
    .map_err(e)
}

/// The marker half-size (pixels) of a series drawn dashed or solid.
fn marker_size(dashed: bool) -> i32 {
    if dashed { 6 } else { 4 }
}

/// For each series, the earlier series with exactly the same points, if any.
fn coincident(series: &[Series]) -> Vec<Option<usize>> {
    (0..series.len())
        .map(|i| {
            (0..i).find(|&j| {
                !series[i].points.is_empty()
                    && series[i].points.len() == series[j].points.len()
                    && series[i]
                        .points
                        .iter()
                        .zip(&series[j].points)
                        .all(|(a, b)| {
                            (a.0 - b.0).abs() <= 1e-9 * a.0.abs().max(1.0)
                                && (a.1 - b.1).abs() <= 1e-9 * a.1.abs().max(1.0)
                        })
            })
        })
        .collect()
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
        // The legend has a panel of its own on the right, so it never hides a curve.
        let (w, _) = root.dim_in_pixel();
        let (plot_area, legend_area) = root.split_horizontally(w.saturating_sub(LEGEND_W));
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(&self.title, (FONT, 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)
            .map_err(e)?;
        let (xp, yp) = (self.x_percent, self.y_percent);
        chart
            .configure_mesh()
            .x_label_formatter(&|v: &f64| tick(*v, xp))
            .y_label_formatter(&|v: &f64| tick(*v, yp))
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(e)?;
        let same = coincident(&self.series);
        let mut entries: Vec<(String, RGBColor, Option<usize>, bool)> = Vec::new();
        // Every line first, then every marker, so no line hides a marker.
        let mut markers = Vec::new();
        for (s, same) in self.series.iter().zip(same) {
            let c = color(s.color);
            let (shape, dashed) = style_of(s.color);
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
            if dashed {
                chart
                    .draw_series(DashedLineSeries::new(pts.clone(), 8, 5, c.stroke_width(2)))
                    .map_err(e)?;
            } else {
                chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                    .map_err(e)?;
            }
            markers.push((pts, (shape, dashed), c));
            let name = match same {
                Some(j) => format!("{} (= {})", s.name, self.series[j].name),
                None => s.name.clone(),
            };
            entries.push((name, c, Some(shape), dashed));
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
                .map_err(e)?;
            entries.push((name.clone(), BLACK, None, true));
        }
        // Markers, above every line and the reference line: at every point of a short series,
        // at about a dozen of a long one (a CDF).
        let area = chart.plotting_area();
        for (pts, (shape, dashed), c) in &markers {
            let every = pts.len().div_ceil(12).max(1);
            for (i, p) in pts.iter().enumerate() {
                if pts.len() <= 40 || i % every == 0 {
                    marker(area, *p, *shape, marker_size(*dashed), *c)?;
                }
            }
        }
        legend(&legend_area, &entries)
    }
}

/// Width of the legend panel, pixels.
const LEGEND_W: u32 = 330;

/// The legend: one row per entry (name, colour, marker shape, dashed), top-down, long names
/// wrapped on `(`.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor, Option<usize>, bool)],
) -> Result<(), String> {
    let mut y = 60;
    for (name, c, shape, dashed) in entries {
        let c = *c;
        let (a, b) = if *dashed { (8, 14) } else { (26, 0) };
        area.draw(&PathElement::new(
            vec![(8, y), (8 + a, y)],
            c.stroke_width(2),
        ))
        .map_err(e)?;
        area.draw(&PathElement::new(
            vec![(8 + b, y), (34, y)],
            c.stroke_width(2),
        ))
        .map_err(e)?;
        if let Some(shape) = shape {
            marker(area, (21, y), *shape, marker_size(*dashed), c)?;
        }
        // A long name (a coincidence note) goes on two lines.
        let lines: Vec<&str> = match name.find(" (= ") {
            Some(i) if name.len() > 38 => vec![&name[..i], &name[i + 1..]],
            _ => vec![name.as_str()],
        };
        for (k, l) in lines.iter().enumerate() {
            area.draw(&Text::new(
                l.to_string(),
                (42, y - 7 + 16 * k as i32),
                (FONT, 13).into_font().color(&BLACK),
            ))
            .map_err(e)?;
        }
        y += 10 + 16 * lines.len() as i32;
    }
    Ok(())
}

impl Plot for LineChart {
    fn size(&self) -> (u32, u32) {
        (900 + LEGEND_W, 560)
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
        // A log axis gets its own ticks, inside its range (plotters labels powers of ten only);
        // at most 12 across the plot's width or along its height.
        let lx = || {
            (x0..x1)
                .log_scale()
                .with_key_points(super::log_ticks(x0, x1, 12))
                .with_light_points(super::log_grid(x0, x1, 80))
        };
        let ly = || {
            (y0..y1)
                .log_scale()
                .with_key_points(super::log_ticks(y0, y1, 12))
                .with_light_points(super::log_grid(y0, y1, 80))
        };
        match (self.log_x, self.log_y) {
            (false, false) => self.draw_on(root, x0..x1, y0..y1),
            (false, true) => self.draw_on(root, x0..x1, ly()),
            (true, false) => self.draw_on(root, lx(), y0..y1),
            (true, true) => self.draw_on(root, lx(), ly()),
        }
    }
}
