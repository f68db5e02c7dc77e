//! Partitioner `paris`: PARIS (Kim, Choi, Rhu, DAC 2022), as reconstructed from the paper's
//! abstract and patent (see the README, "PARIS and ELSA"). Parameter: `theta` (default 0.8).
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
//!    instance counts n and the ideal n*: GPCs placed in the wrong class). The search is a
//!    greedy start (GPU by GPU, towards the prorated ideal) improved by best-improvement local
//!    search over moves that change one or two GPUs' layouts, until no move lowers D; it is
//!    deterministic, takes milliseconds for 64 GPUs, and is checked against exhaustive search
//!    on small servers in the tests. GPUs are listed with the largest layouts first.

use super::{
    Explanation, ParamKind, ParamSpec, Partition, PartitionContext, Partitioner, PartitionerEntry,
};
use crate::error::{Error, Result};
use crate::gpu::{GpuSpec, Layout, SliceId};
use crate::sla::ModelSla;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

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
}

impl Paris {
    /// Compute the plan and the layouts.
    pub fn plan(&self, ctx: &PartitionContext) -> Result<(ParisPlan, Vec<Layout>)> {
        let gpu = ctx.gpu;
        let trace = ctx.trace;
        let profiles = ctx.profiles;
        if trace.is_empty() {
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
        let mut freq: BTreeMap<(u32, u32), u64> = BTreeMap::new();
        for (&m, &b) in trace.model.iter().zip(&trace.batch) {
            *freq.entry((m, b)).or_default() += 1;
        }
        let n = trace.len() as f64;
        let mut work = vec![0.0f64; gpu.profiles.len()];
        let mut mapping = Vec::new();
        for (&(m, b), &c) in &freq {
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
        let chosen = pack(&counts, &weights, &ideal, ctx.gpus);
        let mut total = vec![0u32; gpu.profiles.len()];
        for &k in &chosen {
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
        s += &format!("deviation {:.3} ({})\n", self.deviation, self.norm);
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

/// D = sum_s w_s |n_s - t_s|.
pub fn deviation(n: &[u32], w: &[f64], target: &[f64]) -> f64 {
    n.iter()
        .zip(w)
        .zip(target)
        .map(|((&c, &w), &t)| w * (c as f64 - t).abs())
        .sum()
}

const EPS: f64 = 1e-9;

/// Choose `gpus` layout types (indices into `counts`) whose summed counts minimize
/// [`deviation`] from `target`: a greedy start, then best-improvement moves of one or two GPUs.
/// Returned sorted by type index.
pub fn pack(counts: &[Vec<u32>], w: &[f64], target: &[f64], gpus: usize) -> Vec<usize> {
    let k = counts.len();
    let dims = w.len();
    let add = |sum: &mut [i64], t: usize, sign: i64| {
        for d in 0..dims {
            sum[d] += sign * counts[t][d] as i64;
        }
    };
    let dev = |sum: &[i64]| -> f64 {
        (0..dims)
            .map(|d| w[d] * (sum[d] as f64 - target[d]).abs())
            .sum()
    };
    // Greedy: each GPU takes the type that brings the running sum closest to the prorated
    // target.
    let mut chosen = Vec::with_capacity(gpus);
    let mut sum = vec![0i64; dims];
    for g in 0..gpus {
        let frac = (g + 1) as f64 / gpus as f64;
        let mut best = (f64::INFINITY, 0);
        for t in 0..k {
            add(&mut sum, t, 1);
            let d: f64 = (0..dims)
                .map(|x| w[x] * (sum[x] as f64 - target[x] * frac).abs())
                .sum();
            add(&mut sum, t, -1);
            if d < best.0 - EPS {
                best = (d, t);
            }
        }
        chosen.push(best.1);
        add(&mut sum, best.1, 1);
    }
    // Local search over multisets: remove one or two GPUs' types, add one or two.
    let mut cur = dev(&sum);
    loop {
        let mut hist = vec![0usize; k];
        for &t in &chosen {
            hist[t] += 1;
        }
        let present: Vec<usize> = (0..k).filter(|&t| hist[t] > 0).collect();
        let mut best: Option<(f64, Vec<usize>, Vec<usize>)> = None;
        let mut consider = |d: f64, out: Vec<usize>, inn: Vec<usize>| {
            if d < cur - EPS && best.as_ref().is_none_or(|b| d < b.0 - EPS) {
                best = Some((d, out, inn));
            }
        };
        for &a in &present {
            add(&mut sum, a, -1);
            for b in 0..k {
                if b != a {
                    add(&mut sum, b, 1);
                    consider(dev(&sum), vec![a], vec![b]);
                    add(&mut sum, b, -1);
                }
            }
            for &a2 in present
                .iter()
                .filter(|&&x| x > a || (x == a && hist[a] >= 2))
            {
                add(&mut sum, a2, -1);
                for b in 0..k {
                    add(&mut sum, b, 1);
                    for b2 in b..k {
                        add(&mut sum, b2, 1);
                        consider(dev(&sum), vec![a, a2], vec![b, b2]);
                        add(&mut sum, b2, -1);
                    }
                    add(&mut sum, b, -1);
                }
                add(&mut sum, a2, 1);
            }
            add(&mut sum, a, 1);
        }
        let Some((d, out, inn)) = best else { break };
        for t in out {
            let pos = chosen.iter().position(|&x| x == t).expect("present");
            chosen.swap_remove(pos);
            add(&mut sum, t, -1);
        }
        for t in inn {
            chosen.push(t);
            add(&mut sum, t, 1);
        }
        cur = d;
    }
    chosen.sort_unstable();
    chosen
}
