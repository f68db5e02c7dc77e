//! Per-slice model profiles (an input): the service time of one query of a given batch on one
//! instance of a given MIG slice, loaded and validated. The per-run lookup the replay indexes is
//! [`crate::service::ServiceTable`], built from these.
//!
//! Parquet schema (the contract), one row per (gpu, slice, model, batch):
//! `gpu` string (a catalog name such as `A100-40GB`), `slice` string (a MIG profile of that GPU such
//! as `3g.20gb`), `model` string, `batch` integer >= 1, `latency_ms` float64 > 0; optional `source`
//! string (`measured`, `interpolated`, `modeled`), `memory_mb` float64 and `latency_std_ms`
//! float64, at least 0: the run-to-run standard deviation of the latency where the source
//! measured it, null where it did not (the row's `source` is the provenance of both numbers).
//!
//! Batches between profiled ones are linearly interpolated within their (gpu, slice, model) series.
//! Above the largest profiled batch the latency is extrapolated linearly from the last two points
//! (slope clamped at >= 0; with a single point, latency grows in proportion to the batch). Below
//! the smallest profiled batch the smallest batch's latency is used (a conservative clamp). Both
//! cases count as extrapolated and the run reports how many queries needed it.

pub mod build;
pub mod inspect;
pub mod kinds;

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::io::{Interner, ParquetInput, append_floats, append_ints, append_strings, col};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a profile number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A number from a named measurement file.
    Measured,
    /// Interpolated between measured batches of the same series.
    Interpolated,
    /// Filled from another slice or model by a stated rule.
    Modeled,
    /// The file has no `source` column.
    Unspecified,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Measured => "measured",
            Source::Interpolated => "interpolated",
            Source::Modeled => "modeled",
            Source::Unspecified => "unspecified",
        }
    }

    fn parse(s: &str) -> Option<Source> {
        match s {
            "measured" => Some(Source::Measured),
            "interpolated" => Some(Source::Interpolated),
            "modeled" => Some(Source::Modeled),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The profiled points of one (gpu, slice, model), sorted by batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub batches: Vec<u32>,
    pub latency_ms: Vec<f64>,
    pub source: Vec<Source>,
    pub memory_mb: Vec<Option<f64>>,
    /// Standard deviation of the latency (ms) where the profile has one.
    pub latency_std_ms: Vec<Option<f64>>,
}

impl Series {
    /// Standard deviation (ms) of the latency of batch `b`, interpolated like the latency:
    /// linear between two profiled batches that both have one (`None` if either lacks it);
    /// outside the profiled range, the nearest end point's coefficient of variation times the
    /// (extrapolated) latency.
    pub fn std_ms(&self, b: u32) -> Option<f64> {
        let bs = &self.batches;
        let sd = &self.latency_std_ms;
        let cv_at = |i: usize| sd[i].map(|s| s / self.latency_ms[i]);
        match bs.binary_search(&b) {
            Ok(i) => sd[i],
            Err(0) => cv_at(0).map(|cv| cv * self.latency_ms(b).0),
            Err(i) if i == bs.len() => cv_at(i - 1).map(|cv| cv * self.latency_ms(b).0),
            Err(i) => {
                let (s0, s1) = (sd[i - 1]?, sd[i]?);
                let (b0, b1) = (bs[i - 1] as f64, bs[i] as f64);
                Some(s0 + (b as f64 - b0) / (b1 - b0) * (s1 - s0))
            }
        }
    }

    /// The memory a batch needs (MB), from the rows that give `memory_mb`: linear between them,
    /// the last two points' slope (at least 0) above them, the smallest one's value below; a
    /// single point's value throughout. `None` when no row gives it.
    pub fn memory_mb_at(&self, b: u32) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .batches
            .iter()
            .zip(&self.memory_mb)
            .filter_map(|(&x, m)| m.map(|m| (x as f64, m)))
            .collect();
        let b = b as f64;
        let n = pts.len();
        match pts.iter().position(|p| p.0 >= b) {
            _ if n == 0 => None,
            Some(0) => Some(pts[0].1),
            Some(i) if pts[i].0 == b => Some(pts[i].1),
            Some(i) => {
                let ((b0, m0), (b1, m1)) = (pts[i - 1], pts[i]);
                Some(m0 + (b - b0) / (b1 - b0) * (m1 - m0))
            }
            None if n == 1 => Some(pts[0].1),
            None => {
                let ((b0, m0), (b1, m1)) = (pts[n - 2], pts[n - 1]);
                let slope = ((m1 - m0) / (b1 - b0)).max(0.0);
                Some(m1 + slope * (b - b1))
            }
        }
    }

    /// Latency of a batch in ms, and whether it had to be extrapolated.
    pub fn latency_ms(&self, b: u32) -> (f64, bool) {
        let bs = &self.batches;
        let ls = &self.latency_ms;
        match bs.binary_search(&b) {
            Ok(i) => (ls[i], false),
            Err(0) => (ls[0], true),
            Err(i) if i == bs.len() => {
                let n = bs.len();
                if n == 1 {
                    (ls[0] * b as f64 / bs[0] as f64, true)
                } else {
                    let slope = ((ls[n - 1] - ls[n - 2]) / (bs[n - 1] - bs[n - 2]) as f64).max(0.0);
                    (ls[n - 1] + slope * (b - bs[n - 1]) as f64, true)
                }
            }
            Err(i) => {
                let (b0, b1) = (bs[i - 1] as f64, bs[i] as f64);
                let w = (b as f64 - b0) / (b1 - b0);
                (ls[i - 1] + w * (ls[i] - ls[i - 1]), false)
            }
        }
    }

    /// The knee: the smallest profiled batch whose throughput (batch / latency) reaches
    /// `theta` times the series' peak throughput. Returns (knee batch, peak items/s, batch of
    /// the peak).
    pub fn knee(&self, theta: f64) -> (u32, f64, u32) {
        let (mut peak, mut peak_b) = (0.0, self.batches[0]);
        for i in 0..self.batches.len() {
            if self.throughput(i) > peak {
                peak = self.throughput(i);
                peak_b = self.batches[i];
            }
        }
        let k = (0..self.batches.len())
            .find(|&i| self.throughput(i) >= theta * peak)
            .map_or(peak_b, |i| self.batches[i]);
        (k, peak, peak_b)
    }

    /// Throughput (items/s) at a profiled point.
    pub fn throughput(&self, i: usize) -> f64 {
        self.batches[i] as f64 * 1000.0 / self.latency_ms[i]
    }
}

