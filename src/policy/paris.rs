//! Partitioner `paris`: PARIS (Kim, Choi, Rhu, DAC 2022), as reconstructed from the paper's
//! abstract and patent (see `docs/policies.md`, "PARIS and ELSA"). Parameter: `theta` (default
//! 0.8).
//! The SLAs are the run's (`--sla-ms`, `sla.<model>`; [`crate::sla`]); without one for a
//! model, step 2 uses the knees alone for it (PARIS does not invent an SLA, nor take the
//! default rule a scheduler such as ELSA asks for).
//!
//! 1. **Knees.** For each slice s and model m, K(m, s) = the smallest profiled batch whose
//!    throughput (batch / latency) reaches `theta` x that series' peak throughput.
//! 2. **Batch -> slice map.** Each batch b of model m in the trace goes to the smallest slice s
//!    with b <= K(m, s) whose latency for b meets SLA(m) (when m has an SLA); failing that, the
//!    largest slice whose latency meets the SLA; failing that, the largest slice.
//! 3. **Shares.** The work of slice class s is W(s) = sum over the (m, b) mapped to s of
//!    P(m, b) x latency(m, s, b) x GPCs(s), P being the trace's joint frequency of (model,
//!    batch): several models share one layout sized on their mix. The ideal GPCs of s are
//!    W(s) / sum W x (GPUs x GPCs per GPU); the ideal instance count is that / GPCs(s).
//! 4. **Packing.** Each GPU gets one of the catalog's legal layouts that use only slices every
//!    trace model is profiled on and have no room for another such instance (one per multiset
//!    of slices; a layout with room for one more instance would only leave GPCs idle). The
//!    chosen multiset of N layouts minimizes the deviation
//!    D = sum over s of GPCs(s) x |n(s) - n*(s)| (GPC-weighted L1 distance between the
//!    instance counts n and the ideal n*: GPCs placed in the wrong class) exactly, by the
//!    branch and bound of [`pack`] (module `pack`); the plan records whether the optimum was
//!    proven and the lower bound. GPUs are listed in layout-type order (largest slices first).

use super::{
    Explanation, ParamKind, ParamSpec, Partition, PartitionContext, Partitioner, PartitionerEntry,
};
use crate::error::{Error, Result};
use crate::gpu::{GpuSpec, Layout, SliceId};
use crate::sla::ModelSla;
use serde::Serialize;
use std::sync::Arc;

mod pack;
pub use pack::{NODE_LIMIT, Packing, TOL, deviation, pack, pack_local, realize};

/// The registry entry.
pub const ENTRY: PartitionerEntry = PartitionerEntry {
    name: "paris",
    help: "PARIS: heterogeneous slices sized from the profile knees and the trace's batch mix",
    params: &[
        ParamSpec {
            name: "theta",
            kind: ParamKind::Float {
                min: 0.01,
                max: 1.0,
            },
            default: Some("0.8"),
            help: "knee of a slice: smallest profiled batch whose throughput reaches theta x the slice's peak",
        },
    ],
    build: |p| {
        Ok(Box::new(Paris {
            theta: p.f64("theta").unwrap_or(0.8),
        }))
    },
    // Heat maps compare schedulers on PARIS's heterogeneous layout.
    heat_map_layout: true,
    same_layout_every_gpu: false,
};

/// The PARIS partitioner.
#[derive(Debug, Clone)]
pub struct Paris {
    pub theta: f64,
}

/// One knee: model, slice, knee batch and peak throughput.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Knee {
    pub model: String,
    pub slice: String,
    pub knee_batch: u32,
    pub peak_items_per_s: f64,
}

/// Where one (model, batch) of the trace goes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchMap {
    pub model: String,
    pub batch: u32,
    /// Joint frequency of (model, batch) in the trace.
    pub probability: f64,
    pub slice: String,
    /// `knee`, `largest meeting the SLA` or `largest`.
    pub rule: &'static str,
    pub latency_ms: f64,
}

/// One slice class: its work, share and ideal and chosen sizes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Share {
    pub slice: String,
    pub gpcs: u8,
    /// Sum of P x latency (ms) x GPCs over the batches mapped here.
    pub work: f64,
    pub share: f64,
    pub ideal_gpcs: f64,
    pub ideal_instances: f64,
    pub chosen_instances: u32,
}

/// Everything PARIS decided, as `partition` prints it and `summary.json` records it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParisPlan {
    pub theta: f64,
    pub sla: Vec<ModelSla>,
    pub knees: Vec<Knee>,
    pub mapping: Vec<BatchMap>,
    pub shares: Vec<Share>,
    /// One canonical layout string per GPU.
    pub layouts: Vec<String>,
    /// sum over slices of GPCs x |chosen - ideal instances|.
    pub deviation: f64,
    pub norm: &'static str,
    /// Whether the packing is proven to minimize the deviation (up to [`TOL`] GPCs).
    pub optimal: bool,
    /// The least deviation any packing can have (the deviation itself when `optimal`).
    pub deviation_lower_bound: f64,
}

