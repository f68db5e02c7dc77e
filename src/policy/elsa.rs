//! Scheduler `elsa`: ELSA (Kim, Choi, Rhu, DAC 2022), as reconstructed in
//! `docs/PLUGINS.md` and `docs/policies.md` from the paper's abstract and patent.
//!
//! Every instance keeps its own FIFO queue. When a query of model `m` and batch `b` arrives at
//! `t`, for every instance `i` with a profile for `m`:
//! `est_done(i) = max(free_at(i), t) + latency(m, slice_i, b)`, where `free_at(i)` is the
//! view's estimate of when everything already sent to `i` finishes (profile latencies, never
//! the true service times). The instance is *feasible* when `est_done(i) - t <= SLA(m)`.
//! ELSA picks the feasible instance with the least `(GPCs, est_done, index)`, keeping large
//! slices free for the batches only they can serve in time; when none is feasible, the least
//! `(est_done, GPCs, index)`. The query joins that instance's queue.
//!
//! With service-time noise or dynamic batching ([`crate::service`]) the estimates are no longer
//! the true times, and ELSA applies the same rule to the view's estimates directly:
//! `est_done(i)` = [`ServerView::estimate_done`], which accounts for joining a forming batch
//! (the batch starts at its deadline, or at once if the query fills it, and runs for the
//! profiled latency of the new sum) and for the batcher's delay on an idle instance. Joining a
//! forming batch, or a batch the local queue will form ([`ServerView::predict`] replays the
//! batcher on the queue), also delays the members already in it, so such a choice is feasible
//! only if the batch's estimated completion meets the SLA of its *oldest* member
//! (`est_done - oldest arrival <= SLA`), not just the arriving query's. That path scans every
//! instance (O(instances) per query).
//!
//! SLA(m): the run's ([`crate::sla`]: `sla.<model>`, `--sla-ms`, or the default rule with
//! `sla_multiple` and `sla_batch_percentile`, which the run applies because ELSA's entry
//! declares `needs_sla`), the same SLA the metrics judge every query by.
//!
//! **Margin** (our addition, off by default): `margin_frac` and `margin_std` pad the arriving
//! query's estimate on instance `i` by `margin_frac x latency + margin_std x std`, std being the
//! profile's `latency_std_ms` of (model, slice, batch) (0 where the profile has none); `i` is
//! feasible when `est_done(i) + margin <= t + SLA(m)`. With noisy service, an estimate placed
//! exactly at the SLA misses it about half the time; the margin trades that for headroom.

use super::{
    Cost, Dispatch, Explanation, ParamKind, ParamSpec, Params, QueryInfo, SchedContext,
    Scheduler, SchedulerEntry, ServerView,
};
use crate::error::{Error, Result};
use crate::sla::ModelSla;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// The registry entry.
pub const ENTRY: SchedulerEntry = SchedulerEntry {
    name: "elsa",
    help: "ELSA: the smallest instance whose estimated completion meets the SLA, else the earliest",
    params: MARGIN_PARAMS,
    build: |p, ctx| Ok(Box::new(Elsa::new(p, ctx)?)),
    // Exact: the class structure; noisy: a scan of every instance per query; batched: the scan
    // predicts how each queue batches.
    cost: Cost {
        exact: 4,
        noisy: 16,
        batched: 30,
    },
    heat_maps: true,
    fcfs_earliest_free: false,
    needs_sla: true,
};

/// The estimate margin's parameters (ELSA's and `least-loaded`'s).
pub const MARGIN_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "margin_frac",
        kind: ParamKind::Float {
            min: 0.0,
            max: 10.0,
        },
        default: Some("0"),
        help: "pad each estimate by this fraction of the query's profiled latency (0: none)",
    },
    ParamSpec {
        name: "margin_std",
        kind: ParamKind::Float {
            min: 0.0,
            max: 100.0,
        },
        default: Some("0"),
        help: "pad each estimate by this many profiled latency_std_ms (0: none)",
    },
];

