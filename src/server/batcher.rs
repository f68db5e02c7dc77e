//! The dynamic batcher's rules, in one place. The event loop ([`crate::engine`]) applies them
//! to the real queues, and the schedulers' view ([`super::view::ServerView::predict`]) replays
//! them on what it knows: both call these functions, so a prediction cannot drift from what
//! the engine will do.
//!
//! A Triton-style batcher sits in front of every instance (`--batching max_batch=B,
//! max_delay_us=D`, a [`BatchRule`] per model):
//! 1. An instance with nothing running *opens* a batch with a head: the front of its local
//!    queue or, if that is empty, a query the scheduler hands it. A query sent to an idle
//!    instance opens a batch itself.
//! 2. Queries of the head's model then *join* in arrival order while the summed batch stays
//!    <= B: first from the instance's local queue ([`Cut`]: other models keep their places; the
//!    scan stops at the first query of the model that does not fit, so a model's queries keep
//!    their order), then held queries the scheduler hands over.
//! 3. The batch *starts* ([`start_time`]) as soon as its sum reaches B or its oldest member has
//!    waited D (its arrival + D; D = 0 starts at once). Until then the instance waits, not idle:
//!    a query the scheduler sends to it joins the batch if it has the model and fits
//!    ([`admits`]), otherwise it waits in the local queue for the next batch. A query arriving
//!    at the very instant of the deadline comes after it (deadlines before arrivals) and does
//!    not join.
//! 4. A forming batch is bound to its instance: another instance that frees meanwhile does not
//!    take its members; it opens its own batch from what is still waiting.
//! 5. A single query whose own batch exceeds B runs alone. The batch runs for the profiled
//!    latency of (model, slice, summed batch); every member starts and finishes with it, and
//!    each member's latency counts from its own arrival.
//!
//! With `max_batch = 1` every batch is one query that starts at once: the outputs are
//! identical to no batching (tested).

use crate::service::BatchRule;
use std::collections::VecDeque;

/// A batch being cut from a local queue: opened with its head, then offered the queue's
/// following entries in order (rule 2).
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    /// The batch's model.
    pub model: u32,
    /// Its summed batch size so far.
    pub sum: u32,
    max: u32,
    /// A query of the model did not fit: no later one may overtake it.
    stopped: bool,
}

impl Cut {
    /// Open a batch of `model` whose head has batch size `batch`.
    #[inline]
    pub fn open(model: u32, batch: u32, rule: BatchRule) -> Cut {
        Cut {
            model,
            sum: batch,
            max: rule.max_batch,
            stopped: false,
        }
    }

    /// Offer the next queued query (in queue order): whether it joins the batch.
    #[inline]
    pub fn offer(&mut self, model: u32, batch: u32) -> bool {
        if model != self.model || self.stopped {
            return false;
        }
        if self.sum + batch <= self.max {
            self.sum += batch;
            true
        } else {
            self.stopped = true;
            false
        }
    }

    /// Whether the batch has reached its max batch (it starts at once).
    #[inline]
    pub fn full(&self) -> bool {
        self.sum >= self.max
    }

    /// Batch size left before the max.
    #[inline]
    pub fn room(&self) -> u32 {
        self.max.saturating_sub(self.sum)
    }

    /// Offer the entries of a queue in order (rule 2): those the batch admits leave `queue`
    /// for `taken`, the others keep their places. `of` gives an entry's (model, batch). The
    /// engine cuts an instance's real queue with it ([`super::ServerState::cut_queue`]) and
    /// the schedulers' view a copy ([`super::ServerView::predict`]).
    pub fn take_from<T: Copy>(
        &mut self,
        queue: &mut VecDeque<T>,
        of: impl Fn(T) -> (u32, u32),
        mut taken: impl FnMut(T),
    ) {
        if self.full() || queue.is_empty() {
            return;
        }
        let mut rest = VecDeque::with_capacity(queue.len());
        while let Some(x) = queue.pop_front() {
            let (m, b) = of(x);
            if self.offer(m, b) {
                taken(x);
            } else {
                rest.push_back(x);
            }
        }
        *queue = rest;
    }
}

/// The batching rule of `model` on an instance whose memory fits batches up to
/// `max_fitting()`: the model's rule with its max batch capped by that memory (`None` without
/// batching: `rules` is empty, and the memory is not looked up). The engine and the
/// schedulers' view both call it.
#[inline]
pub fn rule_on(
    rules: &[BatchRule],
    model: u32,
    max_fitting: impl FnOnce() -> u32,
) -> Option<BatchRule> {
    let mut r = *rules.get(model as usize)?;
    r.max_batch = r.max_batch.min(max_fitting());
    Some(r)
}

/// Whether a query of `model` and `batch` sent to an instance joins the batch of
/// `forming_model` with summed size `forming_sum` forming there (rule 3).
#[inline]
pub fn admits(
    forming_model: u32,
    forming_sum: u32,
    model: u32,
    batch: u32,
    rule: BatchRule,
) -> bool {
    forming_model == model && forming_sum + batch <= rule.max_batch
}

/// When a batch starts: at `ready` (the instance is free and the batch is formed) if it is
/// full, else once its oldest member, arrived at `oldest_arrival`, has waited the max delay
/// (rule 3).
#[inline]
pub fn start_time(ready: u64, full: bool, oldest_arrival: u64, rule: BatchRule) -> u64 {
    if full {
        ready
    } else {
        ready.max(oldest_arrival + rule.max_delay_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_keeps_other_models_places_and_its_models_order() {
        let rule = BatchRule {
            max_batch: 8,
            max_delay_ns: 0,
        };
        // Head: model 0, batch 3. Queue: (1, 1) other model, (0, 4) joins (7), (0, 2) does not
        // fit and stops the scan, (0, 1) would fit but may not overtake it.
        let mut c = Cut::open(0, 3, rule);
        let joined: Vec<bool> = [(1, 1), (0, 4), (0, 2), (0, 1)]
            .iter()
            .map(|&(m, b)| c.offer(m, b))
            .collect();
        assert_eq!(joined, [false, true, false, false]);
        assert_eq!((c.sum, c.room(), c.full()), (7, 1, false));
        assert!(admits(0, 7, 0, 1, rule) && !admits(0, 7, 0, 2, rule) && !admits(1, 0, 0, 1, rule));
        assert_eq!(start_time(10, true, 0, rule), 10);
        let slow = BatchRule {
            max_batch: 8,
            max_delay_ns: 50,
        };
        assert_eq!(start_time(10, false, 5, slow), 55);
        assert_eq!(start_time(90, false, 5, slow), 90);
    }
}
