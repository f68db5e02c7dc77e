//! `mig-replay profile build`: turn the shipped public measurements (`profiles/sources/`) into
//! profile Parquet files, keeping the provenance of every row.
//!
//! Method (see `profiles/README.md` for the full statement):
//! 1. **Measured series** (one measurement setup per series, never mixed):
//!    - A100-80GB `resnet50`, `vit-b` (MIGProfiler `vision_transformer`): MIGProfiler CV sweep,
//!      1g/2g/3g/7g, batches 1..256.
//!    - A100-80GB `bert-base` (seq 64): MIGProfiler NLP batch sweep, 1g/2g/3g/7g, batches 1..256.
//!    - A100-80GB `mobilenet-v2`: SUSTech MIG_Schedule, all five slices, batches 4/8/16/32.
//!    - A100-40GB, five BERT-family sentence encoders (seq 64): MIGProfiler, 1g/2g/3g/7g, 1..256.
//! 2. **Modeled 4g** where a series has no 4g measurement: `4g(b) = 3g(b) * r(b)`, with `r` the
//!    measured 4g/3g latency ratio of a reference in another source (A100-80GB: SUSTech's own
//!    measurement of the same model, `bert` for `vit-b`; A100-40GB: the mean 4g.20gb/3g.20gb
//!    training-step ratio of MISO's `bert`). SUSTech ratios are known at batches 4..32; between
//!    them `r` is interpolated in log2(batch), outside them held at the nearest end.
//! 3. **Batch grid** 1..32, 64, 128, 256: a batch between two known points of the same series is
//!    linearly interpolated (`interpolated` when both neighbours are measured, else `modeled`);
//!    below or above the known range it is extrapolated linearly from the two nearest points,
//!    bounded so that throughput never rises as the batch shrinks nor falls as it grows
//!    (`modeled`).
//! 4. **Checks**: latency non-decreasing in batch within a series and a larger slice never slower
//!    than a smaller one at the same batch, both beyond a relative noise tolerance. Violations are
//!    reported (with the sources of the rows involved), never smoothed away.

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::io::csv::CsvTable;
use crate::profile::Source;
use arrow_array::RecordBatch;
use arrow_array::{ArrayRef, Float64Array, Int32Array, StringArray};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One profile point with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub latency_ms: f64,
    pub source: Source,
    pub memory_mb: Option<f64>,
    /// Run-to-run std of the latency (ms), where measured or derived from a measured one.
    pub latency_std_ms: Option<f64>,
    /// The file the number comes from, or the rule that made it.
    pub origin: String,
}

impl Point {
    /// A number read from a source file.
    fn measured(
        latency_ms: f64,
        latency_std_ms: Option<f64>,
        memory_mb: Option<f64>,
        origin: String,
    ) -> Point {
        Point {
            latency_ms,
            source: Source::Measured,
            memory_mb,
            latency_std_ms,
            origin,
        }
    }

    /// A number made by a rule (`Interpolated` or `Modeled`); no memory figure. The std, when
    /// given, is made by the same rule from measured stds.
    fn derived(
        latency_ms: f64,
        latency_std_ms: Option<f64>,
        source: Source,
        origin: String,
    ) -> Point {
        Point {
            latency_ms,
            source,
            memory_mb: None,
            latency_std_ms,
            origin,
        }
    }

    /// The coefficient of variation, where the std is known.
    fn cv(&self) -> Option<f64> {
        self.latency_std_ms.map(|s| s / self.latency_ms)
    }
}

/// (gpu, model, slice) -> batch -> point.
pub type Table = BTreeMap<(String, String, String), BTreeMap<u32, Point>>;

/// What `profile build` takes.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The folder with the source CSVs (`profiles/sources`).
    pub sources: PathBuf,
    /// Where the Parquet files and `build-report.md` go.
    pub out_dir: PathBuf,
    /// Relative noise tolerance of the monotonicity checks.
    pub tolerance: f64,
}

