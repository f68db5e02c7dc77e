//! The FIFO scheduler shared by `fcfs`, `homogeneous` and `fixed`: one global queue in arrival
//! order. A query that finds instances idle takes the idle one with the lowest index; otherwise
//! it waits, and the queue's head starts on the first instance to become idle (the lowest index
//! among instances that become idle at the same instant, because the engine processes
//! simultaneous completions in instance order).
//!
//! With dynamic batching, a query first joins the forming batch of its model that opened first
//! and has room for it ([`ServerView::joinable`]): a Triton-style batcher fills a batch before
//! opening another. When an instance opens a batch, held queries of its model join it oldest
//! first while they fit ([`Scheduler::join_batch`]).
//!
//! The global queue is kept as one queue per model (arrival order within each); the global
//! head is the oldest of the model heads.
//!
//! Memory (the profile's `memory_mb`): an instance only takes a query whose batch fits it. A
//! query takes the lowest-index idle instance that can serve it; an instance that frees takes
//! the oldest model head it can serve (a head it cannot serve waits for one that can, and the
//! queries of its model behind it with it). Without memory bounds this is plain FIFO: held
//! queries exist only while no instance is idle.

use super::{Cost, Dispatch, QueryInfo, SchedulerEntry, Scheduler, ServerView};
use std::collections::VecDeque;

/// One global FIFO queue, lowest-index idle instance first.
#[derive(Debug, Default)]
pub struct FifoScheduler {
    /// Per model: (query, batch) in arrival order.
    queues: Vec<VecDeque<(u32, u32)>>,
    held: usize,
}

impl Scheduler for FifoScheduler {
    #[inline]
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        if view.batching()
            && let Some(i) = view.joinable(q.model, q.batch)
        {
            return Dispatch::To(i);
        }
        // An idle instance exists only when no held query can use it (the engine offers every
        // freed instance to `next_for` first), so taking it keeps the order among the queries
        // it can serve.
        if (self.held == 0 || view.memory_bounded())
            && let Some(i) = view.lowest_idle_serving(q.model, q.batch)
        {
            return Dispatch::To(i);
        }
        let m = q.model as usize;
        if self.queues.len() <= m {
            self.queues.resize_with(m + 1, VecDeque::new);
        }
        self.queues[m].push_back((q.idx, q.batch));
        self.held += 1;
        Dispatch::Hold
    }

    #[inline]
    fn next_for(&mut self, instance: usize, view: &ServerView) -> Option<u32> {
        if self.held == 0 {
            return None;
        }
        if let ([q], false) = (self.queues.as_mut_slice(), view.memory_bounded()) {
            self.held -= 1;
            return q.pop_front().map(|h| h.0);
        }
        // Query positions are arrival order: the oldest head (that the instance can serve) is
        // the smallest.
        let m = (0..self.queues.len())
            .filter_map(|m| {
                let &(q, b) = self.queues[m].front()?;
                view.can_serve(instance, m as u32, b).then_some((q, m))
            })
            .min()?
            .1;
        self.held -= 1;
        self.queues[m].pop_front().map(|h| h.0)
    }

    fn take_held(&mut self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .queues
            .iter_mut()
            .flat_map(|q| q.drain(..).map(|h| h.0))
            .collect();
        v.sort_unstable();
        self.held = 0;
        v
    }

    fn join_batch(
        &mut self,
        _instance: usize,
        model: u32,
        room: u32,
        _view: &ServerView,
        out: &mut Vec<u32>,
    ) {
        let Some(q) = self.queues.get_mut(model as usize) else {
            return;
        };
        let mut room = room;
        while let Some(&(idx, b)) = q.front() {
            if b > room {
                break;
            }
            room -= b;
            out.push(idx);
            q.pop_front();
            self.held -= 1;
        }
    }
}

/// The registry entry.
pub const ENTRY: SchedulerEntry = SchedulerEntry {
    name: "fifo",
    help: "one global FIFO queue; the lowest-index idle instance first",
    params: &[],
    build: |_, _| Ok(Box::new(FifoScheduler::default())),
    cost: Cost {
        exact: 2,
        noisy: 2,
        batched: 3,
    },
    heat_maps: true,
    fcfs_earliest_free: true,
    needs_sla: false,
};
