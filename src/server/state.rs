//! The server's dynamic state during a replay: which instances are idle, their local queues,
//! the estimated end of what each runs, and the batches forming in front of them. The event
//! loop ([`crate::engine`]) changes it through the methods here, which keep its derived figures
//! (the profiled latency queued on each instance) consistent; schedulers read it through a
//! [`super::view::ServerView`], never directly.

use super::batcher::Cut;
use crate::service::{BatchRule, ServiceTable};
use std::collections::VecDeque;

/// `Forming::model` of an instance with no forming batch.
pub(super) const NO_MODEL: u32 = u32::MAX;

/// A set of idle instances with a fast "lowest index" query.
#[derive(Debug, Clone)]
pub struct IdleSet {
    words: Vec<u64>,
}

impl IdleSet {
    /// All `n` instances idle.
    pub fn all(n: usize) -> Self {
        let mut words = vec![0u64; n.div_ceil(64)];
        for i in 0..n {
            words[i / 64] |= 1 << (i % 64);
        }
        IdleSet { words }
    }
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }
    #[inline]
    pub fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }
    #[inline]
    pub fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }
    /// The lowest idle index.
    #[inline]
    pub fn lowest(&self) -> Option<usize> {
        self.words
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(k, w)| k * 64 + w.trailing_zeros() as usize)
    }
    /// Idle indices in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(k * 64 + b)
            })
        })
    }
}

/// A batch waiting to start on an instance (dynamic batching).
#[derive(Debug, Clone)]
pub(super) struct Forming {
    /// Its model, or [`NO_MODEL`] when nothing forms.
    pub(super) model: u32,
    pub(super) sum: u32,
    /// When it starts unless it fills first: its oldest member's arrival + the max delay.
    pub(super) deadline: u64,
    pub(super) members: Vec<u32>,
}

/// What the engine knows about every instance at the current instant.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// Instances with nothing running, nothing forming and nothing queued.
    pub(super) idle: IdleSet,
    /// Local FIFO queues (filled by a scheduler's `Dispatch::To`).
    pub(super) queues: Vec<VecDeque<u32>>,
    /// Estimated end of the running batch: its start + its profiled latency.
    pub(super) run_end: Vec<u64>,
    /// Sum of the profiled latencies of the local queue.
    pub(super) queued_est: Vec<u64>,
    /// Forming batches (dynamic batching).
    pub(super) forming: Vec<Forming>,
    /// Per model, the instances with a forming batch of it, in opening order.
    pub(super) open: Vec<Vec<u32>>,
    /// Batching rule per trace model; empty without batching.
    pub(super) rules: Vec<BatchRule>,
}

impl ServerState {
    /// `n` idle instances, no batching.
    pub fn new(n: usize) -> ServerState {
        Self::with_rules(n, Vec::new())
    }

    /// `n` idle instances with the batching rule of every trace model (empty: no batching).
    pub fn with_rules(n: usize, rules: Vec<BatchRule>) -> ServerState {
        ServerState {
            idle: IdleSet::all(n),
            queues: vec![VecDeque::new(); n],
            run_end: vec![0; n],
            queued_est: vec![0; n],
            forming: vec![
                Forming {
                    model: NO_MODEL,
                    sum: 0,
                    deadline: 0,
                    members: Vec::new(),
                };
                n
            ],
            open: vec![Vec::new(); rules.len()],
            rules,
        }
    }

    /// Mark instance `i` busy until the estimated time `until` (to build views in a
    /// scheduler's tests).
    pub fn set_busy_until(&mut self, i: usize, until: u64) {
        self.start_running(i, until);
    }

    /// Whether instance `i` is idle.
    #[inline]
    pub fn is_idle(&self, i: usize) -> bool {
        self.idle.contains(i)
    }

    /// Queries waiting on instance `i`: its local queue and its forming batch.
    pub fn waiting(&self, i: usize) -> usize {
        self.queues[i].len()
            + if self.forming[i].model != NO_MODEL {
                self.forming[i].members.len()
            } else {
                0
            }
    }

    /// The idle instances, in index order.
    pub fn idle_instances(&self) -> Vec<usize> {
        self.idle.iter().collect()
    }

    /// Instance `i` has nothing running, forming or queued.
    #[inline]
    pub fn set_idle(&mut self, i: usize) {
        self.idle.insert(i);
    }

    /// Instance `i` is no longer idle (it takes a query, or opens a batch).
    #[inline]
    pub fn set_not_idle(&mut self, i: usize) {
        self.idle.remove(i);
    }

    /// A batch started on `i` that is estimated to end at `est_end`.
    #[inline]
    pub fn start_running(&mut self, i: usize, est_end: u64) {
        self.idle.remove(i);
        self.run_end[i] = est_end;
    }

    /// Queue `q`, of profiled latency `est` on `i`, at the tail of `i`'s local queue.
    #[inline]
    pub fn push_queue(&mut self, i: usize, q: u32, est: u64) {
        self.queues[i].push_back(q);
        self.queued_est[i] += est;
    }

    /// Take the head of `i`'s local queue; `est` gives a query's profiled latency on `i`.
    #[inline]
    pub fn pop_queue(&mut self, i: usize, est: impl Fn(u32) -> u64) -> Option<u32> {
        let q = self.queues[i].pop_front()?;
        self.queued_est[i] -= est(q);
        Some(q)
    }

    /// The forming batch of `i`: (model, summed batch), if one forms.
    #[inline]
    pub fn forming(&self, i: usize) -> Option<(u32, u32)> {
        let f = &self.forming[i];
        (f.model != NO_MODEL).then_some((f.model, f.sum))
    }

