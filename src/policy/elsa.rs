//! Scheduler `elsa`: ELSA (Kim, Choi, Rhu, DAC 2022), as reconstructed in
//! `docs/PLUGINS.md` and the README from the paper's abstract and patent.
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
//! SLA(m): see [`crate::policy::sla`] (`sla.<model>`, `--sla-ms`, or the default rule with
//! `sla_multiple` and `sla_batch_percentile`).

use super::sla::{self, ModelSla, SlaRule};
use super::{Dispatch, Params, QueryInfo, SchedContext, Scheduler, ServerView};
use crate::error::Result;

/// The ELSA scheduler.
#[derive(Debug, Clone)]
pub struct Elsa {
    /// SLA of each trace model, ns.
    sla_ns: Vec<u64>,
    slas: Vec<ModelSla>,
    /// Per instance: its slice and GPCs.
    slice: Vec<usize>,
    gpcs: Vec<u8>,
    n_slices: usize,
    /// Per-arrival scratch: the profiled latency of the query on each slice (0 = unprofiled).
    lat: Vec<u64>,
}

impl Elsa {
    /// Build for a server, resolving the SLA of every trace model.
    pub fn new(p: &Params, ctx: &SchedContext) -> Result<Elsa> {
        let rule = SlaRule {
            multiple: p.f64("sla_multiple").unwrap_or(2.0),
            batch_percentile: p.f64("sla_batch_percentile").unwrap_or(99.0),
        };
        let slas: Vec<ModelSla> = sla::resolve(
            ctx.trace,
            ctx.profiles,
            ctx.gpu,
            ctx.sla_ms,
            &p.family_f64("sla."),
            Some(rule),
        )?
        .into_iter()
        .map(|s| s.expect("the rule gives every model an SLA"))
        .collect();
        Ok(Elsa::with_slas(
            slas,
            ctx.server
                .instances
                .iter()
                .map(|i| (i.slice, i.gpcs))
                .collect(),
            ctx.gpu.profiles.len(),
        ))
    }

    /// Build from explicit SLAs (one per trace model) and instances `(slice, GPCs)`.
    pub fn with_slas(slas: Vec<ModelSla>, instances: Vec<(usize, u8)>, n_slices: usize) -> Elsa {
        Elsa {
            sla_ns: slas
                .iter()
                .map(|s| (s.sla_ms * 1e6).round() as u64)
                .collect(),
            slas,
            slice: instances.iter().map(|x| x.0).collect(),
            gpcs: instances.iter().map(|x| x.1).collect(),
            n_slices,
            lat: vec![0; n_slices],
        }
    }

    /// The instance ELSA picks for `q` in state `view`, or `None` if no instance serves the
    /// model.
    pub fn choose(&mut self, q: &QueryInfo, view: &ServerView) -> Option<usize> {
        let t = view.now_ns;
        for s in 0..self.n_slices {
            self.lat[s] = view.estimated_service_ns(q.model, s, q.batch).unwrap_or(0);
        }
        let sla = self.sla_ns[q.model as usize];
        let mut feasible: Option<(u8, u64, usize)> = None;
        let mut any: Option<(u64, u8, usize)> = None;
        for i in 0..self.slice.len() {
            let l = self.lat[self.slice[i]];
            if l == 0 {
                continue;
            }
            let done = view.estimated_free_at(i) + l;
            let g = self.gpcs[i];
            if done - t <= sla {
                if feasible.is_none_or(|f| (g, done, i) < f) {
                    feasible = Some((g, done, i));
                }
            } else if any.is_none_or(|a| (done, g, i) < a) {
                any = Some((done, g, i));
            }
        }
        feasible.map(|f| f.2).or(any.map(|a| a.2))
    }
}

impl Scheduler for Elsa {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        // The service table guarantees every trace model is profiled on every slice in use.
        Dispatch::To(
            self.choose(q, view)
                .expect("some instance serves the model"),
        )
    }

    fn details(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "sla": self.slas }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuSpec;
    use crate::policy::IdleSet;
    use crate::profile::{Profiles, ServiceTable};
    use crate::server::Server;
    use std::collections::VecDeque;

    const MS: u64 = 1_000_000;

    /// ELSA's choice for one batch-1 query of model 0 at t = 0 on `layout`, with the given
    /// estimated backlogs (ms) and SLA (ms).
    fn choose(layout: &str, backlog_ms: &[u64], sla_ms: f64) -> usize {
        let gpu = GpuSpec::by_name("A100-40GB").unwrap();
        let mut prof = Profiles::default();
        for (s, l) in [("1g.5gb", 10.0), ("2g.10gb", 6.0), ("4g.20gb", 4.0)] {
            prof.insert("A100-40GB", "m", s, &[(1, l)]);
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
        let mut idle = IdleSet::all(n);
        let backlog: Vec<u64> = backlog_ms.iter().map(|b| b * MS).collect();
        for (i, &b) in backlog.iter().enumerate() {
            if b > 0 {
                idle.remove(i);
            }
        }
        let queues = vec![VecDeque::new(); n];
        let view = ServerView {
            now_ns: 0,
            gpu: &gpu,
            instances: &server.instances,
            idle: &idle,
            queues: &queues,
            backlog_end: &backlog,
            service: &st,
        };
        let mut e = Elsa::with_slas(
            vec![ModelSla {
                model: "m".into(),
                sla_ms,
                source: "test".into(),
            }],
            server.instances.iter().map(|i| (i.slice, i.gpcs)).collect(),
            gpu.profiles.len(),
        );
        let q = QueryInfo {
            idx: 0,
            model: 0,
            batch: 1,
            arrival_ns: 0,
        };
        e.choose(&q, &view).unwrap()
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