/// The estimate margin: `frac x latency + std x profiled std`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Margin {
    pub frac: f64,
    pub std: f64,
}

impl Margin {
    /// From the declared parameters.
    pub fn from_params(p: &Params) -> Margin {
        Margin {
            frac: p.f64("margin_frac").unwrap_or(0.0),
            std: p.f64("margin_std").unwrap_or(0.0),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.frac == 0.0 && self.std == 0.0
    }

    /// The margin (ns) of a query of `model` and `batch` on `slice`, whose profiled latency is
    /// `l` ns.
    #[inline]
    pub fn ns(&self, view: &ServerView, model: u32, slice: usize, batch: u32, l: u64) -> u64 {
        if self.is_zero() {
            return 0;
        }
        let std = view.estimated_std_ns(model, slice, batch).unwrap_or(0);
        (self.frac * l as f64 + self.std * std as f64).round() as u64
    }
}

/// What ELSA decided before the replay: the SLA of every trace model and where it came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ElsaDetails {
    pub sla: Vec<ModelSla>,
    pub margin_frac: f64,
    pub margin_std: f64,
}

impl Explanation for ElsaDetails {
    /// The margin, when there is one (the SLAs are the run's, printed with its figures).
    fn text(&self) -> String {
        if self.margin_frac == 0.0 && self.margin_std == 0.0 {
            return String::new();
        }
        format!(
            "scheduler margin: {} x latency + {} x profiled std on every estimate\n",
            self.margin_frac, self.margin_std
        )
    }
}

/// The ELSA scheduler.
///
/// Within one slice class every instance adds the same latency for a query, so the class's
/// best instance is the one with the least (max(free_at, t), index), and the class has a
/// feasible instance iff that one is feasible. ELSA therefore keeps, per class, the instances
/// whose estimated backlog has drained (a bitset: the lowest index wins) and the others in a
/// min-heap by (free_at, index), and decides in O(classes + log instances) per query instead
/// of scanning every instance. The heap's keys are the view's own estimates
/// ([`ServerView::estimated_free_at`] at each dispatch, plus the query's profiled latency): ELSA
/// keeps no model of the backlog of its own.
#[derive(Debug, Clone)]
pub struct Elsa {
    /// SLA of each trace model, ns.
    sla_ns: Vec<u64>,
    slas: Vec<ModelSla>,
    /// Slice classes in increasing GPC order: (slice, GPCs, member instances).
    classes: Vec<Class>,
    /// Class of each instance.
    class_of: Vec<usize>,
    /// Decide from the view's estimates by scanning every instance (inexact service).
    scan: bool,
    margin: Margin,
}

#[derive(Debug, Clone)]
struct Class {
    slice: usize,
    gpcs: u8,
    /// Members whose backlog has drained, as a bitset over instance indices.
    drained: Vec<u64>,
    /// The other members, by (free_at, index).
    busy: BinaryHeap<Reverse<(u64, u32)>>,
}

impl Class {
    /// Move members whose backlog drained by `now` to the bitset; return the best member and
    /// its (max(free_at, now)).
    fn best(&mut self, now: u64) -> Option<(u64, usize)> {
        while let Some(&Reverse((f, i))) = self.busy.peek() {
            if f > now {
                break;
            }
            self.busy.pop();
            self.drained[i as usize / 64] |= 1 << (i % 64);
        }
        if let Some((k, w)) = self.drained.iter().enumerate().find(|(_, w)| **w != 0) {
            return Some((now, k * 64 + w.trailing_zeros() as usize));
        }
        self.busy.peek().map(|&Reverse((f, i))| (f, i as usize))
    }
}

