//! The scheduler itself: "join the shortest queue". Each query goes to the instance with the
//! fewest queries waiting in its local queue (an idle instance counts as -1, so it wins), ties
//! to the lower index, among the instances whose slice has a profile for the query's model.
//! It decides from the [`ServerView`] only (no oracle), like every scheduler.

use mig_replay::policy::{Cost, Dispatch, QueryInfo, Scheduler, SchedulerEntry};
use mig_replay::server::ServerView;

/// Join the shortest local queue.
#[derive(Debug, Default)]
pub struct ShortestQueue;

impl Scheduler for ShortestQueue {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        let best = (0..view.len())
            .filter(|&i| {
                view.estimated_service_ns(q.model, view.instances[i].slice, q.batch)
                    .is_some()
            })
            .min_by_key(|&i| {
                let load = if view.is_idle(i) {
                    -1
                } else {
                    view.queue_len(i) as i64
                };
                (load, i)
            })
            .expect("the service table guarantees some instance serves the model");
        Dispatch::To(best)
    }
}

/// Its registry entry: the name policies use (`paris+jsq`, `fixed+jsq`, ...), a line of help
/// for `policy list`, its parameters (none), how to build it, and what the drivers need to
/// know: a scan of every instance's queue length per query, whose work does not depend on the
/// service model (it reads no estimate), hence one cost for all three; and sweeps draw its
/// heat maps.
pub const ENTRY: SchedulerEntry = SchedulerEntry {
    name: "jsq",
    help: "join the shortest local queue (example plugin)",
    params: &[],
    build: |_params, _ctx| Ok(Box::new(ShortestQueue)),
    cost: Cost {
        exact: 4,
        noisy: 4,
        batched: 4,
    },
    heat_maps: true,
    fcfs_earliest_free: false,
    needs_sla: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use mig_replay::gpu::GpuSpec;
    use mig_replay::profile::Profiles;
    use mig_replay::server::{Server, ServerState};
    use mig_replay::service::ServiceTable;
    use mig_replay::trace::Trace;

    /// A decision on a constructed state: 4g (0), 2g (1), 1g (2); the 4g and the 2g busy, the
    /// 1g idle: the idle 1g wins; once it is busy too, the lowest index among the shortest
    /// queues.
    #[test]
    fn picks_the_idle_instance_then_the_lowest_index() {
        let gpu = GpuSpec::by_name("A100-40GB").unwrap();
        let mut prof = Profiles::default();
        for s in ["1g.5gb", "2g.10gb", "4g.20gb"] {
            prof.insert("A100-40GB", "m", s, &[(1, 5.0)]);
        }
        let layout = gpu.parse_layout("4g.20gb+2g.10gb+1g.5gb").unwrap();
        let server = Server::new(gpu.clone(), vec![layout]).unwrap();
        let trace = Trace::from_rows([(0, "m", 1)]);
        // The largest batch the table covers, and the trace row an error names per model.
        let table = ServiceTable::build(
            &prof,
            &gpu,
            &trace.models,
            &server.slices_used(),
            trace.max_batch(),
            |m| trace.first_row_of_model(m),
        )
        .unwrap();
        let mut state = ServerState::new(server.instances.len());
        state.set_busy_until(0, 10_000_000);
        state.set_busy_until(1, 10_000_000);
        let q = QueryInfo {
            idx: 0,
            model: 0,
            batch: 1,
            arrival_ns: 0,
        };
        let view = ServerView::new(0, &server, &state, &table, &trace);
        assert_eq!(ShortestQueue.on_arrival(&q, &view), Dispatch::To(2));
        state.set_busy_until(2, 10_000_000);
        let view = ServerView::new(0, &server, &state, &table, &trace);
        assert_eq!(ShortestQueue.on_arrival(&q, &view), Dispatch::To(0));
    }
}
