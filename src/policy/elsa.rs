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
