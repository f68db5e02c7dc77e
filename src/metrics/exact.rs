//! Exact order statistics of a stream of nanosecond values without holding the values: a
//! histogram pass and exact passes over a spill file.
//!
//! While the values stream by, [`Exact`] counts them in an HDR histogram (the `hdrhistogram`
//! crate, 3 significant figures over every u64: every value below 2^11 has its own bucket;
//! above, a bucket spans 1/1024 of its lower bound, so 56,320 buckets cover every u64) and
//! appends them, 8 bytes each, to a spill file on disk. At the end the nearest rank of each
//! percentile ([`crate::stats::nearest_rank`], the same definition as in-memory replays) names
//! a bucket and a rank inside it. Each further pass reads the spill file once and counts, for
//! every unresolved percentile, the values of its bucket in 65,536 equal sub-buckets; a
//! sub-bucket of width 1 is the value itself. A bucket of width up to 2^16 ns (values below
//! 2^27 ns, 134 ms) resolves in one pass, every u64 in at most four. The
//! passes may read the values from elsewhere than a spill file ([`Exact::resolve_with`]: an
//! in-memory replay walks its records again, holding nothing per value).
//!
//! Memory: the histogram (8 bytes per bucket, about 450 KB) and, during a pass, 256 KB per
//! unresolved percentile; nothing per value. Disk: 8 bytes per value while the replay runs.
//! The mean (a u128 sum) and the maximum are kept exactly as they go (the histogram's own
//! maximum is its bucket's highest value, not the value).

use crate::error::{Error, Result};
use crate::metrics::Dist;
use crate::stats::dist::PERCENTILES;
use crate::stats::nearest_rank;
use hdrhistogram::Histogram;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Significant figures of the histogram: 3 gives buckets of width 1 below 2^11 and 2^(k-10)
/// in [2^k, 2^(k+1)) above (`buckets_are_as_documented`).
const SIGFIG: u8 = 3;
/// Sub-buckets per refinement pass.
const FINE: u64 = 1 << 16;

/// An empty histogram covering every u64 (lowest discernible value 1: width-1 buckets from 0).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, u64::MAX, SIGFIG).expect("1..=u64::MAX at 3 figures is valid")
}

/// One distribution's stream: counts (the histogram's), sum, maximum and the spill file.
pub struct Exact {
    hist: Histogram<u64>,
    sum: u128,
    max: u64,
    spill: Option<(PathBuf, BufWriter<File>)>,
}

impl Exact {
    /// Count values; spill them to `spill` (created now) when given. Without a spill file the
    /// distribution is resolved from other files ([`Exact::resolve`]'s `files`) or from values
    /// kept elsewhere ([`Exact::resolve_with`]).
    pub fn new(spill: Option<&Path>) -> Result<Exact> {
        let spill = match spill {
            Some(p) => Some((
                p.to_path_buf(),
                BufWriter::with_capacity(1 << 20, File::create(p).map_err(|e| Error::io(p, e))?),
            )),
            None => None,
        };
        Ok(Exact {
            hist: histogram(),
            sum: 0,
            max: 0,
            spill,
        })
    }

    #[inline]
    pub fn push(&mut self, v: u64) -> Result<()> {
        // Every u64 is in range: nothing is clamped.
        self.hist.saturating_record(v);
        self.sum += v as u128;
        self.max = self.max.max(v);
        if let Some((p, w)) = &mut self.spill {
            w.write_all(&v.to_le_bytes()).map_err(|e| Error::io(p, e))?;
        }
        Ok(())
    }

    /// Add another distribution's counts (its values are in its own spill file).
    pub fn merge_counts(&mut self, o: &Exact) {
        // Two histograms of one layout over every u64: adding cannot run out of range.
        self.hist
            .add(&o.hist)
            .expect("histograms of one layout over every u64 add");
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }

    /// Flush the spill file; its path.
    pub fn close(&mut self) -> Result<Option<PathBuf>> {
        match self.spill.take() {
            Some((p, mut w)) => {
                w.flush().map_err(|e| Error::io(&p, e))?;
                Ok(Some(p))
            }
            None => Ok(None),
        }
    }

