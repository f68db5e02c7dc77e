//! The per-run service lookup: the profiled service time (ns) of every (trace model, slice,
//! batch) the replay can meet, built once from the profile before the replay; the event loop
//! and the schedulers' view only index into it.

use crate::error::{Error, Result};
use crate::gpu::{GpuSpec, SliceId};
use crate::profile::{Profiles, Series};

/// Batches up to this are precomputed densely; larger ones are computed per query.
const DENSE_BATCHES: u32 = 4096;

/// Service times in integer nanoseconds for every (trace model, GPU slice, batch) the replay can
/// meet. Built once before the replay; the event loop only indexes into it.
#[derive(Debug, Clone)]
pub struct ServiceTable {
    n_slices: usize,
    dense_max: u32,
    /// `[(model * n_slices + slice) * dense_max + (batch - 1)]` = ns, top bit = extrapolated.
    dense: Vec<u64>,
    series: Vec<Option<Series>>,
    /// Per (model, slice): the largest batch whose memory fits the slice (`u32::MAX` when the
    /// profile gives no memory or every batch up to the replay's largest fits).
    fit_max: Vec<u32>,
    /// Whether every batch fits everywhere (no memory bound anywhere).
    all_fit: bool,
}

const EXTRAP_BIT: u64 = 1 << 63;

fn to_ns(ms: f64) -> u64 {
    ((ms * 1e6).round() as u64).max(1)
}

impl ServiceTable {
    /// Build the table for the given trace models on the given slices of `gpu`. Every model must
    /// be profiled on every slice in `needed`; otherwise a clear error names the first gap.
    pub fn build(
        profiles: &Profiles,
        gpu: &GpuSpec,
        models: &[String],
        needed: &[SliceId],
        max_batch: u32,
        first_row: impl Fn(u32) -> Option<usize>,
    ) -> Result<ServiceTable> {
        let n_slices = gpu.profiles.len();
        let dense_max = max_batch.clamp(1, DENSE_BATCHES);
        let mut dense = vec![0u64; models.len() * n_slices * dense_max as usize];
        let mut series = vec![None; models.len() * n_slices];
        let mut fit_max = vec![u32::MAX; models.len() * n_slices];
        for (m, name) in models.iter().enumerate() {
            for s in 0..n_slices {
                let slice = gpu.profiles[s].name;
                let Some(ser) = profiles.get(gpu.name, name, slice) else {
                    if needed.contains(&s) {
                        let on_gpu = profiles.models(gpu.name);
                        let row = first_row(m as u32)
                            .map(|r| format!(" (first used at sorted trace row {r})"))
                            .unwrap_or_default();
                        return Err(Error::file(
                            &profiles.path,
                            format!(
                                "no profile for model '{name}' on slice {slice} of {}{row}; profiled models on {}: {}",
                                gpu.name,
                                gpu.name,
                                if on_gpu.is_empty() {
                                    "none".to_string()
                                } else {
                                    on_gpu.join(", ")
                                }
                            ),
                        ));
                    }
                    continue;
                };
                let base = (m * n_slices + s) * dense_max as usize;
                for b in 1..=dense_max {
                    let (ms, ex) = ser.latency_ms(b);
                    dense[base + b as usize - 1] = to_ns(ms) | if ex { EXTRAP_BIT } else { 0 };
                }
                // Memory: the first batch (up to the replay's largest) that exceeds the slice.
                let cap_mb = gpu.profiles[s].memory_gb as f64 * 1024.0;
                if ser.memory_mb.iter().any(Option::is_some) {
                    let limit = max_batch.max(1);
                    if let Some(b) =
                        (1..=limit).find(|&b| ser.memory_mb_at(b).is_some_and(|mb| mb > cap_mb))
                    {
                        fit_max[m * n_slices + s] = b - 1;
                    }
                }
                series[m * n_slices + s] = Some(ser.clone());
            }
        }
        let all_fit = fit_max.iter().all(|&f| f == u32::MAX);
        Ok(ServiceTable {
            n_slices,
            dense_max,
            dense,
            series,
            fit_max,
            all_fit,
        })
    }

    /// Whether a batch of `batch` of `model` fits the memory of `slice` (the profile's
    /// `memory_mb` against the slice's memory, `memory_gb` x 1024 MB; no `memory_mb`: fits).
    #[inline]
    pub fn fits(&self, model: u32, slice: SliceId, batch: u32) -> bool {
        self.all_fit || batch <= self.fit_max[model as usize * self.n_slices + slice]
    }

    /// The largest batch of `model` that fits `slice` (`u32::MAX`: no bound).
    #[inline]
    pub fn max_fitting(&self, model: u32, slice: SliceId) -> u32 {
        if self.all_fit {
            u32::MAX
        } else {
            self.fit_max[model as usize * self.n_slices + slice]
        }
    }

    /// Whether no batch is bounded by memory anywhere.
    pub fn all_fit(&self) -> bool {
        self.all_fit
    }

    /// Service time (ns) of `batch` of `model` on `slice`, and whether it was extrapolated.
    /// Panics if the pair was not profiled: [`ServiceTable::has`] tells.
    #[inline]
    pub fn get(&self, model: u32, slice: SliceId, batch: u32) -> (u64, bool) {
        let k = model as usize * self.n_slices + slice;
        if batch <= self.dense_max {
            let v = self.dense[k * self.dense_max as usize + batch as usize - 1];
            debug_assert!(v != 0, "service time of an unprofiled (model, slice)");
            (v & !EXTRAP_BIT, v & EXTRAP_BIT != 0)
        } else {
            let (ms, ex) = self.series[k]
                .as_ref()
                .expect("profiled (model, slice)")
                .latency_ms(batch);
            (to_ns(ms), ex)
        }
    }

    /// Coefficient of variation (profiled std / latency) of `batch` of `model` on `slice`;
    /// `None` where the profile has no std (or the pair is not profiled).
    pub fn cv(&self, model: u32, slice: SliceId, batch: u32) -> Option<f64> {
        let ser = self.series[model as usize * self.n_slices + slice].as_ref()?;
        Some(ser.std_ms(batch)? / ser.latency_ms(batch).0)
    }

    /// Whether the profile has a std for every point of `model` on `slice`.
    pub fn has_std(&self, model: u32, slice: SliceId) -> bool {
        self.series[model as usize * self.n_slices + slice]
            .as_ref()
            .is_some_and(|s| s.latency_std_ms.iter().all(Option::is_some))
    }

    /// Whether `model` is profiled on `slice`.
    pub fn has(&self, model: u32, slice: SliceId) -> bool {
        self.series[model as usize * self.n_slices + slice].is_some()
    }
}