impl Paris {
    /// Compute the plan and the layouts.
    pub fn plan(&self, ctx: &PartitionContext) -> Result<(ParisPlan, Vec<Layout>)> {
        let gpu = ctx.gpu;
        let trace = ctx.trace;
        let profiles = ctx.profiles;
        if trace.queries() == 0 {
            return Err(Error::Usage("PARIS needs a trace with queries".into()));
        }
        // Slices every trace model is profiled on, smallest first.
        let slices: Vec<SliceId> = (0..gpu.profiles.len())
            .filter(|&s| {
                trace
                    .models
                    .iter()
                    .all(|m| profiles.get(gpu.name, m, gpu.profiles[s].name).is_some())
            })
            .collect();
        if slices.is_empty() {
            return Err(Error::file(
                &profiles.path,
                format!(
                    "PARIS: no slice of {} has a profile for every trace model ({})",
                    gpu.name,
                    trace.models.join(", ")
                ),
            ));
        }
        // The SLAs the run was given (not a default rule's).
        let slas: Vec<Option<&ModelSla>> = (0..trace.models.len())
            .map(|m| {
                ctx.slas
                    .get(m)
                    .and_then(|s| s.as_ref())
                    .filter(|s| !s.by_rule)
            })
            .collect();
        let series = |m: usize, s: SliceId| {
            profiles
                .get(gpu.name, &trace.models[m], gpu.profiles[s].name)
                .expect("filtered to profiled slices")
        };
        // 1. Knees.
        let mut knees = Vec::new();
        let mut knee = vec![vec![0u32; gpu.profiles.len()]; trace.models.len()];
        for (m, name) in trace.models.iter().enumerate() {
            for &s in &slices {
                let (k, peak, _) = series(m, s).knee(self.theta);
                knee[m][s] = k;
                knees.push(Knee {
                    model: name.clone(),
                    slice: gpu.profiles[s].name.to_string(),
                    knee_batch: k,
                    peak_items_per_s: peak,
                });
            }
        }
        // 2. Batch -> slice, over the trace's joint (model, batch) frequencies.
        let mix = trace.mix();
        let freq = &mix.counts;
        let n = trace.queries() as f64;
        let mut work = vec![0.0f64; gpu.profiles.len()];
        let mut mapping = Vec::new();
        for (&(m, b), &c) in freq {
            let m = m as usize;
            let lat = |s: SliceId| series(m, s).latency_ms(b).0;
            let meets = |s: SliceId| slas[m].as_ref().is_none_or(|x| lat(s) <= x.sla_ms);
            // Only the slices whose memory holds the batch (the profile's memory_mb).
            let fitting: Vec<SliceId> = slices
                .iter()
                .copied()
                .filter(|&s| {
                    series(m, s)
                        .memory_mb_at(b)
                        .is_none_or(|mb| mb <= gpu.profiles[s].memory_gb as f64 * 1024.0)
                })
                .collect();
            let Some(&largest) = fitting.last() else {
                return Err(Error::Usage(format!(
                    "PARIS: a batch of {b} of model '{}' fits the memory of no slice of {}",
                    trace.models[m], gpu.name
                )));
            };
            let (s, rule) = match fitting.iter().find(|&&s| b <= knee[m][s] && meets(s)) {
                Some(&s) => (s, "knee"),
                None if slas[m].is_none() => (largest, "largest"),
                None => match fitting.iter().rev().find(|&&s| meets(s)) {
                    Some(&s) => (s, "largest meeting the SLA"),
                    None => (largest, "largest"),
                },
            };
            let p = c as f64 / n;
            // 3. Work of the class.
            work[s] += p * lat(s) * gpu.profiles[s].gpcs as f64;
            mapping.push(BatchMap {
                model: trace.models[m].clone(),
                batch: b,
                probability: p,
                slice: gpu.profiles[s].name.to_string(),
                rule,
                latency_ms: lat(s),
            });
        }
        let total_work: f64 = work.iter().sum();
        let server_gpcs = (ctx.gpus * gpu.gpcs as usize) as f64;
        let ideal: Vec<f64> = (0..gpu.profiles.len())
            .map(|s| work[s] / total_work * server_gpcs / gpu.profiles[s].gpcs as f64)
            .collect();
        // 4. Packing.
        let (types, counts) = layout_types(gpu, &slices);
        let weights: Vec<f64> = gpu.profiles.iter().map(|p| p.gpcs as f64).collect();
        let packing = pack(&counts, &weights, &ideal, ctx.gpus);
        let chosen = &packing.chosen;
        let mut total = vec![0u32; gpu.profiles.len()];
        for &k in chosen {
            for (t, c) in total.iter_mut().zip(&counts[k]) {
                *t += c;
            }
        }
        let layouts: Vec<Layout> = chosen.iter().map(|&k| types[k].clone()).collect();
        let shares = slices
            .iter()
            .map(|&s| Share {
                slice: gpu.profiles[s].name.to_string(),
                gpcs: gpu.profiles[s].gpcs,
                work: work[s],
                share: work[s] / total_work,
                ideal_gpcs: ideal[s] * gpu.profiles[s].gpcs as f64,
                ideal_instances: ideal[s],
                chosen_instances: total[s],
            })
            .collect();
        let plan = ParisPlan {
            theta: self.theta,
            sla: slas.into_iter().flatten().cloned().collect(),
            knees,
            mapping,
            shares,
            layouts: layouts.iter().map(|l| l.name(gpu)).collect(),
            deviation: deviation(&total, &weights, &ideal),
            norm: "sum over slices of GPCs(s) x |instances(s) - ideal instances(s)|",
            optimal: packing.optimal,
            deviation_lower_bound: packing.lower_bound,
        };
        Ok((plan, layouts))
    }
}