/// Key of a series: canonical GPU name, model, canonical slice name.
pub type SeriesKey = (String, String, String);

/// A loaded profile file.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pub path: PathBuf,
    pub sha256: crate::io::FileHash,
    pub series: BTreeMap<SeriesKey, Series>,
}

impl Profiles {
    /// Load and validate a profile Parquet file.
    pub fn load(path: &Path) -> Result<Profiles> {
        let mut input = ParquetInput::open(path)?;
        input.require("gpu", "a string column with the GPU name, e.g. A100-40GB")?;
        input.require(
            "slice",
            "a string column with the MIG profile name, e.g. 3g.20gb",
        )?;
        input.require("model", "a string column with the model name")?;
        input.require("batch", "an integer column with the batch size (>= 1)")?;
        input.require(
            "latency_ms",
            "a float64 column with the latency in ms (> 0)",
        )?;
        let (has_src, has_mem, has_std) = (
            input.has("source"),
            input.has("memory_mb"),
            input.has("latency_std_ms"),
        );
        let (mut gpu, mut slice, mut model, mut src) = (vec![], vec![], vec![], vec![]);
        let (mut gpus, mut slices, mut models, mut srcs) = (
            Interner::default(),
            Interner::default(),
            Interner::default(),
            Interner::default(),
        );
        let (mut batch, mut lat, mut mem, mut std) = (vec![], vec![], vec![], vec![]);
        while let Some((b, r0)) = input.next_batch()? {
            append_strings(col(&b, "gpu"), path, "gpu", r0, &mut gpus, &mut gpu)?;
            append_strings(col(&b, "slice"), path, "slice", r0, &mut slices, &mut slice)?;
            append_strings(col(&b, "model"), path, "model", r0, &mut models, &mut model)?;
            append_ints(col(&b, "batch"), path, "batch", r0, &mut batch)?;
            append_floats(col(&b, "latency_ms"), path, "latency_ms", r0, &mut lat)?;
            if has_src {
                append_strings(col(&b, "source"), path, "source", r0, &mut srcs, &mut src)?;
            }
            if has_mem {
                append_optional_floats(&b, path, "memory_mb", &mut mem)?;
            }
            if has_std {
                append_optional_floats(&b, path, "latency_std_ms", &mut std)?;
            }
        }
        // Resolve GPU and slice names once per distinct value.
        let specs: Vec<Option<GpuSpec>> = gpus.names.iter().map(|g| GpuSpec::find(g)).collect();
        let mut series: BTreeMap<SeriesKey, Series> = BTreeMap::new();
        let mut seen: BTreeMap<(u32, u32, u32, u32), usize> = BTreeMap::new();
        for i in 0..batch.len() {
            let Some(spec) = &specs[gpu[i] as usize] else {
                let known: Vec<_> = crate::gpu::catalog().iter().map(|g| g.name).collect();
                return Err(Error::cell(
                    path,
                    "gpu",
                    i,
                    format!(
                        "unknown GPU '{}'; expected one of {}",
                        gpus.names[gpu[i] as usize],
                        known.join(", ")
                    ),
                ));
            };
            let sname = &slices.names[slice[i] as usize];
            let Some(sid) = spec
                .slice_id(sname)
                .filter(|&s| spec.profiles[s].name == sname.trim())
            else {
                return Err(Error::cell(path, "slice", i, spec.unknown_slice(sname)));
            };
            let m = &models.names[model[i] as usize];
            if m.trim().is_empty() {
                return Err(Error::cell(
                    path,
                    "model",
                    i,
                    "empty model name; expected a model name",
                ));
            }
            if batch[i] < 1 || batch[i] > u32::MAX as i64 {
                return Err(Error::cell(
                    path,
                    "batch",
                    i,
                    format!("value {}; expected an integer >= 1", batch[i]),
                ));
            }
            let l = lat[i];
            if !(l.is_finite() && l > 0.0) {
                return Err(Error::cell(
                    path,
                    "latency_ms",
                    i,
                    format!("value {l}; expected a finite number > 0"),
                ));
            }
            let source = if has_src {
                let s = &srcs.names[src[i] as usize];
                Source::parse(s).ok_or_else(|| {
                    Error::cell(
                        path,
                        "source",
                        i,
                        format!("value '{s}'; expected one of measured, interpolated, modeled"),
                    )
                })?
            } else {
                Source::Unspecified
            };
            let memory = if has_mem { mem[i] } else { None };
            let sd = if has_std { std[i] } else { None };
            if let Some(v) = sd.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(Error::cell(
                    path,
                    "latency_std_ms",
                    i,
                    format!("value {v}; expected a number >= 0 (or null)"),
                ));
            }
            if let Some(v) = memory.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(Error::cell(
                    path,
                    "memory_mb",
                    i,
                    format!("value {v}; expected a number >= 0"),
                ));
            }
            if let Some(prev) = seen.insert((gpu[i], slice[i], model[i], batch[i] as u32), i) {
                return Err(Error::cell(
                    path,
                    "batch",
                    i,
                    format!(
                        "duplicate row for ({}, {}, {}, batch {}), first at row {prev}; expected one row per (gpu, slice, model, batch)",
                        spec.name, spec.profiles[sid].name, m, batch[i]
                    ),
                ));
            }
            let s = series
                .entry((
                    spec.name.to_string(),
                    m.clone(),
                    spec.profiles[sid].name.to_string(),
                ))
                .or_default();
            s.batches.push(batch[i] as u32);
            s.latency_ms.push(l);
            s.source.push(source);
            s.memory_mb.push(memory);
            s.latency_std_ms.push(sd);
        }
        for s in series.values_mut() {
            s.sort();
        }
        Ok(Profiles {
            path: path.to_path_buf(),
            sha256: input.sha256(),
            series,
        })
    }

    /// The series of one (gpu, model, slice), if profiled.
    pub fn get(&self, gpu: &str, model: &str, slice: &str) -> Option<&Series> {
        self.series
            .get(&(gpu.to_string(), model.to_string(), slice.to_string()))
    }

    /// GPUs present in the file.
    pub fn gpus(&self) -> Vec<String> {
        let mut v: Vec<String> = self.series.keys().map(|k| k.0.clone()).collect();
        v.dedup();
        v
    }

    /// Models profiled on a GPU.
    pub fn models(&self, gpu: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .series
            .keys()
            .filter(|k| k.0 == gpu)
            .map(|k| k.1.clone())
            .collect();
        v.dedup();
        v
    }

    /// Insert a series (for building profiles in memory, e.g. in tests).
    pub fn insert(&mut self, gpu: &str, model: &str, slice: &str, points: &[(u32, f64)]) {
        let rows: Vec<(u32, f64, Option<f64>, Option<f64>)> =
            points.iter().map(|&(b, l)| (b, l, None, None)).collect();
        self.insert_rows(gpu, model, slice, &rows);
    }

    /// [`Self::insert`] with a run-to-run std per point: `(batch, latency_ms, std_ms)`.
    pub fn insert_with_std(
        &mut self,
        gpu: &str,
        model: &str,
        slice: &str,
        points: &[(u32, f64, f64)],
    ) {
        let rows: Vec<(u32, f64, Option<f64>, Option<f64>)> = points
            .iter()
            .map(|&(b, l, s)| (b, l, Some(s), None))
            .collect();
        self.insert_rows(gpu, model, slice, &rows);
    }

    /// [`Self::insert`] with every optional column: `(batch, latency_ms, std_ms, memory_mb)`.
    pub fn insert_rows(
        &mut self,
        gpu: &str,
        model: &str,
        slice: &str,
        rows: &[(u32, f64, Option<f64>, Option<f64>)],
    ) {
        let mut s = Series {
            batches: rows.iter().map(|p| p.0).collect(),
            latency_ms: rows.iter().map(|p| p.1).collect(),
            source: vec![Source::Unspecified; rows.len()],
            memory_mb: rows.iter().map(|p| p.3).collect(),
            latency_std_ms: rows.iter().map(|p| p.2).collect(),
        };
        s.sort();
        self.series
            .insert((gpu.to_string(), model.to_string(), slice.to_string()), s);
    }
}

