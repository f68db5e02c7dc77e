//! Figures derived from the per-query records of one replay for the report's plots: the latency
//! CDF, the busy fraction of every instance over time, and which slice served which batch
//! sizes.

use crate::engine::Records;
use crate::server::Server;
use crate::stats::percentile;
use crate::trace::Trace;
use serde::{Deserialize, Serialize};

/// The latency CDF of a replay at 200 quantiles (finer in the tail): (latency ms, cumulative
/// fraction), each latency the quantile's nearest-rank value.
pub fn cdf_points(trace: &Trace, rec: &Records) -> Vec<(f64, f64)> {
    let mut lat: Vec<u64> = rec
        .finish_ns
        .iter()
        .zip(&trace.arrival_ns)
        .map(|(f, a)| f - a)
        .collect();
    lat.sort_unstable();
    let mut qs: Vec<f64> = (1..=190).map(|i| i as f64 / 200.0).collect();
    qs.extend((0..10).map(|i| 0.95 + 0.05 * (1.0 - 0.5f64.powi(i + 1))));
    qs.push(1.0);
    qs.iter()
        .map(|&q| {
            let v = percentile(&mut lat, q * 100.0).unwrap_or(0);
            (v as f64 / 1e6, q)
        })
        .collect()
}

/// What one replay looked like inside: busy fraction per instance per time bin, and the
/// queries of each batch bucket per slice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heatmap {
    /// Instance labels (`GPU 0 3g.40gb@4`), one row each; beyond [`MAX_HEAT_ROWS`] instances a
    /// row is a group of consecutive ones (`GPUs 0-9: 70 instances`) and its busy fraction their
    /// mean.
    pub instances: Vec<String>,
    /// Width of a time bin, s.
    pub bin_s: f64,
    /// `busy[instance][bin]` in [0, 1].
    pub busy: Vec<Vec<f64>>,
    /// Batch buckets (`1`, `2`, `3-4`, ...), slices (small to large), and `count[slice][bucket]`.
    pub buckets: Vec<String>,
    pub slices: Vec<String>,
    pub count: Vec<Vec<u64>>,
}

/// Bucket of a batch: 1, 2, 3-4, 5-8, ...
fn bucket(b: u32) -> usize {
    if b <= 1 {
        0
    } else {
        (32 - (b - 1).leading_zeros()) as usize
    }
}

fn bucket_name(k: usize) -> String {
    match k {
        0 => "1".into(),
        1 => "2".into(),
        k => format!("{}-{}", (1u64 << (k - 1)) + 1, 1u64 << k),
    }
}

/// The most rows the busy heat map has: a server with more instances shows consecutive
/// instances grouped, so that the figure (and the shard files that carry it) stay small.
pub const MAX_HEAT_ROWS: usize = 64;

