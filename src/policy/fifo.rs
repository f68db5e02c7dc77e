//! The FIFO scheduler shared by `fcfs`, `homogeneous` and `fixed`: one global queue in arrival
//! order. A query that finds instances idle takes the idle one with the lowest index; otherwise
//! it waits, and the queue's head starts on the first instance to become idle (the lowest index
//! among instances that become idle at the same instant, because the engine processes
//! simultaneous completions in instance order).

use super::{Dispatch, QueryInfo, Scheduler, ServerView};
use std::collections::VecDeque;

/// One global FIFO queue, lowest-index idle instance first.
#[derive(Debug, Default)]
pub struct FifoScheduler {
    queue: VecDeque<u32>,
}

impl Scheduler for FifoScheduler {
    #[inline]
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        if self.queue.is_empty()
            && let Some(i) = view.lowest_idle()
        {
            return Dispatch::To(i);
        }
        self.queue.push_back(q.idx);
        Dispatch::Hold
    }

    #[inline]
    fn next_for(&mut self, _instance: usize, _view: &ServerView) -> Option<u32> {
        self.queue.pop_front()
    }
}
