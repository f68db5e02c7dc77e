//! What happens next: the [`Event`]s of a replay and the [`Agenda`] that orders them.
//!
//! Time is integer nanoseconds. At one instant events come in the order of [`Event`]'s
//! variants: completions first (a query arriving exactly when an instance frees can use it),
//! then batch deadlines, then reconfiguration events, then arrivals. Completions and deadlines
//! are sequenced by instance id, arrivals by their position in the stably sorted trace.
//! Arrivals come from the sorted trace directly, completions and deadlines from binary heaps
//! holding at most one live entry per instance, so an event costs O(log instances).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Something that happens at an instant (in the order they come at one instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// The work running on instance id `.0` ends (for a batch-at-a-time instance, its batch).
    Done(u32),
    /// A timer the instance model set for instance id `.0` fires (a forming batch is due).
    Timer(u32),
    /// A reconfiguration event: regions coming back up, or a repartitioner's check.
    Reconfig,
    /// The next query of the trace arrives.
    Arrival,
}

/// The pending events but arrivals (which the trace orders): completions, timers, and the
/// time of the next reconfiguration event.
pub(super) struct Agenda {
    /// Completions: (time, instance id).
    done: BinaryHeap<Reverse<(u64, u32)>>,
    /// Timers: (time, instance id); an entry may be stale (see [`Agenda::next`]).
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    /// The next reconfiguration event (`u64::MAX`: none; always so for a fixed server).
    pub(super) t_re: u64,
}

impl Agenda {
    pub(super) fn new(instances: usize) -> Agenda {
        Agenda {
            done: BinaryHeap::with_capacity(instances),
            timers: BinaryHeap::new(),
            t_re: u64::MAX,
        }
    }

    /// The work running on instance id `g` ends at `t`.
    #[inline(always)]
    pub(super) fn done_at(&mut self, t: u64, g: u32) {
        self.done.push(Reverse((t, g)));
    }

    /// A timer for instance id `g` at `t`.
    #[inline]
    pub(super) fn timer_at(&mut self, t: u64, g: u32) {
        self.timers.push(Reverse((t, g)));
    }

    /// The instance ids whose running work has not ended yet (in no order).
    pub(super) fn running(&self) -> impl Iterator<Item = u32> + '_ {
        self.done.iter().map(|r| r.0.1)
    }

    /// Take the next event, given the next arrival's time `t_arr` (`u64::MAX`: none); `live`
    /// says whether a timer (time, instance id) still stands (a timer whose batch already
    /// started, or whose instance is gone, is dropped). `None`: nothing is left to happen.
    #[inline(always)]
    pub(super) fn next(
        &mut self,
        t_arr: u64,
        live: impl Fn(u64, u32) -> bool,
    ) -> Option<(u64, Event)> {
        let t_done = self.done.peek().map_or(u64::MAX, |r| r.0.0);
        let t_timer = if self.timers.is_empty() {
            u64::MAX
        } else {
            while let Some(&Reverse((t, g))) = self.timers.peek() {
                if live(t, g) {
                    break;
                }
                self.timers.pop();
            }
            self.timers.peek().map_or(u64::MAX, |r| r.0.0)
        };
        let t = t_arr.min(t_done).min(t_timer).min(self.t_re);
        if t == u64::MAX {
            return None;
        }
        let ev = if t_done == t {
            Event::Done(self.done.pop().expect("peeked").0.1)
        } else if t_timer == t {
            Event::Timer(self.timers.pop().expect("peeked").0.1)
        } else if self.t_re == t {
            Event::Reconfig
        } else {
            Event::Arrival
        };
        Some((t, ev))
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::event::{Agenda, Event};

    /// The order at one instant, written out: completion, timer, reconfiguration, arrival;
    /// completions among themselves by instance id; stale timers skipped.
    #[test]
    fn events_at_one_instant_come_in_the_documented_order() {
        let mut a = Agenda::new(4);
        a.t_re = 10;
        a.timer_at(10, 2);
        a.timer_at(10, 1); // stale
        a.done_at(10, 3);
        a.done_at(10, 0);
        a.done_at(5, 9);
        let live = |_t: u64, g: u32| g != 1;
        let mut got = Vec::new();
        while let Some(e) = a.next(10, live) {
            got.push(e);
            if e.1 == Event::Reconfig {
                a.t_re = u64::MAX;
            }
            if e.1 == Event::Arrival {
                break;
            }
        }
        assert_eq!(
            got,
            vec![
                (5, Event::Done(9)),
                (10, Event::Done(0)),
                (10, Event::Done(3)),
                (10, Event::Timer(2)),
                (10, Event::Reconfig),
                (10, Event::Arrival),
            ]
        );
        assert_eq!(a.next(u64::MAX, live), None);
    }
}
