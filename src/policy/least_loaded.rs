//! Scheduler `least-loaded`: each query goes to the instance whose estimated completion of it
//! (the view's estimated backlog + the query's profiled latency on that slice) is earliest;
//! ties go to the lower index. Per-instance FIFO queues, no SLA: the "earliest estimated
//! completion" baseline against which ELSA's slice-size preference can be judged.

use super::{Dispatch, QueryInfo, Scheduler, ServerView};

/// Earliest estimated completion.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastLoaded;

impl Scheduler for LeastLoaded {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        let mut best: Option<(u64, usize)> = None;
        let mut lat = [None; 16];
        for i in 0..view.len() {
            let s = view.instances[i].slice;
            let l = if s < lat.len() {
                *lat[s].get_or_insert_with(|| view.estimated_service_ns(q.model, s, q.batch))
            } else {
                view.estimated_service_ns(q.model, s, q.batch)
            };
            if let Some(l) = l {
                let done = view.estimated_free_at(i) + l;
                if best.is_none_or(|b| (done, i) < b) {
                    best = Some((done, i));
                }
            }
        }
        Dispatch::To(best.expect("some instance serves the model").1)
    }
}
