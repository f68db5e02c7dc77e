//! `mig-replay profile inspect FILE`: per (gpu, model, slice), the batch range, the latency at a
//! few batches, the peak throughput, the batch where throughput first reaches 80% of that peak
//! (PARIS's "knee" with theta = 0.8) and the source mix.

use super::{Profiles, Source};
use crate::gpu::GpuSpec;

/// One line of the inspection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesStats {
    pub gpu: String,
    pub model: String,
    pub slice: String,
    pub batch_min: u32,
    pub batch_max: u32,
    pub points: usize,
    /// Latency (ms) at batches 1, 8, 32 and the largest, interpolated like the replay does.
    pub latency_ms_at: Vec<(u32, f64)>,
    pub peak_items_per_s: f64,
    pub peak_batch: u32,
    /// Smallest profiled batch whose throughput reaches `theta` x peak.
    pub knee_batch: u32,
    pub measured: usize,
    pub interpolated: usize,
    pub modeled: usize,
    pub unspecified: usize,
}

/// Statistics of every series, ordered by gpu, model and slice size.
pub fn inspect(p: &Profiles, theta: f64) -> Vec<SeriesStats> {
    let mut out: Vec<SeriesStats> = p
        .series
        .iter()
        .map(|((g, m, sl), s)| {
            let (knee_batch, peak, peak_batch) = s.knee(theta);
            let bmax = *s.batches.last().expect("non-empty series");
            let mut at: Vec<u32> = vec![1, 8, 32, bmax];
            at.dedup();
            let count = |src: Source| s.source.iter().filter(|&&x| x == src).count();
            SeriesStats {
                gpu: g.clone(),
                model: m.clone(),
                slice: sl.clone(),
                batch_min: s.batches[0],
                batch_max: bmax,
                points: s.batches.len(),
                latency_ms_at: at
                    .into_iter()
                    .filter(|&b| b <= bmax)
                    .map(|b| (b, s.latency_ms(b).0))
                    .collect(),
                peak_items_per_s: peak,
                peak_batch,
                knee_batch,
                measured: count(Source::Measured),
                interpolated: count(Source::Interpolated),
                modeled: count(Source::Modeled),
                unspecified: count(Source::Unspecified),
            }
        })
        .collect();
    let order = |s: &SeriesStats| {
        GpuSpec::find(&s.gpu)
            .and_then(|g| g.slice_id(&s.slice))
            .unwrap_or(0)
    };
    out.sort_by(|a, b| (&a.gpu, &a.model, order(a)).cmp(&(&b.gpu, &b.model, order(b))));
    out
}

/// The inspection as an aligned text table.
pub fn text(stats: &[SeriesStats], theta: f64) -> String {
    let mut s = format!(
        "{:<10} {:<38} {:<9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>6}  {}\n",
        "gpu",
        "model",
        "slice",
        "batches",
        "lat@1",
        "lat@8",
        "lat@32",
        "lat@max",
        "peak it/s",
        "knee",
        "sources (measured/interpolated/modeled)"
    );
    for x in stats {
        let lat = |b: u32| {
            x.latency_ms_at
                .iter()
                .find(|p| p.0 == b)
                .map_or("-".into(), |p| format!("{:.2}", p.1))
        };
        let mut src = format!("{}/{}/{}", x.measured, x.interpolated, x.modeled);
        if x.unspecified > 0 {
            src += &format!(" (+{} unspecified)", x.unspecified);
        }
        s += &format!(
            "{:<10} {:<38} {:<9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10.0} {:>6}  {}\n",
            x.gpu,
            x.model,
            x.slice,
            format!("{}-{}", x.batch_min, x.batch_max),
            lat(1),
            lat(8),
            lat(32),
            format!("{}@{}", lat(x.batch_max), x.batch_max),
            x.peak_items_per_s,
            x.knee_batch,
            src
        );
    }
    s += &format!(
        "latencies in ms (interpolated where a batch is not profiled); peak it/s = max over profiled batches of batch*1000/latency;\nknee = smallest profiled batch reaching {:.0}% of that peak\n",
        theta * 100.0
    );
    s
}