    /// Whether the batch forming on `i` is due at `t` (a deadline timer that is not stale).
    #[inline]
    pub fn deadline_is(&self, i: usize, t: u64) -> bool {
        let f = &self.forming[i];
        f.model != NO_MODEL && f.deadline == t
    }

    /// Open a batch of `model` on `i` that starts at `deadline` unless it fills first.
    pub fn open_batch(&mut self, i: usize, model: u32, deadline: u64) {
        let f = &mut self.forming[i];
        f.model = model;
        f.sum = 0;
        f.deadline = deadline;
        f.members.clear();
    }

    /// Add query `q` of batch size `batch` to the batch forming on `i`.
    #[inline]
    pub fn join(&mut self, i: usize, q: u32, batch: u32) {
        let f = &mut self.forming[i];
        f.sum += batch;
        f.members.push(q);
    }

    /// Move the queries of `i`'s local queue that `cut` admits into its forming batch, in queue
    /// order (the others keep their places; [`Cut::take_from`]); `of` gives a query's (model,
    /// batch) and `est` its profiled latency on `i`; `joined` sees each query that joins.
    pub fn cut_queue(
        &mut self,
        i: usize,
        cut: &mut Cut,
        of: impl Fn(u32) -> (u32, u32),
        est: impl Fn(u32) -> u64,
        mut joined: impl FnMut(u32),
    ) {
        let mut queue = std::mem::take(&mut self.queues[i]);
        let (queued_est, forming) = (&mut self.queued_est[i], &mut self.forming[i]);
        cut.take_from(&mut queue, &of, |q| {
            *queued_est -= est(q);
            forming.sum += of(q).1;
            forming.members.push(q);
            joined(q);
        });
        self.queues[i] = queue;
    }

    /// The batching rule of `model` on an instance of slice `slice`
    /// ([`super::batcher::rule_on`]); `None` without batching.
    #[inline]
    pub fn rule_on(&self, model: u32, slice: usize, service: &ServiceTable) -> Option<BatchRule> {
        super::batcher::rule_on(&self.rules, model, || service.max_fitting(model, slice))
    }

    /// The forming batch of `i` waits for its deadline: list it among the open batches of its
    /// model (in opening order).
    pub fn wait_for_deadline(&mut self, i: usize) {
        let m = self.forming[i].model;
        self.open[m as usize].push(i as u32);
    }

    /// The batch forming on `i` starts now: (its model, summed batch, members), leaving `i`
    /// with nothing forming. Give the members back with [`Self::recycle`].
    pub fn take_batch(&mut self, i: usize) -> (u32, u32, Vec<u32>) {
        let f = &mut self.forming[i];
        let (m, sum) = (f.model, f.sum);
        let members = std::mem::take(&mut f.members);
        f.model = NO_MODEL;
        if let Some(k) = self.open[m as usize].iter().position(|&x| x as usize == i) {
            self.open[m as usize].remove(k);
        }
        (m, sum, members)
    }

    /// Renumber the instances for a reconfigured server: `old_of[j]` is the old index of new
    /// instance `j`, or `u32::MAX` for an instance just created (idle, empty). Instances absent
    /// from `old_of` are gone: the queries of their local queues and forming batches are
    /// returned (queue order, then forming members), and their forming batches' timers become
    /// stale. Kept instances keep their state.
    pub fn renumber(&mut self, old_of: &[u32]) -> Vec<u32> {
        let n_old = self.queues.len();
        let mut new_of = vec![u32::MAX; n_old];
        for (j, &o) in old_of.iter().enumerate() {
            if o != u32::MAX {
                new_of[o as usize] = j as u32;
            }
        }
        let mut back = Vec::new();
        for (o, &j) in new_of.iter().enumerate() {
            if j == u32::MAX {
                back.extend(self.queues[o].drain(..));
                if self.forming[o].model != NO_MODEL {
                    back.append(&mut self.forming[o].members);
                }
            }
        }
        let n = old_of.len();
        let mut idle = IdleSet::all(n);
        let mut queues = Vec::with_capacity(n);
        let mut run_end = vec![0u64; n];
        let mut queued_est = vec![0u64; n];
        let mut forming = Vec::with_capacity(n);
        for (j, &o) in old_of.iter().enumerate() {
            if o == u32::MAX {
                queues.push(VecDeque::new());
                forming.push(Forming {
                    model: NO_MODEL,
                    sum: 0,
                    deadline: 0,
                    members: Vec::new(),
                });
                continue;
            }
            let o = o as usize;
            if !self.idle.contains(o) {
                idle.remove(j);
            }
            queues.push(std::mem::take(&mut self.queues[o]));
            run_end[j] = self.run_end[o];
            queued_est[j] = self.queued_est[o];
            forming.push(std::mem::replace(
                &mut self.forming[o],
                Forming {
                    model: NO_MODEL,
                    sum: 0,
                    deadline: 0,
                    members: Vec::new(),
                },
            ));
        }
        for list in &mut self.open {
            *list = list
                .iter()
                .filter_map(|&o| {
                    let j = new_of[o as usize];
                    (j != u32::MAX).then_some(j)
                })
                .collect();
        }
        self.idle = idle;
        self.queues = queues;
        self.run_end = run_end;
        self.queued_est = queued_est;
        self.forming = forming;
        back
    }

    /// Return a started batch's member list, to reuse its allocation.
    pub fn recycle(&mut self, i: usize, mut members: Vec<u32>) {
        members.clear();
        self.forming[i].members = members;
    }
}