impl Series {
    fn sort(&mut self) {
        let Some(order) = crate::io::sort_order(&self.batches) else {
            return;
        };
        self.batches = crate::io::permuted(&self.batches, &order);
        self.latency_ms = crate::io::permuted(&self.latency_ms, &order);
        self.source = crate::io::permuted(&self.source, &order);
        self.memory_mb = crate::io::permuted(&self.memory_mb, &order);
        self.latency_std_ms = crate::io::permuted(&self.latency_std_ms, &order);
    }

    /// Set the latency std of every point (for building profiles in memory, e.g. in tests).
    pub fn with_std(mut self, std_ms: &[f64]) -> Series {
        self.latency_std_ms = std_ms.iter().map(|&s| Some(s)).collect();
        self
    }
}

/// Append an optional float64 column (nulls kept as `None`).
fn append_optional_floats(
    b: &arrow_array::RecordBatch,
    path: &Path,
    name: &str,
    out: &mut Vec<Option<f64>>,
) -> Result<()> {
    let a = col(b, name);
    let arr = arrow_cast::cast(a, &arrow_schema::DataType::Float64).map_err(|_| {
        Error::column(
            path,
            name,
            format!("wrong type {}; expected float64", a.data_type()),
        )
    })?;
    let arr = arr
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .expect("cast");
    out.extend(arr.iter());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser(points: &[(u32, f64)]) -> Series {
        let mut p = Profiles::default();
        p.insert("g", "m", "s", points);
        p.series.into_values().next().unwrap()
    }

    #[test]
    fn interpolation_and_extrapolation() {
        let s = ser(&[(8, 4.0), (1, 1.0), (4, 2.0)]);
        assert_eq!(s.latency_ms(1), (1.0, false));
        assert_eq!(s.latency_ms(2), (1.0 + 1.0 / 3.0, false));
        assert_eq!(s.latency_ms(6), (3.0, false));
        // Above: slope of the last two points (2 ms per 4 batches).
        assert_eq!(s.latency_ms(16), (8.0, true));
        // Single point: proportional.
        assert_eq!(ser(&[(4, 2.0)]).latency_ms(8), (4.0, true));
        // Below the smallest: clamped.
        assert_eq!(ser(&[(4, 2.0), (8, 3.0)]).latency_ms(1), (2.0, true));
        // A decreasing tail never extrapolates downwards.
        assert_eq!(ser(&[(4, 3.0), (8, 2.5)]).latency_ms(16), (2.5, true));
    }
}
