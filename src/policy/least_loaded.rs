//! Scheduler `least-loaded`: each query goes to the instance whose estimated completion of it
//! ([`ServerView::estimate_done`]: the view's estimated backlog + the query's profiled latency
//! on that slice, or joining a forming batch under dynamic batching) is earliest;
//! ties go to the lower index. `margin_frac`/`margin_std` pad each estimate as ELSA's do. Per-instance FIFO queues, no SLA: the "earliest estimated
//! completion" baseline against which ELSA's slice-size preference can be judged.

use super::elsa::{MARGIN_PARAMS, Margin};
use super::{Cost, Dispatch, QueryInfo, SchedulerEntry, Scheduler, ServerView};

/// Earliest estimated completion (padded by the margin, as ELSA's; none by default).
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastLoaded {
    pub margin: Margin,
}

impl Scheduler for LeastLoaded {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        let mut best: Option<(u64, usize)> = None;
        for i in 0..view.len() {
            if let Some(done) = view.estimate_done(i, q.model, q.batch) {
                let done = if self.margin.is_zero() {
                    done
                } else {
                    let slice = view.instances[i].slice;
                    let l = view
                        .estimated_service_ns(q.model, slice, q.batch)
                        .expect("estimated: profiled");
                    done + self.margin.ns(view, q.model, slice, q.batch, l)
                };
                if best.is_none_or(|b| (done, i) < b) {
                    best = Some((done, i));
                }
            }
        }
        Dispatch::To(best.expect("some instance serves the model").1)
    }
}

/// The registry entry.
pub const ENTRY: SchedulerEntry = SchedulerEntry {
    name: "least-loaded",
    help: "the instance with the earliest estimated completion (ties: lowest index)",
    params: MARGIN_PARAMS,
    build: |p, _| {
        Ok(Box::new(LeastLoaded {
            margin: Margin::from_params(p),
        }))
    },
    // Like ELSA's scan: every instance's estimate per query.
    cost: Cost {
        exact: 4,
        noisy: 16,
        batched: 30,
    },
    heat_maps: false,
    fcfs_earliest_free: false,
    needs_sla: false,
};