    /// The exact distribution, reading the values back from `files` (the spill files that
    /// together hold exactly the values counted).
    pub fn resolve(&self, files: &[PathBuf]) -> Result<Dist> {
        self.resolve_with(|f| for_each_value(files, f))
    }

    /// The exact distribution, `pass` handing its argument every value counted, in slices of
    /// any length and in any order, each time it is called: the values read back from wherever
    /// they are kept (spill files, or the records of an in-memory replay).
    pub fn resolve_with(
        &self,
        mut pass: impl FnMut(&mut dyn FnMut(&[u64])) -> Result<()>,
    ) -> Result<Dist> {
        let n = self.hist.len();
        if n == 0 {
            return Ok(Dist::zero());
        }
        // (bucket lowest value, width, rank within the bucket (0-based)) per percentile.
        let mut want: Vec<(u64, u64, u64)> = Vec::new();
        let mut out = vec![0u64; PERCENTILES.len()];
        let mut slot = Vec::new();
        for (k, &p) in PERCENTILES.iter().enumerate() {
            let r = nearest_rank(n as usize, p) as u64 - 1;
            if r == n - 1 {
                out[k] = self.max;
                continue;
            }
            // Buckets in increasing order of value; `value_iterated_to` is a bucket's highest.
            let mut seen = 0u64;
            for b in self.hist.iter_recorded() {
                let c = b.count_at_value();
                if seen + c > r {
                    let v = b.value_iterated_to();
                    let (lo, w) = (
                        self.hist.lowest_equivalent(v),
                        self.hist.equivalent_range(v),
                    );
                    slot.push((k, want.len()));
                    want.push((lo, w, r - seen));
                    break;
                }
                seen += c;
            }
        }
        // Refine every target until its range is one value.
        while want.iter().any(|t| t.1 > 1) {
            let open: Vec<usize> = (0..want.len()).filter(|&i| want[i].1 > 1).collect();
            let step: Vec<u64> = open.iter().map(|&i| (want[i].1 / FINE).max(1)).collect();
            let mut counts: Vec<Vec<u64>> = open
                .iter()
                .zip(&step)
                .map(|(&i, &s)| vec![0u64; (want[i].1 / s) as usize])
                .collect();
            pass(&mut |vs| {
                for (j, &i) in open.iter().enumerate() {
                    let (lo, w, _) = want[i];
                    let c = &mut counts[j];
                    if step[j].is_power_of_two() {
                        // Branchless (most values fall outside the range, at random): a value
                        // outside counts 0 into sub-bucket 0.
                        let shift = step[j].trailing_zeros();
                        for &v in vs {
                            let d = v.wrapping_sub(lo);
                            let inside = d < w;
                            let k = if inside { (d >> shift) as usize } else { 0 };
                            c[k] += inside as u64;
                        }
                    } else {
                        for &v in vs {
                            let d = v.wrapping_sub(lo);
                            if d < w {
                                c[(d / step[j]) as usize] += 1;
                            }
                        }
                    }
                }
            })?;
            for (j, &i) in open.iter().enumerate() {
                let (lo, _, r) = want[i];
                let mut seen = 0u64;
                let mut found = None;
                for (s, &c) in counts[j].iter().enumerate() {
                    if seen + c > r {
                        found = Some((lo + s as u64 * step[j], step[j], r - seen));
                        break;
                    }
                    seen += c;
                }
                want[i] = found.ok_or_else(|| {
                    Error::Internal(
                        "exact percentiles: the values read back are not the values counted".into(),
                    )
                })?;
            }
        }
        for &(k, i) in &slot {
            out[k] = want[i].0;
        }
        let ms = |v: u64| v as f64 / 1e6;
        Ok(Dist {
            mean_ms: self.sum as f64 / n as f64 / 1e6,
            p50_ms: ms(out[0]),
            p90_ms: ms(out[1]),
            p95_ms: ms(out[2]),
            p99_ms: ms(out[3]),
            p999_ms: ms(out[4]),
            max_ms: ms(out[5]),
        })
    }
}

