//! How a MIG reconfiguration changes the server (the rules the engine applies when a
//! repartitioner, [`crate::policy::Repartitioner`], asks for new layouts).
//!
//! - **Which GPUs change, and into what.** The new layouts are a multiset (a partitioner plans
//!   counts, not positions); they are assigned to GPUs so that as many instances as possible
//!   stay where they are ([`assign`]): first every GPU whose layout appears unchanged keeps it,
//!   then, GPU by GPU in index order, the remaining layout that keeps most of its placements
//!   (ties: the first in the plan's order).
//! - **Partial reconfiguration** (`reconfig.drain = instances`, the default). On a GPU that
//!   changes, only the instances whose placement (slice and start) is not in the new layout are
//!   destroyed; the others keep serving. NVIDIA documents that instances may be destroyed and
//!   created while others on the same GPU run, provided the new placements do not overlap the
//!   instances in use (NVIDIA/k8s-device-plugin issues 992 and 299, maintainers' answers), which
//!   a legal new layout containing the kept placements guarantees. `reconfig.drain = gpu`
//!   destroys every instance of a changing GPU, as declarative tools such as NVIDIA's mig-parted
//!   expect (every workload on the GPU stopped first).
//! - **Destroying.** An instance to be destroyed takes no new query from that instant and
//!   finishes the batch it runs (NVML refuses to destroy an instance in use); its local queue and
//!   forming batch go back to the scheduler, which places them again (no query is lost or served
//!   twice). When every destroyed instance of the GPU has finished, the freed region is down for
//!   `reconfig.cost_s`, after which the new instances join, idle.
//! - **Cost.** `reconfig.cost_s` defaults to 6 s: the reconfiguration overhead reported for
//!   MIGRator (arXiv 2407.13126; quoted second-hand, not checked against the paper). What is
//!   published ranges from about 1-2 s of stale telemetry after an instance is created on H100
//!   (NVIDIA/DCGM issue 230) to the 62-68 s container restart that Delta-HPC models
//!   (NEWSLabNTU/Delta-HPC) and 3-5 minutes for a node relabel through NVIDIA's MIG manager:
//!   sweep it (`experiments/reconfig.toml` goes from 0 to 60 s).
//! - **Rolling.** At most `reconfig.max_concurrent` GPUs (default 1) are being reconfigured at
//!   once; the others wait their turn in GPU order. A plan that arrives while one is being
//!   applied is not taken (the reconfiguration log counts it as skipped).
//!
//! Costs and periods are simulated seconds: they do not shrink when `--rate-scale` compresses
//! the trace's time axis (a reconfiguration takes as long at any load).

use crate::gpu::{Layout, Placement};

/// Which instances of a changing GPU are destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Drain {
    /// Only those whose placement is not in the new layout.
    Instances,
    /// All of them.
    Gpu,
}

/// The reconfiguration rules' parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ReconfigModel {
    /// How long a freed region is down before its new instances join (ns).
    pub cost_ns: u64,
    /// The most GPUs reconfiguring at once (>= 1).
    pub max_concurrent: u32,
    pub drain: Drain,
}

impl Default for ReconfigModel {
    fn default() -> Self {
        ReconfigModel {
            cost_ns: 6_000_000_000,
            max_concurrent: 1,
            drain: Drain::Instances,
        }
    }
}

/// The reconfiguration rules of a run (`reconfig.<key>`): an input of their own beside the
/// service model, parsed once at the edge ([`crate::policy::RunParams::split`]) and carried by
/// the run's [`crate::scenario::Scenario`]. A server that never reconfigures refuses them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconfigRules {
    /// The rules as the engine applies them (the defaults where a key was not given).
    pub model: ReconfigModel,
    /// The keys given (without the `reconfig.` prefix) with their values as given: reports name
    /// a run's rules by them.
    pub given: std::collections::BTreeMap<String, String>,
}