/// The heat maps of a replay of `trace` on `server` (60 time bins over the replay window; at
/// most [`MAX_HEAT_ROWS`] rows of instances, grouped beyond that).
pub fn heatmap(trace: &Trace, server: &Server, rec: &Records) -> Heatmap {
    const BINS: usize = 60;
    let t = trace;
    let t0 = t.arrival_ns[0];
    let t1 = rec.finish_ns.iter().copied().max().unwrap_or(t0 + 1);
    let bin = ((t1 - t0) as f64 / BINS as f64).max(1.0);
    let ni = server.instances.len();
    // Consecutive instances share a row beyond MAX_HEAT_ROWS: ceil(ni / MAX_HEAT_ROWS) per row
    // (the last may hold fewer); a row's busy fraction is its instances' mean.
    let per = ni.div_ceil(MAX_HEAT_ROWS).max(1);
    let ranges: Vec<(usize, usize)> = (0..ni)
        .step_by(per)
        .map(|lo| (lo, (lo + per).min(ni) - 1))
        .collect();
    let mut busy = vec![vec![0.0f64; BINS]; ranges.len()];
    for q in 0..t.len() {
        let i = rec.instance[q] as usize / per;
        // Spread the query's busy interval over the bins it covers.
        let (s, f) = (
            (rec.start_ns[q] - t0) as f64,
            (rec.finish_ns[q] - t0) as f64,
        );
        let (b0, b1) = ((s / bin) as usize, ((f / bin) as usize).min(BINS - 1));
        for (b, cell) in busy[i].iter_mut().enumerate().take(b1 + 1).skip(b0) {
            let lo = s.max(b as f64 * bin);
            let hi = f.min((b + 1) as f64 * bin);
            if hi > lo {
                *cell += (hi - lo) / bin;
            }
        }
    }
    for (row, &(lo, hi)) in busy.iter_mut().zip(&ranges) {
        let k = (hi - lo + 1) as f64;
        if k > 1.0 {
            row.iter_mut().for_each(|v| *v /= k);
        }
    }
    let slices: Vec<usize> = server.slices_used();
    let nb = t.batch.iter().map(|&b| bucket(b)).max().unwrap_or(0) + 1;
    let mut count = vec![vec![0u64; nb]; slices.len()];
    for q in 0..t.len() {
        let s = server.instances[rec.instance[q] as usize].slice;
        let row = slices.iter().position(|&x| x == s).expect("used slice");
        count[row][bucket(t.batch[q])] += 1;
    }
    let name = |i: usize| {
        let x = &server.instances[i];
        format!(
            "GPU {} {}@{}",
            x.gpu, server.gpu.profiles[x.slice].name, x.start
        )
    };
    Heatmap {
        instances: ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    name(lo)
                } else {
                    let (a, b) = (&server.instances[lo], &server.instances[hi]);
                    format!("GPUs {}-{}: {} instances", a.gpu, b.gpu, hi - lo + 1)
                }
            })
            .collect(),
        bin_s: bin / 1e9,
        busy,
        buckets: (0..nb).map(bucket_name).collect(),
        slices: slices
            .iter()
            .map(|&s| server.gpu.profiles[s].name.to_string())
            .collect(),
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_instances_than_rows_are_grouped_by_their_mean() {
        use crate::gpu::GpuSpec;
        // 19 GPUs of seven 1g instances = 133 instances; ceil(133 / 64) = 3 per row: rows
        // (0-2), (3-5), ..., (132) alone: 45 rows. Two queries of 600 ns each from t = 0: one
        // on instance 1, one on instance 132; the replay spans 600 ns (60 bins of 10 ns), so
        // both are busy in every bin.
        let gpu = GpuSpec::by_name("A100-80GB").unwrap();
        let one = gpu.parse_layout("1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb");
        let server = Server::new(gpu.clone(), vec![one.unwrap(); 19]).unwrap();
        assert_eq!(server.instances.len(), 133);
        let trace = Trace::from_rows([(0, "m", 1), (0, "m", 1)]);
        let rec = Records {
            start_ns: vec![0, 0],
            finish_ns: vec![600, 600],
            instance: vec![1, 132],
            ..Records::default()
        };
        let h = heatmap(&trace, &server, &rec);
        assert_eq!(h.busy.len(), 45);
        assert_eq!(h.instances.len(), 45);
        assert_eq!(h.instances[0], "GPUs 0-0: 3 instances");
        assert_eq!(h.instances[44], "GPU 18 1g.10gb@6");
        // Row 0: instance 1 busy, 0 and 2 idle: 1/3 in every bin; row 44: instance 132 alone.
        assert!(h.busy[0].iter().all(|&v| (v - 1.0 / 3.0).abs() < 1e-12));
        assert!(h.busy[44].iter().all(|&v| (v - 1.0).abs() < 1e-12));
        assert!(h.busy[1..44].iter().flatten().all(|&v| v == 0.0));
    }

    #[test]
    fn batch_buckets() {
        let v: Vec<usize> = [1, 2, 3, 4, 5, 8, 9, 128]
            .iter()
            .map(|&b| bucket(b))
            .collect();
        assert_eq!(v, [0, 1, 2, 2, 3, 3, 4, 7]);
        assert_eq!(bucket_name(0), "1");
        assert_eq!(bucket_name(2), "3-4");
        assert_eq!(bucket_name(7), "65-128");
    }
}