/// Hand `f` every value of the spill files, in order, a slice at a time.
fn for_each_value(files: &[PathBuf], f: &mut dyn FnMut(&[u64])) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut values: Vec<u64> = Vec::with_capacity(buf.len() / 8);
    for p in files {
        let mut r = BufReader::with_capacity(1 << 16, File::open(p).map_err(|e| Error::io(p, e))?);
        let mut have = 0usize;
        loop {
            let k = r.read(&mut buf[have..]).map_err(|e| Error::io(p, e))?;
            if k == 0 {
                break;
            }
            have += k;
            let whole = have / 8 * 8;
            values.clear();
            values.extend(
                buf[..whole]
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
            );
            f(&values);
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_as_documented() {
        // The layout the module's passes rely on, by hand: width 1 below 2^11; from 2^k on
        // (k >= 11) width 2^(k-10), the bucket starting at a multiple of its width; the last
        // bucket reaches u64::MAX.
        let h = histogram();
        for (v, lo, w) in [
            (0u64, 0u64, 1u64),
            (1, 1, 1),
            (2047, 2047, 1),
            (2048, 2048, 2),
            (2049, 2048, 2),
            (4095, 4094, 2),
            (4096, 4096, 4),
            // 123,456,789 is in [2^26, 2^27): width 2^16 = 65,536; 1883 x 65,536 = 123,404,288.
            (123_456_789, 123_404_288, 1 << 16),
            // 2^63 - 1 is in [2^62, 2^63): width 2^52.
            (u64::MAX / 2, (u64::MAX / 2) - ((1 << 52) - 1), 1 << 52),
            (u64::MAX, u64::MAX - ((1 << 53) - 1), 1 << 53),
        ] {
            assert_eq!(
                (h.lowest_equivalent(v), h.equivalent_range(v)),
                (lo, w),
                "{v}"
            );
        }
        assert_eq!(h.highest_equivalent(u64::MAX), u64::MAX);
        // 2^11 single values, then 1024 buckets for each of the 53 powers of two above.
        assert_eq!(h.distinct_values(), 2048 + 53 * 1024);
    }

    /// Nearest-rank percentiles by sorting, by hand's definition: the ceil(p n / 100)-th
    /// smallest.
    fn sorted_rank(v: &[u64], p: f64) -> u64 {
        let mut s = v.to_vec();
        s.sort_unstable();
        let r = ((p / 100.0 * s.len() as f64) - 1e-9).ceil().max(1.0) as usize;
        s[r - 1]
    }

    #[test]
    fn spilled_percentiles_equal_sorting() {
        let dir = tempfile::tempdir().unwrap();
        // Wide values (many passes), ties, and values in one bucket.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let sets: Vec<Vec<u64>> = vec![
            (0..10_007).map(|_| rnd() >> (rnd() % 60)).collect(),
            (0..5_000).map(|_| 50_000_000 + rnd() % 7).collect(),
            vec![42; 1000],
            vec![7],
            (0..20_000).map(|_| rnd()).collect(),
        ];
        for (k, v) in sets.iter().enumerate() {
            let a = dir.path().join(format!("a{k}"));
            let b = dir.path().join(format!("b{k}"));
            let (mut ea, mut eb) = (Exact::new(Some(&a)).unwrap(), Exact::new(Some(&b)).unwrap());
            let half = v.len() / 2;
            for &x in &v[..half] {
                ea.push(x).unwrap();
            }
            for &x in &v[half..] {
                eb.push(x).unwrap();
            }
            let files = [ea.close().unwrap().unwrap(), eb.close().unwrap().unwrap()];
            ea.merge_counts(&eb);
            let d = ea.resolve(&files).unwrap();
            let ms = |v: u64| v as f64 / 1e6;
            assert_eq!(
                (d.p50_ms, d.p90_ms, d.p95_ms, d.p99_ms, d.p999_ms, d.max_ms),
                (
                    ms(sorted_rank(v, 50.0)),
                    ms(sorted_rank(v, 90.0)),
                    ms(sorted_rank(v, 95.0)),
                    ms(sorted_rank(v, 99.0)),
                    ms(sorted_rank(v, 99.9)),
                    ms(*v.iter().max().unwrap())
                ),
                "set {k}"
            );
            let sum: u128 = v.iter().map(|&x| x as u128).sum();
            assert_eq!(d.mean_ms, sum as f64 / v.len() as f64 / 1e6);
        }
    }
}
