//! Exact order statistics of a stream of nanosecond values without holding the values: a
//! histogram pass and exact passes over a spill file.
//!
//! While the values stream by, [`Exact`] counts them in log-linear buckets (every value below
//! 2^11 has its own bucket; above, a bucket spans 1/1024 of its lower bound, so about 57,000
//! buckets cover every u64) and appends them, 8 bytes each, to a spill file on disk. At the end
//! the nearest rank of each percentile ([`crate::stats::nearest_rank`], the definition of
//! [`crate::stats::percentile`]) names a bucket and a rank inside it. Each further pass reads
//! the spill file once and counts, for every unresolved percentile, the values of its bucket in
//! 65,536 equal sub-buckets; a sub-bucket of width 1 is the value itself. A bucket of width up to
//! 2^16 ns (values below 2^27 ns, 134 ms) resolves in one pass, every u64 in at most four. The
//! passes may read the values from elsewhere than a spill file ([`Exact::resolve_with`]: an
//! in-memory replay walks its records again, holding nothing per value).
//!
//! Memory: the histogram (8 bytes per bucket, about 460 KB) and, during a pass, 256 KB per
//! unresolved percentile; nothing per value. Disk: 8 bytes per value while the replay runs.
//! The mean (a u128 sum) and the maximum are kept exactly as they go.

use crate::error::{Error, Result};
use crate::metrics::Dist;
use crate::metrics::dist::PERCENTILES;
use crate::stats::nearest_rank;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Values below 2^SUB get a bucket each; above, 2^(SUB-1) buckets per power of two.
const SUB: u32 = 11;
const HALF: u64 = 1 << (SUB - 1);
/// Buckets in all: 2^SUB exact ones, then 2^(SUB-1) per shift 1..=64-SUB.
const BUCKETS: usize = (1 << SUB) + (64 - SUB as usize) * HALF as usize;
/// Sub-buckets per refinement pass.
const FINE: u64 = 1 << 16;

/// The bucket of `v`, and the bucket's lowest value and width.
#[inline(always)]
fn bucket(v: u64) -> usize {
    if v < 1 << SUB {
        return v as usize;
    }
    let sh = 64 - v.leading_zeros() - SUB; // >= 1: v >> sh in [2^(SUB-1), 2^SUB)
    (1 << SUB) + (sh as usize - 1) * HALF as usize + ((v >> sh) - HALF) as usize
}

/// The lowest value of bucket `b` and its width.
fn bounds(b: usize) -> (u64, u64) {
    if b < 1 << SUB {
        return (b as u64, 1);
    }
    let k = b - (1 << SUB);
    let sh = (k / HALF as usize) as u32 + 1;
    let m = (k % HALF as usize) as u64 + HALF;
    (m << sh, 1 << sh)
}

/// One distribution's stream: counts, sum, maximum and the spill file.
pub struct Exact {
    hist: Vec<u64>,
    n: u64,
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
            hist: vec![0; BUCKETS],
            n: 0,
            sum: 0,
            max: 0,
            spill,
        })
    }

    #[inline]
    pub fn push(&mut self, v: u64) -> Result<()> {
        self.hist[bucket(v)] += 1;
        self.n += 1;
        self.sum += v as u128;
        self.max = self.max.max(v);
        if let Some((p, w)) = &mut self.spill {
            w.write_all(&v.to_le_bytes()).map_err(|e| Error::io(p, e))?;
        }
        Ok(())
    }

    /// Add another distribution's counts (its values are in its own spill file).
    pub fn merge_counts(&mut self, o: &Exact) {
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a += b;
        }
        self.n += o.n;
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
        if self.n == 0 {
            return Ok(Dist::zero());
        }
        // (bucket lowest value, width, rank within the bucket (0-based)) per percentile.
        let mut want: Vec<(u64, u64, u64)> = Vec::new();
        let mut out = vec![0u64; PERCENTILES.len()];
        let mut slot = Vec::new();
        for (k, &p) in PERCENTILES.iter().enumerate() {
            let r = nearest_rank(self.n as usize, p) as u64 - 1;
            if r == self.n - 1 {
                out[k] = self.max;
                continue;
            }
            let mut seen = 0u64;
            for (b, &c) in self.hist.iter().enumerate() {
                if seen + c > r {
                    let (lo, w) = bounds(b);
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
                    for &v in vs {
                        if v >= lo && v - lo < w {
                            counts[j][((v - lo) / step[j]) as usize] += 1;
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
            mean_ms: self.sum as f64 / self.n as f64 / 1e6,
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
    fn buckets_tile_the_line() {
        // Every bucket starts where the one before ends, and values map into their bucket.
        let mut next = 0u64;
        for b in 0..BUCKETS {
            let (lo, w) = bounds(b);
            assert_eq!(lo, next, "bucket {b}");
            next = lo.wrapping_add(w);
        }
        assert_eq!(next, 0, "the last bucket ends at 2^64");
        for v in [
            0,
            1,
            2047,
            2048,
            2049,
            4095,
            4096,
            123_456_789,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let (lo, w) = bounds(bucket(v));
            assert!(v >= lo && v - lo < w, "{v}");
        }
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