impl Partitioner for Paris {
    fn partition(&self, ctx: &PartitionContext) -> Result<Partition> {
        let (plan, layouts) = self.plan(ctx)?;
        Ok(Partition {
            layouts,
            explanation: Some(Arc::new(plan)),
        })
    }
}

impl Explanation for ParisPlan {
    /// The plan as `partition` prints it: the SLAs, the knees, the batch -> slice map (runs of
    /// consecutive batches of one model with the same slice and rule as ranges), the shares
    /// and the deviation.
    fn text(&self) -> String {
        let mut s = format!("theta {}\n", self.theta);
        for x in &self.sla {
            s += &format!("SLA {}: {} ms ({})\n", x.model, x.sla_ms, x.source);
        }
        s += "knees (smallest batch reaching theta x peak throughput):\n";
        for k in &self.knees {
            s += &format!(
                "  {:<14} {:<9} knee batch {:>4}  peak {:>9.1} items/s\n",
                k.model, k.slice, k.knee_batch, k.peak_items_per_s
            );
        }
        s += "batch -> slice (model, batch range, slice, rule, share of queries):\n";
        let rows = &self.mapping;
        let mut i = 0;
        while i < rows.len() {
            let r = &rows[i];
            let mut j = i;
            let mut p = 0.0;
            while j < rows.len()
                && rows[j].model == r.model
                && rows[j].slice == r.slice
                && rows[j].rule == r.rule
            {
                p += rows[j].probability;
                j += 1;
            }
            s += &format!(
                "  {:<14} {:>4}..{:<4} -> {:<9} ({}) {:>6.2}%\n",
                r.model,
                r.batch,
                rows[j - 1].batch,
                r.slice,
                r.rule,
                100.0 * p
            );
            i = j;
        }
        s += "shares (work = P x latency x GPCs):\n";
        for x in &self.shares {
            s += &format!(
                "  {:<9} share {:>6.2}%  ideal {:>6.2} GPCs = {:>6.2} instances  chosen {}\n",
                x.slice,
                100.0 * x.share,
                x.ideal_gpcs,
                x.ideal_instances,
                x.chosen_instances
            );
        }
        s += &format!("deviation {:.3} ({})", self.deviation, self.norm);
        s += &if self.optimal {
            ", the least any packing has\n".to_string()
        } else {
            format!(
                ", the best found; no packing has less than {:.3} (search stopped at {NODE_LIMIT} nodes)\n",
                self.deviation_lower_bound
            )
        };
        s
    }
}

/// The layouts PARIS packs from: the catalog's legal layouts that use only `slices` and to
/// which no instance of those slices can be added (a layout with room for one more instance
/// only wastes GPCs), one per multiset of slices; with their per-slice instance counts.
pub fn layout_types(gpu: &GpuSpec, slices: &[SliceId]) -> (Vec<Layout>, Vec<Vec<u32>>) {
    let usable: Vec<(Layout, Vec<u32>)> = gpu
        .legal_layouts()
        .into_iter()
        .filter(|l| l.placements.iter().all(|p| slices.contains(&p.slice)))
        .map(|l| {
            let c = slice_counts(gpu, &l);
            (l, c)
        })
        .collect();
    let dominated = |c: &[u32]| {
        usable
            .iter()
            .any(|(_, d)| d != c && d.iter().zip(c).all(|(x, y)| x >= y))
    };
    usable
        .iter()
        .filter(|(_, c)| !dominated(c))
        .cloned()
        .unzip()
}

/// Instances of each slice in a layout.
fn slice_counts(gpu: &GpuSpec, l: &Layout) -> Vec<u32> {
    let mut c = vec![0u32; gpu.profiles.len()];
    for p in &l.placements {
        c[p.slice] += 1;
    }
    c
}