/// What the build did.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// Output file -> rows.
    pub files: Vec<(PathBuf, usize)>,
    /// (gpu, model) -> rows of each source [measured, interpolated, modeled].
    pub rows_by_source: BTreeMap<(String, String), [usize; 3]>,
    pub violations: Vec<String>,
}

/// The batch grid every series is completed to.
pub fn batch_grid() -> Vec<u32> {
    (1..=32).chain([64, 128, 256]).collect()
}

const MIGP: &str = "migprofiler";
const SUSTECH: &str = "sustech-mig-schedule/latency_QUOTED.csv";
const MISO: &str = "miso-socc22/mig_training_step_times_DERIVED.csv";

fn rel(p: &Path, root: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn insert(t: &mut Table, key: (&str, &str, &str), b: u32, p: Point, file: &Path) -> Result<()> {
    let s = t
        .entry((key.0.into(), key.1.into(), key.2.into()))
        .or_default();
    if s.insert(b, p).is_some() {
        return Err(Error::file(
            file,
            format!(
                "two measurements of ({}, {}, {}, batch {b}); expected one per series and batch",
                key.0, key.1, key.2
            ),
        ));
    }
    Ok(())
}

/// MIGProfiler A100-80GB files (`mig_profile` column).
fn read_migp_80(t: &mut Table, root: &Path, file: &str, models: &[(&str, &str)]) -> Result<()> {
    let path = root.join(MIGP).join("A100-80GB").join(file);
    let c = CsvTable::read(&path)?;
    let (names, bs, lat, slices, mem) = (
        c.strings("model_name")?,
        c.batches("batch_size")?,
        c.positive_floats("latency")?,
        c.strings("mig_profile")?,
        c.floats("fb_used_mean")?,
    );
    let sd = c.floats("latency_std")?;
    let gpu = GpuSpec::by_name("A100-80GB")?;
    for r in 0..c.len() {
        let Some(&(_, model)) = models.iter().find(|m| m.0 == names[r]) else {
            continue;
        };
        let sid = gpu.slice_id(&slices[r]).ok_or_else(|| {
            Error::column(
                &path,
                "mig_profile",
                format!("line {}: {}", r + 2, gpu.unknown_slice(&slices[r])),
            )
        })?;
        let p = Point::measured(lat[r], Some(sd[r]), Some(mem[r]), rel(&path, root));
        insert(
            t,
            ("A100-80GB", model, gpu.profiles[sid].name),
            bs[r],
            p,
            &path,
        )?;
    }
    Ok(())
}

/// MIGProfiler A100-40GB batch sweeps (`instance_memory` 5/10/20/40 GB).
fn read_migp_40(t: &mut Table, root: &Path) -> Result<()> {
    for m in ["bert-base", "distil_v1", "distil_v2", "MiniLM", "mpnet"] {
        let path = root
            .join(MIGP)
            .join("A100-40GB")
            .join(format!("infer_bsz_{m}.csv"));
        let c = CsvTable::read(&path)?;
        let (names, bs, lat, memgb, mem) = (
            c.strings("model_name")?,
            c.batches("batch_size")?,
            c.positive_floats("latency")?,
            c.ints("instance_memory")?,
            c.floats("fb_used_mean")?,
        );
        let sd = c.floats("latency_std")?;
        for r in 0..c.len() {
            let slice = match memgb[r] {
                5 => "1g.5gb",
                10 => "2g.10gb",
                20 => "3g.20gb",
                40 => "7g.40gb",
                v => {
                    return Err(Error::column(
                        &path,
                        "instance_memory",
                        format!("line {}: {v} GB; expected 5, 10, 20 or 40", r + 2),
                    ));
                }
            };
            let p = Point::measured(lat[r], Some(sd[r]), Some(mem[r]), rel(&path, root));
            insert(t, ("A100-40GB", &names[r], slice), bs[r], p, &path)?;
        }
    }
    Ok(())
}

/// SUSTech quoted latencies: (model, slice) -> batch -> ms.
fn read_sustech(root: &Path) -> Result<BTreeMap<(String, String), BTreeMap<u32, f64>>> {
    let path = root.join(SUSTECH);
    let c = CsvTable::read(&path)?;
    let (slices, models, bs, lat) = (
        c.strings("slice")?,
        c.strings("model")?,
        c.batches("batch_size")?,
        c.positive_floats("avg_latency_ms")?,
    );
    let mut out: BTreeMap<(String, String), BTreeMap<u32, f64>> = BTreeMap::new();
    for r in 0..c.len() {
        out.entry((models[r].clone(), slices[r].clone()))
            .or_default()
            .insert(bs[r], lat[r]);
    }
    Ok(out)
}

/// MISO training step times: mean 4g.20gb/3g.20gb ratio of a model over the batches both have.
fn miso_ratio(root: &Path, model: &str) -> Result<(f64, Vec<u32>)> {
    let path = root.join(MISO);
    let c = CsvTable::read(&path)?;
    let (slices, models, bs, step) = (
        c.strings("slice")?,
        c.strings("model")?,
        c.batches("batch_size")?,
        c.positive_floats("median_step_s")?,
    );
    let mut by: BTreeMap<u32, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for r in 0..c.len() {
        if models[r] != model {
            continue;
        }
        let e = by.entry(bs[r]).or_default();
        match slices[r].as_str() {
            "3g.20gb" => e.0 = Some(step[r]),
            "4g.20gb" => e.1 = Some(step[r]),
            _ => {}
        }
    }
    let pairs: Vec<(u32, f64)> = by
        .into_iter()
        .filter_map(|(b, (a, c))| Some((b, c? / a?)))
        .collect();
    if pairs.is_empty() {
        return Err(Error::file(
            &path,
            format!("no batch of '{model}' has both 3g.20gb and 4g.20gb"),
        ));
    }
    Ok((
        pairs.iter().map(|p| p.1).sum::<f64>() / pairs.len() as f64,
        pairs.iter().map(|p| p.0).collect(),
    ))
}

/// A ratio known at some batches, interpolated in log2(batch), held at the ends.
fn ratio_at(known: &BTreeMap<u32, f64>, b: u32) -> f64 {
    let first = known.iter().next().expect("non-empty");
    let last = known.iter().next_back().expect("non-empty");
    if b <= *first.0 {
        return *first.1;
    }
    if b >= *last.0 {
        return *last.1;
    }
    let lo = known.range(..=b).next_back().expect("b > first");
    let hi = known.range(b..).next().expect("b < last");
    if lo.0 == hi.0 {
        return *lo.1;
    }
    let w = ((b as f64).log2() - (*lo.0 as f64).log2())
        / ((*hi.0 as f64).log2() - (*lo.0 as f64).log2());
    lo.1 + w * (hi.1 - lo.1)
}

/// Add a modeled slice `to` from slice `from` of the same (gpu, model) times `ratio(batch)`.
fn model_slice(
    t: &mut Table,
    gpu: &str,
    model: &str,
    from: &str,
    to: &str,
    ratio: impl Fn(u32) -> f64,
    rule: &str,
) {
    let Some(src) = t.get(&(gpu.into(), model.into(), from.into())).cloned() else {
        return;
    };
    let dst = t.entry((gpu.into(), model.into(), to.into())).or_default();
    for (b, p) in src {
        let r = ratio(b);
        dst.entry(b).or_insert(Point::derived(
            p.latency_ms * r,
            p.latency_std_ms.map(|sd| sd * r),
            Source::Modeled,
            format!("{to} = {from} x {r:.4} ({rule})"),
        ));
    }
}

/// Complete a series to the batch grid.
fn fill(series: &mut BTreeMap<u32, Point>, grid: &[u32]) {
    let known: Vec<(u32, Point)> = series.iter().map(|(b, p)| (*b, p.clone())).collect();
    if known.is_empty() {
        return;
    }
    let n = known.len();
    for &b in grid {
        if series.contains_key(&b) {
            continue;
        }
        let k = known.partition_point(|p| p.0 < b);
        let point = if k > 0 && k < n {
            let ((b0, p0), (b1, p1)) = (&known[k - 1], &known[k]);
            let w = (b - b0) as f64 / (b1 - b0) as f64;
            let both = p0.source == Source::Measured && p1.source == Source::Measured;
            let source = if both {
                Source::Interpolated
            } else {
                Source::Modeled
            };
            Point::derived(
                p0.latency_ms + w * (p1.latency_ms - p0.latency_ms),
                p0.latency_std_ms
                    .zip(p1.latency_std_ms)
                    .map(|(s0, s1)| s0 + w * (s1 - s0)),
                source,
                format!("linear between batches {b0} and {b1}"),
            )
        } else if n == 1 {
            let (b0, p0) = &known[0];
            let l = p0.latency_ms * b as f64 / *b0 as f64;
            Point::derived(
                l,
                p0.cv().map(|cv| cv * l),
                Source::Modeled,
                format!("constant throughput from batch {b0}"),
            )
        } else if k == 0 {
            let ((b0, p0), (b1, p1)) = (&known[0], &known[1]);
            let slope = ((p1.latency_ms - p0.latency_ms) / (b1 - b0) as f64).max(0.0);
            let floor = p0.latency_ms * b as f64 / *b0 as f64;
            let l = (p0.latency_ms - slope * (b0 - b) as f64).max(floor);
            Point::derived(
                l,
                p0.cv().map(|cv| cv * l),
                Source::Modeled,
                format!("linear extrapolation down from batches {b0}, {b1}"),
            )
        } else {
            let ((b0, p0), (b1, p1)) = (&known[n - 2], &known[n - 1]);
            let slope = ((p1.latency_ms - p0.latency_ms) / (b1 - b0) as f64)
                .clamp(0.0, p1.latency_ms / *b1 as f64);
            let l = p1.latency_ms + slope * (b - b1) as f64;
            Point::derived(
                l,
                p1.cv().map(|cv| cv * l),
                Source::Modeled,
                format!("linear extrapolation up from batches {b0}, {b1}"),
            )
        };
        series.insert(b, point);
    }
}

/// The slices of each (gpu, model) in the table, from the fewest GPCs to the most.
fn slice_groups(t: &Table) -> BTreeMap<(String, String), Vec<(u8, String)>> {
    let mut groups: BTreeMap<(String, String), Vec<(u8, String)>> = BTreeMap::new();
    for (g, m, s) in t.keys() {
        if let Some(spec) = GpuSpec::find(g)
            && let Some(id) = spec.slice_id(s)
        {
            groups
                .entry((g.clone(), m.clone()))
                .or_default()
                .push((spec.profiles[id].gpcs, s.clone()));
        }
    }
    for v in groups.values_mut() {
        v.sort();
    }
    groups
}

/// Monotonicity checks over a finished table.
pub fn check(t: &Table, tol: f64) -> Vec<String> {
    let mut v = Vec::new();
    let fmt = |p: &Point| format!("{:.3} ms ({}, {})", p.latency_ms, p.source, p.origin);
    for ((g, m, s), series) in t {
        let pts: Vec<(&u32, &Point)> = series.iter().collect();
        for w in pts.windows(2) {
            if w[1].1.latency_ms < w[0].1.latency_ms * (1.0 - tol) {
                v.push(format!(
                    "{g} {m} {s}: latency falls with batch: batch {} {} > batch {} {}",
                    w[0].0,
                    fmt(w[0].1),
                    w[1].0,
                    fmt(w[1].1)
                ));
            }
        }
    }
    // Slices of one (gpu, model), from the fewest GPCs to the most.
    for ((g, m), slices) in slice_groups(t) {
        for i in 0..slices.len() {
            for j in i + 1..slices.len() {
                let (small, large) = (
                    &t[&(g.clone(), m.clone(), slices[i].1.clone())],
                    &t[&(g.clone(), m.clone(), slices[j].1.clone())],
                );
                for (b, pl) in large {
                    if let Some(ps) = small.get(b)
                        && pl.latency_ms > ps.latency_ms * (1.0 + tol)
                    {
                        v.push(format!(
                            "{g} {m} batch {b}: larger slice slower: {} {} > {} {}",
                            slices[j].1,
                            fmt(pl),
                            slices[i].1,
                            fmt(ps)
                        ));
                    }
                }
            }
        }
    }
    v
}

/// Read every source and build the full table (all GPUs).
pub fn build_table(sources: &Path) -> Result<Table> {
    let mut t = Table::new();
    read_migp_80(
        &mut t,
        sources,
        "infer_cv_integrated_result.csv",
        &[("resnet50", "resnet50"), ("vision_transformer", "vit-b")],
    )?;
    read_migp_80(
        &mut t,
        sources,
        "infer_nlp_integrated_result_bsz.csv",
        &[("bert-base", "bert-base")],
    )?;
    read_migp_40(&mut t, sources)?;
    let sus = read_sustech(sources)?;
    let sus_path = sources.join(SUSTECH);
    // MobileNet-v2: measured by SUSTech on all five A100-80GB slices.
    for ((model, slice), pts) in &sus {
        if model == "mobilenet_v2" && slice != "no-mig" {
            for (&b, &l) in pts {
                let p = Point::measured(l, None, None, SUSTECH.into());
                insert(
                    &mut t,
                    ("A100-80GB", "mobilenet-v2", slice),
                    b,
                    p,
                    &sus_path,
                )?;
            }
        }
    }
    // Modeled 4g.40gb on A100-80GB from SUSTech 4g/3g ratios.
    let ratios = |m: &str| -> Result<BTreeMap<u32, f64>> {
        let (Some(a), Some(c)) = (
            sus.get(&(m.into(), "3g.40gb".into())),
            sus.get(&(m.into(), "4g.40gb".into())),
        ) else {
            return Err(Error::file(
                &sus_path,
                format!("no 3g.40gb and 4g.40gb rows for '{m}'"),
            ));
        };
        Ok(a.iter()
            .filter_map(|(b, l3)| Some((*b, c.get(b)? / l3)))
            .collect())
    };
    let (r_res, r_bert) = (ratios("resnet50")?, ratios("bert-base-fp16-seq1024")?);
    model_slice(
        &mut t,
        "A100-80GB",
        "resnet50",
        "3g.40gb",
        "4g.40gb",
        |b| ratio_at(&r_res, b),
        "SUSTech resnet50 4g/3g ratio",
    );
    model_slice(
        &mut t,
        "A100-80GB",
        "bert-base",
        "3g.40gb",
        "4g.40gb",
        |b| ratio_at(&r_bert, b),
        "SUSTech bert fp16 seq1024 4g/3g ratio",
    );
    model_slice(
        &mut t,
        "A100-80GB",
        "vit-b",
        "3g.40gb",
        "4g.40gb",
        |b| ratio_at(&r_bert, b),
        "SUSTech bert fp16 seq1024 4g/3g ratio, a transformer standing in for ViT",
    );
    // Modeled 4g.20gb on A100-40GB from MISO's bert training-step ratio.
    let (r_miso, miso_b) = miso_ratio(sources, "bert")?;
    let rule = format!("MISO bert training step 4g.20gb/3g.20gb, mean over batches {miso_b:?}");
    let encoders: Vec<String> = t
        .keys()
        .filter(|k| k.0 == "A100-40GB")
        .map(|k| k.1.clone())
        .collect();
    for m in encoders {
        model_slice(
            &mut t,
            "A100-40GB",
            &m,
            "3g.20gb",
            "4g.20gb",
            |_| r_miso,
            &rule,
        );
    }
    let grid = batch_grid();
    for s in t.values_mut() {
        fill(s, &grid);
    }
    bound_by_slices(&mut t);
    model_kinds(&mut t, sources)?;
    Ok(t)
}

/// H100-80GB, H200-141GB and A30-24GB, modeled from the finished A100-80GB series
/// ([`super::kinds`]): every slice of each kind from the A100 slice with as many GPCs, its
/// latencies (and stds) divided by the kind's per-compute-slice factor, its memory kept.
fn model_kinds(t: &mut Table, sources: &Path) -> Result<()> {
    let a100 = GpuSpec::by_name("A100-80GB")?;
    for f in super::kinds::factors(sources)? {
        let spec = GpuSpec::by_name(f.gpu)?;
        for p in &spec.profiles {
            let Some(from) = a100.profiles.iter().find(|a| a.gpcs == p.gpcs) else {
                continue;
            };
            let Some(src) = t
                .get(&("A100-80GB".into(), f.model.into(), from.name.into()))
                .cloned()
            else {
                continue;
            };
            let series: BTreeMap<u32, Point> = src
                .into_iter()
                .map(|(b, q)| {
                    let mut d = Point::derived(
                        q.latency_ms / f.per_slice,
                        q.latency_std_ms.map(|s| s / f.per_slice),
                        Source::Modeled,
                        format!(
                            "A100-80GB {} batch {b} ({}) / {:.4} (per compute slice: {:.4} x 7 / {} GPCs; {})",
                            from.name,
                            q.source.as_str(),
                            f.per_slice,
                            f.whole,
                            spec.gpcs,
                            f.rule
                        ),
                    );
                    d.memory_mb = q.memory_mb;
                    (b, d)
                })
                .collect();
            t.insert((f.gpu.into(), f.model.into(), p.name.into()), series);
        }
    }
    Ok(())
}

/// Slice order for modeled points: at each batch, a modeled latency is raised to the latency of
/// the next larger slice if it is below it, then lowered to that of the next smaller slice if it
/// is above it. Measured and interpolated points are never changed, so violations in the source
/// data stay visible to [`check`].
fn bound_by_slices(t: &mut Table) {
    for ((g, m), slices) in slice_groups(t) {
        let key = |s: &str| (g.clone(), m.clone(), s.to_string());
        let mut adjust = |from: &str, to: &str, raise: bool| {
            let other = t[&key(to)].clone();
            let series = t.get_mut(&key(from)).expect("slice present");
            for (b, p) in series.iter_mut() {
                let Some(o) = other.get(b) else { continue };
                let wrong = if raise {
                    p.latency_ms < o.latency_ms
                } else {
                    p.latency_ms > o.latency_ms
                };
                if p.source == Source::Modeled && wrong {
                    // Keep the point's coefficient of variation.
                    p.latency_std_ms = p.cv().map(|cv| cv * o.latency_ms);
                    p.latency_ms = o.latency_ms;
                    p.origin += &format!(
                        "; {} to {to} (slice order)",
                        if raise { "raised" } else { "lowered" }
                    );
                }
            }
        };
        for w in slices.windows(2).rev() {
            adjust(&w[0].1, &w[1].1, true);
        }
        for w in slices.windows(2) {
            adjust(&w[1].1, &w[0].1, false);
        }
    }
}

/// Write the rows of one GPU as a profile Parquet file (deterministic order and bytes).
pub fn write_gpu(t: &Table, gpu: &str, path: &Path) -> Result<usize> {
    let spec = GpuSpec::by_name(gpu)?;
    let mut keys: Vec<&(String, String, String)> = t.keys().filter(|k| k.0 == gpu).collect();
    keys.sort_by_key(|k| (k.1.clone(), spec.slice_id(&k.2)));
    let mut sd = vec![];
    let (mut g, mut sl, mut mo, mut ba, mut la, mut so, mut me, mut or) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for k in keys {
        for (b, p) in &t[k] {
            g.push(k.0.clone());
            sl.push(k.2.clone());
            mo.push(k.1.clone());
            ba.push(*b as i32);
            la.push(p.latency_ms);
            so.push(p.source.as_str().to_string());
            me.push(p.memory_mb);
            sd.push(p.latency_std_ms);
            or.push(p.origin.clone());
        }
    }
    let n = g.len();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("gpu", Arc::new(StringArray::from(g))),
        ("slice", Arc::new(StringArray::from(sl))),
        ("model", Arc::new(StringArray::from(mo))),
        ("batch", Arc::new(Int32Array::from(ba))),
        ("latency_ms", Arc::new(Float64Array::from(la))),
        ("source", Arc::new(StringArray::from(so))),
        ("memory_mb", Arc::new(Float64Array::from(me))),
        ("origin", Arc::new(StringArray::from(or))),
        ("latency_std_ms", Arc::new(Float64Array::from(sd))),
    ];
    let batch = RecordBatch::try_from_iter(cols).map_err(|e| Error::Other(e.to_string()))?;
    crate::io::write_parquet(path, &batch)?;
    Ok(n)
}

