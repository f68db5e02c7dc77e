//! The tasks of a sweep, numbered in matrix order; they depend on the config and the registry
//! alone, so every shard of a sharded sweep computes the same list.

use super::config::{PolicySpec, SweepConfig};
use crate::policy::Registry;

/// An offered load: a fraction of the best peak, an absolute rate scale, or the workload's
/// absolute reference rate (`reference_qps`; workloads without one skip it).
#[derive(Clone, Copy, Debug)]
pub enum Load {
    Fraction(f64),
    Scale(f64),
    Reference,
}

/// The task lists of a config. A peak task is (work, policy), a load task (work, policy, load),
/// a heat-map task (workload, policy); works are (workload, seed) in config order.
#[derive(Debug, Clone)]
pub struct Tasks {
    /// (work, policy).
    pub peaks: Vec<(usize, usize)>,
    /// (work, policy, load index into `loads`).
    pub runs: Vec<(usize, usize, usize)>,
    pub loads: Vec<Load>,
    /// (workload, policy).
    pub heats: Vec<(usize, usize)>,
}

impl Tasks {
    /// The tasks of `cfg`.
    pub fn of(cfg: &SweepConfig, registry: &Registry) -> Tasks {
        let n_works = cfg.workloads.len() * cfg.seeds.len();
        let np = cfg.policies.len();
        let peaks = (0..n_works)
            .flat_map(|k| (0..np).map(move |p| (k, p)))
            .collect();
        let mut fractions = cfg.loads.clone();
        if !fractions.is_empty()
            && !fractions
                .iter()
                .any(|f| (f - cfg.reference_load).abs() < 1e-12)
        {
            fractions.push(cfg.reference_load);
        }
        fractions.sort_by(f64::total_cmp);
        let loads: Vec<Load> = fractions
            .iter()
            .map(|&f| Load::Fraction(f))
            .chain(cfg.rate_scales.iter().map(|&s| Load::Scale(s)))
            .chain(
                cfg.workloads
                    .iter()
                    .any(|w| w.reference_qps.is_some())
                    .then_some(Load::Reference),
            )
            .collect();
        let nl = loads.len();
        let runs = (0..n_works)
            .flat_map(|k| (0..np).flat_map(move |p| (0..nl).map(move |l| (k, p, l))))
            .collect();
        let heat_policies = heat_map_policies(cfg, registry);
        let heats = (0..cfg.workloads.len())
            .flat_map(|w| heat_policies.iter().map(move |&p| (w, p)))
            .collect();
        Tasks {
            peaks,
            runs,
            loads,
            heats,
        }
    }

    /// The work (workload, seed) index of workload `w` and seed position `s`.
    pub fn work(cfg: &SweepConfig, w: usize, s: usize) -> usize {
        w * cfg.seeds.len() + s
    }

    /// (workload, seed) of work `k`.
    pub fn work_coords(cfg: &SweepConfig, k: usize) -> (usize, u64) {
        (k / cfg.seeds.len(), cfg.seeds[k % cfg.seeds.len()])
    }
}

/// The policies whose heat maps the report draws, in config order: those the sweep file's
/// `heat_maps` names; by default, for each scheduler whose registry entry asks for heat maps,
/// the first policy with it whose partitioner's entry asks for its layout (so the maps differ
/// by the scheduler alone), else the first policy with it.
fn heat_map_policies(cfg: &SweepConfig, registry: &Registry) -> Vec<usize> {
    let label_of = |p: &PolicySpec| p.label();
    if let Some(labels) = &cfg.heat_maps {
        let mut v: Vec<usize> = labels
            .iter()
            .filter_map(|l| cfg.policies.iter().position(|p| &label_of(p) == l))
            .collect();
        v.sort_unstable();
        v.dedup();
        return v;
    }
    let halves: Vec<Option<(bool, &str, bool)>> = cfg
        .policies
        .iter()
        .map(|p| {
            registry
                .lookup(&p.name)
                .ok()
                .map(|(pe, se)| (pe.heat_map_layout, se.name, se.heat_maps))
        })
        .collect();
    let mut picked: Vec<usize> = Vec::new();
    let mut schedulers: Vec<&str> = Vec::new();
    for &(_, s, wants) in halves.iter().flatten() {
        if wants && !schedulers.contains(&s) {
            schedulers.push(s);
        }
    }
    for s in schedulers {
        let with = |layout: bool| {
            halves
                .iter()
                .position(|h| h.is_some_and(|(l, x, _)| x == s && (l || !layout)))
        };
        picked.extend(with(true).or_else(|| with(false)));
    }
    picked.sort_unstable();
    picked
}

/// Roughly how many replays a sweep will run (for a progress bar's length).
pub fn estimate_tasks(cfg: &SweepConfig) -> u64 {
    let cells = (cfg.workloads.len() * cfg.seeds.len() * cfg.policies.len()) as u64;
    let loads = (cfg.loads.len() + cfg.rate_scales.len() + 1) as u64;
    cells + cells * loads + 2 * cfg.workloads.len() as u64
}