impl Elsa {
    /// Build for a server, with the run's SLA of every trace model.
    pub fn new(p: &Params, ctx: &SchedContext) -> Result<Elsa> {
        let slas: Vec<ModelSla> = ctx
            .trace
            .models
            .iter()
            .enumerate()
            .map(|(k, m)| {
                ctx.slas.get(k).cloned().flatten().ok_or_else(|| {
                    Error::Usage(format!(
                        "elsa needs an SLA for model '{m}': give --sla-ms or --param sla.{m}=MS"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let mut e = Elsa::with_slas(
            slas,
            ctx.server
                .instances
                .iter()
                .map(|i| (i.slice, i.gpcs))
                .collect(),
        );
        e.scan = !ctx.exact_estimates;
        e.margin = Margin::from_params(p);
        Ok(e)
    }

    /// Build from explicit SLAs (one per trace model) and instances `(slice, GPCs)`, all idle.
    pub fn with_slas(slas: Vec<ModelSla>, instances: Vec<(usize, u8)>) -> Elsa {
        let n = instances.len();
        let mut classes: Vec<Class> = Vec::new();
        let mut class_of = vec![0; n];
        let mut order: Vec<(u8, usize)> = instances.iter().map(|&(s, g)| (g, s)).collect();
        order.sort();
        order.dedup();
        for (g, s) in order {
            classes.push(Class {
                slice: s,
                gpcs: g,
                drained: vec![0; n.div_ceil(64)],
                busy: BinaryHeap::new(),
            });
        }
        for (i, &(s, _)) in instances.iter().enumerate() {
            let c = classes.iter().position(|c| c.slice == s).expect("listed");
            class_of[i] = c;
            classes[c].drained[i / 64] |= 1 << (i % 64);
        }
        Elsa {
            sla_ns: slas
                .iter()
                .map(|s| (s.sla_ms * 1e6).round() as u64)
                .collect(),
            slas,
            classes,
            class_of,
            scan: false,
            margin: Margin::default(),
        }
    }

    /// ELSA's rule evaluated on the view's estimates, instance by instance.
    pub fn choose_by_scan(&self, q: &QueryInfo, view: &ServerView) -> Option<usize> {
        let sla = self.sla_ns[q.model as usize];
        // Feasible: least (GPCs, est_done, index); otherwise least (est_done, GPCs, index).
        let mut feasible: Option<(u8, u64, usize)> = None;
        let mut fallback: Option<(u64, u8, usize)> = None;
        for i in 0..view.len() {
            // `since`: the oldest arrival in the batch the query would run in; the batch's
            // completion must meet that query's SLA too.
            let Some((done, since)) = view.predict(i, q.model, q.batch) else {
                continue;
            };
            let g = view.instances[i].gpcs;
            let m = if self.margin.is_zero() {
                0
            } else {
                let slice = view.instances[i].slice;
                let l = view
                    .estimated_service_ns(q.model, slice, q.batch)
                    .expect("predicted: profiled");
                self.margin.ns(view, q.model, slice, q.batch, l)
            };
            if done + m - since <= sla {
                if feasible.is_none_or(|f| (g, done, i) < f) {
                    feasible = Some((g, done, i));
                }
            } else if fallback.is_none_or(|f| (done, g, i) < f) {
                fallback = Some((done, g, i));
            }
        }
        feasible.map(|f| f.2).or(fallback.map(|f| f.2))
    }

    /// The instance ELSA picks for `q` in state `view` and the query's profiled latency on
    /// it, or `None` if no instance serves the model.
    pub fn choose(&mut self, q: &QueryInfo, view: &ServerView) -> Option<(usize, u64)> {
        let t = view.now_ns;
        let sla = self.sla_ns[q.model as usize];
        // Fallback order: (est_done, GPCs, index).
        let mut fallback: Option<(u64, u8, usize, u64)> = None;
        for c in &mut self.classes {
            let Some(l) = view.estimated_service_ns(q.model, c.slice, q.batch) else {
                continue;
            };
            let Some((free, i)) = c.best(t) else {
                continue;
            };
            let done = free + l;
            if done + self.margin.ns(view, q.model, c.slice, q.batch, l) - t <= sla {
                // Classes run in increasing GPCs: the first feasible class wins.
                return Some((i, l));
            }
            if fallback.is_none_or(|f| (done, c.gpcs, i) < (f.0, f.1, f.2)) {
                fallback = Some((done, c.gpcs, i, l));
            }
        }
        fallback.map(|f| (f.2, f.3))
    }

    /// Record that `i` was sent a query after which its estimated backlog ends at `free_at`.
    fn dispatch(&mut self, i: usize, free_at: u64) {
        let c = &mut self.classes[self.class_of[i]];
        let w = &mut c.drained[i / 64];
        if *w >> (i % 64) & 1 == 1 {
            *w &= !(1 << (i % 64));
        } else {
            // Not drained: it is the best of its class, the heap's top.
            let top = c.busy.pop();
            debug_assert_eq!(top.map(|Reverse((_, k))| k as usize), Some(i));
        }
        c.busy.push(Reverse((free_at, i as u32)));
    }
}

impl Scheduler for Elsa {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        if self.scan {
            return Dispatch::To(
                self.choose_by_scan(q, view)
                    .expect("some instance serves the model"),
            );
        }
        // The service table guarantees every trace model is profiled on every slice in use.
        let (i, l) = self
            .choose(q, view)
            .expect("some instance serves the model");
        self.dispatch(i, view.estimated_free_at(i) + l);
        Dispatch::To(i)
    }

    /// Rebuilt after a reconfiguration: every instance's estimated backlog from the view (the
    /// same estimate [`Elsa::dispatch`] records), not idle by construction.
    fn resume(&mut self, view: &ServerView) {
        let now = view.now_ns;
        for c in &mut self.classes {
            c.drained.fill(0);
            c.busy.clear();
        }
        for i in 0..view.len() {
            let c = &mut self.classes[self.class_of[i]];
            let free = view.estimated_free_at(i);
            if free > now {
                c.busy.push(Reverse((free, i as u32)));
            } else {
                c.drained[i / 64] |= 1 << (i % 64);
            }
        }
    }

    fn details(&self) -> Option<Arc<dyn Explanation>> {
        Some(Arc::new(ElsaDetails {
            sla: self.slas.clone(),
            margin_frac: self.margin.frac,
            margin_std: self.margin.std,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuSpec;
    use crate::profile::Profiles;
    use crate::server::{Server, ServerState};
    use crate::service::ServiceTable;
    use crate::trace::Trace;

    const MS: u64 = 1_000_000;

    /// ELSA's choice for one batch-1 query of model 0 at t = 0 on `layout`, with the given
    /// estimated backlogs (ms) and SLA (ms).
    fn choose(layout: &str, backlog_ms: &[u64], sla_ms: f64) -> usize {
        choose_with(layout, backlog_ms, sla_ms, Margin::default())
    }

    /// [`choose`] with an estimate margin; the profile's std is 10 % of every latency.
    fn choose_with(layout: &str, backlog_ms: &[u64], sla_ms: f64, margin: Margin) -> usize {
        let gpu = GpuSpec::by_name("A100-40GB").unwrap();
        let mut prof = Profiles::default();
        for (s, l) in [("1g.5gb", 10.0), ("2g.10gb", 6.0), ("4g.20gb", 4.0)] {
            prof.insert_with_std("A100-40GB", "m", s, &[(1, l, 0.1 * l)]);
        }
        let server = Server::new(gpu.clone(), vec![gpu.parse_layout(layout).unwrap()]).unwrap();
        let st = ServiceTable::build(
            &prof,
            &gpu,
            &["m".to_string()],
            &server.slices_used(),
            1,
            |_| None,
        )
        .unwrap();
        let n = server.instances.len();
        let mut state = ServerState::new(n);
        let backlog: Vec<u64> = backlog_ms.iter().map(|b| b * MS).collect();
        for (i, &b) in backlog.iter().enumerate() {
            if b > 0 {
                state.set_busy_until(i, b);
            }
        }
        let trace = Trace::from_rows([(0, "m", 1)]);
        let view = ServerView::new(0, &server, &state, &st, &trace);
        let mut e = Elsa::with_slas(
            vec![ModelSla {
                model: "m".into(),
                sla_ms,
                source: "test".into(),
                by_rule: false,
            }],
            server.instances.iter().map(|i| (i.slice, i.gpcs)).collect(),
        );
        e.margin = margin;
        // ELSA learns backlogs from its own dispatches: replay those that built this state.
        for (i, &b) in backlog.iter().enumerate() {
            if b > 0 {
                e.dispatch(i, b);
            }
        }
        let q = QueryInfo {
            idx: 0,
            model: 0,
            batch: 1,
            arrival_ns: 0,
        };
        e.choose(&q, &view).unwrap().0
    }

    #[test]
    fn a_margin_moves_the_query_to_a_larger_slice() {
        // Latencies 4, 6, 10 ms (std 0.4, 0.6, 1 ms), SLA 12 ms, all idle.
        let l = "4g.20gb+2g.10gb+1g.5gb";
        let m = |frac, std| Margin { frac, std };
        // 10 + 0.1 x 10 = 11 <= 12: still the 1g.
        assert_eq!(choose_with(l, &[0, 0, 0], 12.0, m(0.1, 0.0)), 2);
        // 10 + 0.3 x 10 = 13 > 12; the 2g: 6 + 1.8 = 7.8: the 2g.
        assert_eq!(choose_with(l, &[0, 0, 0], 12.0, m(0.3, 0.0)), 1);
        // 2 std: 10 + 2 = 12 <= 12, the 1g; 3 std: 13 > 12, the 2g (6 + 1.8).
        assert_eq!(choose_with(l, &[0, 0, 0], 12.0, m(0.0, 2.0)), 2);
        assert_eq!(choose_with(l, &[0, 0, 0], 12.0, m(0.0, 3.0)), 1);
        // A margin that no instance meets: the earliest estimated completion, the 4g.
        assert_eq!(choose_with(l, &[0, 0, 0], 12.0, m(5.0, 0.0)), 0);
    }

    #[test]
    fn smallest_feasible_slice_then_fallback_to_earliest() {
        // Instances: 4g@0 (0), 2g@4 (1), 1g@6 (2). Latencies 4, 6, 10 ms; SLA 12 ms.
        let l = "4g.20gb+2g.10gb+1g.5gb";
        assert_eq!(choose(l, &[0, 0, 0], 12.0), 2, "all feasible: the 1g");
        assert_eq!(
            choose(l, &[0, 0, 5], 12.0),
            1,
            "1g would finish at 15: the 2g"
        );
        assert_eq!(choose(l, &[0, 7, 5], 12.0), 0, "only the 4g meets it");
        // None feasible (14, 16, 20 ms > 12): the earliest estimated completion, the 4g.
        assert_eq!(choose(l, &[10, 10, 10], 12.0), 0);
    }

    #[test]
    fn ties_break_by_completion_then_index() {
        // Instances: 2g@0 (0), 2g@2 (1), 2g@4 (2), 1g@6 (3). SLA 8 ms: the 1g (10 ms) never meets it.
        let l = "3x2g.10gb+1g.5gb";
        assert_eq!(
            choose(l, &[0, 0, 0, 0], 8.0),
            0,
            "equal GPCs and completion: lowest index"
        );
        assert_eq!(
            choose(l, &[1, 0, 0, 0], 8.0),
            1,
            "equal GPCs: earliest completion"
        );
        // SLA 1 ms: nothing feasible; the earliest completion (6 ms on 1 and 2), then the lowest index.
        assert_eq!(choose(l, &[1, 0, 0, 0], 1.0), 1);
        // Earliest completion first, even when it is the larger slice: 1g idle (10 ms) vs 2g (6 ms + backlog 3).
        assert_eq!(choose(l, &[3, 3, 3, 0], 1.0), 0);
    }
}