/// Run the whole build: read, model, fill, check, write one file per GPU and a report.
pub fn build(cfg: &BuildConfig) -> Result<BuildReport> {
    if !(cfg.tolerance.is_finite() && cfg.tolerance >= 0.0) {
        return Err(Error::Usage(format!(
            "--tolerance must be >= 0, got {}",
            cfg.tolerance
        )));
    }
    let t = build_table(&cfg.sources)?;
    let mut rep = BuildReport {
        violations: check(&t, cfg.tolerance),
        ..Default::default()
    };
    for ((g, m, _), s) in &t {
        let e = rep
            .rows_by_source
            .entry((g.clone(), m.clone()))
            .or_insert([0; 3]);
        for p in s.values() {
            match p.source {
                Source::Measured => e[0] += 1,
                Source::Interpolated => e[1] += 1,
                _ => e[2] += 1,
            }
        }
    }
    let kinds = super::kinds::KINDS.iter().map(|&(g, _, f)| (g.name(), f));
    for (gpu, file) in [
        ("A100-80GB", "a100-80gb.parquet"),
        ("A100-40GB", "a100-40gb.parquet"),
    ]
    .into_iter()
    .chain(kinds)
    {
        let path = cfg.out_dir.join(file);
        let n = write_gpu(&t, gpu, &path)?;
        rep.files.push((path, n));
    }
    crate::io::write_atomic(
        &cfg.out_dir.join("build-report.md"),
        rep.markdown(cfg.tolerance).as_bytes(),
    )?;
    Ok(rep)
}

impl BuildReport {
    /// The report as Markdown (also written to `build-report.md`).
    pub fn markdown(&self, tol: f64) -> String {
        let mut s = String::from(
            "# Profile build report\n\nGenerated by `mig-replay profile build`; do not edit.\n\n",
        );
        s += "| file | rows |\n|---|---:|\n";
        for (p, n) in &self.files {
            s += &format!(
                "| `{}` | {n} |\n",
                p.file_name().unwrap_or_default().to_string_lossy()
            );
        }
        s += "\nRows per source:\n\n| gpu | model | measured | interpolated | modeled | total |\n|---|---|---:|---:|---:|---:|\n";
        for ((g, m), c) in &self.rows_by_source {
            s += &format!(
                "| {g} | {m} | {} | {} | {} | {} |\n",
                c[0],
                c[1],
                c[2],
                c[0] + c[1] + c[2]
            );
        }
        s += &format!(
            "\nMonotonicity violations beyond {:.0}% (reported, not corrected): {}\n\n",
            tol * 100.0,
            self.violations.len()
        );
        for v in &self.violations {
            s += &format!("- {v}\n");
        }
        s
    }
}