/// The placements of `old` that stay when its GPU moves to `new` under `drain`.
pub fn kept(old: &Layout, new: &Layout, drain: Drain) -> Vec<Placement> {
    if old == new || same_placements(old, new) {
        return old.placements.clone();
    }
    match drain {
        Drain::Gpu => Vec::new(),
        Drain::Instances => old
            .placements
            .iter()
            .filter(|p| new.placements.contains(p))
            .copied()
            .collect(),
    }
}

/// Whether two layouts place the same instances (in any order).
pub fn same_placements(a: &Layout, b: &Layout) -> bool {
    let (mut x, mut y) = (a.placements.clone(), b.placements.clone());
    x.sort_by_key(|p| (p.start, p.slice));
    y.sort_by_key(|p| (p.start, p.slice));
    x == y
}

/// A layout's placements as sorted (start, slice) pairs: equal for the same instances.
type PlacementKey = Vec<(u8, usize)>;

/// Assign the planned layouts (a multiset, one per GPU) to GPUs: unchanged GPUs first, then
/// the most placements kept (see the module docs). Returns one layout per GPU. Layouts are
/// grouped by their placements, so the cost is O(GPUs x distinct layouts), not GPUs squared.
pub fn assign(current: &[Layout], planned: &[Layout]) -> Vec<Layout> {
    let n = current.len();
    let key = |l: &Layout| {
        let mut v: Vec<(u8, usize)> = l.placements.iter().map(|p| (p.start, p.slice)).collect();
        v.sort_unstable();
        v
    };
    // Distinct planned layouts in order of first appearance, with how many are left.
    let mut distinct: Vec<(PlacementKey, Layout, usize)> = Vec::new();
    let mut index: std::collections::HashMap<PlacementKey, usize> =
        std::collections::HashMap::new();
    for l in planned {
        let k = key(l);
        match index.get(&k) {
            Some(&d) => distinct[d].2 += 1,
            None => {
                index.insert(k.clone(), distinct.len());
                distinct.push((k, l.clone(), 1));
            }
        }
    }
    let mut out: Vec<Option<Layout>> = vec![None; n];
    for (g, cur) in current.iter().enumerate() {
        if let Some(&d) = index.get(&key(cur))
            && distinct[d].2 > 0
        {
            distinct[d].2 -= 1;
            out[g] = Some(distinct[d].1.clone());
        }
    }
    for (g, cur) in current.iter().enumerate() {
        if out[g].is_some() {
            continue;
        }
        let mut best: Option<(usize, usize)> = None;
        for (d, (_, l, left)) in distinct.iter().enumerate() {
            if *left == 0 {
                continue;
            }
            let keep = cur
                .placements
                .iter()
                .filter(|p| l.placements.contains(p))
                .count();
            if best.is_none_or(|(_, b)| keep > b) {
                best = Some((d, keep));
            }
        }
        let (d, _) = best.expect("as many planned layouts as GPUs");
        distinct[d].2 -= 1;
        out[g] = Some(distinct[d].1.clone());
    }
    out.into_iter().map(|l| l.expect("assigned")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(p: &[(usize, u8)]) -> Layout {
        Layout {
            placements: p
                .iter()
                .map(|&(slice, start)| Placement { slice, start })
                .collect(),
        }
    }

    #[test]
    fn unchanged_gpus_keep_their_layout_and_the_rest_keep_most() {
        // GPU 0: A, GPU 1: B; the plan is [C, A] where C shares one placement with B.
        let a = l(&[(4, 0)]);
        let b = l(&[(2, 0), (2, 4)]);
        let c = l(&[(2, 0), (0, 4), (0, 5)]);
        let got = assign(&[a.clone(), b.clone()], &[c.clone(), a.clone()]);
        assert_eq!(got, vec![a.clone(), c.clone()]);
        assert_eq!(
            kept(&b, &c, Drain::Instances),
            vec![Placement { slice: 2, start: 0 }]
        );
        assert!(kept(&b, &c, Drain::Gpu).is_empty());
        assert_eq!(kept(&a, &a, Drain::Gpu), a.placements);
    }
}
