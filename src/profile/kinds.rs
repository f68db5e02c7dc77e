//! Profiles for the GPU kinds nobody has published per-slice measurements of (H100-80GB,
//! H200-141GB, A30-24GB): each is **modeled** from the A100-80GB series, slice by slice, with a
//! per-model factor taken from public whole-GPU results (`profiles/sources/mlperf/`, MLPerf
//! Inference closed-division Offline throughput per accelerator, NVIDIA's TensorRT
//! submissions).
//!
//! The rule: a slice of k compute slices (GPCs) on kind X runs a batch in the latency of the
//! A100-80GB slice of k GPCs divided by `f(X, model)`, the speed of one compute slice of X over
//! one of the A100. `f = R x 7 / C_X`, where `R` is the whole-GPU throughput ratio X / A100 and
//! `C_X` the compute slices of X (7 on H100 and H200, 4 on A30): it assumes a whole GPU's
//! throughput is its compute slices' (the A100's MIG uses 98 of its 108 SMs, so this is an
//! approximation of about 10 %). The ratios:
//! - H100-80GB: v3.0 DGX-H100 x1 / v3.0 DGX-A100 (80 GB) x1, the same round and software.
//! - H200-141GB: (v4.1 H200 x8 per GPU / v4.0 DGX-H100 x1) x the H100 ratio; no single-GPU
//!   H200 result for these benchmarks was found.
//! - A30-24GB: v2.0 A30 x1 / v2.0 DGX-A100 (80 GB) x1.
//!
//! Models: `resnet50` uses MLPerf's ResNet-50, `bert-base` its BERT-Large (bert-99, seq 384: a
//! larger model than ours; the ratio of two GPUs is what carries over), `mobilenet-v2` the
//! ResNet-50 ratio (a CNN; MLPerf's datacenter suite has no MobileNet). Memory per batch is kept
//! from the A100 rows (a model's footprint does not depend on the GPU), so a batch that does not
//! fit a small slice (A30's 1g.6gb) is refused there. Every row is `modeled`, with an `origin`
//! naming the A100 row, the factor and the figures.

use crate::error::{Error, Result};
use crate::io::csv::CsvTable;
use std::path::Path;

/// The MLPerf source file, under the profile sources.
pub const MLPERF: &str = "mlperf/offline_per_accelerator.csv";

/// A GPU kind modeled from the A100-80GB series. Each kind's MLPerf rule is a `match` arm in
/// [`factors`] with no catch-all: a new kind does not compile until its rule is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modeled {
    H100,
    H200,
    A30,
}

impl Modeled {
    /// The kind's name (`mig-replay gpu list`).
    pub fn name(self) -> &'static str {
        match self {
            Modeled::H100 => "H100-80GB",
            Modeled::H200 => "H200-141GB",
            Modeled::A30 => "A30-24GB",
        }
    }
}

/// The GPU kinds modeled, their compute slices, and their profile file names.
pub const KINDS: &[(Modeled, u32, &str)] = &[
    (Modeled::H100, 7, "h100-80gb.parquet"),
    (Modeled::H200, 7, "h200-141gb.parquet"),
    (Modeled::A30, 4, "a30-24gb.parquet"),
];

/// Our models and the MLPerf benchmark whose ratio each uses.
pub const MODELS: &[(&str, &str)] = &[
    ("resnet50", "resnet50"),
    ("bert-base", "bert-99"),
    ("mobilenet-v2", "resnet50"),
];

/// One kind's factor for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub gpu: &'static str,
    pub model: &'static str,
    /// Whole-GPU throughput ratio X / A100-80GB.
    pub whole: f64,
    /// Speed of one compute slice of X over one of the A100: `whole x 7 / C_X`.
    pub per_slice: f64,
    /// How it was computed, with the figures.
    pub rule: String,
}

/// Per-accelerator Offline throughput of (round, accelerator, benchmark).
fn per_acc(
    t: &[(String, String, f64, String)],
    round: &str,
    acc: &str,
    bench: &str,
    path: &Path,
) -> Result<f64> {
    t.iter()
        .find(|r| r.0 == round && r.1 == acc && r.3 == bench)
        .map(|r| r.2)
        .ok_or_else(|| {
            Error::file(
                path,
                format!("no row for round {round}, accelerator {acc}, benchmark {bench}"),
            )
        })
}

/// The factors of every modeled kind and model, from the MLPerf CSV under `sources`.
pub fn factors(sources: &Path) -> Result<Vec<Factor>> {
    let path = sources.join(MLPERF);
    let csv = CsvTable::read(&path)?;
    let (round, acc, n, bench, sps) = (
        csv.strings("round")?,
        csv.strings("accelerator")?,
        csv.ints_at_least("accelerators", 1)?,
        csv.strings("benchmark")?,
        csv.positive_floats("samples_per_s")?,
    );
    // (round, accelerator, samples/s per accelerator, benchmark)
    let rows: Vec<(String, String, f64, String)> = (0..csv.len())
        .map(|i| {
            (
                round[i].clone(),
                acc[i].clone(),
                sps[i] / n[i] as f64,
                bench[i].clone(),
            )
        })
        .collect();
    let a100 = "A100-SXM-80GB";
    let mut out = Vec::new();
    for &(kind, c, _) in KINDS {
        for &(model, b) in MODELS {
            let g = |r: &str, a: &str| per_acc(&rows, r, a, b, &path);
            let (whole, rule) = match kind {
                Modeled::H100 => {
                    let (h, a) = (g("v3.0", "H100-SXM-80GB")?, g("v3.0", a100)?);
                    (
                        h / a,
                        format!("MLPerf v3.0 {b} Offline per GPU: H100 {h} / A100 {a}"),
                    )
                }
                Modeled::H200 => {
                    let (h2, h1) = (g("v4.1", "H200-SXM-141GB")?, g("v4.0", "H100-SXM-80GB")?);
                    let (h, a) = (g("v3.0", "H100-SXM-80GB")?, g("v3.0", a100)?);
                    (
                        h2 / h1 * (h / a),
                        format!(
                            "MLPerf {b} Offline per GPU: v4.1 H200 {h2} / v4.0 H100 {h1} x v3.0 H100 {h} / A100 {a}"
                        ),
                    )
                }
                Modeled::A30 => {
                    let (x, a) = (g("v2.0", "A30")?, g("v2.0", a100)?);
                    (
                        x / a,
                        format!("MLPerf v2.0 {b} Offline per GPU: A30 {x} / A100 {a}"),
                    )
                }
            };
            out.push(Factor {
                gpu: kind.name(),
                model,
                whole,
                per_slice: whole * 7.0 / c as f64,
                rule,
            });
        }
    }
    Ok(out)
}
